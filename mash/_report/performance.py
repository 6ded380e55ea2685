"""The performance framework table (the seeds' §4.6 "Figure 1"): each indicator beside its
benchmarks, local target and last year, with a direction of travel and two RAG ratings.

The benchmarks come from a YAML file a council can swap (`mash/benchmarks/`); the values from
`report["indicators"]`. Deciding a RAG or a direction is pure and lives here; reading the file
is the one piece of I/O, at the edge (`load_benchmarks`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from mash._config.yamlfile import load_model
from mash.errors import FileError

BENCHMARKS_DIR = Path(__file__).resolve().parent.parent / "benchmarks"
DEFAULT_BENCHMARKS = BENCHMARKS_DIR / "rotherham-2013-14.yaml"
STEADY = 0.05  # percentage points (or rate points) within which a value has not moved


class BenchmarksError(FileError):
    """A benchmarks file is wrong: names the file, the line and the field."""


class Benchmark(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(min_length=1)
    ref: str = ""
    definition: str = Field(min_length=1)
    good_is: Literal["high", "low", "neither"]
    unit: Literal["%", "per 10,000"] = "%"
    statistical_neighbours: float | None = None
    national: float | None = None
    benchmark_note: str = ""
    target: float | None = None
    last_year: float | None = None


class Benchmarks(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1)
    source: str = ""
    period: str = "this year"
    last_period: str = "last year"
    indicators: list[Benchmark] = Field(min_length=1)


def load_benchmarks(path: Path | None = None) -> Benchmarks:
    """A benchmarks file (the shipped Rotherham 2013-14 one by default)."""
    chosen = path or DEFAULT_BENCHMARKS
    benchmarks, _ = load_model(chosen, Benchmarks, "benchmarks file", BenchmarksError)
    seen: set[str] = set()
    for item in benchmarks.indicators:
        if item.id in seen:
            raise BenchmarksError(str(chosen), None, "indicators", f"{item.id!r} given twice")
        seen.add(item.id)
    return benchmarks


def _better_or_equal(value: float, than: float, good_is: str) -> bool:
    return value >= than if good_is == "high" else value <= than


def rag(value: float | None, first: float | None, second: float | None, good_is: str) -> str | None:
    """Green on or better than `first`; amber worse than it but on or better than `second`;
    red worse than both (the seeds' rule, §4.6). None when there is nothing to rate."""
    if value is None or first is None or good_is == "neither":
        return None
    if _better_or_equal(value, first, good_is):
        return "Green"
    if second is not None and _better_or_equal(value, second, good_is):
        return "Amber"
    return "Red"


def direction(value: float | None, last_year: float | None, good_is: str) -> str | None:
    """↑ improving, ↓ worsening, → steady: judged by what good is, as the seeds' arrows."""
    if value is None or last_year is None:
        return None
    if abs(value - last_year) < STEADY:
        return "→ steady"
    if good_is == "neither":
        return "↑ higher" if value > last_year else "↓ lower"
    return "↑ improving" if _better_or_equal(value, last_year, good_is) else "↓ worsening"


def performance(report: dict[str, Any], benchmarks: Benchmarks) -> list[dict[str, Any]]:
    """One row per indicator of the benchmarks file, in its order, with the run's value."""
    indicators: dict[str, Any] = report.get("indicators") or {}
    rows: list[dict[str, Any]] = []
    for b in benchmarks.indicators:
        found = indicators.get(b.id) or {}
        value = found.get("value")
        rows.append(
            {
                "id": b.id,
                "ref": b.ref or b.id,
                "definition": b.definition,
                "good_is": b.good_is,
                "unit": b.unit,
                "statistical_neighbours": b.statistical_neighbours,
                "national": b.national,
                "benchmark_note": b.benchmark_note,
                "target": b.target,
                "last_year": b.last_year,
                "value": value,
                "numerator": found.get("numerator"),
                "denominator": found.get("denominator"),
                "direction": direction(value, b.last_year, b.good_is),
                "rag_target": rag(value, b.target, b.national, b.good_is),
                "rag_national": rag(value, b.national, b.statistical_neighbours, b.good_is),
            }
        )
    return rows
