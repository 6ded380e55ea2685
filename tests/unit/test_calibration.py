"""A generated 2013-14 year, replayed in memory, against the seeds' figures: several seeds.

No Redis: the year goes through the hub's pure pipeline and the same four consumers a replay
runs (`mash/_replay/memory.py`), and the figures come from the same fold. The e2e test
replays one year through real Redis and workers and checks the same header expectations.

The targets are typed here from the seeds (LSCB annual report 2013-14, domain-reference §6)
and England's 2013-14 statistics, not read from the file, so a generator that wrote its own
answers into its header could not pass.
"""

from __future__ import annotations

from typing import Any

import pytest

from mash._generator.generate import BOROUGH_2013_14, Generator
from mash._replay.memory import MemoryReplay, replay_in_memory
from mash._scenarios.expectations import check_figures

SEEDS_TESTED = (1, 2, 3)
TOLERANCE = 0.10

# Each seed figure, as a path in the report (§ of the annual report).
TOTALS: dict[str, float] = {
    "cp_plans_now.total": 388,  # 3.4
    "cp_plans_now.rate_per_10k": 70,  # 5.6
    "child_protection.s47_rate_per_10k": 110,  # 5.6
    "child_protection.plans_started_in_period": 406,  # NI 65
    "child_protection.plans_ended": 351,  # NI 64
    "missing.incidents": 416,  # 5.2.4
    "missing.children": 131,
    "missing.interviews_offered": 378,
    "missing.interviews_done": 74,
    "contacts.domestic_abuse.contacts": 328,  # 5.7
    "contacts.domestic_abuse.children": 518,
    "referrals.total": 3174,  # England 2013-14: 573 per 10,000
    "indicators.NI 59.denominator": 1560,  # 4.6, Figure 1
    "indicators.NI 60.denominator": 2405,
    "looked_after.now": 397,  # NI 62's denominator
    "indicators.NI 61.denominator": 34,
    "indicators.NI 63.denominator": 159,
}
# Indicators (percentages): §4.6 Figure 1, and England's re-referral rate (SFR43/2014).
RATES: dict[str, float] = {
    "NI 59": 56.1,
    "NI 60": 61.0,
    "NI 61": 67.6,
    "NI 62": 11.1,
    "NI 63": 67.9,
    "NI 64": 6.8,
    "NI 65": 11.3,
    "NI 66": 98.6,
    "NI 67": 99.6,
    "re_referrals": 23.4,
    "repeat_plans": 11.3,
}


@pytest.fixture(scope="module", params=SEEDS_TESTED, ids=lambda s: f"seed{s}")
def year(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> MemoryReplay:
    path = tmp_path_factory.mktemp("calibration") / f"borough-{request.param}.jsonl"
    Generator(BOROUGH_2013_14, seed=request.param, scale=1).write(path)
    return replay_in_memory(path)


@pytest.fixture(scope="module")
def report(year: MemoryReplay) -> dict[str, Any]:
    return year.figures()


def at(report: dict[str, Any], path: str) -> Any:
    node: Any = report
    for part in path.split("."):
        node = node[part]
    return node


def test_every_seed_total_and_rate_is_within_ten_percent(report: dict[str, Any]) -> None:
    off = {
        path: (at(report, path), want)
        for path, want in TOTALS.items()
        if abs(at(report, path) - want) > TOLERANCE * want
    }
    indicators = report["indicators"]
    off |= {
        name: (indicators[name]["value"], want)
        for name, want in RATES.items()
        if indicators[name]["value"] is None
        or abs(indicators[name]["value"] - want) > TOLERANCE * want
    }
    assert not off, off


def test_the_files_own_expectations_hold_and_nothing_was_refused(
    year: MemoryReplay, report: dict[str, Any]
) -> None:
    checks = check_figures(year.header.expect, report)
    assert [c for c in checks if not c.passed] == []
    assert {c.expectation for c in checks} >= {"figure indicators.NI 59.value"}
    assert report["dead_letters"]["total"] == 0


def test_children_come_back_and_plans_repeat(year: MemoryReplay, report: dict[str, Any]) -> None:
    # Re-referrals come from journeys: some children are referred three times or more.
    referrals = [
        sum(1 for f in record.facts if f.kind == "referral")
        for record in year.states["reporter"].values()
    ]
    assert sum(1 for n in referrals if n >= 3) > 10
    # Some referrals close before any assessment (the census's ReferralNFA).
    assert report["decisions"]["by_outcome"]["section17_assessment"] > (
        report["assessments"]["completed"] * 0.5
    )
    cp = report["child_protection"]
    # About 96% of initial conferences make a plan (England 2013-14).
    assert 0.92 <= cp["icpcs_plan_required"] / cp["icpcs"] < 1
    assert cp["plans_ended_2y_or_more"] > 0


def test_the_cse_consumer_raises_medium_and_high_by_itself(report: dict[str, Any]) -> None:
    flags = report["cse"]["flags_by_level"]
    # Calibrated to about 25 high-risk children a year (README, "CSE pathway"): the seeds'
    # risk panel saw about 10 cases in its first month, the police made 23 arrests.
    assert 12 <= flags.get("high", 0) <= 45
    assert 25 <= flags.get("medium", 0) <= 110
    assert report["clocks"]["by_clock"]["cse_screening"]["started"] == flags["high"]
    assert "missing_with_adults" in report["cse"]["indicators_behind_high_flags"]


def test_looked_after_children_enter_move_are_reviewed_and_leave(report: dict[str, Any]) -> None:
    lac = report["looked_after"]
    assert lac["started"] > 100
    # Every way out of care the census names but death (RC2).
    assert {"RC1", "RC3", "RC4", "RC5", "RC6", "RC7"} <= set(lac["ended_by_reason"])
    assert lac["adoptions"] == lac["ended_by_reason"]["RC1"]
    # Looked after is in the screening history (contacts passed to the allocated worker)
    # and a CSE indicator.
    assert report["decisions"]["by_outcome"]["pass_to_allocated_worker"] > lac["now"]
    assert report["cse"]["indicators_by_level"]["low"]["looked_after"] > 100


def test_every_child_has_demographics_and_the_year_has_no_empty_month(
    year: MemoryReplay, report: dict[str, Any]
) -> None:
    assert all(r.dob is not None and r.sex is not None for r in year.states["reporter"].values())
    series = report["series"]
    assert len(series["months"]) == 12
    assert min(series["s47_started"]) > 0
    assert min(series["missing_incidents"]) > 0
    bands = report["cp_plans_now"]["by_age_band"]
    assert bands.get("unborn") == 2
    assert bands.get("under 1", 0) >= 0.06 * 388
