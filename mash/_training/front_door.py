"""A training exercise with a team: the trainee is one of the front door's practitioners.

Contacts queue as they do on a hub with a team (the same pure `TeamRule`: red before amber
before green, then the oldest; nobody picks up work off shift). When the queue hands a
contact to the trainee's place on the rota, it is put before them: the wait is on the view,
the time they take (at the exercise's speed) is how long that practitioner is busy, and
their answer is the decision, at the instant they finish. The other practitioners decide as
the thresholds do, at the instant they finish. So a trainee who is slow on a Monday morning
makes the queue longer for everyone, and a red contact can wait behind their work.

The queue runs here, beside the exercise, not in the hub: the trainee's handling time is not
known until they answer, and a hub's queue must know it when the contact is picked up. The
hub stays in manual mode and is given every decision at its own instant, before any later
event, so its clocks and flags run in event time on the team's decisions.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from mash._bootstrap import configure
from mash._config.settings import Settings
from mash._scenarios.scenario import Scenario
from mash._time.calendar import WorkingDayCalendar
from mash._training.exercise import (
    MAX_WAIT,
    Ask,
    ContactView,
    Desk,
    Wait,
    no_wait,
    open_desk,
)
from mash.consumers.team import rota
from mash.consumers.team.config import Team
from mash.consumers.team.rules import TeamRule, TeamState
from mash.errors import MashError
from mash.schemas.events import ContactHandled, ContactReceived, Envelope, ScreeningDecided

LEAST_MINUTES = 1.0  # a practitioner is busy at least this long with a contact


class NoSuchPractitioner(MashError):
    """`--practitioner` names nobody on the team's rota."""


def trainee_place(rule: TeamRule, practitioner: str | None) -> int:
    """Which of the team's practitioners the trainee is: a name (day-1), else the first."""
    if practitioner is None:
        return 0
    if practitioner not in rule.names:
        names = ", ".join(rule.names[:12]) + (", ..." if len(rule.names) > 12 else "")
        raise NoSuchPractitioner(
            f"--practitioner {practitioner}: {rule.team.name} has no such practitioner ({names})"
        )
    return rule.names.index(practitioner)


class FrontDoor:
    """The queue beside one trainee's desk: which contact each practitioner works, when."""

    def __init__(self, desk: Desk, rule: TeamRule, me: int, ask: Ask, speed: float) -> None:
        self.desk, self.rule, self.me, self.ask, self.speed = desk, rule, me, ask, speed
        self.name = rule.names[me]
        self.state = TeamState()
        self.views: dict[str, list[ContactView]] = {}
        self.taken: dict[str, float] = {}  # the trainee's real seconds, by view key
        self.handled: Counter[str] = Counter()  # children decided, by practitioner
        self.waits: dict[str, list[float]] = {"you": [], "colleagues": []}  # minutes

    @property
    def due(self) -> datetime | None:
        return self.state.wake

    def arrive(self, views: Sequence[ContactView], step: Sequence[Envelope]) -> None:
        for view in views:
            # A producer's retry of a contact still queued is queued once, and asked once.
            known = self.views.setdefault(view.contact.event_id, [])
            if all(v.key != view.key for v in known):
                known.append(view)
        for event in step:
            if isinstance(event, ContactReceived):
                self.state = self.rule.arrive(self.state, event)

    async def moment(self, now: datetime) -> None:
        """At `now`: work finished is decided (and given to the hub), then idle practitioners
        pick up what waits; what the trainee picks up is put before them now."""
        self.state, finished = self.rule.work(self.state, now)
        decisions: list[ScreeningDecided] = []
        for done in finished:
            assert isinstance(done, ContactHandled)
            mine = done.practitioner == self.name
            key = f"{self._local(done.contact_id)}/{done.child_id}"
            decisions.append(
                self.desk.close(key, done.occurred_at, trainee=mine, seconds=self.taken.get(key, 0))
            )
            self.handled[done.practitioner] += 1
            wait = (done.started_at - done.received_at).total_seconds() / 60
            self.waits["you" if mine else "colleagues"].append(wait)
        if decisions:
            await self.desk.publish(decisions, now)
        await self._hand_to_trainee(now)

    async def _hand_to_trainee(self, now: datetime) -> None:
        working = list(self.state.working)
        for n, job in enumerate(working):
            if job.practitioner != self.me or job.started != now:
                continue
            took = 0.0
            for view in self.views.get(job.item.contact_id, []):
                answer, seconds = await self.ask(await self.desk.picked_up(view, now))
                self.desk.answer(view.key, answer, now, seconds)
                self.taken[view.key] = seconds
                took += seconds
            # Busy for the time they took at the exercise's speed (unpaced, with an answers
            # file: as long as the team file says such a contact takes), in their shift's
            # hours like anyone's: work left at its end waits for their next shift.
            minutes = took * self.speed / 60 if self.speed > 0 and took > 0 else job.item.minutes
            shift = self.rule.shifts[self.me]
            done = rota.finish(shift, now, max(minutes, LEAST_MINUTES), self.rule.calendar)
            working[n] = job.model_copy(update={"done": done})
        working.sort(key=lambda j: (j.done, j.practitioner))
        kept = tuple(working)
        wake = self.rule.wake(self.state.waiting, kept, now)
        self.state = self.state.model_copy(update={"working": kept, "wake": wake})

    def _local(self, contact_id: str) -> str:
        views = self.views.get(contact_id)
        return views[0].local_id if views else contact_id

    def summary(self, team: Team) -> dict[str, Any]:
        def mean(values: list[float]) -> float | None:
            return round(sum(values) / len(values), 1) if values else None

        return {
            "team": team.name,
            "practitioner": self.name,
            "you_decided": self.handled[self.name],
            "colleagues_decided": sum(n for p, n in self.handled.items() if p != self.name),
            "by_practitioner": dict(sorted(self.handled.items())),
            "mean_wait_minutes": {
                "yours": mean(self.waits["you"]),
                "colleagues": mean(self.waits["colleagues"]),
            },
        }


async def run_team_exercise(
    scenario: Scenario,
    settings: Settings,
    team: Team,
    *,
    trainee: str,
    ask: Ask,
    practitioner: str | None = None,
    speed: float = 0.0,
    wait: Wait = no_wait,
    thresholds_override: Path | None = None,
    timeout: float = 120.0,
) -> dict[str, Any]:
    """Run the exercise with the trainee on the team's rota, to its end; the debrief, with
    the queue's part in it (`debrief["team"]`)."""
    config = configure(scenario, settings, thresholds_override)
    rule = TeamRule(team, config[0], WorkingDayCalendar())
    me = trainee_place(rule, practitioner)  # a mistake is a line before Redis starts
    async with open_desk(scenario, settings, config, trainee, speed, timeout) as (desk, plan):
        door = FrontDoor(desk, rule, me, ask, speed)
        last: datetime | None = None

        async def pace(now: datetime) -> None:
            nonlocal last
            if last is not None and speed > 0 and now > last:
                await wait(min((now - last).total_seconds() / speed, MAX_WAIT), now)
            last = now

        for instant, step in plan:
            # Everything the queue does before the instant, then the instant's contacts
            # join it, then whoever is free at the instant picks up.
            while door.due is not None and door.due < instant:
                await pace(door.due)
                await door.moment(door.due)
            await pace(instant)
            door.arrive(await desk.arrive(instant, step, lock=False), step)
            if door.due is not None and door.due <= instant:
                await door.moment(instant)
        while door.due is not None:  # the queue worked to its end
            await pace(door.due)
            await door.moment(door.due)
        debrief = await desk.finish(scenario.end, scenario.name, config[1])
        debrief["team"] = door.summary(team)
        return debrief


__all__ = ["FrontDoor", "NoSuchPractitioner", "run_team_exercise", "trainee_place"]
