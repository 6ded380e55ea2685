"""The training room's and the exercise's pure parts: the room's clock, its stops, the
terminal's choices, safety-critical calls, the 12-month record, the room's debrief, words."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from mash._room.clock import RoomClock
from mash._room.room import stops
from mash._training import words
from mash._training.debrief import Answer, Decided, room_debrief, safety_critical
from mash._training.exercise import child_record
from mash._training.terminal import OUTCOME_CHOICES, RAG_CHOICES, level_choices, match_choice
from mash.schemas.codes import Agency, DecidedBy, Level, Outcome, Rag, ReferralSource, Sex
from mash.schemas.events import (
    ChildDetails,
    ContactReceived,
    MissingReturned,
    MissingStarted,
    ScreeningDecided,
)

T0 = datetime(2014, 1, 11, 9, 30, tzinfo=UTC)


def contact(at: datetime, cid: str = "c1", child: str = "G") -> ContactReceived:
    return ContactReceived(
        event_id=cid, occurred_at=at, recorded_at=at, child_id=child, agency=Agency.POLICE,
        referral_source=ReferralSource.POLICE,
        children=[ChildDetails(child_id=child, dob=date(2000, 10, 1), sex=Sex.FEMALE)],
    )  # fmt: skip


def reference(level: Level, rag: Rag, outcome: Outcome, due: datetime) -> ScreeningDecided:
    return ScreeningDecided(
        event_id="ref", occurred_at=T0, recorded_at=T0, child_id="G", agency=Agency.MASH,
        contact_id="c1", level=level, rag=rag, outcome=outcome, decision_due=due, reasons=[],
        decided_by=DecidedBy.RULES, thresholds="t", received_at=T0,
    )  # fmt: skip


def decided(answer: Answer | None, ref: ScreeningDecided, at: datetime | None, **kw: object):
    return Decided("c1", "G", T0, at, answer, ref, 10.0, **kw)  # type: ignore[arg-type]


def test_the_room_clock_runs_pauses_and_jumps_in_event_time() -> None:
    clock = RoomClock(T0, 100.0, speed=60)
    assert clock.now(500.0) == T0  # not started
    clock.resume(100.0)
    assert clock.now(110.0) == T0 + timedelta(minutes=10)
    clock.pause(110.0)
    assert clock.now(999.0) == T0 + timedelta(minutes=10)
    assert clock.real_until(T0 + timedelta(hours=1), 999.0) == float("inf")
    clock.resume(1000.0)
    assert clock.real_until(T0 + timedelta(minutes=20), 1000.0) == 10.0
    clock.jump(T0, 1000.0)  # never backwards
    assert clock.now(1000.0) == T0 + timedelta(minutes=10)


def test_the_room_stops_only_at_contacts_carrying_what_came_between() -> None:
    missing = MissingStarted(
        event_id="m1", occurred_at=T0 + timedelta(hours=1), recorded_at=T0, child_id="G",
        agency=Agency.POLICE, missing_id="M1",
    )  # fmt: skip
    later = contact(T0 + timedelta(days=2), "c2")
    after = MissingReturned(
        event_id="r1", occurred_at=T0 + timedelta(days=3), recorded_at=T0, child_id="G",
        agency=Agency.POLICE, missing_id="M1",
    )  # fmt: skip
    planned, rest = stops([contact(T0), missing, later, after])
    assert [(at, [e.event_id for e in events]) for at, events in planned] == [
        (T0, ["c1"]),
        (later.occurred_at, ["m1", "c2"]),
    ]
    assert [e.event_id for e in rest] == ["r1"]


def test_a_choice_is_a_number_a_name_or_an_unambiguous_start() -> None:
    levels = level_choices(None)
    assert match_choice("2", levels) == "2"
    assert match_choice("early help", levels) == "2"
    assert match_choice("Spec", levels) == "4"
    assert match_choice("a", RAG_CHOICES) == "amber"
    assert match_choice("early help", OUTCOME_CHOICES) == "early_help"
    assert match_choice("early_help", OUTCOME_CHOICES) == "early_help"
    assert match_choice("s", OUTCOME_CHOICES) is None  # section 17 or strategy: ambiguous
    assert match_choice("7", levels) is None
    assert match_choice("", RAG_CHOICES) is None


def test_safety_critical_includes_an_open_case_closed_and_a_red_window_breached() -> None:
    red = reference(Level.SPECIALIST, Rag.RED, Outcome.ALLOCATED_WORKER, T0 + timedelta(hours=4))
    same = Answer(Level.SPECIALIST, Rag.RED, Outcome.ALLOCATED_WORKER)
    assert safety_critical(decided(same, red, T0 + timedelta(hours=1), open_case=True)) == []
    late = safety_critical(decided(same, red, T0 + timedelta(hours=5, minutes=30)))
    assert late == ["the red window was breached: decided 1 h 30 min after it closed"]
    nfa = Answer(Level.SPECIALIST, Rag.RED, Outcome.NFA)
    closed = safety_critical(decided(nfa, red, T0, open_case=True))
    assert closed == ["an open case screened as no further action"]
    low = safety_critical(decided(Answer(Level.EARLY_HELP, Rag.GREEN, Outcome.EARLY_HELP), red, T0))
    assert low == ["a level 4 contact screened as level 2", "a red contact rated green"]
    assert safety_critical(decided(None, red, None))[0].startswith("not decided")


def test_the_record_holds_every_episode_and_contact_of_twelve_months() -> None:
    events: list = []
    for n in range(6):  # one 13 months back, five within the year
        began = T0 - timedelta(days=400 if n == 0 else 300 - 50 * n)
        events += [
            MissingStarted(event_id=f"m{n}", occurred_at=began, recorded_at=began, child_id="G",
                           agency=Agency.POLICE, missing_id=f"M{n}"),
            MissingReturned(event_id=f"r{n}", occurred_at=began + timedelta(hours=9),
                            recorded_at=began, child_id="G", agency=Agency.POLICE,
                            missing_id=f"M{n}", with_adults=n == 5),
        ]  # fmt: skip
    events.sort(key=lambda e: e.occurred_at)
    events += [contact(T0 - timedelta(days=30), "c0"), contact(T0, "c1")]
    contacts, episodes = child_record(events, "G", T0, before="c1")
    assert len(episodes) == 5 and episodes[-1].with_adults
    assert [c.contact.event_id for c in contacts] == ["c0"]


def test_the_room_debrief_says_where_the_room_agreed_and_split() -> None:
    row = {"contact": "c1", "child": "G", "received_at": T0.isoformat(),
           "reference": {"level": 4, "rag": "red", "outcome": "strategy_discussion"}}  # fmt: skip

    def one(name: str, level: int, agrees: bool) -> dict:
        answer = {"level": level, "rag": "red", "outcome": "strategy_discussion"}
        return {
            "trainee": name,
            "score": {"points": 4 if agrees else 2},
            "decisions": [row | {"trainee": answer, "agrees": agrees, "safety_critical": []}],
        }

    room = room_debrief("gemma", [one("ann", 4, True), one("ben", 4, True), one("cat", 3, False)])
    (c1,) = room["contacts"]
    assert not c1["agreed"] and c1["as_thresholds"] == 2
    assert c1["split"][0] == {"answer": "level 4, red, strategy discussion (possible section 47)",
                              "trainees": 2}  # fmt: skip
    assert [t["trainee"] for t in room["trainees"]] == ["ann", "ben", "cat"]


def test_london_time_is_labelled_in_winter_and_summer() -> None:
    assert words.london(T0) == "Sat 11 Jan 2014 09:30 GMT"
    assert words.london(datetime(2014, 7, 1, 8, 0, tzinfo=UTC)) == "Tue 01 Jul 2014 09:00 BST"
    assert words.factor(words.Factor("1B")) == "alcohol misuse (a parent or carer)"
