"""The team's rota and queue: pure functions, no Redis."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from mash._config.settings import DEFAULT_THRESHOLDS
from mash._time.calendar import LONDON, WorkingDayCalendar
from mash.consumers.screening.thresholds import load_thresholds
from mash.consumers.team import rota
from mash.consumers.team.config import Shift, Team
from mash.consumers.team.rules import TeamRule, TeamState
from mash.schemas.codes import Rag
from mash.schemas.events import ClockTick, ContactHandled, ContactReceived, parse_event_data

CAL = WorkingDayCalendar()
DAY = Shift(group="day", count=1, days="working", start="09:00", end="17:00")
DUTY = Shift(group="duty", count=1, days="every", start="17:00", end="09:00")


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=LONDON)


def test_work_left_at_the_end_of_a_shift_waits_for_the_next_working_day() -> None:
    # Friday 16:30, an hour's work: half an hour on Friday, half on Monday morning.
    done = rota.finish(DAY, at("2014-02-07T16:30"), 60, CAL)
    assert done == at("2014-02-10T09:30").astimezone(UTC)
    # Easter: Good Friday and Easter Monday are bank holidays.
    assert rota.next_start(DAY, at("2014-04-17T17:00"), CAL) == at("2014-04-22T09:00")


def test_a_night_shift_runs_into_the_morning_and_a_shift_is_its_hours_when_clocks_change() -> None:
    assert rota.on_shift(DUTY, at("2014-02-08T03:00"), CAL)
    assert not rota.on_shift(DUTY, at("2014-02-08T10:00"), CAL)
    # 30 March 2014, clocks forward at 01:00: the night shift is an hour shorter in UTC, and
    # work begun at 08:00 London runs past 09:00 London into the next evening.
    done = rota.finish(DUTY, at("2014-03-30T08:00"), 90, CAL)
    assert done == at("2014-03-30T17:30").astimezone(UTC)


def contact(ref: str, when: datetime, concerns: list[str]) -> ContactReceived:
    return parse_event_data(  # type: ignore[return-value]
        {
            "type": "contact.received",
            "event_id": ref,
            "occurred_at": when.isoformat(),
            "recorded_at": when.isoformat(),
            "child_id": f"C{ref}",
            "agency": "school",
            "referral_source": "2A",
            "children": [{"child_id": f"C{ref}", "dob": "2008-01-01", "sex": "F"}],
            "concerns": concerns,
        }
    )


def tick(when: datetime) -> ClockTick:
    return parse_event_data(  # type: ignore[return-value]
        {
            "type": "clock.tick",
            "event_id": "t",
            "occurred_at": when.isoformat(),
            "recorded_at": when.isoformat(),
            "agency": "mash",
        }
    )


def _work(rule: TeamRule, events: list[ContactReceived]) -> list[ContactHandled]:
    """Run the queue over `events` and to its end, ticking it at its due instants."""
    state, handled = TeamState(), []
    for event in events:
        while state.wake is not None and state.wake < event.occurred_at:
            changed, out, _ = rule({"~hub": state}, tick(state.wake))
            state = changed["~hub"]
            handled += [e for e in out if isinstance(e, ContactHandled)]
        changed, _, _ = rule({"~hub": state}, event)
        state = changed["~hub"]
    while state.wake is not None:
        changed, out, _ = rule({"~hub": state}, tick(state.wake))
        state = changed["~hub"]
        handled += [e for e in out if isinstance(e, ContactHandled)]
    return handled


def test_red_contacts_never_wait_behind_green_ones() -> None:
    team = Team(
        name="one",
        practitioners=[DAY],
        minutes={Rag.RED: 60, Rag.AMBER: 60, Rag.GREEN: 60},
    )
    rule = TeamRule(team, load_thresholds(DEFAULT_THRESHOLDS), CAL)
    monday = at("2014-02-10T09:00")
    # Five green contacts, then a red one while the first green is in hand.
    events = [contact(f"g{i}", monday + timedelta(minutes=i), ["16A"]) for i in range(5)]
    events.append(contact("r", monday + timedelta(minutes=30), ["19A"]))
    handled = _work(rule, events)
    order = [h.contact_id for h in handled]
    assert order == ["g0", "r", "g1", "g2", "g3", "g4"]
    red = handled[1]
    assert red.triage is Rag.RED
    assert red.started_at == monday + timedelta(hours=1)  # when the first green was done
    assert [h.occurred_at.hour for h in handled] == [10, 11, 12, 13, 14, 15]


def test_the_cse_team_works_exploitation_contacts_and_only_those() -> None:
    cse = Shift(group="cse", count=1, days="working", start="09:00", end="17:00", cse=True)
    team = Team(name="with-cse", practitioners=[DAY, cse], minutes=dict.fromkeys(Rag, 60))
    rule = TeamRule(team, load_thresholds(DEFAULT_THRESHOLDS), CAL)
    monday = at("2014-02-10T09:00")
    events = [
        contact("x1", monday, ["11A"]),
        contact("x2", monday + timedelta(minutes=1), ["11A"]),
        contact("g1", monday + timedelta(minutes=2), ["16A"]),
        contact("g2", monday + timedelta(minutes=3), ["16A"]),
    ]
    by_contact = {h.contact_id: h for h in _work(rule, events)}
    assert {h.practitioner for k, h in by_contact.items() if k.startswith("x")} == {"cse-1"}
    assert {h.practitioner for k, h in by_contact.items() if k.startswith("g")} == {"day-1"}
    # x2 waits an hour for the CSE worker although day-1 was free when it came in; g2 waits
    # for day-1 to finish g1, not for whoever is free first.
    assert by_contact["x2"].started_at == monday + timedelta(hours=1)
    assert by_contact["g2"].started_at == monday + timedelta(minutes=2, hours=1)
    # Without a CSE team, anyone works them, in the usual order.
    plain = TeamRule(
        Team(name="plain", practitioners=[DAY], minutes=dict.fromkeys(Rag, 60)),
        load_thresholds(DEFAULT_THRESHOLDS),
        CAL,
    )
    assert {h.practitioner for h in _work(plain, events)} == {"day-1"}


def test_a_team_of_only_the_cse_team_is_refused() -> None:
    cse = Shift(group="cse", count=1, days="working", start="09:00", end="17:00", cse=True)
    with pytest.raises(ValueError, match="only the CSE team works"):
        Team(name="only", practitioners=[cse], minutes=dict.fromkeys(Rag, 60))


def test_a_queue_kept_with_a_cse_team_is_worked_by_a_team_without_one() -> None:
    cse = Shift(group="cse", count=1, days="working", start="09:00", end="17:00", cse=True)
    thresholds = load_thresholds(DEFAULT_THRESHOLDS)
    minutes = dict.fromkeys(Rag, 60)
    with_cse = TeamRule(
        Team(name="with", practitioners=[DAY, cse], minutes=minutes), thresholds, CAL
    )
    friday = at("2014-02-07T18:00")  # after hours: it waits for Monday
    changed, _, _ = with_cse({"~hub": TeamState()}, contact("x", friday, ["11A"]))
    kept = changed["~hub"]
    assert kept.waiting and kept.waiting[0].cse
    # The next run's team has no CSE team: the day practitioner takes it on Monday.
    without = TeamRule(Team(name="without", practitioners=[DAY], minutes=minutes), thresholds, CAL)
    assert without.wake(kept.waiting, kept.working, friday) == at("2014-02-10T09:00")
    changed, _, _ = without({"~hub": kept}, tick(at("2014-02-10T09:00")))
    assert changed["~hub"].working[0].item.contact_id == "x"
