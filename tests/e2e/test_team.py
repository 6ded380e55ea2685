"""A MASH team through the command line: timeliness from workload, what-if runs, compare."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

import pytest

from mash._config.settings import Settings
from mash._replay.driver import replay_generated
from mash._report.report import to_json
from tests.e2e.test_cli import mash, one_line_error

# Over three hours a contact for one practitioner on weekdays: 2.4 a day, fewer than a tenth of the
# borough's year brings on a Monday, so the queue grows through the year.
SMALL = """\
name: overstretched
practitioners:
  - {group: day, count: 1, days: working, start: "09:00", end: "17:00"}
minutes: {red: 200, amber: 200, green: 200}
"""


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("MASH_")}


def _replay(year: Path, out: Path, *extra: str) -> dict[str, Any]:
    done = mash(
        "replay", str(year), "-f", "json", "--report", str(out), "-q", *extra,
        env=_env(), timeout=600,
    )  # fmt: skip
    # A generated year carries its calibration as expectations; a team too small for it
    # misses some of them (exit 1), which is the point of the run, not a failure of it.
    assert done.returncode in (0, 1), done.stderr
    assert "Traceback" not in done.stderr
    report: dict[str, Any] = json.loads(out.read_text())
    return report


@pytest.fixture(scope="module")
def small_team(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("team") / "overstretched.yaml"
    path.write_text(SMALL)
    return path


@pytest.fixture(scope="module")
def runs(year: Path, small_team: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The same year with the default team (one worker), the small team with one worker and
    with four."""
    where = tmp_path_factory.mktemp("runs")
    paths = {
        "default": where / "default.json",
        "small-1": where / "small-1.json",
        "small-4": where / "small-4.json",
    }
    _replay(year, paths["default"], "--team", "default", "--workers", "1")
    _replay(year, paths["small-1"], "--team", str(small_team), "--workers", "1")
    _replay(year, paths["small-4"], "--team", str(small_team), "--workers", "4")
    return paths


def test_a_team_too_small_breaches_decisions_and_its_queue_grows(runs: dict[str, Path]) -> None:
    small = json.loads(runs["small-1"].read_text())
    enough = json.loads(runs["default"].read_text())
    assert small["team"] == "overstretched"
    assert enough["team"] == "mash-default"
    decided = small["clocks"]["by_clock"]["referral_decision"]
    assert decided["breached"] > decided["started"] / 4
    assert enough["clocks"]["by_clock"]["referral_decision"]["breached"] == 0
    assert small["queue"]["mean_wait_hours"] > 10 * enough["queue"]["mean_wait_hours"]
    assert small["queue"]["most_waiting"] > enough["queue"]["most_waiting"]
    # The year's busy spring outruns the team: the wait grows month on month.
    waits = small["queue"]["by_month"]["mean_wait_hours"]
    assert waits[0] < waits[1] < waits[2]
    assert waits[2] > 5 * waits[0]
    # The rules decide what, the team when: every decision the default team made is one the
    # small team made or still owes.
    assert small["contacts"]["total"] == enough["contacts"]["total"]
    assert small["decisions"]["total"] < enough["decisions"]["total"]


def test_the_same_year_and_team_give_the_same_report_with_one_and_four_workers(
    runs: dict[str, Path],
) -> None:
    assert runs["small-1"].read_bytes() == runs["small-4"].read_bytes()


def test_compare_sets_two_runs_side_by_side(runs: dict[str, Path]) -> None:
    done = mash("compare", str(runs["default"]), str(runs["small-1"]), "--json", env=_env())
    assert done.returncode == 0, done.stderr
    rows = {(r["section"], r["figure"]): r for r in json.loads(done.stdout)}
    assert rows["run", "team"]["a"] == "mash-default"
    assert rows["run", "team"]["b"] == "overstretched"
    assert rows["queue", "mean wait for a practitioner (hours)"]["change"] > 0
    assert rows["breached", "referral_decision"]["a"] == 0
    assert rows["breached", "referral_decision"]["b"] > 0
    shown = mash("compare", str(runs["default"]), str(runs["small-1"]), env=_env())
    assert shown.returncode == 0, shown.stderr
    assert "overstretched" in shown.stdout


def test_team_mistakes_are_one_line(tmp_path: Path, year: Path) -> None:
    line = one_line_error(mash("replay", "gemma", "--team", "nosuch", env=_env()))
    assert "--team nosuch" in line
    assert "default" in line
    typo = tmp_path / "typo.yaml"
    typo.write_text(SMALL.replace("minutes:", "minuets:"))
    line = one_line_error(mash("replay", "gemma", "--team", str(typo), env=_env()))
    assert "typo.yaml" in line
    assert "minuets" in line
    # A scenario whose decisions come from outside (manual screening) has no team to queue.
    line = one_line_error(
        mash("replay", "clocks/referral-decision", "--team", "default", env=_env())
    )
    assert "auto screening only" in line
    not_json = tmp_path / "a.json"
    not_json.write_text("{")
    line = one_line_error(mash("compare", str(not_json), str(not_json), env=_env()))
    assert "a.json" in line


def test_the_queue_does_not_depend_on_where_the_watermarks_fall(
    year: Path, small_team: Path
) -> None:
    """The same year and team, watermarked every 2,000 events and every 37: the same report
    (the queue is ticked at its own instants, not at the rounds')."""

    def run(step: int) -> str:
        settings = Settings(namespace=f"steps{step}")
        result = asyncio.run(
            replay_generated(year, settings, team_override=small_team, step_events=step)
        )
        return to_json(result.report)

    assert run(37) == run(2000)
