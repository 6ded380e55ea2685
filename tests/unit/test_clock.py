from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from mash._replay.steps import watermarked
from mash._time.clock import VirtualClock, WallClock
from tests.factories import T0, contact


def test_virtual_clock_only_moves_forward() -> None:
    clock = VirtualClock(T0)
    clock.advance_to(T0 + timedelta(hours=1))
    assert clock.now() == T0 + timedelta(hours=1)
    with pytest.raises(ValueError, match="cannot go back"):
        clock.advance_to(T0)


def test_virtual_clock_needs_an_aware_start() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        VirtualClock(datetime(2014, 1, 1))


def test_wall_clock_is_aware_utc() -> None:
    assert WallClock().now().tzinfo is UTC


def test_replay_steps_close_each_step_with_a_watermark_and_end_at_the_end() -> None:
    events = [
        contact(event_id="a", at=T0),
        contact(event_id="b", at=T0),
        contact(event_id="c", at=T0 + timedelta(days=1)),
        contact(event_id="d", at=T0 + timedelta(days=2)),
    ]
    plan = list(watermarked(events, T0 + timedelta(days=3), every=1))
    # An instant is never split, so the two events at T0 share a step.
    assert [[e.event_id for e in step.events] for step in plan] == [["a", "b"], ["c"], ["d"], []]
    assert [step.watermark for step in plan] == [
        T0,
        T0 + timedelta(days=1),
        T0 + timedelta(days=2),
        T0 + timedelta(days=3),
    ]


def test_replay_steps_refuse_time_going_backwards() -> None:
    events = [contact(event_id="a", at=T0 + timedelta(days=1)), contact(event_id="b", at=T0)]
    with pytest.raises(ValueError, match="cannot go back"):
        list(watermarked(events, T0 + timedelta(days=2)))
