"""How a replay cuts event time into steps: one instant at a time, or packed layers.

Pure planning: which events go together in one publish, with which watermark. The driver
publishes each step and waits for the hub before the next.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from itertools import groupby

from mash._time.clock import VirtualClock, tick
from mash.consumers.timescales.rules import children_of
from mash.schemas.events import Envelope


def steps(
    events: Sequence[Envelope], end: datetime, clock: VirtualClock
) -> Iterator[list[Envelope]]:
    """[tick(T), events at T...] for each instant T, then a final tick at the end.

    The virtual clock is advanced to each instant before its tick is made, so event time can
    only move forward (an out-of-order file would raise here, not confuse a consumer).
    """
    for instant, group in groupby(events, key=lambda e: e.occurred_at):
        clock.advance_to(instant)
        yield [tick(clock.now()), *group]
    if not events or end > events[-1].occurred_at:
        clock.advance_to(end)
        yield [tick(clock.now())]


def _layers(window: Sequence[Envelope]) -> list[list[Envelope]]:
    """Layer k holds each child's k-th event of the window (a contact takes the deepest of its
    children's), in file order, so a child's events keep their order across layers."""
    layers: list[list[Envelope]] = []
    depth: dict[str, int] = {}
    for event in window:
        children = children_of(event)
        k = max((depth.get(c, -1) for c in children), default=-1) + 1
        if k == len(layers):
            layers.append([])
        layers[k].append(event)
        for child in children:
            depth[child] = k
    return layers


def packed_steps(
    events: Iterable[Envelope], end: datetime, window: int = 4000
) -> Iterator[list[Envelope]]:
    """[tick(T), events...] steps holding as many events as order cannot matter.

    Why this is the same run as one instant per step: every rule is a function of one child's
    state, the reporter's tallies are sums, a clock's outcomes carry fixed ids and the deadline
    as their instant, and a CSE window closes at its own instant whether a tick or the child's
    next event closes it. So events of different children commute, and only each child's own
    order matters. A window of events is cut into layers (each child's first event, second...),
    one step each, ticked at the layer's earliest instant: no tick ever runs ahead of an event
    still to come for any child. A generated year then takes about a hundred steps, not one
    per instant, and memory holds one window.
    """
    clock: VirtualClock | None = None
    pending: list[Envelope] = []

    def flush() -> Iterator[list[Envelope]]:
        nonlocal clock
        for layer in _layers(pending):
            if clock is None:
                clock = VirtualClock(layer[0].occurred_at)
            clock.advance_to(layer[0].occurred_at)
            yield [tick(clock.now()), *layer]
        pending.clear()

    for event in events:
        if not children_of(event):
            # No child: nothing says what it commutes with, so it is a step of its own.
            yield from flush()
            pending.append(event)
            yield from flush()
            continue
        pending.append(event)
        if len(pending) >= window:
            yield from flush()
    yield from flush()
    if clock is None or end > clock.now():
        yield [tick(end)]


def plan_steps(events: Sequence[Envelope], end: datetime) -> tuple[datetime, list[list[Envelope]]]:
    """Where event time starts, and the run's steps (see `steps`)."""
    start = min(events[0].occurred_at, end) if events else end
    return start, list(steps(events, end, VirtualClock(start)))
