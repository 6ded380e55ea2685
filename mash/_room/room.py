"""A training room: one scenario, a facilitator, and a room of trainees, each screening on a
hub of their own.

Every trainee gets a `Desk` (`mash._training.exercise`) on a namespace of their own on the
room's Redis, so the hub's clocks and CSE flags run on their decisions. The room's clock
(`RoomClock`) says what event time it is; the room stops at each contact for everyone at
once. Between two contacts the trainees answer, and may change their answers; when the next
contact arrives (event time reaches it, the room has waited `max_wait` real seconds, or the
facilitator skips ahead) each desk locks its answers, publishes them as decisions at the
instants they were given, with the events since the last contact and a watermark at the new
contact, and the hub applies it all in event time before anyone sees the new contact.

The facilitator opens the room, starts, pauses, resumes, skips ahead and ends it; when the
facilitator's last page closes, the room pauses and waits for them. Everything a browser is
shown is a snapshot (`trainee_state`, `facilitator_state`): plain data, sent again whenever
`version` moves.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import structlog
from pydantic import SecretStr

from mash._bootstrap import build_consumers, configure
from mash._config.settings import Settings
from mash._replay.driver import refuse_used_namespace
from mash._replay.steps import by_instant
from mash._room.clock import RoomClock
from mash._runtime.hub import Hub
from mash._scenarios.scenario import Scenario
from mash._training.debrief import Answer, room_debrief
from mash._training.exercise import (
    Desk,
    contacts_to_decide,
    exercise_events,
)
from mash._training.panel import answer_words, choices, view_data
from mash.schemas.codes import Level, Outcome, Rag
from mash.schemas.events import ContactReceived, Envelope

log = structlog.get_logger("mash.room")

CODE_LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O or 1/I: read aloud in a room
NAME = re.compile(r"^[\w][\w .'\-]{0,39}$")
FACILITATOR_GRACE = 3.0  # real seconds a facilitator may be away (a reload) before a pause


class Notifier:
    """A version number that moves whenever anything a page shows changes; pages wait on it.
    Synchronous to bump, so a page's stream can say it closed from a `finally`."""

    def __init__(self) -> None:
        self.version = 0
        self._changed = asyncio.Event()

    def bump(self) -> None:
        self.version += 1
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def wait(self, seen: int, timeout: float) -> int:
        """The version once it differs from `seen`, or after `timeout` seconds regardless."""
        if self.version == seen:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), timeout=timeout)
        return self.version


class RoomError(Exception):
    """A request the room refuses, with the HTTP status that says why."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def new_code(length: int = 5) -> str:
    return "".join(secrets.choice(CODE_LETTERS) for _ in range(length))


def stops(
    events: Sequence[Envelope],
) -> tuple[list[tuple[datetime, list[Envelope]]], list[Envelope]]:
    """The room's stops: each contact's instant with every event since the stop before it
    (missing episodes, casework), and the events after the last contact. Pure.

    Answers stay open until the next contact, so nothing but a contact moves a trainee's hub:
    the events between two contacts reach it with the second, below its watermark, and the
    hub applies them (and the decisions given meanwhile) in event-time order."""
    out: list[tuple[datetime, list[Envelope]]] = []
    pending: list[Envelope] = []
    for instant, step in by_instant(events):
        pending.extend(step)
        if any(isinstance(e, ContactReceived) for e in step):
            out.append((instant, pending))
            pending = []
    return out, pending


@dataclass
class Trainee:
    name: str
    token: str
    namespace: str
    hub: Hub | None = None
    desk: Desk | None = None
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    failed: str | None = None
    views: dict[str, dict[str, Any]] = field(default_factory=dict)
    answers: dict[str, dict[str, Any]] = field(default_factory=dict)
    opened_real: float = 0.0
    connections: int = 0
    debrief: dict[str, Any] | None = None
    stops_seen: int = 0  # stops this trainee's desk has arrived at


class Room:
    """One open room (see the module's docstring)."""

    def __init__(
        self,
        *,
        redis_url: str,
        scenario: Scenario,
        speed: float,
        max_wait: float,
        settings: Settings,
        thresholds_override: Path | None = None,
        code: str | None = None,
        timeout: float = 120.0,
        notifier: Notifier | None = None,
    ) -> None:
        self.code = code or new_code()
        self.redis_url = redis_url
        self.scenario = scenario
        self.settings = settings
        self.thresholds, self.timescales, self.scoring = configure(
            scenario, settings, thresholds_override
        )
        self.clock_names = {c.id: c.name for c in self.timescales.clocks}
        self.choices = choices(self.thresholds)
        events = exercise_events(scenario)
        self.stops, self.rest = stops(events)
        self.events = events
        self.total = contacts_to_decide(events)
        self.local = {v: k for k, v in scenario.local_ids.items()}
        first = self.stops[0][0] if self.stops else scenario.end
        self.clock = RoomClock(first, time.monotonic(), speed)
        self.speed = speed
        self.max_wait = max_wait
        self.timeout = timeout
        self.state = "lobby"  # lobby, running, paused, ended
        self.paused_because = ""
        self.index = 0  # the next stop
        self.arrived_real = time.monotonic()
        self.trainees: dict[str, Trainee] = {}  # by token
        self.notifier = notifier or Notifier()
        self.lock = asyncio.Lock()  # one arrival (or catch-up, or the end) at a time
        self.wake = asyncio.Event()
        self.facilitators = 0
        self.room_debrief: dict[str, Any] | None = None
        self.step_seconds: list[float] = []  # real seconds each desk took to apply a stop
        self.task: asyncio.Task[None] | None = None
        self.ending: asyncio.Task[None] | None = None
        self._away: asyncio.Task[None] | None = None
        self._joined = 0

    # ---- notifications -----------------------------------------------------------------
    def bump(self) -> None:
        self.notifier.bump()

    # ---- trainees ----------------------------------------------------------------------
    def trainee(self, token: str) -> Trainee:
        found = self.trainees.get(token)
        if found is None:
            raise RoomError(404, "no such trainee in this room: join again with the room code")
        return found

    async def join(self, code: str, name: str) -> Trainee:
        """A trainee joins with the room code and a name nobody in the room has."""
        if code.strip().upper() != self.code:
            raise RoomError(
                404, f"no room has the code {code.strip()!r}: check it with the facilitator"
            )
        name = " ".join(name.split())
        if not NAME.match(name):
            raise RoomError(
                400, "a name is 1 to 40 letters, digits, spaces, dots, hyphens or apostrophes"
            )
        if any(t.name.casefold() == name.casefold() for t in self.trainees.values()):
            raise RoomError(
                409,
                f"{name!r} is already in this room: choose another name (to rejoin, open the "
                "link you joined with)",
            )
        if self.state in ("ending", "ended"):
            raise RoomError(409, "this room has ended")
        self._joined += 1
        token = secrets.token_urlsafe(12)
        trainee = Trainee(name, token, f"{self.settings.namespace}-{self.code}-{self._joined}")
        self.trainees[token] = trainee
        log.info("trainee joined", room=self.code, trainees=len(self.trainees))
        self.bump()
        await self._start_desk(trainee)
        return trainee

    async def _start_desk(self, trainee: Trainee) -> None:
        settings = self.settings.model_copy(
            update={
                "redis_url": SecretStr(self.redis_url),
                "namespace": trainee.namespace,
                "clock": "event",
            }
        )
        consumers = build_consumers(self.thresholds, self.timescales, self.scoring, decide=False)
        try:
            hub = await Hub(settings, consumers).start()
            trainee.hub = hub
            await refuse_used_namespace(hub)
            trainee.desk = Desk(
                hub,
                trainee=trainee.name,
                thresholds=self.thresholds,
                total=self.total,
                local=self.local,
                speed=self.speed,
                timeout=self.timeout,
            )
            async with self.lock:
                # Joined late: the stops already passed reach the hub (their contacts stay
                # undecided), and the current contact is theirs to answer.
                for index in range(self.index):
                    await self._arrive(trainee, index)
        except Exception as exc:
            trainee.failed = f"the room could not start a hub for you: {exc}"
            log.exception("trainee hub failed", room=self.code)
        finally:
            trainee.ready.set()
            self.bump()

    async def answer(self, token: str, body: dict[str, Any]) -> dict[str, Any]:
        """Record (or change) a trainee's answer to an open contact."""
        trainee = self.trainee(token)
        if self.state == "ended":
            raise RoomError(409, "the room has ended: answers are closed")
        key = str(body.get("key", ""))
        desk = trainee.desk
        if desk is None or key not in desk.open:
            raise RoomError(409, "that contact is closed: the next one has arrived")
        try:
            answer = Answer(
                Level(int(body["level"])),
                Rag(str(body["rag"])),
                Outcome(str(body["outcome"])),
                str(body.get("rationale", ""))[:2000],
            )
        except (KeyError, ValueError, TypeError) as exc:
            raise RoomError(
                400, "an answer needs a level (1-4), a RAG rating and an outcome"
            ) from exc
        real = time.monotonic()
        desk.answer(key, answer, self.clock.now(real), real - trainee.opened_real)
        trainee.answers[key] = {
            "level": int(answer.level),
            "rag": answer.rag.value,
            "outcome": answer.outcome.value,
            "rationale": answer.rationale,
            "words": answer_words(answer, self.thresholds),
            "at": self.clock.now(real).isoformat(),
        }
        self.bump()
        return trainee.answers[key]

    def connect(self, trainee: Trainee, delta: int) -> None:
        trainee.connections += delta

    # ---- the facilitator ---------------------------------------------------------------
    def facilitator_connected(self, delta: int) -> None:
        """A facilitator's page opened (+1) or closed (-1); the last to close pauses the room
        after a grace (a reload is not leaving)."""
        self.facilitators += delta
        away = self._away is None or self._away.done()
        if self.facilitators <= 0 and self.state == "running" and away:
            self._away = asyncio.create_task(self._pause_if_away())
        self.bump()

    async def _pause_if_away(self) -> None:
        await asyncio.sleep(FACILITATOR_GRACE)
        if self.facilitators <= 0 and self.state == "running":
            await self.pause("the facilitator's page was closed: the room waits for them")

    async def start(self) -> None:
        if self.state != "lobby":
            raise RoomError(409, f"the room is {self.state}, not waiting to start")
        if not self.stops:
            raise RoomError(409, "this scenario has no contact to screen")
        waiting = [t.ready.wait() for t in self.trainees.values()]
        if waiting:
            await asyncio.wait_for(asyncio.gather(*waiting), timeout=self.timeout)
        self.state = "running"
        self.clock.resume(time.monotonic())
        await self.advance()  # the first contact at once: nobody waits through the history
        self.task = asyncio.create_task(self._run())

    async def pause(self, why: str = "paused by the facilitator") -> None:
        if self.state != "running":
            raise RoomError(409, f"the room is {self.state}: only a running room pauses")
        self.clock.pause(time.monotonic())
        self.state, self.paused_because = "paused", why
        self._paused_real = time.monotonic()
        log.info("room paused", room=self.code)
        self.wake.set()
        self.bump()

    async def resume(self) -> None:
        if self.state != "paused":
            raise RoomError(409, f"the room is {self.state}: only a paused room resumes")
        real = time.monotonic()
        # Time paused does not count against the wait for the next contact either.
        self.arrived_real += real - getattr(self, "_paused_real", real)
        self.clock.resume(real)
        self.state, self.paused_because = "running", ""
        self.wake.set()
        self.bump()

    async def skip(self) -> None:
        """The next contact now (or the end, after the last)."""
        if self.state not in ("running", "paused"):
            raise RoomError(409, f"the room is {self.state}: nothing to skip to")
        await self.advance()

    async def end(self) -> None:
        """End the room now: every desk locks its answers and debriefs at this instant."""
        if self.state == "ended":
            return
        if self.state == "lobby":
            self.state = "ended"
            self.bump()
            return
        await self._finish(self.clock.now(time.monotonic()), early=True)

    # ---- the run -----------------------------------------------------------------------
    def next_instant(self) -> datetime:
        return self.stops[self.index][0] if self.index < len(self.stops) else self.scenario.end

    def real_until_next(self, real: float) -> float:
        """Real seconds until the next contact arrives: event time reaching it, or the room's
        longest wait since the last one, whichever is sooner."""
        reach = self.clock.real_until(self.next_instant(), real)
        return max(0.0, min(reach, self.arrived_real + self.max_wait - real))

    async def _run(self) -> None:
        try:
            while self.state != "ended":
                if self.state != "running":
                    await self.wake.wait()
                    self.wake.clear()
                    continue
                index = self.index
                left = self.real_until_next(time.monotonic())
                if left > 0:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self.wake.wait(), timeout=min(left, 1.0))
                    self.wake.clear()
                    continue
                await self.advance(expected=index)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("the room stopped", room=self.code)
            self.state, self.paused_because = "paused", "the room hit an error: see the log"
            self.bump()

    async def advance(self, expected: int | None = None) -> None:
        """The next stop arrives (`expected`: only if no other arrival came first)."""
        async with self.lock:
            if self.state in ("ended", "ending") or (
                expected is not None and expected != self.index
            ):
                return
            if self.index >= len(self.stops):
                await self._finish_locked(self.scenario.end, early=False)
                return
            instant = self.stops[self.index][0]
            real = time.monotonic()
            self.clock.jump(instant, real)
            ready = [t for t in self.trainees.values() if t.desk is not None]
            await asyncio.gather(*(self._arrive(t, self.index) for t in ready))
            self.index += 1
            self.arrived_real = time.monotonic()
            log.info("contact arrived", room=self.code, stop=self.index, of=len(self.stops))
        self.wake.set()
        self.bump()

    async def _arrive(self, trainee: Trainee, index: int) -> None:
        desk = trainee.desk
        assert desk is not None
        instant, events = self.stops[index]
        began = time.monotonic()
        views = await desk.arrive(instant, events)
        self.step_seconds.append(time.monotonic() - began)
        trainee.views = {v.key: view_data(v, self.thresholds, self.clock_names) for v in views}
        trainee.answers = {}
        trainee.opened_real = time.monotonic()
        trainee.stops_seen = index + 1

    async def _finish(self, at: datetime, *, early: bool) -> None:
        async with self.lock:
            await self._finish_locked(at, early=early)
        self.bump()

    async def _finish_locked(self, at: datetime, *, early: bool) -> None:
        if self.state == "ended":
            return
        self.state = "ending"
        self.bump()
        rest = [e for e in self._unpublished() if e.occurred_at <= at] if early else self.rest
        ready = [t for t in self.trainees.values() if t.desk is not None]

        async def debrief(t: Trainee) -> None:
            assert t.desk is not None
            t.debrief = await t.desk.finish(at, self.scenario.name, self.timescales, rest)
            t.views, t.answers = {}, {}

        await asyncio.gather(*(debrief(t) for t in ready))
        self.room_debrief = room_debrief(
            self.scenario.name, [t.debrief for t in ready if t.debrief is not None]
        )
        self.state = "ended"
        self.wake.set()
        log.info("room ended", room=self.code, trainees=len(ready))
        # The debriefs are made: the trainees' hubs have nothing left to do.
        hubs = [t.hub for t in self.trainees.values() if t.hub is not None]
        await asyncio.gather(*(h.stop() for h in hubs), return_exceptions=True)

    def _unpublished(self) -> list[Envelope]:
        later = [e for _, events in self.stops[self.index :] for e in events]
        return later + list(self.rest)

    async def close(self) -> None:
        """Stop the run and every trainee's hub (the server is stopping)."""
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.task
        hubs = [t.hub for t in self.trainees.values() if t.hub is not None]
        await asyncio.gather(*(h.stop() for h in hubs), return_exceptions=True)

    # ---- snapshots ---------------------------------------------------------------------
    def room_info(self) -> dict[str, Any]:
        real = time.monotonic()
        now = self.clock.now(real)
        return {
            "code": self.code,
            "scenario": self.scenario.name,
            "description": self.scenario.spec.description,
            "state": self.state,
            "paused_because": self.paused_because,
            "speed": self.speed,
            "max_wait": self.max_wait,
            "running": self.state == "running",
            "event_now": now.isoformat(),
            "event_now_ms": now.timestamp() * 1000,
            "server_ms": time.time() * 1000,
            "next_in_seconds": (self.real_until_next(real) if self.state == "running" else None),
            "stop": self.index,
            "stops": len(self.stops),
            "facilitator_here": self.facilitators > 0,
            "version": self.notifier.version,
        }

    def trainee_state(self, trainee: Trainee) -> dict[str, Any]:
        desk = trainee.desk
        return {
            "room": self.room_info(),
            "name": trainee.name,
            "ready": trainee.ready.is_set(),
            "failed": trainee.failed,
            "open": [
                view | {"answer": trainee.answers.get(key)} for key, view in trainee.views.items()
            ],
            "locked": len(desk.decided) if desk else 0,
            "total": self.total,
            "choices": self.choices,
            "debrief": trainee.debrief is not None,
        }

    def facilitator_state(self) -> dict[str, Any]:
        rows = []
        for t in sorted(self.trainees.values(), key=lambda t: t.name.casefold()):
            desk = t.desk
            decided = [d for d in desk.decided if d.trainee is not None] if desk else []
            rows.append(
                {
                    "name": t.name,
                    "token_hint": t.token[:4],
                    "connected": t.connections > 0,
                    "ready": t.ready.is_set(),
                    "failed": t.failed,
                    "decided": len(decided),
                    "locked": len(desk.decided) if desk else 0,
                    "open": len(t.views),
                    "answered": sum(1 for k in t.views if k in t.answers),
                    "pending": [k for k in t.views if k not in t.answers],
                    "answers": {k: a["words"] for k, a in t.answers.items()},
                    "score": t.debrief["score"] if t.debrief else None,
                }
            )
        step = sorted(self.step_seconds[-200:])
        return {
            "room": self.room_info(),
            "trainees": rows,
            "total": self.total,
            "apply_seconds": {
                "count": len(self.step_seconds),
                "max": round(max(step), 3) if step else None,
                "median": round(step[len(step) // 2], 3) if step else None,
            },
            "debrief": self.room_debrief is not None,
        }


def slice_of(events: Sequence[Envelope], start: datetime, days: float) -> list[Envelope]:
    """A generated year's events in `days` from `start`: a room's worth of contacts."""
    until = start + timedelta(days=days)
    return [e for e in events if start <= e.occurred_at < until]
