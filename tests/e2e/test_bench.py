"""`mash bench --pipeline`: the whole-pipeline figure a speed claim rests on, as a user runs it.

The figures themselves depend on the machine, so these tests check what they are made of: a
generated year of the asked scale through every consumer, the raw loop over the same events
in the same run, medians and their ratio, and the memory the run used.
"""

from __future__ import annotations

import json
import os
import statistics
from pathlib import Path
from typing import Any

from mash._generator.generate import BOROUGH_2013_14, Generator
from tests.e2e.test_cli import mash

SCALE = "0.02"


def _bench(env: dict[str, str], *extra: str) -> dict[str, Any]:
    result = mash(
        "bench", "--pipeline", "--scale", SCALE, "--rounds", "3", "--json", *extra,
        env=env, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    figures: dict[str, Any] = json.loads(result.stdout)
    return figures


def test_the_pipeline_figure_is_a_generated_year_against_the_raw_loop_in_one_run(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    figures = _bench(cli_env, "--workers", "0")
    samples = figures["samples"]
    assert isinstance(samples, dict)
    assert len(samples["pipeline"]) == len(samples["raw"]) == 3  # one of each per round
    assert figures["pipeline_events_per_s"] == round(statistics.median(samples["pipeline"]))
    assert figures["raw_redis_py_events_per_s"] == round(statistics.median(samples["raw"]))
    ratio = figures["pipeline_ratio"]
    assert isinstance(ratio, float) and ratio > 0
    assert (
        abs(ratio - statistics.median(samples["pipeline"]) / statistics.median(samples["raw"]))
        < 0.001
    )
    # The year is the one `mash generate` writes at that scale: every event of it, applied.
    written = Generator(BOROUGH_2013_14, seed=1, scale=float(SCALE)).write(tmp_path / "y.jsonl")
    assert figures["events"] == written.events
    assert figures["workers"] == 0
    assert int(figures["redis_used_memory_bytes"]) > 1_000_000  # the year's streams and states
    assert int(figures["peak_rss_bytes"]) > 50_000_000
    # CPU by role over the timed window: this process applied the year, Redis served it.
    cpu = figures["cpu_us_per_event"]
    assert cpu["workers"] == 0.0
    assert cpu["bench_process"] > 0 and cpu["redis"] > 0
    assert abs(cpu["total"] - (cpu["bench_process"] + cpu["redis"])) <= 0.2
    assert 0 < figures["cpu_share_used"] <= 1.05
    assert "report_command_s" not in figures  # only with --reports


def test_the_pipeline_figure_applies_the_year_as_replay_would_by_default(
    cli_env: dict[str, str],
) -> None:
    """Without --workers, the bench applies the year as `mash replay` does: two worker
    processes where there are two cores, else this process. With --reports, `mash report`
    commands run from another process while one more round applies the year."""
    cores = len(os.sched_getaffinity(0))
    figures = _bench(cli_env, "--reports")
    assert figures["workers"] == (2 if cores >= 2 else 0)
    assert int(figures["pipeline_events_per_s"]) > 0
    if figures["workers"]:
        # The worker processes' CPU, read from /proc, is most of the run's.
        cpu = figures["cpu_us_per_event"]
        assert cpu["workers"] > cpu["bench_process"] > 0
        assert cpu["total"] > cpu["workers"]
    reports = figures["report_command_s"]
    assert reports["taken"] >= 1
    assert 0.05 < reports["median"] <= reports["max"] < 60  # a Python process's start at least
    # Those that printed nothing (the first may find no watermark applied) are counted apart,
    # with the last one's words; a run that printed none at all would say why.
    assert reports["failed"] >= 0
    assert reports["failed"] == 0 or reports["last_error"]
    assert len(figures["samples"]["pipeline"]) == 3  # the round with reports is not a sample
