"""Operations: worker processes, status and metrics, benchmarks, the exported contract."""
