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

LONDON = ZoneInfo("Europe/London")


@lru_cache(maxsize=64)
def _bank_holidays(year: int) -> frozenset[date]:
    import holidays  # noqa: PLC0415 - only where working days are counted (not in a report)

    return frozenset(holidays.country_holidays("GB", subdiv="ENG", years=year).keys())


def _is_working_day(day: date) -> bool:
    return day.weekday() < 5 and day not in _bank_holidays(day.year)


@lru_cache(maxsize=256)
def _year_ranks(year: int) -> tuple[list[int], list[date]]:
    """For each day of a year, how many working days of that year fall on or before it; and
    the year's working days in order. Counting and adding working days become lookups."""
    first = date(year, 1, 1)
    ranks: list[int] = []
    days: list[date] = []
    day, count = first, 0
    while day.year == year:
        if _is_working_day(day):
            count += 1
            days.append(day)
        ranks.append(count)
        day += timedelta(days=1)
    return ranks, days


_BASE_YEAR = 2000  # ranks count from here: near the years a run asks about, so few are built


def _rank(day: date) -> int:
    """Working days from 1 January 2000 up to and including `day` (negative before it):
    differences of ranks count the working days between two dates."""
    ranks, _ = _year_ranks(day.year)
    return _years_before(day.year) + ranks[day.timetuple().tm_yday - 1]


@lru_cache(maxsize=256)
def _years_before(year: int) -> int:
    """Working days in the whole years from the base year to `year` (signed)."""
    if year >= _BASE_YEAR:
        return sum(len(_year_ranks(y)[1]) for y in range(_BASE_YEAR, year))
    return -sum(len(_year_ranks(y)[1]) for y in range(year, _BASE_YEAR))


@lru_cache(maxsize=65_536)
def _add_working_days(start: date, n: int) -> date:
    # Cached: a borough's year asks for the same few hundred (date, n) pairs thousands of times.
    if n == 0:
        return start
    wanted = _rank(start) + n
    year = start.year
    while _years_before(year + 1) < wanted:
        year += 1
    _, days = _year_ranks(year)
    return days[wanted - _years_before(year) - 1]


@lru_cache(maxsize=65_536)
def _end_of_working_day(local_day: date, n: int) -> datetime:
    return datetime.combine(_add_working_days(local_day, n), time(23, 59, 59), tzinfo=LONDON)


_LONDON_MONTHS: dict[int, str] = {}
_CACHED_HOURS = 200_000  # about 23 years of hours: a run asks about a few
# The instant last asked about and its month, as one pair (replaced whole, never half).
_LAST_ASKED: list[tuple[datetime | None, str]] = [(None, "")]


def london_month(at: datetime) -> str:
    """The London month of an aware instant as `YYYY-MM`, a tally's key.

    The reporter asks it of nearly every event, and `strftime` costs five times the rest of
    the question; so the answer is kept by the instant's UTC hour. That is exact: since 1847
    London's offset from UTC has always been a whole number of hours, so a London month
    begins on a UTC hour.

    An event's outcomes carry its very instant object, and the reporter counts them one
    after the other: 58% of a borough year's questions are about the instant asked just
    before, answered by identity, without `timestamp()` (half a microsecond on pydantic's
    time zones). The pair holds that instant alive, so no other can take its identity.
    """
    last = _LAST_ASKED[0]
    if last[0] is at:
        return last[1]
    hour = int(at.timestamp() // 3600)
    found = _LONDON_MONTHS.get(hour)
    if found is None:
        if len(_LONDON_MONTHS) >= _CACHED_HOURS:
            _LONDON_MONTHS.clear()
        found = _LONDON_MONTHS[hour] = at.astimezone(LONDON).strftime("%Y-%m")
    _LAST_ASKED[0] = (at, found)
    return found


class WorkingDayCalendar:
    """England and Wales working days; pure apart from the holiday tables it caches."""

    def prepare(self) -> None:
        """Load the holiday package and England's rules now rather than at the first
        deadline: the package imports its countries' rules on first use, about 0.05 s of
        CPU (0.1 to 0.2 s on a busy machine) that otherwise fell inside a worker's first
        round, with its lease held and its events waiting. A run's own years are tabled at
        their first deadline still, a few milliseconds once the package is loaded."""
        _rank(date(_BASE_YEAR, 1, 1))

    def is_working_day(self, day: date) -> bool:
        return _is_working_day(day)

    def add_working_days(self, start: date, n: int) -> date:
        if n < 0:
            raise ValueError("working days to add must be zero or more")
        return _add_working_days(start, n)

    def working_days_between(self, start: date, end: date) -> int:
        """Working days after `start` up to and including `end` (0 when end <= start)."""
        return max(_rank(end) - _rank(start), 0) if end > start else 0

    def deadline(self, start: datetime, working_days: int) -> datetime:
        """End of the London day `working_days` after the London date of `start`, in London
        time whatever offset `start` was written with."""
        if working_days < 0:
            raise ValueError("working days to add must be zero or more")
        return _end_of_working_day(start.astimezone(LONDON).date(), working_days)
