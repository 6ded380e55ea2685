"""Training exercises: a trainee screens each contact of a scenario as it arrives.

The hub runs in manual mode (it keeps every child's history but decides nothing); the
exercise replays the scenario in event time and, at each contact, hands the trainee what a MASH
practitioner would see and publishes their answer as the hub's decision, marked as the
trainee's, so the statutory clocks and CSE flags run on it. The reference decision is the
thresholds file's, made by the same pure rule on the same history, the instant before the
contact arrived.

A `Desk` is one trainee's hub and decisions: it publishes each instant's events with a
watermark, builds the practitioner's view of each contact, holds the trainee's answer until
it is locked, and publishes it as a decision. The terminal exercise drives one desk and locks
each answer as it is given; the training room (`mash._room`) drives one per trainee and locks
answers when the next contact arrives, so an answer can change until then. Either way a
decision is published at its own instant of event time, before any watermark beyond it, so
the hub applies it in event time like any other event.

The terminal (prompts, countdown, pauses) is the CLI's business: `run_exercise` takes an `ask`
coroutine and a `wait` coroutine, so an answers file, a test or another front end can drive
the same exercise.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from mash._bootstrap import build_consumers, configure
from mash._config.settings import Settings
from mash._config.yamlfile import line_of, load_model
from mash._replay.driver import drain_step, refuse_used_namespace
from mash._replay.steps import by_instant
from mash._runtime.hub import Hub
from mash._scenarios.scenario import Scenario
from mash._time.calendar import LONDON, WorkingDayCalendar
from mash._time.clock import tick
from mash._training.debrief import Answer, Decided, build_debrief
from mash.consumers.cse.scoring import Scoring
from mash.consumers.screening.rules import ChildHistory, decide_contact, decision_due
from mash.consumers.screening.thresholds import Thresholds
from mash.consumers.timescales.config import Timescales
from mash.consumers.timescales.rules import ChildClocks, OpenClock
from mash.errors import ScenarioError
from mash.schemas.codes import Agency, DecidedBy, Level, Outcome, Rag
from mash.schemas.events import (
    ChildDetails,
    ContactReceived,
    CSEFlag,
    Envelope,
    MissingReturned,
    MissingStarted,
    Reason,
    ScreeningDecided,
    TimescaleBreached,
    TimescaleMet,
    TimescaleStoppedLate,
)

MAX_WAIT = 10.0  # real seconds between two events, whatever the gap in event time
YEAR = timedelta(days=365)


@dataclass(frozen=True)
class PastContact:
    """An earlier contact about the child, as the MASH's records show it."""

    at: datetime
    contact: ContactReceived


@dataclass(frozen=True)
class Episode:
    """A missing episode: when the child went missing, and when (and how) they came back."""

    missing_id: str
    started: datetime
    returned: datetime | None = None
    with_adults: bool = False


@dataclass(frozen=True)
class ContactView:
    """What a MASH practitioner sees when deciding on one child of one contact."""

    number: int
    total: int
    local_id: str
    contact: ContactReceived
    child: ChildDetails
    history: ChildHistory
    clocks: tuple[OpenClock, ...]
    earlier: tuple[Decided, ...]
    windows: Mapping[Rag, datetime]  # the decision deadline each RAG rating would set
    speed: float
    # The child's full record of the last 12 months, from every event the hub was given: the
    # hub's own state keeps only the few its rules need (the last 3 missing episodes).
    contacts: tuple[PastContact, ...] = ()
    episodes: tuple[Episode, ...] = ()
    # In an exercise with a team: when the trainee, one of its practitioners, picked the
    # contact up from the queue (the view is put before them then, not when it arrived).
    picked_up: datetime | None = None

    @property
    def key(self) -> str:
        """One child of one contact: what an answer is given to."""
        return f"{self.local_id}/{self.child.child_id}"

    @property
    def open_case(self) -> bool:
        """Social care already holds the child (a referral, assessment, S47, plan, or looked
        after): closing such a contact with no action loses a child in plain sight."""
        return self.history.allocated or self.child.looked_after

    @property
    def age(self) -> str:
        born, on = self.child.dob, self.contact.occurred_at.astimezone(LONDON).date()
        if born > on:
            return "unborn"
        months = (on.year - born.year) * 12 + on.month - born.month - (on.day < born.day)
        return f"{months} months" if months < 24 else f"{months // 12} years"


Ask = Callable[[ContactView], Awaitable[tuple[Answer, float]]]
Wait = Callable[[float, datetime], Awaitable[None]]


class AnswerSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    contact: str
    child: str | None = None
    level: Level
    rag: Rag
    outcome: Outcome
    seconds: float = Field(default=0.0, ge=0, description="Real seconds the trainee took.")
    rationale: str = ""


class AnswersFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    answers: list[AnswerSpec]


def load_answers(path: Path, scenario: Scenario) -> Ask:
    """An `ask` that reads a file, for unattended exercises and tests. Every contact and child
    must be answered, and every answer must name a contact of the scenario: both are checked
    before the exercise starts, with the file's line."""
    spec, data = load_model(path, AnswersFile, "answers file", ScenarioError)
    shown = str(path)
    for n, answer in enumerate(spec.answers):
        if answer.contact not in scenario.local_ids:
            line = line_of(data, ("answers", n, "contact"))
            why = f"{answer.contact!r} is not a contact of {scenario.name}"
            raise ScenarioError(shown, line, f"answers[{n}].contact", why)
    wanted = {(a.contact, a.child): a for a in spec.answers}
    by_id = {v: k for k, v in scenario.local_ids.items()}
    for event in scenario.events:
        if not isinstance(event, ContactReceived):
            continue
        local = by_id.get(event.event_id, event.event_id)
        for child in event.children:
            if (local, child.child_id) not in wanted and (local, None) not in wanted:
                why = f"no answer for contact {local!r}, child {child.child_id!r}"
                raise ScenarioError(shown, None, "answers", why)

    async def ask(view: ContactView) -> tuple[Answer, float]:
        found = wanted.get((view.local_id, view.child.child_id)) or wanted[(view.local_id, None)]
        return Answer(found.level, found.rag, found.outcome, found.rationale), found.seconds

    return ask


async def no_wait(seconds: float, until: datetime) -> None:
    return None


def decision_event(
    contact: ContactReceived,
    child: str,
    answer: Answer,
    at: datetime,
    trainee: str,
    thresholds: Thresholds,
    calendar: WorkingDayCalendar,
) -> ScreeningDecided:
    """The trainee's answer as the hub's decision. The rationale stays out of the event: it is
    free text, for the debrief only, and streams are read by other teams' tools."""
    return ScreeningDecided(
        event_id=f"{contact.event_id}.decision.{child}",
        occurred_at=at,
        recorded_at=at,
        child_id=child,
        agency=Agency.MASH,
        correlation_id=contact.correlation_id or contact.event_id,
        causation_id=contact.event_id,
        contact_id=contact.event_id,
        level=answer.level,
        rag=answer.rag,
        outcome=answer.outcome,
        decision_due=decision_due(contact.occurred_at, answer.rag, thresholds, calendar),
        reasons=[Reason(id="TRAINEE", level=answer.level, text=f"decided by {trainee}")],
        decided_by=DecidedBy.TRAINEE,
        thresholds=thresholds.name,
        received_at=contact.occurred_at,
    )


async def _states(hub: Hub, consumer: str, children: list[str], model: Any) -> list[Any]:
    raw = await hub.redis.hmget(hub.keys.state(consumer), children)
    return [model.model_validate_json(r) if r else model() for r in raw]


def child_record(
    events: Sequence[Envelope], child: str, at: datetime, before: str | None = None
) -> tuple[tuple[PastContact, ...], tuple[Episode, ...]]:
    """Every contact about the child and every missing episode of theirs in the 12 months up
    to `at`, from the events given so far (the contact `before` itself left out). Pure."""
    since = at - YEAR
    contacts: list[PastContact] = []
    episodes: dict[str, Episode] = {}
    for event in events:
        if event.occurred_at > at:
            break
        if isinstance(event, ContactReceived):
            named = any(c.child_id == child for c in event.children)
            if named and event.event_id != before and event.occurred_at >= since:
                contacts.append(PastContact(event.occurred_at, event))
        elif isinstance(event, MissingStarted) and event.child_id == child:
            episodes[event.missing_id] = Episode(event.missing_id, event.occurred_at)
        elif isinstance(event, MissingReturned) and event.child_id == child:
            began = episodes.get(event.missing_id)
            if began is not None:
                episodes[event.missing_id] = replace(
                    began, returned=event.occurred_at, with_adults=event.with_adults
                )
    recent = tuple(
        e
        for e in sorted(episodes.values(), key=lambda e: e.started)
        if (e.returned or e.started) >= since
    )
    return tuple(contacts), recent


@dataclass
class Open:
    """A contact put before the trainee and not yet locked: the view, the thresholds' own
    decision, and the trainee's answer so far."""

    view: ContactView
    reference: ScreeningDecided
    answer: Answer | None = None
    at: datetime | None = None
    seconds: float = 0.0


class Desk:
    """One trainee screening a scenario on a hub of their own (see the module's docstring)."""

    def __init__(
        self,
        hub: Hub,
        *,
        trainee: str,
        thresholds: Thresholds,
        total: int,
        local: Mapping[str, str],
        speed: float = 0.0,
        timeout: float = 120.0,
    ) -> None:
        self.hub = hub
        self.trainee = trainee
        self.thresholds = thresholds
        self.calendar = WorkingDayCalendar()
        self.total = total
        self.local = local
        self.speed = speed
        self.timeout = timeout
        self.given: list[Envelope] = []  # the scenario's events published so far
        self.decided: list[Decided] = []
        self.open: dict[str, Open] = {}
        self.colleagues: list[Decided] = []  # decided by the team's other practitioners
        self.latest: datetime | None = None  # the last watermark published
        self.seen = 0  # contacts (one per child) put before the trainee so far

    def answer(self, key: str, answer: Answer, at: datetime, seconds: float = 0.0) -> None:
        """Record (or change) the answer to an open contact; it is published when locked."""
        found = self.open[key]
        found.answer, found.at, found.seconds = answer, at, seconds

    def lock(self, before: datetime) -> list[ScreeningDecided]:
        """Lock every open contact (the next contact is arriving at `before`): answered ones
        become decisions at their instant, kept after the last watermark and before `before`,
        so event time never runs backwards; unanswered ones are recorded as not decided."""
        out: list[ScreeningDecided] = []
        for found in self.open.values():
            view = found.view
            decided_at: datetime | None = None
            if found.answer is not None and found.at is not None:
                decided_at = max(found.at, view.contact.occurred_at)
                if self.latest is not None:
                    decided_at = max(decided_at, self.latest)
                if decided_at >= before:
                    decided_at = max(before - timedelta(seconds=1), self.latest or before)
                out.append(
                    decision_event(
                        view.contact,
                        view.child.child_id,
                        found.answer,
                        decided_at,
                        self.trainee,
                        self.thresholds,
                        self.calendar,
                    )
                )
            self.decided.append(
                Decided(
                    contact=view.local_id,
                    child=view.child.child_id,
                    received_at=view.contact.occurred_at,
                    decided_at=decided_at,
                    trainee=found.answer,
                    reference=found.reference,
                    seconds=found.seconds,
                    open_case=view.open_case,
                )
            )
        self.open = {}
        return out

    def close(
        self, key: str, at: datetime, *, trainee: bool, seconds: float = 0.0
    ) -> ScreeningDecided:
        """An exercise with a team: the contact `key` is decided at `at` by the practitioner
        who worked it. The trainee's answer (given when they picked it up) is theirs; a
        colleague's decision is the thresholds' own, made when the contact arrived and
        recorded when it was worked, as the hub's screening does with a team."""
        found = self.open.pop(key)
        view = found.view
        if trainee and found.answer is not None:
            decision = decision_event(
                view.contact,
                view.child.child_id,
                found.answer,
                at,
                self.trainee,
                self.thresholds,
                self.calendar,
            )
        else:
            decision = found.reference.model_copy(update={"occurred_at": at, "recorded_at": at})
        (self.decided if trainee else self.colleagues).append(
            Decided(
                contact=view.local_id,
                child=view.child.child_id,
                received_at=view.contact.occurred_at,
                decided_at=at,
                trainee=found.answer if trainee else None,
                reference=found.reference,
                seconds=seconds if trainee else 0.0,
                open_case=view.open_case,
            )
        )
        return decision

    async def publish(self, events: Sequence[Envelope], watermark: datetime) -> None:
        await self.hub.publish([*events, tick(watermark)])
        self.latest = watermark
        await drain_step(self.hub, self.timeout, watermark)

    async def flush(self, at: datetime) -> None:
        """Lock the open contacts now and have the hub apply their decisions (the terminal
        exercise: an answer given is final)."""
        decisions = self.lock(at + timedelta(seconds=1))
        if decisions:
            await self.publish(decisions, max(d.occurred_at for d in decisions))

    async def arrive(
        self, instant: datetime, step: Sequence[Envelope], lock: bool = True
    ) -> list[ContactView]:
        """The instant's events reach the hub (after the open contacts' decisions, locked now,
        unless a team's queue decides when they are); returns the view of each child of each
        contact at that instant, as the hub holds it."""
        decisions = self.lock(instant) if lock else []
        await self.publish([*decisions, *step], instant)
        self.given.extend(step)
        views: list[ContactView] = []
        for contact in (e for e in step if isinstance(e, ContactReceived)):
            ids = [c.child_id for c in contact.children]
            histories = dict(
                zip(ids, await _states(self.hub, "screening", ids, ChildHistory), strict=True)
            )
            # The reference decision, from the same history the rules would have used: the
            # contact is in it, but only earlier contacts count.
            _, references = decide_contact(histories, contact, self.thresholds, self.calendar)
            clocks = await _states(self.hub, "timescales", ids, ChildClocks)
            for child, reference, held in zip(contact.children, references, clocks, strict=True):
                assert isinstance(reference, ScreeningDecided)
                contacts, episodes = child_record(
                    self.given, child.child_id, instant, before=contact.event_id
                )
                self.seen += 1
                view = ContactView(
                    number=self.seen,
                    total=self.total,
                    local_id=self.local.get(contact.event_id, contact.event_id),
                    contact=contact,
                    child=child,
                    history=histories[child.child_id],
                    clocks=held.open,
                    earlier=tuple(d for d in self.decided if d.child == child.child_id),
                    windows={
                        rag: decision_due(contact.occurred_at, rag, self.thresholds, self.calendar)
                        for rag in Rag
                    },
                    speed=self.speed,
                    contacts=contacts,
                    episodes=episodes,
                )
                self.open[view.key] = Open(view, reference)
                views.append(view)
        return views

    async def picked_up(self, view: ContactView, now: datetime) -> ContactView:
        """The view of a contact that waited in a team's queue, as the hub holds the child
        when a practitioner picks it up at `now`: history, clocks, the child's record and
        every earlier decision on them (a colleague's too). The reference decision stays the
        one made on arrival, as the hub's queue makes it."""
        child = view.child.child_id
        (history,) = await _states(self.hub, "screening", [child], ChildHistory)
        (held,) = await _states(self.hub, "timescales", [child], ChildClocks)
        contacts, episodes = child_record(self.given, child, now, before=view.contact.event_id)
        earlier = sorted(
            (d for d in (*self.decided, *self.colleagues) if d.child == child),
            key=lambda d: (d.decided_at or d.received_at, d.contact),
        )
        return replace(
            view,
            history=history,
            clocks=held.open,
            earlier=tuple(earlier),
            contacts=contacts,
            episodes=episodes,
            picked_up=now,
        )

    async def finish(
        self,
        end: datetime,
        scenario: str,
        timescales: Timescales,
        rest: Sequence[Envelope] = (),
    ) -> dict[str, Any]:
        """Lock what is open, give the hub the `rest` of the run's events, run it on to `end`
        (so late clocks breach), and debrief."""
        final = max(end, self.latest) if self.latest is not None else end
        decisions = self.lock(final + timedelta(seconds=1))
        await self.publish([*decisions, *rest], final)
        self.given.extend(rest)
        clocks = [
            e
            for e in await self.hub.read("timescales")
            if isinstance(e, TimescaleMet | TimescaleBreached | TimescaleStoppedLate)
        ]
        flags = [e for e in await self.hub.read("cse") if isinstance(e, CSEFlag)]
        return build_debrief(
            scenario=scenario,
            trainee=self.trainee,
            thresholds=self.thresholds.name,
            decided=self.decided,
            clocks=clocks,
            flags=flags,
            clock_names={c.id: c.name for c in timescales.clocks},
        )


def contacts_to_decide(events: Sequence[Envelope]) -> int:
    """How many answers a run asks for: one per child of each contact."""
    return sum(len(e.children) for e in events if isinstance(e, ContactReceived))


def exercise_events(scenario: Scenario) -> list[Envelope]:
    """The scenario's events less its decisions: those are the answers the exercise asks for."""
    return [e for e in scenario.events if not isinstance(e, ScreeningDecided)]


@asynccontextmanager
async def open_desk(
    scenario: Scenario,
    settings: Settings,
    config: tuple[Thresholds, Timescales, Scoring],
    trainee: str,
    speed: float,
    timeout: float,
) -> AsyncIterator[tuple[Desk, list[tuple[datetime, list[Envelope]]]]]:
    """One trainee's desk on a hub of its own in manual mode, on event time, and the
    scenario's events (less its decisions) by instant: what every exercise begins with."""
    thresholds, timescales, scoring = config
    events = exercise_events(scenario)
    consumers = build_consumers(thresholds, timescales, scoring, decide=False)
    async with Hub(settings.model_copy(update={"clock": "event"}), consumers) as hub:
        await refuse_used_namespace(hub)
        yield (
            Desk(
                hub,
                trainee=trainee,
                thresholds=thresholds,
                total=contacts_to_decide(events),
                local={v: k for k, v in scenario.local_ids.items()},
                speed=speed,
                timeout=timeout,
            ),
            by_instant(events),
        )


async def run_exercise(
    scenario: Scenario,
    settings: Settings,
    *,
    trainee: str,
    ask: Ask,
    speed: float = 0.0,
    wait: Wait = no_wait,
    thresholds_override: Path | None = None,
    timeout: float = 120.0,
) -> dict[str, Any]:
    """Run the exercise to its end and return the debrief."""
    thresholds, timescales, scoring = configure(scenario, settings, thresholds_override)
    async with open_desk(
        scenario, settings, (thresholds, timescales, scoring), trainee, speed, timeout
    ) as (desk, plan):
        for index, (instant, step) in enumerate(plan):
            following = plan[index + 1][0] if index + 1 < len(plan) else None
            for view in await desk.arrive(instant, step):
                answer, seconds = await ask(view)
                at = _decided_at(instant, following, seconds * speed)
                desk.answer(view.key, answer, at, seconds)
                # An answer given at the terminal is final: the hub applies it at once.
                await desk.flush(max(at, desk.latest or at))
            if following is not None and speed > 0:
                gap = (following - instant).total_seconds() / speed
                await wait(min(gap, MAX_WAIT), following)
        return await desk.finish(scenario.end, scenario.name, timescales)


def _decided_at(instant: datetime, following: datetime | None, elapsed: float) -> datetime:
    """The decision's event time: the contact's instant plus the time the trainee took (at
    the exercise's speed), kept before the next event so event time never runs backwards."""
    at = instant + timedelta(seconds=round(elapsed))
    if following is not None and at >= following:
        at = following - timedelta(seconds=1)
    return max(at, instant)
