"""The hub's pipeline: every consumer applied to one shard's events, in event time.

mash is a discrete-event simulation. A shard's input events wait until a watermark (a
`clock.tick` at W: every event at or before W has been published) says their instant is
complete; then a *round* applies them in event-time order, and with them everything that
falls due with no event at all: a statutory clock running out, a CSE indicator's window
closing. Before a child's event at instant t, the child is *advanced* to t: each of its
consumers' next due instants at or before t is ticked, at exactly that instant and in order,
so a deadline between two events is applied between them. At the end of the round every
child with anything due by W is advanced to W.

Each event goes through the consumers in dependency order (cse, screening, timescales,
reporter), and what a consumer emits (a decision, a flag, a breach, a dead letter) is handed
at once to the later consumers that read it, breadth first. So everything an instant causes in
any consumer is applied before anything later, in one process, whatever the batch size, the
polling or the number of workers, and the round's result depends only on the shard's events
and states: it is a pure function, tested here without Redis.

A hub-wide consumer (the team's queue: one state for the whole front door) sees every
contact of every shard (a hub with one writes each contact to every shard), before the
children's consumers do, and every shard keeps the same copy of its state: its input is the
same everywhere and its rule is pure, so the queue is the same whatever the shards or the
workers. It is ticked at its due instants strictly before each input event's instant and,
at the end of a round, up to the watermark, so an instant's contacts are all queued before
anyone picks one up; what it emits about a child another shard owns is that shard's to apply,
and its counts are added by shard 0 alone.

Exactly once: the caller commits a round's states, outputs and acks atomically, and the
pipeline skips an event a child's ledger already holds (a producer's retry). The ledger keeps
a child's event ids for `dedupe_window` of event time behind its latest event, so it stays
small however long the run; an event older than that for its child cannot be told from a
duplicate and is dead-lettered as `too_late` rather than risk being applied twice.
"""

from __future__ import annotations

import math
import traceback
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import structlog
from pydantic import BaseModel

from mash._runtime.consumer import Consumer, RuleResult
from mash.schemas.codes import Agency
from mash.schemas.events import (
    ClockTick,
    ContactReceived,
    DeadLetter,
    Envelope,
    Event,
    construct_from,
)

log = structlog.get_logger("mash.pipeline")

# Events of one child at one instant on different streams are applied in this order: a
# contact is screened against the child's history at that instant, and what the police and
# social care record at the same instant (a missing report, casework) follows from it; a
# practitioner's decision comes after the contact it decides.
STREAM_RANK = {"clock": 0, "contacts": 1, "missing": 2, "casework": 3, "decisions": 4}
HUB_KEY = "~hub"  # where a hub-wide consumer's state is kept (a shard's: `~hub.<shard>`)
MAX_ADVANCE_STEPS = 10_000  # a consumer whose tick never moves its due instant is a bug


def children_of(event: Envelope) -> list[str]:
    """Every child an event is about: each child a contact names, else its `child_id`."""
    if isinstance(event, ContactReceived):
        return [c.child_id for c in event.children]
    return [event.child_id] if event.child_id else []


@dataclass
class Item:
    """An input event of a round and where it came from (acked when the round commits)."""

    event: Event
    stream: str  # the stream's name (contacts, missing...)
    key: str  # the stream's Redis key
    entry_id: bytes
    position: int  # order of arrival on its key: file order for events at one instant
    # The event's instant as a POSIX timestamp, worked out once where the item is made: the
    # round orders its items by it and the child's ledger keeps it. `timestamp()` on the
    # zones pydantic parses costs half a microsecond, and comparing two of their instants
    # asks both for their offset.
    stamp: float = math.nan  # not given: worked out from the event

    def __post_init__(self) -> None:
        if math.isnan(self.stamp):
            self.stamp = self.event.occurred_at.timestamp()


@dataclass
class Ledger:
    """The event ids applied to one child lately, for recognising a duplicate.

    Instants are POSIX timestamps, the form they are stored in: every round writes each
    changed child's ledger whole, and every event of a child is checked against it, where
    turning datetimes into floats and comparing pydantic's zoned instants cost 4.4
    microseconds an event. Timestamps order exactly as the instants do (see
    `ShardEdge.round`); the window's edge is worked out in whole microseconds
    (`_horizon`), so the ids kept and the events judged too old are exactly those the
    instants would give."""

    latest: float | None = None
    ids: dict[str, float] = field(default_factory=dict)
    # The earliest instant in `ids` (None: not known yet, as after a load), so that an add
    # asks whether anything fell out of the window without a pass over every id.
    oldest: float | None = field(default=None, compare=False, repr=False)

    def holds(self, event_id: str) -> bool:
        return event_id in self.ids

    def too_old(self, at: float, window_us: int) -> bool:
        latest = self.latest
        return latest is not None and at < _horizon(latest, window_us)

    def add(self, event_id: str, at: float, window_us: int) -> None:
        latest = self.latest
        if latest is None or at > latest:
            latest = self.latest = at
        ids = self.ids
        ids[event_id] = at
        oldest = self.oldest
        if oldest is None:
            oldest = min(ids.values())
        elif at < oldest:
            oldest = at
        horizon = _horizon(latest, window_us)
        if oldest < horizon:
            ids = self.ids = {i: t for i, t in ids.items() if t >= horizon}
            oldest = min(ids.values()) if ids else None
        self.oldest = oldest


def _horizon(latest: float, window_us: int) -> float:
    """The timestamp of the instant `window_us` before `latest`, exactly as `timestamp()`
    would give it. `latest` is an instant in whole microseconds written as the nearest
    float: its whole seconds come off exactly, and the rest, in microseconds, is within half
    of one of the true count until the year 2242, so rounding recovers the instant; a whole
    number of microseconds divided by a million is `timestamp()`'s own arithmetic.
    Subtracting the window's seconds from the float instead can land a float away from it
    where the two instants' floats are spaced differently (either side of 2004-01-10)."""
    seconds = math.floor(latest)
    micros = seconds * 1_000_000 + round((latest - seconds) * 1_000_000)
    return (micros - window_us) / 1_000_000


class ShardStates:
    """The states one round may read and write: every consumer's state of the children it
    loaded, and their ledgers. Children it was not given are another shard's."""

    def __init__(
        self,
        consumers: Sequence[Consumer[Any]],
        states: Mapping[str, Mapping[str, Any]],
        ledgers: Mapping[str, Ledger],
        owned: Iterable[str],
        *,
        hub_key: str = HUB_KEY,
        counts_hub: bool = True,
    ) -> None:
        # A child a consumer holds nothing of starts from its empty state: states are
        # immutable, so one instance per consumer serves every such child.
        self._types = {c.name: c.state_type for c in consumers}
        self._empty = {c.name: shared_empty(c.state_type) for c in consumers}
        self.states: dict[str, dict[str, Any]] = {
            c.name: dict(states.get(c.name, {})) for c in consumers
        }
        self.ledgers: dict[str, Ledger] = dict(ledgers)
        self.owned = set(owned)
        self.hub_key = hub_key  # one of `owned` when the pipeline has a hub-wide consumer
        self.counts_hub = counts_hub  # this shard adds the hub-wide consumers' counts
        self.changed: dict[str, set[str]] = {c.name: set() for c in consumers}
        self.ledgers_changed: set[str] = set()
        # Each child's earliest due instant over the timed consumers, as its states stand:
        # asked before every event of the child and again at the commit, and forgotten
        # whenever a timed consumer changes one of the child's states.
        self.dues: dict[str, datetime | None] = {}

    def owns(self, child: str) -> bool:
        return child in self.owned

    def get(self, consumer: str, child: str) -> Any:
        held = self.states[consumer]
        state = held.get(child)
        if state is None:
            empty = self._empty[consumer]
            state = held[child] = empty if empty is not None else self._types[consumer]()
        return state

    def put(self, consumer: str, child: str, state: BaseModel) -> None:
        self.states[consumer][child] = state
        self.changed[consumer].add(child)
        self.dues.pop(child, None)

    def ledger(self, child: str) -> Ledger:
        found = self.ledgers.get(child)
        if found is None:
            found = self.ledgers[child] = Ledger()
        return found


_EMPTY: dict[type[Any], Any] = {}


def shared_empty(state_type: type[Any]) -> Any | None:
    """One empty state for every child of a frozen state type (None for a mutable one,
    which each child must get afresh)."""
    if state_type not in _EMPTY:
        frozen = getattr(state_type, "model_config", {}).get("frozen", False)
        _EMPTY[state_type] = state_type() if frozen else None
    return _EMPTY[state_type]


@dataclass
class RoundResult:
    """What a round produced, for one atomic commit."""

    outputs: list[Envelope] = field(default_factory=list)
    tally: dict[str, int] = field(default_factory=dict)
    acked: list[Item] = field(default_factory=list)
    item_outcomes: list[str] = field(default_factory=list)  # of each acked item, in order
    advanced: set[str] = field(default_factory=set)  # children ticked to an instant


class Pipeline:
    """Consumers in dependency order, applied to one shard's rounds (see the module doc)."""

    def __init__(
        self,
        consumers: Sequence[Consumer[Any]],
        *,
        dedupe_window: timedelta = timedelta(days=30),
        rule_attempts: int = 1,
    ) -> None:
        self.consumers = list(consumers)
        self.dedupe_window = dedupe_window
        self._window_us = dedupe_window // timedelta(microseconds=1)
        self.rule_attempts = max(1, rule_attempts)
        self.hub = [c for c in self.consumers if c.hub_wide]
        self.timed = [c for c in self.consumers if c.next_due is not None and not c.hub_wide]
        self._timed_names = frozenset(c.name for c in self.timed)
        self._check_order()
        emitted = {s for c in self.consumers for s in c.emits}
        self.emits = frozenset(emitted)  # the streams this pipeline writes
        # What the hub reads from Redis: every stream a consumer reads that no consumer of
        # this pipeline writes (those reach their readers in-process).
        self.inputs = tuple(
            sorted(
                {s for c in self.consumers for s in c.inputs} - emitted - {"dlq", "clock"},
                key=lambda s: STREAM_RANK.get(s, 99),
            )
        )
        self.handled = frozenset(t for c in self.consumers for t in c.handles)
        # Who reads an event of each type, in order: a consumer that handles the type and
        # reads its stream (looked up once per type, not once per event), and the same by
        # the event's class, which `apply` asks without reading two fields of the model.
        self._readers: dict[str, list[Consumer[Any]]] = {}
        self._readers_of: dict[type, list[Consumer[Any]]] = {}

    def readers(self, kind: str, stream: str) -> list[Consumer[Any]]:
        found = self._readers.get(kind)
        if found is None:
            found = self._readers[kind] = [
                c
                for c in self.consumers
                if kind in c.handles and stream in c.inputs and not c.hub_wide
            ]
        return found

    def _check_order(self) -> None:
        for i, consumer in enumerate(self.consumers):
            for later in self.consumers[i + 1 :]:
                clash = set(consumer.inputs) & set(later.emits) - {"dlq"}
                if clash:
                    msg = (
                        f"{consumer.name} reads {sorted(clash)}, which {later.name} writes: "
                        "list consumers in dependency order"
                    )
                    raise ValueError(msg)

    # ---- a round --------------------------------------------------------------------
    def run_round(
        self, shard: ShardStates, items: Sequence[Item], watermark: datetime, due: Iterable[str]
    ) -> RoundResult:
        """Apply `items` (all at or before `watermark`) in event time, then advance every
        child due by the watermark (`due`, from the shard's deadline index) to it."""
        result = RoundResult()
        order = sorted(
            items, key=lambda i: (i.stamp, STREAM_RANK.get(i.stream, 99), i.key, i.position)
        )
        for item in order:
            result.acked.append(item)
            result.item_outcomes.append(self._input(shard, item, result))
        if self.hub:
            self.advance_hub(shard, watermark, result, before=False)
        # Whatever falls due by the watermark, for children the round touched (an event may
        # open a clock that runs out before W) and for those the index says are due.
        touched = set().union(*shard.changed.values())
        for child in sorted({*due, *touched, *result.advanced}):
            if shard.owns(child):
                self.advance(shard, child, watermark, result)
        return result

    def _input(self, shard: ShardStates, item: Item, result: RoundResult) -> str:
        """Apply one input event; returns its outcome (applied, duplicate, dead.<reason>)."""
        event = item.event
        if isinstance(event, ClockTick):
            return "applied"  # a watermark: the round itself is its effect
        if self.hub:
            self.advance_hub(shard, event.occurred_at, result, before=True)
            self.apply_hub(shard, event, result)
        children = children_of(event)
        mine = shard.owned
        owned = [c for c in children if c in mine]
        if children and not owned and self.hub and isinstance(event, ContactReceived):
            return "applied"  # another shard's contact: for the front door's queue only
        if children and not owned:
            letter = DeadLetter.for_event(
                event, "hub", "wrong_shard", f"{event.type} names no child of this shard"
            )
            self._emit(shard, letter, result)
            return "dead.wrong_shard"
        if owned:
            ledger = shard.ledger(owned[0])
            if ledger.holds(event.event_id):
                return "duplicate"
            if ledger.too_old(item.stamp, self._window_us):
                days = self.dedupe_window.days
                detail = (
                    f"{event.type} is more than {days} days older than the child's latest "
                    f"event: beyond the window (MASH_DEDUPE_DAYS) in which a duplicate is "
                    "recognised, so it is not applied"
                )
                self._emit(shard, DeadLetter.for_event(event, "hub", "too_late", detail), result)
                return "dead.too_late"
            for child in owned:
                self.advance(shard, child, event.occurred_at, result)
        self.apply(shard, event, result)
        for child in owned:
            shard.ledger(child).add(event.event_id, item.stamp, self._window_us)
            shard.ledgers_changed.add(child)
        return "applied"

    def advance(self, shard: ShardStates, child: str, until: datetime, result: RoundResult) -> None:
        """Tick `child` at each instant something of it falls due, up to and including
        `until`, in order: each tick's consequences (a flag screening reads, a clock the flag
        opens) are applied before the next instant."""
        known = shard.dues
        for _ in range(MAX_ADVANCE_STEPS):
            # `next_due`'s kept answer read here: asked before every event of every child.
            due = known[child] if child in known else self.next_due(shard, child)
            if due is None or due > until:
                return
            self.apply(shard, _tick(child, due), result, only=child)
            result.advanced.add(child)
        msg = f"advancing a child to {until.isoformat()} did not settle: a consumer's next_due"
        raise RuntimeError(msg)

    def advance_hub(
        self, shard: ShardStates, until: datetime, result: RoundResult, *, before: bool
    ) -> None:
        """Tick the hub-wide consumers at each instant they fall due, up to `until` (before
        it, with `before`), handing what they emit on at that instant."""
        key = shard.hub_key
        for consumer in self.hub:
            assert consumer.next_due is not None
            for _ in range(MAX_ADVANCE_STEPS):
                due = consumer.next_due(shard.get(consumer.name, key))
                if due is None or due > until or (before and due >= until):
                    break
                tick = _tick(key, due)
                self._hand_on(shard, self._run(shard, consumer, tick, result, key), due, result)
            else:
                msg = f"{consumer.name}: advancing the hub did not settle (its next_due)"
                raise RuntimeError(msg)

    def apply_hub(self, shard: ShardStates, event: Event, result: RoundResult) -> None:
        kind: str = event.type
        stream = type(event).stream
        for consumer in self.hub:
            if kind in consumer.handles and stream in consumer.inputs:
                outs = self._run(shard, consumer, event, result, shard.hub_key)
                self._hand_on(shard, outs, event.occurred_at, result)

    def _hand_on(
        self, shard: ShardStates, outs: Sequence[Envelope], at: datetime, result: RoundResult
    ) -> None:
        """A hub-wide consumer's outputs: each about a child this shard owns goes on to the
        consumers after it, the child advanced to the instant first; the rest are other
        shards' (and its letters are shard 0's to write)."""
        for out in outs:
            children = children_of(out)
            owned = [c for c in children if shard.owns(c)]
            if (children and not owned) or (not children and not shard.counts_hub):
                continue
            for child in owned:
                self.advance(shard, child, at, result)
            result.outputs.append(out)
            self.apply(shard, out, result)

    def next_due(self, shard: ShardStates, child: str) -> datetime | None:
        """The child's earliest due instant over the timed consumers (kept in `shard.dues`
        until one of them changes the child's state)."""
        known = shard.dues
        if child in known:
            return known[child]
        dues = [
            d
            for c in self.timed
            if child in shard.states[c.name] and (d := c.next_due(shard.states[c.name][child]))  # type: ignore[misc]
        ]
        found = known[child] = min(dues) if dues else None
        return found

    def apply(
        self, shard: ShardStates, event: Envelope, result: RoundResult, *, only: str | None = None
    ) -> None:
        """An event through every consumer that reads it, and what they emit through the
        consumers after them, breadth first."""
        queue: list[Any] = [event]  # events of any type, read in order (breadth first)
        outputs = result.outputs
        readers_of = self._readers_of
        i = 0
        while i < len(queue):
            current = queue[i]
            i += 1
            cls = type(current)
            readers = readers_of.get(cls)
            if readers is None:
                readers = readers_of[cls] = self.readers(current.type, cls.stream)
            for consumer in readers:
                for out in self._run(shard, consumer, current, result, only):
                    outputs.append(out)  # read once: a rule may return any iterable
                    queue.append(out)

    def _emit(
        self,
        shard: ShardStates,
        out: Envelope,
        result: RoundResult,
        queue: deque[Any] | None = None,
    ) -> None:
        result.outputs.append(out)
        if queue is not None:
            queue.append(out)
        else:
            self.apply(shard, out, result)

    def _run(
        self,
        shard: ShardStates,
        consumer: Consumer[Any],
        event: Envelope,
        result: RoundResult,
        only: str | None,
    ) -> Sequence[Envelope]:
        name = consumer.name
        wanted = (only,) if only is not None else consumer.keys(event)  # type: ignore[arg-type]
        owned = shard.owned
        held_now = shard.states[name]
        states = {}
        for c in wanted:  # shard.get's fast path inline: this runs for every rule call
            if c in owned:
                state = held_now.get(c)
                states[c] = state if state is not None else shard.get(name, c)
        try:
            outcome = consumer.rule(states, event)  # type: ignore[arg-type]
        except Exception as exc:
            # Tried again, as many times as allowed, before the event is dead-lettered.
            retried = self._attempt(consumer, states, event, exc)
            if isinstance(retried, Exception):
                return [self._rule_failure(consumer, event, retried)]
            outcome = retried
        if outcome[0]:
            held, changed = shard.states[name], shard.changed[name]
            for child, state in outcome[0].items():
                held[child] = state
                changed.add(child)
            if name in self._timed_names:
                for child in outcome[0]:
                    shard.dues.pop(child, None)
        if len(outcome) == 3 and (shard.counts_hub or not consumer.hub_wide):
            tally = result.tally
            for key, delta in outcome[2].items():
                tally[key] = tally.get(key, 0) + delta
        return outcome[1]

    def _attempt(
        self, consumer: Consumer[Any], states: dict[str, Any], event: Envelope, first: Exception
    ) -> RuleResult[Any] | Exception:
        """Up to `rule_attempts` tries in place: a retry by redelivery would let the child's
        later events be applied first. A pure rule fails every time, so for mash's own
        consumers the retries only cost the failure's CPU; a consumer with a side door (a
        lookup, a cache) gets its second chance."""
        failure = first
        log.debug("rule raised", consumer=consumer.name, attempt=1)
        for attempt in range(2, self.rule_attempts + 1):
            try:
                return consumer.rule(states, event)  # type: ignore[arg-type]
            except Exception as exc:
                failure = exc
                log.debug("rule raised", consumer=consumer.name, attempt=attempt)
        return failure

    def _rule_failure(self, consumer: Consumer[Any], event: Envelope, exc: Exception) -> DeadLetter:
        """After its attempts, the event is dead-lettered for this consumer with the
        traceback's last line and where it was raised; the other consumers still apply it."""
        summary = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        frames = traceback.extract_tb(exc.__traceback__)
        if frames:
            last = frames[-1]
            summary += f" (at {Path(last.filename).name}:{last.lineno} in {last.name})"
        after = f" after {self.rule_attempts} attempts" if self.rule_attempts > 1 else ""
        kind: str = event.type  # type: ignore[attr-defined]
        detail = f"{consumer.name} rule failed on {kind}{after}: {summary}"
        log.error("rule failed", consumer=consumer.name, event_id=event.event_id, error=summary)
        return DeadLetter.for_event(event, consumer.name, "rule_error", detail)


def _tick(child: str, at: datetime) -> ClockTick:
    return construct_from(
        ClockTick,
        {
            "event_id": f"tick.{at.isoformat()}",
            "occurred_at": at,
            "recorded_at": at,
            "agency": Agency.MASH,
            "child_id": child,
            "schema_version": 1,
            "correlation_id": None,
            "causation_id": None,
            "type": "clock.tick",
        },
    )


def due_instant(pipeline: Pipeline, states: Mapping[str, Any]) -> datetime | None:
    """A child's earliest due instant over every consumer, from its states by consumer name:
    the score the shard's deadline index keeps for it."""
    dues = [
        d
        for c in pipeline.timed
        if (state := states.get(c.name)) is not None and (d := c.next_due(state))  # type: ignore[misc]
    ]
    return min(dues) if dues else None
