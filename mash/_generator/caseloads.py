"""When a generated year's assessments are worked: social workers with caseloads.

A year's timeliness (NI 59, NI 60) is a property of workload, not of any one child: an
assessment is opened when the front door refers it and its clock starts then, but nobody
works it until a social worker has room on their caseload, and then it takes as long as such
an assessment takes. So a generated year with a team is a discrete-event simulation: each
unit's story runs until it opens an assessment (`Opened`) and waits; the pool answers the
openings in the order of their instants (then of the units that made them), which is the
order a real service takes them in, and the story goes on from the instant the assessment
was authorised.

A worker with room is any of the `workers * caseload` places, so the pool is those places,
each free from an instant: a place that comes free takes the waiting opening first in the
team's order of kinds (initial assessments, with their ten-day clock, first), then the
oldest. That is exact for "whoever has room takes the next assessment", and it needs no
worker's name.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Generic, TypeVar

from mash._time.calendar import LONDON, WorkingDayCalendar

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Opened:
    """An assessment of `kind` opened at `at` that takes `working_days` once a worker holds
    it, to be authorised at `at_time` (London) of its last day: the story draws both, the
    pool says when work begins."""

    at: datetime
    kind: str
    working_days: int
    at_time: time


@dataclass(frozen=True, slots=True)
class Worked:
    """What the pool answers: when a worker took the assessment on, and when it was done."""

    held: datetime
    done: datetime


class Caseloads(Generic[T]):
    """The places on every worker's caseload, each free from an instant (a heap), and the
    openings waiting for one (a heap by the kind's rank, then the instant, then the order
    they came in). `T` is whatever the caller waits with (a unit's story)."""

    def __init__(
        self,
        places: int,
        calendar: WorkingDayCalendar,
        since: datetime,
        priority: list[str],
    ) -> None:
        if places < 1:
            raise ValueError(f"a caseload pool needs a place, got {places}")
        self.calendar = calendar
        self._free = [since] * places
        self._rank = {kind: n for n, kind in enumerate(priority)}
        self._queue: list[tuple[int, datetime, int, Opened, T]] = []
        self._arrived = 0
        self.waited = 0  # openings that found every place taken

    @property
    def queued(self) -> bool:
        return bool(self._queue)

    def next_free(self) -> datetime:
        return self._free[0]

    def arrive(self, opened: Opened, waiter: T) -> Worked | None:
        """A worker with room takes `opened` now, or it waits (None) for `serve`."""
        self._arrived += 1
        if not self._queue and self._free[0] <= opened.at:
            return self._work(heapq.heappop(self._free), opened)
        self.waited += 1
        rank = self._rank.get(opened.kind, len(self._rank))
        heapq.heappush(self._queue, (rank, opened.at, self._arrived, opened, waiter))
        return None

    def serve(self) -> tuple[T, Worked]:
        """The earliest place to come free takes the first waiting opening in priority."""
        free = heapq.heappop(self._free)
        _, _, _, opened, waiter = heapq.heappop(self._queue)
        return waiter, self._work(free, opened)

    def _work(self, free: datetime, opened: Opened) -> Worked:
        held = max(opened.at, free)
        day = held.date()
        while not self.calendar.is_working_day(day):
            day += timedelta(days=1)
        end = self.calendar.add_working_days(day, opened.working_days)
        done = datetime.combine(end, opened.at_time, tzinfo=LONDON)
        if done <= held:
            done = held + timedelta(hours=2)
        heapq.heappush(self._free, done)
        return Worked(held, done)


__all__ = ["Caseloads", "Opened", "Worked"]
