"""Dates are London dates, whatever offset an instant is written with."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from mash._bootstrap import build_consumers
from mash._config.settings import DEFAULT_THRESHOLDS
from mash._time.calendar import LONDON, WorkingDayCalendar
from mash.consumers.reporter.rules import month
from mash.consumers.screening.thresholds import load_thresholds
from mash.schemas.events import ScreeningDecided
from tests.factories import contact
from tests.unit.test_pipeline import run


def test_a_babys_first_birthday_is_the_london_date_however_the_instant_is_written() -> None:
    """23:30 UTC on 9 June is 00:30 on 10 June in London: the baby born on 10 June 2013 is
    one, so an injury is not the under-one descriptor's, whichever way it is written."""
    instant = datetime(2014, 6, 9, 23, 30, tzinfo=UTC)
    decided = []
    for written in (instant, instant.astimezone(LONDON)):
        event = contact(at=written, dob=date(2013, 6, 10), concerns=("18B",), injury=True)
        shard = run([event], [], written + timedelta(days=5))
        (decision,) = [e for e in shard.outputs if isinstance(e, ScreeningDecided)]
        decided.append(decision)
        assert "L4-INFANT-INJURY" not in [r.id for r in decision.reasons]
    assert decided[0].reasons == decided[1].reasons


def test_deadlines_are_in_london_time_not_the_offset_they_were_started_with() -> None:
    calendar = WorkingDayCalendar()
    started = datetime(2015, 2, 27, 12, tzinfo=timezone(timedelta(hours=1)))
    assert calendar.deadline(started, 0).isoformat() == "2015-02-27T23:59:59+00:00"
    assert month(datetime(2014, 5, 31, 23, 30, tzinfo=UTC)) == "2014-06"


offsets = st.integers(-11, 12).map(lambda h: timezone(timedelta(hours=h)))


@settings(max_examples=40, deadline=None)
@given(
    day=st.integers(0, 700),
    minute=st.integers(0, 24 * 60 - 1),
    first=offsets,
    second=offsets,
)
def test_the_same_instants_written_with_other_offsets_give_the_same_answers(
    day: int, minute: int, first: timezone, second: timezone
) -> None:
    base = datetime(2014, 1, 1, tzinfo=UTC) + timedelta(days=day, minutes=minute)
    consumers = build_consumers(load_thresholds(DEFAULT_THRESHOLDS))
    assert consumers  # the real ones
    answers = []
    for offset in (first, second):
        at = base.astimezone(offset)
        events = [
            contact(event_id="c1", at=at, dob=date(2013, 1, 1), concerns=("17A",)),
            contact(event_id="c2", at=at + timedelta(days=3, hours=7), concerns=("16A",)),
        ]
        shard = run(events, [], at + timedelta(days=90))
        answers.append(
            sorted(
                (
                    e.event_id,
                    e.type,
                    getattr(e, "deadline", None) or getattr(e, "decision_due", None),
                )
                for e in shard.outputs
            )
        )
        # Every deadline a person reads is written in London time.
        for e in shard.outputs:
            for name in ("deadline", "decision_due"):
                value = getattr(e, name, None)
                if value is not None:
                    assert value.utcoffset() == value.astimezone(LONDON).utcoffset()
    assert answers[0] == answers[1]


@settings(max_examples=400, deadline=None)
@given(
    st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2100, 12, 31)),
    st.integers(min_value=-14 * 60, max_value=14 * 60),
)
def test_the_month_kept_by_utc_hour_is_the_month_london_would_say(
    naive: datetime, offset_minutes: int
) -> None:
    """`month` keeps its answers by the instant's UTC hour (strftime was a measurable share
    of the reporter's time): the same as asking London afresh, whatever the offset, on either
    side of every clock change."""
    at = naive.replace(tzinfo=timezone(timedelta(minutes=offset_minutes)))
    assert month(at) == at.astimezone(LONDON).strftime("%Y-%m")
    assert month(at) == month(at.astimezone(UTC))  # asked again, from the kept answer


def test_the_kept_month_turns_at_london_midnight_in_summer_and_winter() -> None:
    for end_of_month in (
        datetime(2014, 3, 31, 23, tzinfo=LONDON),
        datetime(2014, 10, 31, 23, tzinfo=LONDON),
    ):
        for minutes in range(0, 120, 7):
            at = end_of_month + timedelta(minutes=minutes)
            assert month(at) == at.astimezone(LONDON).strftime("%Y-%m")
    assert month(datetime(2014, 3, 31, 23, 1, tzinfo=UTC)) == "2014-04"  # BST: 00:01 London
    assert month(datetime(2014, 10, 31, 23, 59, tzinfo=UTC)) == "2014-10"  # GMT: still October
