"""Scenario expectations say what a tester means: levels at least, clocks that must not exist,
counts of flags, and lateness by value."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from mash._scenarios.expectations import Outputs, check
from mash._scenarios.scenario import load_scenario
from mash.schemas import CSEFlag, ScreeningDecided, TimescaleStoppedLate, parse_event_data

T = datetime(2014, 1, 6, 9, tzinfo=UTC)


def scenario(tmp_path: Path, expect: list[dict[str, Any]]) -> Any:
    spec = {
        "name": "t",
        "start": T.isoformat(),
        "children": [{"id": "C1", "dob": "2008-01-01", "sex": "F"}],
        "events": [
            {
                "id": "c1",
                "at": "0h",
                "type": "contact.received",
                "children": ["C1"],
                "referral_source": "2A",
                "concerns": ["16A"],
            },
        ],
        "expect": expect,
    }
    path = tmp_path / "t.yaml"
    path.write_text(yaml.safe_dump(spec))
    return load_scenario(path)


def made(kind: str, **fields: Any) -> Any:
    base = {"occurred_at": T.isoformat(), "recorded_at": T.isoformat(), "agency": "mash"}
    return parse_event_data({"type": kind, **base, **fields})


def outputs() -> Outputs:
    decision = made(
        "screening.decided", event_id="d1", child_id="C1", contact_id="t.c1", level=3,
        rag="amber", outcome="section17_assessment", decision_due=T.isoformat(), reasons=[],
        thresholds="x",
    )  # fmt: skip
    late = made(
        "timescale.stopped_late", event_id="l1", child_id="C1", clock="assessment",
        clock_id="assessment.C1.t.c1", deadline=T.isoformat(), stopped_at=T.isoformat(),
        lateness="4 working days",
    )  # fmt: skip
    flags = [
        made(
            "cse.flag",
            event_id=f"f{i}",
            child_id="C1",
            level=level,
            previous_level="none",
            indicators=[],
        )
        for i, level in enumerate(["medium", "none", "medium"])
    ]
    assert isinstance(decision, ScreeningDecided) and isinstance(late, TimescaleStoppedLate)
    assert all(isinstance(f, CSEFlag) for f in flags)
    return Outputs(decisions=[decision], dead_letters=[], clock_events=[late], flags=flags)


def results(tmp_path: Path, expect: list[dict[str, Any]]) -> list[tuple[bool, str]]:
    return [(c.passed, c.detail) for c in check(scenario(tmp_path, expect), outputs(), {})]


def test_a_level_at_least_holds_for_that_level_or_higher(tmp_path: Path) -> None:
    got = results(
        tmp_path,
        [
            {"decision": {"contact": "c1", "level_at_least": 2}},
            {"decision": {"contact": "c1", "level_at_least": 3}},
            {"decision": {"contact": "c1", "level_at_least": 4}},
        ],
    )
    assert [ok for ok, _ in got] == [True, True, False]
    assert got[2][1] == "level: expected at least 4, got 3"


def test_lateness_is_compared_by_value(tmp_path: Path) -> None:
    def clock(lateness: Any) -> dict[str, Any]:
        return {
            "clock": {"name": "assessment", "child": "C1", "status": "late", "lateness": lateness}
        }

    got = results(
        tmp_path,
        [
            clock({"working_days": 4}),
            clock({"working_days": 3}),
            clock({"hours": 4}),
            clock("4 working days"),
        ],
    )
    assert [ok for ok, _ in got] == [True, False, False, True]
    assert got[1][1] == "lateness: expected 3 working days, got 4 working days"


def test_a_clock_that_must_not_exist(tmp_path: Path) -> None:
    got = results(
        tmp_path,
        [
            {"clock": {"name": "icpc", "child": "C1", "status": "absent"}},
            {"clock": {"name": "assessment", "child": "C1", "status": "absent"}},
        ],
    )
    assert got == [(True, "no such clock"), (False, "got assessment.C1.t.c1")]


def test_the_number_of_flags(tmp_path: Path) -> None:
    got = results(
        tmp_path,
        [
            {"flags": {"child": "C1", "count": 3}},
            {"flags": {"child": "C1", "count": 2, "level": "medium"}},
            {"flags": {"child": "C1", "count": 1}},
        ],
    )
    assert [ok for ok, _ in got] == [True, True, False]
