"""Working days in England and Wales: the domain's test vectors and the awkward weeks."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mash._time.calendar import LONDON, WorkingDayCalendar

cal = WorkingDayCalendar()


@pytest.mark.parametrize(
    ("start", "n", "due"),
    [
        (date(2014, 4, 10), 45, date(2014, 6, 18)),  # Easter and both May holidays skipped
        (date(2014, 3, 4), 15, date(2014, 3, 25)),
        (date(2014, 1, 10), 1, date(2014, 1, 13)),  # Friday + 1 = Monday
        (date(2014, 12, 19), 3, date(2014, 12, 24)),
        (date(2014, 12, 24), 1, date(2014, 12, 29)),  # Christmas and Boxing Day
        (date(2014, 4, 17), 1, date(2014, 4, 22)),  # Good Friday and Easter Monday
        (date(2015, 12, 24), 1, date(2015, 12, 29)),  # Boxing Day on a Saturday: 28th off
        (date(2014, 1, 11), 1, date(2014, 1, 13)),  # started on a Saturday
        (date(2014, 1, 11), 0, date(2014, 1, 11)),
    ],
)
def test_add_working_days(start: date, n: int, due: date) -> None:
    assert cal.add_working_days(start, n) == due


def test_bank_holidays_are_not_working_days() -> None:
    assert not cal.is_working_day(date(2014, 5, 26))  # spring bank holiday
    assert not cal.is_working_day(date(2014, 8, 25))  # summer bank holiday
    assert cal.is_working_day(date(2014, 5, 27))


def test_a_deadline_never_lands_on_a_bank_holiday() -> None:
    # Friday 23 May 2014 + 1 WD skips Monday 26 May (bank holiday).
    assert cal.add_working_days(date(2014, 5, 23), 1) == date(2014, 5, 27)


def test_deadline_is_end_of_london_day_across_the_spring_clock_change() -> None:
    # Clocks went forward on Sunday 30 March 2014: the deadline is 23:59:59 BST = 22:59:59 UTC.
    start = datetime(2014, 3, 28, 16, 0, tzinfo=UTC)  # Friday, GMT
    due = cal.deadline(start, 1)
    assert due == datetime(2014, 3, 31, 22, 59, 59, tzinfo=UTC)
    assert due.astimezone(LONDON).hour == 23


def test_deadline_across_the_autumn_clock_change() -> None:
    # Clocks went back on Sunday 26 October 2014: Monday's end of day is GMT again.
    start = datetime(2014, 10, 24, 23, 30, tzinfo=UTC)  # Saturday 00:30 in London (BST)
    assert cal.deadline(start, 1) == datetime(2014, 10, 27, 23, 59, 59, tzinfo=UTC)


@given(st.dates(min_value=date(2010, 1, 1), max_value=date(2030, 1, 1)), st.integers(0, 60))
def test_working_day_arithmetic_agrees_with_counting_day_by_day(start: date, n: int) -> None:
    due = cal.add_working_days(start, n)
    counted = sum(
        1 for i in range(1, (due - start).days + 1) if cal.is_working_day(start + timedelta(days=i))
    )
    assert counted == n
    assert cal.working_days_between(start, due) == n
    assert n == 0 or cal.is_working_day(due)


def test_the_timescales_consumer_loads_the_holiday_tables_when_built() -> None:
    """Built at a worker's start, so its first round does not pay for the tables' import."""
    probe = (
        "import sys\n"
        "from mash.consumers.timescales import build\n"
        "from mash._config.settings import DEFAULT_TIMESCALES\n"
        "loaded = 'holidays.countries.united_kingdom' in sys.modules\n"
        "build(DEFAULT_TIMESCALES)\n"
        "print(loaded, 'holidays.countries.united_kingdom' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120
    )
    assert done.stdout.split() == ["False", "True"]
