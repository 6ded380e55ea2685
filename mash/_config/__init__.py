"""Settings and the files people write: `MASH_*` settings and YAML that keeps its line numbers."""
