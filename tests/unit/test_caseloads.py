"""Social workers' caseloads: when an opened assessment is worked (pure, no Redis)."""

from __future__ import annotations

from datetime import datetime, time

import pytest

from mash._generator.caseloads import Caseloads, Opened
from mash._time.calendar import LONDON, WorkingDayCalendar

CAL = WorkingDayCalendar()
TEN = time(10, 0)


def at(day: int, hour: int = 9, month: int = 6) -> datetime:
    return datetime(2013, month, day, hour, 0, tzinfo=LONDON)


def pool(places: int, priority: list[str] | None = None) -> Caseloads[str]:
    return Caseloads(places, CAL, at(1, month=4), priority or [])


def test_a_worker_with_room_takes_an_assessment_at_once_and_it_takes_its_working_days() -> None:
    p = pool(1)
    # Friday 7 June 2013 at 09:00, five working days: Friday 14 June at 10:00.
    worked = p.arrive(Opened(at(7), "core", 5, TEN), "a")
    assert worked is not None
    assert worked.held == at(7)
    assert worked.done == datetime(2013, 6, 14, 10, 0, tzinfo=LONDON)
    assert p.waited == 0


def test_the_working_days_skip_a_bank_holiday() -> None:
    # Friday 23 August 2013 + 2 working days: the Monday is the summer bank holiday.
    worked = pool(1).arrive(Opened(at(23, month=8), "initial", 2, TEN), "a")
    assert worked is not None
    assert worked.done.date().isoformat() == "2013-08-28"


def test_when_every_place_is_taken_an_assessment_waits_for_the_first_to_finish() -> None:
    p = pool(2)
    first = p.arrive(Opened(at(3), "core", 10, TEN), "a")
    second = p.arrive(Opened(at(3, 11), "core", 3, TEN), "b")
    assert first is not None and second is not None
    assert p.arrive(Opened(at(4), "core", 1, TEN), "c") is None
    assert p.queued and p.waited == 1
    # The place that frees first (b's, three working days on) takes c.
    assert p.next_free() == second.done
    waiter, worked = p.serve()
    assert waiter == "c"
    assert worked.held == second.done
    assert worked.done > worked.held
    assert not p.queued


def test_the_oldest_waits_least_unless_the_team_puts_a_kind_first() -> None:
    def order(priority: list[str]) -> list[str]:
        p = pool(1, priority)
        assert p.arrive(Opened(at(3), "core", 5, TEN), "holding") is not None
        p.arrive(Opened(at(4), "core", 5, TEN), "core, older")
        p.arrive(Opened(at(5), "initial", 5, TEN), "initial, newer")
        return [p.serve()[0], p.serve()[0]]

    assert order([]) == ["core, older", "initial, newer"]
    assert order(["initial"]) == ["initial, newer", "core, older"]


def test_a_pool_needs_a_place() -> None:
    with pytest.raises(ValueError, match="needs a place"):
        pool(0)
