"""The front door's queue: contacts wait for a practitioner, the most urgent first.

One state for the whole hub (`TeamState`), not one per child: who is waiting, who is working
on what, and until when. The rules still decide *what* (screening, when the contact is
handled); the team decides *when*. A contact queues with the rating it earns on its own
(the thresholds applied to what it says, before any checks of the child's history, as a MASH
manager rates a contact on receipt); red before amber before green (the team file's order),
then the oldest first, then the event id, so the order never depends on how the contacts of
one instant were interleaved on the streams. A practitioner picks up work only on shift, and
work left at the end of a shift waits for their next one.

The pipeline ticks the team at `next_due`: when a piece of work is finished, or when an idle
practitioner's shift starts with contacts waiting. Everything is event time: the same contacts
and team file give the same decisions at the same instants, whatever the batching, the
shards or the workers (every shard keeps the same queue, see `mash._runtime.pipeline`).
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from mash._time.calendar import LONDON, WorkingDayCalendar, london_month
from mash.consumers.screening.rules import (
    RAG_URGENCY,
    ChildHistory,
    compile_thresholds,
    facts_for,
    screen,
)
from mash.consumers.screening.thresholds import Thresholds
from mash.consumers.team import rota
from mash.consumers.team.config import Shift, Team
from mash.schemas.codes import Agency, Factor, Rag
from mash.schemas.events import (
    ClockTick,
    ContactHandled,
    ContactReceived,
    Envelope,
    Event,
    State,
    construct,
)

_NOBODY = ChildHistory()


class Waiting(State):
    """A contact in the queue: what the team needs of it, not the contact itself."""

    contact_id: str
    received: datetime
    children: tuple[str, ...]
    correlation: str
    triage: Rag
    rank: int
    minutes: float
    cse: bool = False  # it raises exploitation: the CSE team's, while the team has one


class Working(State):
    """A contact a practitioner has in hand, and when they will be done with it."""

    practitioner: int
    started: datetime
    done: datetime
    item: Waiting


class TeamState(State):
    waiting: tuple[Waiting, ...] = ()  # in the order they will be picked up
    working: tuple[Working, ...] = ()  # by (done, practitioner)
    wake: datetime | None = None  # the next instant the queue changes with no contact
    peak_month: str = ""  # the London month of `peak`
    peak: int = 0  # the most contacts waiting at once in that month


def _order(item: Waiting) -> tuple[int, datetime, str]:
    return item.rank, item.received, item.contact_id


class TeamRule:
    """The consumer's rule: (the hub's queue, event) -> (queue, contacts handled)."""

    def __init__(self, team: Team, thresholds: Thresholds, calendar: WorkingDayCalendar) -> None:
        self.team = team
        self.thresholds = thresholds
        self.calendar = calendar
        self.table = compile_thresholds(thresholds)
        # One entry per practitioner: their shift, and an id a person can read (day-3).
        self.shifts: list[Shift] = []
        self.names: list[str] = []
        for shift in team.practitioners:
            for i in range(shift.count):
                self.shifts.append(shift)
                self.names.append(f"{shift.group}-{i + 1}")

    # ---- what a contact takes -------------------------------------------------------
    def triage(self, contact: ContactReceived) -> Rag:
        """The most urgent rating any child named earns from the contact alone."""
        window = self.thresholds.history_window_days
        rags = [
            screen(facts_for(contact, child, _NOBODY, window), self.thresholds, self.table).rag
            for child in contact.children
        ]
        return max(rags, key=RAG_URGENCY.__getitem__)

    @staticmethod
    def raises_cse(contact: ContactReceived) -> bool:
        """It names an indicator of exploitation, or exploitation as a concern."""
        return bool(contact.cse_indicators or Factor.CSE in contact.concerns)

    def for_cse_team(self, item: Waiting) -> bool:
        """Whether the CSE team works it: asked of the team now, not when it arrived, so a
        queue kept from a run with a CSE team is worked by one without."""
        return item.cse and self.team.has_cse_team

    def minutes(self, contact: ContactReceived, rag: Rag) -> float:
        extra = self.team.extra_child_minutes * (len(contact.children) - 1)
        return self.team.minutes[rag] + extra

    # ---- the rule ---------------------------------------------------------------------
    def __call__(
        self, states: Mapping[str, TeamState], event: Event
    ) -> tuple[dict[str, TeamState], list[Envelope], dict[str, int]]:
        if not states:
            return {}, [], {}
        key, state = next(iter(states.items()))
        out: list[Envelope] = []
        if isinstance(event, ContactReceived):
            state = self.arrive(state, event)
        elif isinstance(event, ClockTick):
            state, out = self.work(state, event.occurred_at)
        else:
            return {}, [], {}
        state, tally = self.peak(states[key], state, event.occurred_at)
        return {key: state}, out, tally

    def arrive(self, state: TeamState, contact: ContactReceived) -> TeamState:
        held = {w.contact_id for w in state.waiting} | {w.item.contact_id for w in state.working}
        if contact.event_id in held:
            return state  # a producer's retry of a contact still in the queue
        rag = self.triage(contact)
        item = construct(
            Waiting,
            contact_id=contact.event_id,
            received=contact.occurred_at,
            children=tuple(c.child_id for c in contact.children),
            correlation=contact.correlation_id or contact.event_id,
            triage=rag,
            rank=self.team.rank(rag),
            minutes=self.minutes(contact, rag),
            cse=self.raises_cse(contact),
        )
        queue = list(state.waiting)
        bisect.insort(queue, item, key=_order)  # kept in order: no sort per arrival
        waiting = tuple(queue)
        at = contact.occurred_at
        return state.model_copy(
            update={"waiting": waiting, "wake": self.wake(waiting, state.working, at)}
        )

    def work(self, state: TeamState, now: datetime) -> tuple[TeamState, list[Envelope]]:
        """At `now`: whatever is finished is handed on, then idle practitioners on shift
        pick up the first contacts waiting that are theirs to work (the CSE team's, or the
        rest), in practitioner order."""
        out: list[Envelope] = []
        working = []
        for job in state.working:
            if job.done <= now:
                out.extend(self.handled(job))
            else:
                working.append(job)
        waiting = list(state.waiting)
        busy = {job.practitioner for job in working}
        at_work: dict[str, bool] = {}  # by shift group: its practitioners share the answer
        for p, shift in enumerate(self.shifts):
            if not waiting:
                break
            if p in busy:
                continue
            if shift.group not in at_work:
                at_work[shift.group] = rota.on_shift(shift, now, self.calendar)
            if not at_work[shift.group]:
                continue
            first = next(
                (n for n, w in enumerate(waiting) if self.for_cse_team(w) == shift.cse), None
            )
            if first is None:
                continue
            item = waiting.pop(first)
            done = rota.finish(shift, now, item.minutes, self.calendar)
            working.append(construct(Working, practitioner=p, started=now, done=done, item=item))
        working.sort(key=lambda j: (j.done, j.practitioner))
        kept = tuple(waiting)
        wake = self.wake(kept, tuple(working), now)
        return state.model_copy(
            update={"waiting": kept, "working": tuple(working), "wake": wake}
        ), out

    def wake(
        self, waiting: Sequence[Waiting], working: Sequence[Working], now: datetime
    ) -> datetime | None:
        """The next instant the queue moves by itself: a piece of work done, or (with
        contacts waiting) the first moment an idle practitioner is on shift."""
        dues = [job.done for job in working]
        if waiting:
            pools = {self.for_cse_team(w) for w in waiting}
            busy = {job.practitioner for job in working}
            idle = {
                shift.group: shift
                for p, shift in enumerate(self.shifts)
                if p not in busy and shift.cse in pools
            }
            dues.extend(rota.next_start(shift, now, self.calendar) for shift in idle.values())
        return min(dues).astimezone(UTC) if dues else None

    def handled(self, job: Working) -> list[Envelope]:
        """One `contact.handled` per child the contact names (each shard keeps its own)."""
        item = job.item
        done = job.done.astimezone(LONDON)
        return [
            construct(
                ContactHandled,
                event_id=f"{item.contact_id}.handled.{child}",
                occurred_at=done,
                recorded_at=done,
                child_id=child,
                agency=Agency.MASH,
                correlation_id=item.correlation,
                causation_id=item.contact_id,
                schema_version=1,
                contact_id=item.contact_id,
                first_child=item.children[0],
                received_at=item.received,
                started_at=job.started.astimezone(LONDON),
                practitioner=self.names[job.practitioner],
                triage=item.triage,
            )
            for child in item.children
        ]

    @staticmethod
    def peak(
        before: TeamState, after: TeamState, now: datetime
    ) -> tuple[TeamState, dict[str, int]]:
        """The month's longest queue, kept as a tally the report reads at any instant: the
        delta that makes `queue.peak_month|<month>` the most contacts waiting at once."""
        month = london_month(now)
        length = len(after.waiting)
        old = before.peak if before.peak_month == month else 0
        if length <= old:
            if after.peak_month != month:
                after = after.model_copy(update={"peak_month": month, "peak": old})
            return after, {}
        after = after.model_copy(update={"peak_month": month, "peak": length})
        return after, {f"queue.peak_month|{month}": length - old}


def next_due(state: TeamState) -> datetime | None:
    return state.wake


def holds(state: TeamState) -> list[str]:
    """Every child of a contact waiting or in hand: any may be handled in the next round."""
    return [c for w in (*state.waiting, *(j.item for j in state.working)) for c in w.children]


def keys(event: Event) -> Sequence[str]:  # the hub's queue is one state, under the hub's key
    return ()


__all__ = ["TeamRule", "TeamState", "holds", "next_due"]
