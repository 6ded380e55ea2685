"""Time for the hub: a virtual clock that replay advances, the wall clock, and watermarks.

This is the only module allowed to ask the machine what time it is; rules receive instants
as arguments, so the same events always give the same answers.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Protocol

from mash.schemas.codes import Agency
from mash.schemas.events import ClockTick


class Clock(Protocol):
    def now(self) -> datetime: ...


class VirtualClock:
    """Event time under a replay's control; it never moves backwards."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("a virtual clock needs a timezone-aware start")
        self._now = start

    def now(self) -> datetime:
        return self._now

    def advance_to(self, instant: datetime) -> None:
        if instant < self._now:
            msg = f"clock cannot go back from {self._now.isoformat()} to {instant.isoformat()}"
            raise ValueError(msg)
        self._now = instant


class WallClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


def tick(at: datetime) -> ClockTick:
    """A watermark at `at`: nothing with an earlier `occurred_at` will be published after it."""
    return ClockTick(
        event_id=f"tick.{at.isoformat()}", occurred_at=at, recorded_at=at, agency=Agency.MASH
    )
