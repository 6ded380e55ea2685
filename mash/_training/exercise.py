"""Training exercises: a trainee screens each contact of a scenario as it arrives.

The hub runs in manual mode (it keeps every child's history but decides nothing); the
exercise replays the scenario in event time and, at each contact, hands the trainee what a MASH
practitioner would see and publishes their answer as the hub's decision, marked as the
trainee's, so the statutory clocks and CSE flags run on it. The reference decision is the
thresholds file's, made by the same pure rule on the same history, the instant before the
contact arrived.

The terminal (prompts, countdown, pauses) is the CLI's business: this module takes an `ask`
coroutine and a `wait` coroutine, so an answers file, a test or another front end can drive
the same exercise.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
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
from mash.consumers.screening.rules import ChildHistory, decide_contact, decision_due
from mash.consumers.screening.thresholds import Thresholds
from mash.consumers.timescales.rules import ChildClocks, OpenClock
from mash.errors import ScenarioError
from mash.schemas.codes import Agency, DecidedBy, Level, Outcome, Rag
from mash.schemas.events import (
    ChildDetails,
    ContactReceived,
    CSEFlag,
    Reason,
    ScreeningDecided,
    TimescaleBreached,
    TimescaleMet,
    TimescaleStoppedLate,
)

MAX_WAIT = 10.0  # real seconds between two events, whatever the gap in event time


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
        return Answer(found.level, found.rag, found.outcome), found.seconds

    return ask


async def no_wait(seconds: float, until: datetime) -> None:
    return None


def _decision(
    contact: ContactReceived,
    child: str,
    answer: Answer,
    at: datetime,
    trainee: str,
    thresholds: Thresholds,
    calendar: WorkingDayCalendar,
) -> ScreeningDecided:
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
    calendar = WorkingDayCalendar()
    # Decisions written into the scenario are the answers the exercise is asking for.
    events = [e for e in scenario.events if not isinstance(e, ScreeningDecided)]
    plan = by_instant(events)
    start = plan[0][0] if plan else scenario.end
    local = {v: k for k, v in scenario.local_ids.items()}
    total = sum(len(e.children) for e in events if isinstance(e, ContactReceived))
    decided: list[Decided] = []
    consumers = build_consumers(thresholds, timescales, scoring, decide=False)
    settings = settings.model_copy(update={"clock": "event"})
    async with Hub(settings, consumers) as hub:
        await refuse_used_namespace(hub)
        latest = start
        for index, (instant, step) in enumerate(plan):
            following = plan[index + 1][0] if index + 1 < len(plan) else None
            contacts = [e for e in step if isinstance(e, ContactReceived)]
            # The instant's events and its watermark: the hub applies them and everything
            # due by then, so what the trainee sees is the hub at that instant.
            await hub.publish([*step, tick(instant)])
            await drain_step(hub, timeout, instant)
            latest = max(latest, instant)
            for contact in contacts:
                ids = [c.child_id for c in contact.children]
                histories = dict(
                    zip(ids, await _states(hub, "screening", ids, ChildHistory), strict=True)
                )
                # The reference decision, from the same history the rules would have used:
                # the contact is in it, but only earlier contacts count.
                _, references = decide_contact(histories, contact, thresholds, calendar)
                for child, reference in zip(contact.children, references, strict=True):
                    assert isinstance(reference, ScreeningDecided)
                    clocks = (await _states(hub, "timescales", [child.child_id], ChildClocks))[0]
                    view = ContactView(
                        number=len(decided) + 1,
                        total=total,
                        local_id=local.get(contact.event_id, contact.event_id),
                        contact=contact,
                        child=child,
                        history=histories[child.child_id],
                        clocks=clocks.open,
                        earlier=tuple(d for d in decided if d.child == child.child_id),
                        windows={
                            rag: decision_due(contact.occurred_at, rag, thresholds, calendar)
                            for rag in Rag
                        },
                        speed=speed,
                    )
                    answer, seconds = await ask(view)
                    # Never before a watermark already published (a sibling's slower answer).
                    at = max(_decided_at(instant, following, seconds * speed), latest)
                    latest = at
                    decision = _decision(
                        contact, child.child_id, answer, at, trainee, thresholds, calendar
                    )
                    await hub.publish([decision, tick(at)])
                    await drain_step(hub, timeout, at)
                    decided.append(
                        Decided(
                            contact=view.local_id,
                            child=child.child_id,
                            received_at=contact.occurred_at,
                            decided_at=at,
                            trainee=answer,
                            reference=reference,
                            seconds=seconds,
                        )
                    )
            if following is not None and speed > 0:
                gap = (following - instant).total_seconds() / speed
                await wait(min(gap, MAX_WAIT), following)
        await hub.publish([tick(max(latest, scenario.end))])
        await drain_step(hub, timeout, max(latest, scenario.end))
        clocks = [
            e
            for e in await hub.read("timescales")
            if isinstance(e, TimescaleMet | TimescaleBreached | TimescaleStoppedLate)
        ]
        flags = [e for e in await hub.read("cse") if isinstance(e, CSEFlag)]
    return build_debrief(
        scenario=scenario.name,
        trainee=trainee,
        thresholds=thresholds.name,
        decided=decided,
        clocks=clocks,
        flags=flags,
    )


def _decided_at(instant: datetime, following: datetime | None, elapsed: float) -> datetime:
    """The decision's event time: the contact's instant plus the time the trainee took (at
    the exercise's speed), kept before the next event so event time never runs backwards."""
    at = instant + timedelta(seconds=round(elapsed))
    if following is not None and at >= following:
        at = following - timedelta(seconds=1)
    return max(at, instant)


def describe_history(view: ContactView) -> list[tuple[str, str]]:
    """The history panel as (label, value) rows, for any front end."""
    h = view.history
    on = view.contact.occurred_at
    year_ago = on - timedelta(days=365)
    rows = [
        ("earlier contacts (12 months)", str(sum(1 for c in h.contacts if c >= year_ago))),
        ("missing episodes (12 months)", str(sum(1 for m in h.missing if m >= year_ago))),
        ("CSE risk", h.cse_level.value),
        ("open referral", _yes(h.open_referral)),
        ("assessment open", _yes(h.open_assessment)),
        ("S47 enquiry open", _yes(h.open_s47)),
        ("child protection plan", _yes(h.cp_plan)),
        ("looked after", _yes(h.looked_after or view.child.looked_after)),
    ]
    for d in view.earlier:
        rows.append(
            (
                f"decision {d.decided_at:%d %b %Y}",
                f"level {int(d.trainee.level)}, {d.trainee.rag.value}, {d.trainee.outcome.value}",
            )
        )
    for c in view.clocks:
        due = f"due {c.deadline:%d %b %Y %H:%M}" if c.deadline else "due when decided"
        state = "OUT OF TIMESCALE" if c.breached else due
        rows.append((f"clock {c.clock}", state))
    return rows


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"
