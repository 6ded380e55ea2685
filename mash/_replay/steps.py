"""How a replay cuts a run into steps: events to publish, each step closed by a watermark.

Pure planning. A watermark at W (a `clock.tick`) says every event at or before W has been
published; the hub then applies them, and everything that falls due up to W, in event time
(`mash._runtime.pipeline`). Where the watermarks fall changes nothing in the answers, only
how much the hub holds at once: so steps are as large as memory likes, never split an
instant, and the last watermark is the run's end, so clocks still running then breach.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import groupby

from mash._time.clock import VirtualClock
from mash.schemas.events import Envelope

# Events a replay publishes before each watermark. Every round writes each child it touched
# once, so fewer, bigger rounds write fewer states: England's year touches 3,982,642 children
# over its rounds with steps of 2,000 and 3,727,511 with 8,000, and replayed in 645.5 s
# instead of 694.1 s (two workers; a worker's peak 601 MB instead of 515 MB). Steps of 16,000
# took 712.3 s: a round then outgrows much of the edge's cache of children (40,000 a shard),
# and a sampled worker spent three times the share forgetting children (8.1% against 2.7%).
STEP_EVENTS = 8000


@dataclass(frozen=True)
class Step:
    """Events to publish, then a watermark at `watermark` (at or after every one of them)."""

    events: list[Envelope]
    watermark: datetime


def watermarked(
    events: Iterable[Envelope], end: datetime | None, every: int = STEP_EVENTS
) -> Iterator[Step]:
    """Steps of about `every` events (an instant is never split), each closed by a watermark
    at its last instant, then one at `end` if that is later (None: the last event's instant).

    The virtual clock is advanced to each instant, so event time can only move forward: an
    out-of-order run raises here, not confuses a consumer.
    """
    clock: VirtualClock | None = None
    pending: list[Envelope] = []
    for instant, group in groupby(events, key=lambda e: e.occurred_at):
        if clock is None:
            clock = VirtualClock(instant)
        clock.advance_to(instant)
        if pending and len(pending) >= every:
            yield Step(pending, pending[-1].occurred_at)
            pending = []
        pending.extend(group)
    if pending:
        yield Step(pending, pending[-1].occurred_at)
    if end is not None and (clock is None or end > clock.now()):
        yield Step([], end)


def by_instant(events: Sequence[Envelope]) -> list[tuple[datetime, list[Envelope]]]:
    """Events grouped by instant, in order: a training exercise stops at each."""
    out: list[tuple[datetime, list[Envelope]]] = []
    for instant, group in groupby(events, key=lambda e: e.occurred_at):
        if out and instant < out[-1][0]:
            msg = f"events out of order: {instant.isoformat()} after {out[-1][0].isoformat()}"
            raise ValueError(msg)
        out.append((instant, list(group)))
    return out
