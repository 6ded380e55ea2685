"""The 2013-14 clocks (initial and core assessments, looked-after reviews) and the performance
indicators the report computes from the board's figures: pure functions, no Redis."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from mash._report.figures import figures
from mash._report.indicators import INDICATORS, indicators, ratio
from mash._scenarios.generated import PACKAGED_TIMESCALES
from mash._time.calendar import WorkingDayCalendar
from mash.consumers.reporter.rules import ChildRecord, ReporterRules
from mash.consumers.timescales.config import load_timescales
from mash.consumers.timescales.rules import ChildClocks, ClockRules
from mash.schemas import Envelope, TimescaleCancelled, TimescaleMet, TimescaleStoppedLate
from tests.factories import event, tick

TIMESCALES_2013 = load_timescales(PACKAGED_TIMESCALES / "2013-14.yaml")
RULES = ClockRules(TIMESCALES_2013, WorkingDayCalendar())
REFERRAL = datetime(2014, 4, 10, 10, 0, tzinfo=UTC)  # Thursday before Easter 2014


def decided(at: datetime, outcome: str = "section17_assessment") -> Any:
    return event(
        "screening.decided",
        at,
        agency="mash",
        contact_id="c1",
        level=3,
        rag="amber",
        outcome=outcome,
        decision_due=(at + timedelta(days=1)).isoformat(),
        reasons=[],
        thresholds="t",
        received_at=at.isoformat(),
    )


def started(at: datetime, kind: str, ref: str = "A1") -> Any:
    return event("assessment.started", at, agency="la_social_care", assessment_id=ref, kind=kind)


def completed(at: datetime, kind: str, ref: str = "A1", outcome: str = "nfa") -> Any:
    return event(
        "assessment.completed",
        at,
        agency="la_social_care",
        assessment_id=ref,
        kind=kind,
        factors=["21"],
        outcome=outcome,
    )


def run(events: list[Any]) -> list[Envelope]:
    state, out = ChildClocks(), []
    for e in events:
        changed, emitted = RULES({"C1": state}, e)
        state = changed.get("C1", state)
        out.extend(emitted)
    return out


def outcomes(out: list[Envelope]) -> list[tuple[str, str]]:
    kinds = {TimescaleMet: "met", TimescaleStoppedLate: "late", TimescaleCancelled: "cancelled"}
    return [(o.clock, kinds[type(o)]) for o in out if type(o) in kinds]  # type: ignore[attr-defined]


def test_the_2013_14_file_times_initial_and_core_assessments_not_the_45_day_one() -> None:
    ids = {c.id for c in TIMESCALES_2013.clocks}
    assert {"initial_assessment", "core_assessment", "lac_first_review"} <= ids
    assert not {"assessment", "assessment_dfe"} & ids


def test_an_initial_assessment_runs_10_working_days_from_the_referral() -> None:
    # Referral Thu 10 April 2014; Good Friday and Easter Monday are skipped: day 10 is 28 April.
    on_time = datetime(2014, 4, 28, 16, 0, tzinfo=UTC)
    late = datetime(2014, 4, 29, 9, 0, tzinfo=UTC)
    assert outcomes(
        run([decided(REFERRAL), started(REFERRAL, "initial"), completed(on_time, "initial")])
    ) == [("initial_assessment", "met")]
    got = outcomes(
        run(
            [
                decided(REFERRAL),
                started(REFERRAL, "initial"),
                tick(late),
                completed(late, "initial"),
            ]
        )
    )
    assert got == [("initial_assessment", "late")]


def test_a_core_assessment_runs_35_working_days_from_its_own_start() -> None:
    begun = datetime(2014, 5, 1, 10, 0, tzinfo=UTC)
    day_35 = WorkingDayCalendar().add_working_days(date(2014, 5, 1), 35)
    done = datetime.combine(day_35, datetime.min.time(), tzinfo=UTC) + timedelta(hours=15)
    out = run([started(begun, "core"), completed(done, "core")])
    assert outcomes(out) == [("core_assessment", "met")]
    # A referral taken straight to a core assessment needs no initial one.
    straight = run([decided(REFERRAL), started(REFERRAL + timedelta(hours=1), "core")])
    assert ("initial_assessment", "cancelled") in outcomes(straight)


def test_an_indicator_is_a_percentage_and_none_with_nothing_to_divide() -> None:
    assert ratio(875, 1560) == {"value": 56.1, "numerator": 875, "denominator": 1560}
    assert ratio(0, 0) == {"value": None, "numerator": 0, "denominator": 0}
    board = figures({}, at=datetime(2014, 3, 31, 22, tzinfo=UTC))
    assert set(board["indicators"]) == set(INDICATORS)
    assert all(i["value"] is None for i in board["indicators"].values())
    assert indicators(board) == board["indicators"]


def _fold(events: list[Any]) -> dict[str, int]:
    rules, record, tally = ReporterRules(), ChildRecord(), {}
    for e in events:
        changed, _, delta = rules({"C1": record}, e)
        record = changed.get("C1", record)
        for k, v in delta.items():
            tally[k] = tally.get(k, 0) + v
    return tally


def test_plans_lasting_two_years_and_second_plans_are_counted() -> None:
    begun = datetime(2011, 5, 1, 10, tzinfo=UTC)
    tally = _fold(
        [
            event(
                "cp_plan.started",
                begun,
                agency="la_social_care",
                cpp_id="P1",
                initial_category="NEG",
            ),
            event(
                "cp_plan.ended", begun + timedelta(days=800), agency="la_social_care", cpp_id="P1"
            ),
            event(
                "cp_plan.started",
                datetime(2013, 9, 1, 10, tzinfo=UTC),
                agency="la_social_care",
                cpp_id="P2",
                initial_category="EMO",
            ),
        ]
    )
    board = figures(
        tally,
        at=datetime(2014, 3, 31, 22, tzinfo=UTC),
        since=datetime(2013, 4, 1, tzinfo=UTC),
    )
    ind = board["indicators"]
    assert ind["NI 64"] == {"value": 100.0, "numerator": 1, "denominator": 1}
    assert ind["NI 65"] == {"value": 100.0, "numerator": 1, "denominator": 1}
    assert ind["repeat_plans"] == ind["NI 65"]


def test_care_is_counted_for_ni_61_62_and_63() -> None:
    social = {"agency": "la_social_care", "care_id": "K1"}
    began = datetime(2010, 6, 1, 10, tzinfo=UTC)
    tally = _fold(
        [
            event(
                "contact.received",
                began - timedelta(days=1),
                agency="school",
                referral_source="2A",
                children=[{"child_id": "C1", "dob": "2006-01-01", "sex": "F"}],
            ),
            event("care.started", began, **social),
            event("placement.started", began, placement_id="K1-P1", **social),
        ]
        + [
            event(
                "placement.started",
                datetime(2013, m, 2, 10, tzinfo=UTC),
                placement_id=f"K1-P{m}",
                **social,
            )
            for m in (5, 7, 9)
        ]
    )
    board = figures(tally, at=datetime(2014, 3, 31, 22, tzinfo=UTC))
    lac = board["looked_after"]
    assert (lac["now"], lac["three_or_more_placements"]) == (1, 1)
    # Looked after nearly four years, aged 8, but moved in the last two: not stable.
    assert (lac["long_term"], lac["long_term_stable"]) == (1, 0)
    assert board["indicators"]["NI 62"]["value"] == 100.0
    assert board["indicators"]["NI 63"]["value"] == 0.0
