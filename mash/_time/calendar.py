"""Working days in England and Wales, from the `holidays` package (never a hand-kept list).

Convention (domain-reference §3.3, matching the DfE validator): "within N working days of X"
is the date N working days after X, X being day 0, and the deadline is the end of that day in
Europe/London. A start on a weekend or bank holiday counts from that day all the same: day 1
is the next working day.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays

LONDON = ZoneInfo("Europe/London")


@lru_cache(maxsize=64)
def _bank_holidays(year: int) -> frozenset[date]:
    return frozenset(holidays.country_holidays("GB", subdiv="ENG", years=year).keys())


def _is_working_day(day: date) -> bool:
    return day.weekday() < 5 and day not in _bank_holidays(day.year)


@lru_cache(maxsize=65_536)
def _add_working_days(start: date, n: int) -> date:
    # Cached: a borough's year asks for the same few hundred (date, n) pairs thousands of times.
    day = start
    remaining = n
    while remaining:
        day += timedelta(days=1)
        if _is_working_day(day):
            remaining -= 1
    return day


@lru_cache(maxsize=65_536)
def _end_of_working_day(local_day: date, n: int) -> datetime:
    return datetime.combine(_add_working_days(local_day, n), time(23, 59, 59), tzinfo=LONDON)


class WorkingDayCalendar:
    """England and Wales working days; pure apart from the holiday tables it caches."""

    def is_working_day(self, day: date) -> bool:
        return _is_working_day(day)

    def add_working_days(self, start: date, n: int) -> date:
        if n < 0:
            raise ValueError("working days to add must be zero or more")
        return _add_working_days(start, n)

    def working_days_between(self, start: date, end: date) -> int:
        """Working days after `start` up to and including `end` (0 when end <= start)."""
        count = 0
        day = start
        while day < end:
            day += timedelta(days=1)
            if self.is_working_day(day):
                count += 1
        return count

    def deadline(self, start: datetime, working_days: int) -> datetime:
        """End of the London day `working_days` after the London date of `start`, in London
        time whatever offset `start` was written with."""
        if working_days < 0:
            raise ValueError("working days to add must be zero or more")
        return _end_of_working_day(start.astimezone(LONDON).date(), working_days)
