"""A generated year and its clean run, shared by the suites that compare other runs with it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.e2e.test_cli import mash
from tests.generated import generated_year


@pytest.fixture(scope="session")
def year(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tenth of the borough's year: about 2,000 events over 700 children, 20-odd steps."""
    return generated_year(tmp_path_factory.mktemp("year"), 0.1, seed=5)


@pytest.fixture(scope="session")
def clean(year: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The clean run's report: one process, one shard, the embedded default."""
    out = tmp_path_factory.mktemp("clean") / "report.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MASH_")}
    done = mash(
        "replay", str(year), "-f", "json", "--report", str(out), "-q", "--workers", "0",
        env=env, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return out.read_text()
