"""When a practitioner is at work, and when a piece of work they start is finished.

Pure functions of a shift, an instant and the working-day calendar. Shifts are London
wall-clock hours, so the arithmetic is done on UTC instants built from London dates: a
shift from 09:00 to 17:00 is eight hours long on the days the clocks change, too.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache

from mash._time.calendar import LONDON, WorkingDayCalendar
from mash.consumers.team.config import Days, Shift

LOOKAHEAD_DAYS = 21  # the longest run of days with no shift a rota may have (Christmas, Easter)


def _starts_on(shift: Shift, day: date, calendar: WorkingDayCalendar) -> bool:
    if shift.days is Days.EVERY:
        return True
    working = calendar.is_working_day(day)
    return working if shift.days is Days.WORKING else not working


def interval(shift: Shift, day: date) -> tuple[datetime, datetime]:
    """The shift that starts on `day`, as UTC instants."""
    start = datetime.combine(day, shift.start, tzinfo=LONDON)
    end_day = day + timedelta(days=1) if shift.overnight else day
    end = datetime.combine(end_day, shift.end, tzinfo=LONDON)
    return start.astimezone(UTC), end.astimezone(UTC)


@lru_cache(maxsize=8192)
def _on_day(
    shift: Shift, day: date, calendar: WorkingDayCalendar
) -> tuple[datetime, datetime] | None:
    """The shift's interval starting on `day`, if it works that day (a queue asks about the
    same few days thousands of times)."""
    return interval(shift, day) if _starts_on(shift, day, calendar) else None


def intervals(
    shift: Shift, after: datetime, calendar: WorkingDayCalendar
) -> Iterator[tuple[datetime, datetime]]:
    """The shift's intervals that end after `after`, in order (from the day before, for a
    shift that runs overnight into it)."""
    day = after.astimezone(LONDON).date() - timedelta(days=1)
    idle = 0
    while idle <= LOOKAHEAD_DAYS:
        found = _on_day(shift, day, calendar)
        if found is not None:
            idle = 0
            if found[1] > after:
                yield found
        else:
            idle += 1
        day += timedelta(days=1)
    msg = f"shift {shift.group!r} has no working hours in {LOOKAHEAD_DAYS} days"
    raise ValueError(msg)


def next_start(shift: Shift, at: datetime, calendar: WorkingDayCalendar) -> datetime:
    """The first instant at or after `at` when the shift is at work (`at` itself if it is)."""
    for start, _ in intervals(shift, at, calendar):
        return max(start, at.astimezone(UTC))
    raise AssertionError("unreachable: intervals raises first")  # pragma: no cover


def on_shift(shift: Shift, at: datetime, calendar: WorkingDayCalendar) -> bool:
    return next_start(shift, at, calendar) == at.astimezone(UTC)


def finish(shift: Shift, at: datetime, minutes: float, calendar: WorkingDayCalendar) -> datetime:
    """When work of `minutes` begun at `at` is done, the practitioner working only on shift:
    what is left at the end of a shift waits for their next one."""
    left = timedelta(minutes=minutes)
    now = at.astimezone(UTC)
    for start, end in intervals(shift, now, calendar):
        now = max(now, start)
        if now + left <= end:
            return now + left
        left -= end - now
    raise AssertionError("unreachable: intervals raises first")  # pragma: no cover
