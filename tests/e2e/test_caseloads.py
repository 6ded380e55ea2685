"""Social workers' caseloads through the command line: a year generated with a team, whose
assessments wait for a worker with room, replayed; its timeliness is the workload's."""

from __future__ import annotations

import gzip
import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from mash._generator.generate import PRESETS
from tests.e2e.test_cli import mash, one_line_error
from tests.e2e.test_team import _env, _replay

PRESET = PRESETS["borough-2013-14"]

# The default team's social workers, four fewer: a what-if run.
FEWER = """\
name: four-fewer
practitioners:
  - {group: day, count: 4, days: working, start: "09:00", end: "17:00"}
minutes: {red: 60, amber: 45, green: 30}
social_workers:
  count: 25
  caseload: 11
  working_days: {initial: [2, 9], core: [10, 50], single: [10, 50]}
"""


def _generate(out: Path, team: str, *extra: str) -> dict[str, Any]:
    done = mash(
        "generate", "-o", str(out), "--seed", "1", "--team", team, "--json", *extra,
        env=_env(), timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    summary: dict[str, Any] = json.loads(done.stdout)
    return summary


@pytest.fixture(scope="module")
def years(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The borough's year generated with the default team and with four fewer workers, and
    their replays' reports."""
    where = tmp_path_factory.mktemp("caseloads")
    fewer = where / "fewer.yaml"
    fewer.write_text(FEWER)
    out: dict[str, Any] = {}
    for name, team in (("default", "default"), ("fewer", str(fewer))):
        year = where / f"{name}.jsonl.gz"
        out[f"{name}-summary"] = _generate(year, team)
        out[f"{name}-year"] = year
        out[name] = _replay(year, where / f"{name}.json")
    return out


def _within(value: float, target: float, share: float = 0.10) -> bool:
    return abs(value - target) <= share * target


def test_the_default_team_reproduces_ni59_and_ni60_from_its_workload(
    years: dict[str, Any],
) -> None:
    report = years["default"]
    ni59 = report["indicators"]["NI 59"]["value"]
    ni60 = report["indicators"]["NI 60"]["value"]
    assert _within(ni59, 100 * PRESET.initial_in_time), ni59
    assert _within(ni60, 100 * PRESET.core_in_time), ni60
    # From the workload: assessments waited for a worker, and the waits are on the stream.
    assert years["default-summary"]["team"]["waited"] > 0
    caseloads = report["caseloads"]
    assert caseloads["mean_wait_days"] > 0
    assert caseloads["open_at_end"] > 0
    assert caseloads["authorised"] <= caseloads["opened"]
    # The file says whose caseloads timed it, and makes no claim on what they decide (a
    # smaller team's year is a what-if, not a failed calibration); its other claims held.
    with gzip.open(years["default-year"], "rt") as year:
        header = json.loads(year.readline())
    assert header["team"]["name"] == "mash-default"
    claimed = {e["figure"]["path"] for e in header["expect"]}
    assert "referrals.total" in claimed
    assert not {p for p in claimed if p.startswith(("indicators.NI 59", "indicators.NI 60"))}
    assert report["expectations"]["failed"] == []


def test_four_fewer_social_workers_wait_longer_and_miss_more_clocks(
    years: dict[str, Any],
) -> None:
    default, fewer = years["default"], years["fewer"]
    for ni in ("NI 59", "NI 60"):
        assert fewer["indicators"][ni]["value"] < default["indicators"][ni]["value"] - 5
    assert fewer["caseloads"]["mean_wait_days"] > default["caseloads"]["mean_wait_days"]
    assert fewer["caseloads"]["most_open"] > default["caseloads"]["most_open"]
    # The report says whose caseloads made the year.
    assert fewer["generated"]["team"]["name"] == "four-fewer"
    assert fewer["generated"]["team"]["places"] == 25 * 11
    assert default["generated"]["team"]["social_workers"] == 29


def test_the_wait_for_a_worker_grows_as_the_year_outruns_the_team(
    years: dict[str, Any],
) -> None:
    waits = years["fewer"]["caseloads"]["by_month"]["mean_wait_days"]
    assert waits[0] < waits[5] < waits[-1]


def test_the_same_seed_and_team_give_the_same_file(years: dict[str, Any], tmp_path: Path) -> None:
    again = tmp_path / "again.jsonl.gz"
    _generate(again, "default")
    first = gzip.decompress(years["default-year"].read_bytes())
    assert first == gzip.decompress(again.read_bytes())


def test_a_team_with_no_social_workers_is_one_line(tmp_path: Path) -> None:
    team = "scenarios/teams/one-practitioner.yaml"
    line = one_line_error(
        mash("generate", "-o", str(tmp_path / "y.jsonl"), "--team", team, env=_env())
    )
    assert "has no social_workers" in line


def test_a_mistake_in_the_social_workers_is_one_line_naming_it(tmp_path: Path) -> None:
    assert "caseload: 11" in FEWER
    team = tmp_path / "typo.yaml"
    team.write_text(FEWER.replace("caseload: 11", "caseload: 11\n  caseloads: 3"))
    line = one_line_error(
        mash("generate", "-o", str(tmp_path / "y.jsonl"), "--team", str(team), env=_env())
    )
    assert "typo.yaml" in line and "caseloads" in line


def test_no_more_assessments_are_worked_at_once_than_the_caseloads_hold(tmp_path: Path) -> None:
    # Three places for a tenth of the borough's year: nearly every assessment waits.
    team = tmp_path / "tiny.yaml"
    team.write_text(FEWER.replace("count: 25", "count: 10").replace("caseload: 11", "caseload: 3"))
    year = tmp_path / "tiny.jsonl"
    summary = _generate(year, str(team), "--scale", "0.1")
    assert summary["team"]["places"] == 3
    lines = year.read_text().splitlines()[1:]
    events = [json.loads(line) for line in lines]
    started = {
        e["assessment_id"]: e["occurred_at"] for e in events if e["type"] == "assessment.started"
    }
    edges: list[tuple[str, int]] = []
    for e in events:
        if e["type"] != "assessment.completed":
            continue
        worked = e["worked_from"]
        # Opened, then worked, then authorised: the wait is on the stream.
        when = [datetime.fromisoformat(t) for t in (started[e["assessment_id"]], worked)]
        assert when[0] <= when[1] <= datetime.fromisoformat(e["occurred_at"])
        edges += [(worked, 1), (e["occurred_at"], -1)]
    held = most = 0
    # Instants are written with their London offset: compared as instants, not as text.
    for _, step in sorted(edges, key=lambda x: (datetime.fromisoformat(x[0]), x[1])):
        held += step
        most = max(most, held)
    assert 1 < most <= 3
    assert len(edges) // 2 > 20  # about 25 a year each place, at a month or so apiece


def test_compare_sets_two_teams_caseloads_side_by_side(
    years: dict[str, Any], tmp_path: Path
) -> None:
    paths = []
    for name in ("default", "fewer"):
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(years[name]))
        paths.append(str(path))
    done = mash("compare", *paths, "--json", env=_env())
    assert done.returncode == 0, done.stderr
    rows = {(r["section"], r["figure"]): r for r in json.loads(done.stdout)}
    team = rows[("run", "social workers' team")]
    assert (team["a"], team["b"]) == ("mash-default", "four-fewer")
    wait = rows[("caseloads", "mean wait for a social worker (days)")]
    assert wait["a"] == years["default"]["caseloads"]["mean_wait_days"]
    assert wait["change"] > 0
    assert rows[("indicators", "NI 59")]["change"] < 0
