"""The reporter's fold, the figures it feeds and the census cut, as pure functions."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from mash._report.cin import census_xml, census_year_of, episodes, la_child_id, primary_need, upn
from mash._report.figures import age_band, figures
from mash.consumers.reporter.rules import ChildRecord, ReporterRules, keys
from mash.schemas.codes import PrimaryNeed
from tests.factories import T0, contact, event

RULES = ReporterRules()


def fold(events: list[Any]) -> tuple[dict[str, ChildRecord], dict[str, int]]:
    records: dict[str, ChildRecord] = {}
    tallies: dict[str, int] = {}
    for e in events:
        mine = {k: records.get(k, ChildRecord()) for k in keys(e)}
        changed, emitted, tally = RULES(mine, e)
        assert emitted == ()
        records.update(changed)
        for name, delta in tally.items():
            tallies[name] = tallies.get(name, 0) + delta
    return records, {k: v for k, v in tallies.items() if v}


def decided(at: datetime, outcome: str, contact_id: str = "c1", level: int = 3) -> Any:
    return event(
        "screening.decided",
        at,
        agency="mash",
        event_id=f"d.{contact_id}",
        contact_id=contact_id,
        level=level,
        rag="amber",
        outcome=outcome,
        decision_due=(at + timedelta(days=1)).isoformat(),
        reasons=[],
        thresholds="t",
    )


PLAN_STORY = [
    contact(at=T0),
    event(
        "cp_plan.started",
        T0 + timedelta(days=20),
        agency="la_social_care",
        cpp_id="P1",
        initial_category="NEG",
    ),
    event("cp_plan.ended", T0 + timedelta(days=90), agency="la_social_care", cpp_id="P1"),
]


def test_a_plan_is_counted_under_its_childs_details_whichever_stream_came_first() -> None:
    in_order = fold(PLAN_STORY[:2])[1]
    plan_first = fold([PLAN_STORY[1], PLAN_STORY[0]])[1]
    assert in_order == plan_first
    assert in_order["cpp.open|sex|F"] == 1
    assert in_order["cpp.open|dob|2008-01-01"] == 1
    assert "cpp.open|sex|unknown" not in plan_first


def test_an_ended_plan_leaves_nothing_open() -> None:
    tallies = fold(PLAN_STORY)[1]
    assert not any(name.startswith("cpp.open") for name in tallies)
    assert tallies["cpp.started"] == tallies["cpp.ended"] == 1


@settings(max_examples=60, deadline=None)
@given(st.permutations(range(3)))
def test_tallies_do_not_depend_on_the_order_streams_are_read(order: list[int]) -> None:
    story = [contact(at=T0), decided(T0, "section17_assessment"), PLAN_STORY[1]]
    assert fold([story[i] for i in order])[1] == fold(story)[1]


def test_a_second_referral_within_a_year_is_a_re_referral_and_after_a_year_is_not() -> None:
    first = decided(T0, "section17_assessment", "c1")
    soon = decided(T0 + timedelta(days=200), "strategy_discussion", "c2")
    late = decided(T0 + timedelta(days=200 + 366), "section17_assessment", "c3")
    advice = decided(T0 + timedelta(days=100), "early_help", "c4", level=2)
    tallies = fold([first, advice, soon, late])[1]
    assert tallies["referrals.total"] == 3
    assert tallies["referrals.re_referrals_12m"] == 1
    assert tallies["decisions.total"] == 4


def test_impossible_missing_episodes_are_not_incidents() -> None:
    at = T0
    tallies = fold(
        [
            event("missing.returned", at, missing_id="NONE"),
            event("missing.started", at + timedelta(hours=1), missing_id="M1"),
            event("missing.started", at + timedelta(hours=2), missing_id="M2"),  # overlaps
            event("missing.returned", at + timedelta(hours=9), missing_id="M1"),
            # 73 hours after the return: done, but not within 72 hours.
            event("rhi.completed", at + timedelta(hours=82), missing_id="M1", agency="voluntary"),
        ]
    )[1]
    assert tallies["missing.incidents"] == 1
    assert tallies["missing.returns"] == 1
    assert "missing.open_now" not in tallies
    assert tallies["missing.interviews_done"] == 1
    assert "missing.interviews_within_72h" not in tallies


def test_age_bands_are_taken_on_the_report_date() -> None:
    assert age_band(date(2014, 6, 1), date(2014, 3, 31)) == "unborn"
    assert age_band(date(2013, 4, 1), date(2014, 3, 31)) == "under 1"
    assert age_band(date(2013, 3, 31), date(2014, 3, 31)) == "1-4"
    assert age_band(date(2004, 4, 1), date(2014, 3, 31)) == "5-9"
    assert age_band(date(1998, 3, 31), date(2014, 3, 31)) == "16 and over"


def test_out_of_timescale_now_is_breached_and_neither_stopped_nor_cancelled() -> None:
    tallies = {
        "clocks|assessment|started": 5,
        "clocks|assessment|met": 1,
        "clocks|assessment|breached": 3,
        "clocks|assessment|stopped_late": 1,
        "clocks|assessment|cancelled": 1,
        "clocks|assessment|cancelled_breached": 1,
    }
    row = figures(tallies, at=T0)["clocks"]["by_clock"]["assessment"]
    assert row["open"] == 2
    assert row["out_of_timescale"] == 1
    assert row["percent_met"] == 25


def test_rates_need_a_population() -> None:
    tallies = {"s47.started": 11, "cpp.open": 7, "cpp.open|category|NEG": 7}
    assert figures(tallies, at=T0)["child_protection"]["s47_rate_per_10k"] is None
    with_population = figures(tallies, at=T0, population=1000)
    assert with_population["child_protection"]["s47_rate_per_10k"] == 110.0
    assert with_population["cp_plans_now"]["rate_per_10k"] == 70.0
    assert with_population["cp_plans_now"]["by_category_percent"]["NEG"] == 100.0


def test_upn_check_letters_match_the_dfe_algorithm() -> None:
    # The three UPNs of shared/cin_sample.xml, which the DfE validator accepts (rule 1510).
    for known in ("E850200100101", "F850200100202", "B850400200303"):
        body = known[1:]
        total = sum(int(c) * w for c, w in zip(body, range(2, 14), strict=True))
        assert "ABCDEFGHJKLMNPQRTUVWXYZ"[total % 23] == known[0]
    made = {upn("372", n) for n in range(1, 2000)}
    assert len(made) == 1999
    assert all(len(u) == 13 and u[1:4] == "372" and u[4:].isdigit() for u in made)


def test_la_child_ids_are_kept_when_valid_and_hashed_when_not() -> None:
    assert la_child_id("K1") == "K1"
    hashed = la_child_id("child-a")
    assert hashed.isalnum() and len(hashed) <= 20 and hashed == la_child_id("child-a")
    assert la_child_id("x" * 21) != la_child_id("x" * 22)


def test_census_years_end_on_31_march() -> None:
    assert census_year_of(date(2014, 3, 31)) == 2014
    assert census_year_of(date(2014, 4, 1)) == 2015


def test_primary_need_follows_the_concerns_and_protection_wins() -> None:
    assert primary_need(["3B"], protective=False) == PrimaryNeed.ABUSE_OR_NEGLECT
    assert primary_need(["6A"], protective=False) == PrimaryNeed.CHILD_DISABILITY
    assert primary_need([], protective=False) == PrimaryNeed.ACUTE_STRESS
    assert primary_need(["6A"], protective=True) == PrimaryNeed.ABUSE_OR_NEGLECT


def test_casework_with_no_referral_opens_its_own_episode_and_nothing_precedes_it() -> None:
    start = datetime(2013, 6, 3, 10, tzinfo=UTC)
    records, _ = fold(
        [
            event("assessment.started", start, assessment_id="A1", agency="la_social_care"),
            event(
                "assessment.completed",
                start + timedelta(days=20),
                assessment_id="A1",
                agency="la_social_care",
                factors=["18A", "21"],
                outcome="nfa",
            ),
            event("case.closed", start + timedelta(days=21), agency="la_social_care", reason="RC8"),
        ]
    )
    (episode,) = episodes(records["C1"], date(2014, 3, 31))
    assert episode.referral == date(2013, 6, 3)
    assert episode.source == "10"  # unknown: no contact was seen
    (assessment,) = episode.assessments.values()
    assert assessment.factors == ["18C"]  # 18A retired (8945Q), 21 never beside others (8869)
    assert episode.closure == date(2013, 6, 24)


def test_a_plan_without_a_conference_records_the_conference_at_episode_level() -> None:
    records, _ = fold(PLAN_STORY[:2])
    xml = census_xml(records, year=2014, at=datetime(2014, 3, 31, tzinfo=UTC)).xml
    assert "<DateOfInitialCPC>2014-01-26</DateOfInitialCPC>" in xml  # rule 2885 holds
    assert "<CPPstartDate>2014-01-26</CPPstartDate>" in xml


def test_the_census_keeps_only_the_year_asked_for() -> None:
    early = T0 - timedelta(days=400)
    records, _ = fold(
        [
            contact(at=early, event_id="old"),
            decided(early, "section17_assessment", "old"),
            event("case.closed", early + timedelta(days=30), agency="la_social_care", reason="RC7"),
            contact(at=T0, event_id="new"),
            decided(T0, "section17_assessment", "new"),
        ]
    )
    xml = census_xml(records, year=2014, at=datetime(2014, 3, 31, tzinfo=UTC)).xml
    assert xml.count("<CINdetails>") == 1
    assert "<CINreferralDate>2014-01-06</CINreferralDate>" in xml
    nothing = census_xml(records, year=2012, at=datetime(2014, 3, 31, tzinfo=UTC))
    assert nothing.children == 0


def test_contact_tallies_count_each_contact_once_and_each_child_named() -> None:
    household = contact(children=("C1", "C2", "C3"), event_id="h1")
    records, tallies = fold([household])
    assert set(records) == {"C1", "C2", "C3"}
    assert tallies["contacts.total"] == 1
    assert tallies["contacts.children_named"] == 3
    assert tallies["contacts.multi_child"] == 1
    assert records["C2"].facts[0].ref == "h1"


def test_a_missed_level_4_is_safety_critical_and_comes_first() -> None:
    from mash._training.debrief import Answer, Decided, build_debrief, safety_critical
    from mash.schemas.codes import Level, Outcome, Rag

    reference = decided(T0, "strategy_discussion", "c1", level=4)
    reference = reference.model_copy(update={"rag": Rag.RED})
    low = Answer(Level.EARLY_HELP, Rag.GREEN, Outcome.EARLY_HELP)
    right = Answer(Level.SPECIALIST, Rag.RED, Outcome.STRATEGY_DISCUSSION)
    rows = [
        Decided("c0", "C1", T0 - timedelta(days=1), T0, right, reference, 3.0),
        Decided("c1", "C1", T0, T0, low, reference, 5.0),
    ]
    assert safety_critical(rows[1]) == [
        "a level 4 contact screened as level 2",
        "a red contact rated green",
    ]
    assert safety_critical(rows[0]) == []
    debrief = build_debrief(
        scenario="s", trainee="t", thresholds="x", decided=rows, clocks=[], flags=[]
    )
    assert [r["contact"] for r in debrief["decisions"]] == ["c1", "c0"]
    score = {k: v for k, v in debrief["score"].items() if k != "rule"}
    assert score == {
        "points": 4,
        "out_of": 8,
        "percent": 50,
        "agreed": 1,
        "decisions": 2,
        "undecided": 0,
        "safety_critical": 1,
    }


def test_a_record_reads_back_equal_and_one_written_with_facts_as_objects_still_reads() -> None:
    """Facts are written as JSON arrays now; a hub's records written before, facts as
    objects, must read back to the same record."""
    records, _ = fold([*PLAN_STORY, contact(at=T0 + timedelta(days=200), event_id="c2")])
    record = records["C1"]
    assert len(record.facts) >= 3
    written = record.__pydantic_serializer__.to_json(record, exclude_defaults=True)
    assert ChildRecord.model_validate_json(written) == record
    assert b'"facts":[["contact",' in written
    as_objects = record.model_dump(mode="json", exclude_defaults=True)
    as_objects["facts"] = [f._asdict() | {"at": f.at.isoformat()} for f in record.facts]
    assert ChildRecord.model_validate(as_objects) == record
