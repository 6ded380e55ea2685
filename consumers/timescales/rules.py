"""Statutory clocks as pure functions of (a child's open clocks, an event).

A clock is met when its stop comes by the deadline; breached the moment event time passes
the deadline (a `clock.tick` beyond it), with the deadline as the breach's instant; a breached
clock that stops later records how late. Each outcome has a fixed event id, so an outcome is
emitted once whichever way the events interleave.
"""

from __future__ import annotations

import calendar as _cal
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, time, timedelta
from typing import Any

from pydantic import ConfigDict

from mash._time.calendar import LONDON, WorkingDayCalendar
from mash.consumers.timescales.config import ClockDef, Timescales, Trigger
from mash.schemas.codes import Agency
from mash.schemas.events import (
    ClockTick,
    ContactReceived,
    Envelope,
    Event,
    State,
    TimescaleBreached,
    TimescaleCancelled,
    TimescaleMet,
    TimescaleStarted,
    TimescaleStoppedLate,
    construct_from,
)

EARLY_STOP_MEMORY = timedelta(days=7)


class OpenClock(State):
    model_config = ConfigDict(frozen=True, extra="forbid")

    clock: str
    instance: str
    key: str
    started_at: datetime
    deadline: datetime | None
    breached: bool = False
    correlation_id: str | None = None


class EarlyStop(State):
    """A stop read before its start (they came on different streams in the same instant)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    clock: str
    key: str
    stopped_at: datetime
    event_id: str
    deadline: datetime | None = None


class ChildClocks(State):
    model_config = ConfigDict(frozen=True, extra="forbid")

    open: tuple[OpenClock, ...] = ()
    early: tuple[EarlyStop, ...] = ()


def add_months(day: date, months: int) -> date:
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(day.day, _cal.monthrange(year, month)[1]))


def deadline_for(clock: ClockDef, start: datetime, calendar: WorkingDayCalendar) -> datetime | None:
    limit = clock.limit
    if limit.hours is not None:
        return (start + timedelta(hours=limit.hours)).astimezone(LONDON)
    if limit.working_days is not None:
        return calendar.deadline(start, limit.working_days)
    if limit.months is not None:
        local = add_months(start.astimezone(LONDON).date(), limit.months)
        return datetime.combine(local, time(23, 59, 59), tzinfo=LONDON)
    return None  # from_stop: known only when the stop arrives


def lateness(
    clock: ClockDef, deadline: datetime, stopped: datetime, calendar: WorkingDayCalendar
) -> str:
    if clock.limit.working_days is not None:
        days = calendar.working_days_between(
            deadline.astimezone(LONDON).date(), stopped.astimezone(LONDON).date()
        )
        return f"{days} working day{'s' if days != 1 else ''}"
    if clock.limit.months is not None:
        days = (stopped.astimezone(LONDON).date() - deadline.astimezone(LONDON).date()).days
        return f"{days} day{'s' if days != 1 else ''}"
    hours = (stopped - deadline).total_seconds() / 3600
    return f"{hours:.2f} hours"


def matches(trigger: Trigger, event: Event) -> bool:
    if event.type != trigger.event:
        return False
    for name, allowed in trigger.conditions:  # noqa: SIM110 - no generator per event
        if getattr(event, name) not in allowed:
            return False
    return True


def cancels(cancel: str | Trigger, event: Event) -> bool:
    return event.type == cancel if isinstance(cancel, str) else matches(cancel, event)


def children_of(event: Envelope) -> list[str]:
    if isinstance(event, ContactReceived):
        return [c.child_id for c in event.children]
    return [event.child_id] if event.child_id else []


def key_of(trigger: Trigger, event: Event, child: str) -> str:
    return child if trigger.key == "child" else str(getattr(event, trigger.key))


def instance_id(clock: str, child: str, key: str, start_event: str) -> str:
    """Unique per start: a child-keyed clock (reviews) restarts many times for one child."""
    return f"{clock}.{child}.{start_event if key == child else key}"


class ClockRules:
    """The timescales consumer's rule, over one timescales file and calendar."""

    def __init__(self, timescales: Timescales, calendar: WorkingDayCalendar) -> None:
        self.timescales = timescales
        self.calendar = calendar
        self.by_id = {c.id: c for c in timescales.clocks}
        # The clocks an event type can stop or cancel, and those it can start, in file order:
        # most events touch one clock or none, and the rule looks at no other.
        # With each ending clock, the cancellations an event of that type can be: only those
        # are tried.
        self.ending: dict[str, list[tuple[ClockDef, tuple[str | Trigger, ...]]]] = {}
        self.starting: dict[str, list[ClockDef]] = {}
        for clock in timescales.clocks:
            ends = {clock.stop.event, *(c if isinstance(c, str) else c.event for c in clock.cancel)}
            for kind in sorted(ends):
                cancellers = tuple(
                    c for c in clock.cancel if (c if isinstance(c, str) else c.event) == kind
                )
                self.ending.setdefault(kind, []).append((clock, cancellers))
            self.starting.setdefault(clock.start.event, []).append(clock)

    # ---- outcomes ------------------------------------------------------------------------
    def _envelope(
        self, kind: str, child: str, clock: OpenClock, at: datetime, cause: str
    ) -> dict[str, Any]:
        """Fields every outcome of one clock shares; the id is fixed per clock and kind."""
        return {
            "event_id": f"{clock.instance}.{kind}",
            "occurred_at": at,
            "recorded_at": at,
            "child_id": child,
            "agency": Agency.MASH,
            "correlation_id": clock.correlation_id,
            "causation_id": cause,
            "clock": clock.clock,
            "clock_id": clock.instance,
        }

    # Outcomes are built without validating again: every field comes typed from the rule, and
    # the property tests parse each one back through the wire union to keep that honest.
    def _breached(
        self, child: str, clock: OpenClock, deadline: datetime, cause: str
    ) -> TimescaleBreached:
        fields = self._envelope("breached", child, clock, deadline, cause)
        fields["started_at"] = clock.started_at
        fields["deadline"] = deadline
        return construct_from(TimescaleBreached, fields)

    def _resolve(
        self,
        child: str,
        clock: OpenClock,
        stopped_at: datetime,
        stop_id: str,
        deadline: datetime | None,
    ) -> list[Envelope]:
        due = clock.deadline or deadline
        if due is None:
            return []
        if stopped_at <= due:
            met = self._envelope("met", child, clock, stopped_at, stop_id)
            met["started_at"] = clock.started_at
            met["deadline"] = due
            met["stopped_at"] = stopped_at
            return [construct_from(TimescaleMet, met)]
        out: list[Envelope] = []
        if not clock.breached:
            out.append(self._breached(child, clock, due, stop_id))
        late = lateness(self.by_id[clock.clock], due, stopped_at, self.calendar)
        fields = self._envelope("late", child, clock, stopped_at, stop_id)
        fields["deadline"] = due
        fields["stopped_at"] = stopped_at
        fields["lateness"] = late
        out.append(construct_from(TimescaleStoppedLate, fields))
        return out

    # ---- the rule ------------------------------------------------------------------------
    def __call__(
        self, states: Mapping[str, ChildClocks], event: Event
    ) -> tuple[dict[str, ChildClocks], list[Envelope]]:
        if isinstance(event, ClockTick):
            return self.tick(states, event)
        changed: dict[str, ChildClocks] = {}
        out: list[Envelope] = []
        if event.type not in self.ending and event.type not in self.starting:
            return changed, out
        for child in children_of(event):
            if child not in states:
                continue  # another shard's child: that shard applies the event to it
            state = states[child]
            after, emitted = self.apply(child, state, event)
            if after is not state:
                changed[child] = after
            out.extend(emitted)
        return changed, out

    def tick(
        self, states: Mapping[str, ChildClocks], tick: ClockTick
    ) -> tuple[dict[str, ChildClocks], list[Envelope]]:
        now = tick.occurred_at
        changed: dict[str, ChildClocks] = {}
        out: list[Envelope] = []
        for child in sorted(states):
            state = states[child]
            updated: list[OpenClock] = []
            breached = False
            for clock in state.open:
                if not clock.breached and clock.deadline is not None and clock.deadline < now:
                    out.append(self._breached(child, clock, clock.deadline, tick.event_id))
                    clock = clock.model_copy(update={"breached": True})  # noqa: PLW2901
                    breached = True
                updated.append(clock)
            if breached:
                changed[child] = state.model_copy(update={"open": tuple(updated)})
        return changed, out

    def apply(
        self, child: str, state: ChildClocks, event: Event
    ) -> tuple[ChildClocks, list[Envelope]]:
        """The child's clocks after the event, and their outcomes; the same state object when
        nothing changed."""
        out: list[Envelope] = []
        open_clocks = list(state.open)
        early: list[EarlyStop] = []
        if state.early:
            early = [
                e for e in state.early if event.occurred_at - e.stopped_at <= EARLY_STOP_MEMORY
            ]
        touched = len(early) != len(state.early)
        # Cancellations and stops first: one event may stop a clock and start the next (reviews).
        for clock, cancellers in self.ending.get(event.type, ()):
            if cancellers and any(cancels(c, event) for c in cancellers):
                for gone in (o for o in open_clocks if o.clock == clock.id):
                    if not gone.breached and gone.deadline and gone.deadline < event.occurred_at:
                        # Passed its deadline before it was cancelled: breached then, whether
                        # or not a tick beyond the deadline was read first.
                        out.append(self._breached(child, gone, gone.deadline, event.event_id))
                        gone = gone.model_copy(update={"breached": True})  # noqa: PLW2901
                    out.append(
                        TimescaleCancelled(
                            **self._envelope(
                                "cancelled", child, gone, event.occurred_at, event.event_id
                            ),
                            breached=gone.breached,
                        )
                    )
                open_clocks = [o for o in open_clocks if o.clock != clock.id]
                touched = True
            if not matches(clock.stop, event):
                continue
            touched = True
            key = key_of(clock.stop, event, child)
            stop_deadline = getattr(event, clock.limit.from_stop) if clock.limit.from_stop else None
            found = _running(open_clocks, clock.id, key)
            if found is not None:
                open_clocks.remove(found)
                out.extend(
                    self._resolve(child, found, event.occurred_at, event.event_id, stop_deadline)
                )
            elif clock.early_stop:
                early.append(
                    EarlyStop(
                        clock=clock.id,
                        key=key,
                        stopped_at=event.occurred_at,
                        event_id=event.event_id,
                        deadline=stop_deadline,
                    )
                )
        for clock in self.starting.get(event.type, ()):
            if not matches(clock.start, event):
                continue
            touched = True
            key = key_of(clock.start, event, child)
            if _running(open_clocks, clock.id, key) is not None:
                continue  # already running: the first start counts
            # A clock may run from an instant the start event carries (the assessment from
            # the referral the decision was made on), else from the event's own.
            begun = (getattr(event, clock.start.at, None) if clock.start.at else None) or (
                event.occurred_at
            )
            deadline = deadline_for(clock, begun, self.calendar)
            opened = construct_from(
                OpenClock,
                {
                    "clock": clock.id,
                    "instance": instance_id(clock.id, child, key, event.event_id),
                    "key": key,
                    "started_at": begun,
                    "deadline": deadline,
                    "correlation_id": event.correlation_id or event.event_id,
                },
            )
            started = self._envelope("started", child, opened, event.occurred_at, event.event_id)
            started["deadline"] = deadline
            out.append(construct_from(TimescaleStarted, started))
            waiting = (
                next((e for e in early if e.clock == clock.id and e.key == key), None)
                if early
                else None
            )
            if waiting is not None and waiting.stopped_at >= opened.started_at:
                early.remove(waiting)
                out.extend(
                    self._resolve(
                        child, opened, waiting.stopped_at, waiting.event_id, waiting.deadline
                    )
                )
            else:
                open_clocks.append(opened)
        if not touched:
            return state, out
        return construct_from(ChildClocks, {"open": tuple(open_clocks), "early": tuple(early)}), out


def _running(open_clocks: Iterable[OpenClock], clock: str, key: str) -> OpenClock | None:
    """The open instance of `clock` for `key`, if any (a loop: the hot path's generator
    expressions cost more than the search)."""
    for o in open_clocks:
        if o.clock == clock and o.key == key:
            return o
    return None


def next_deadline(state: ChildClocks) -> datetime | None:
    """The earliest deadline of a clock not yet breached (a loop: asked before nearly every
    event of a child, and a list and `min` cost more than the search)."""
    found: datetime | None = None
    for o in state.open:
        deadline = o.deadline
        if deadline is not None and not o.breached and (found is None or deadline < found):
            found = deadline
    return found


# A stop at the deadline itself is in time, so a clock is breached at the first instant after
# its deadline: a tick there (and not at the deadline) is the one that breaches it.
JUST_AFTER = timedelta(microseconds=1)


def next_due(state: ChildClocks) -> datetime | None:
    """The first instant a tick would breach one of the child's clocks."""
    deadline = next_deadline(state)
    return deadline + JUST_AFTER if deadline is not None else None


def handled_types(timescales: Timescales) -> frozenset[str]:
    types: set[str] = {"clock.tick"}
    for clock in timescales.clocks:
        types.update((clock.start.event, clock.stop.event))
        types.update(c if isinstance(c, str) else c.event for c in clock.cancel)
    return frozenset(types)


def keys(event: Event) -> Sequence[str]:
    return children_of(event)


def all_open(states: Iterable[tuple[str, ChildClocks]]) -> list[tuple[str, OpenClock]]:
    return sorted(
        ((child, o) for child, state in states for o in state.open),
        key=lambda item: (item[1].deadline or item[1].started_at, item[1].instance),
    )
