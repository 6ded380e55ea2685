"""The training room's web app (Starlette): pages, a JSON API, and server-sent events.

Three kinds of page: the join page (`/`: a room code and a name), the facilitator's
(`/f/<key>`: the key is printed by `mash room` and is the only way in) and each trainee's
(`/t/<token>`: their own link; opening it again is rejoining, answers kept). Each page holds
one event stream (`.../events`) that sends the page's whole snapshot whenever anything it
shows changes; actions are small JSON POSTs. The HTML is written here, with a little vanilla
JavaScript and no build step, and nothing is fetched from anywhere else.

Nothing a trainee types, and no child's identifier, is logged: uvicorn's access log is off
(paths carry tokens), and the room logs counts only.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import structlog
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import (
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import Route

from mash._config.settings import Settings
from mash._room import pages
from mash._room.room import Notifier, Room, RoomError, Trainee
from mash._runtime.embedded_redis import EmbeddedRedis
from mash._scenarios.library import library
from mash._scenarios.scenario import Scenario, load_scenario
from mash._training.debrief import room_html, room_markdown, to_html, to_markdown
from mash.errors import MashError
from mash.schemas.events import ContactReceived

log = structlog.get_logger("mash.room")
HEARTBEAT = 15.0  # seconds between keep-alive comments on a quiet event stream
GENERATED = "generated"  # the scenario choice that cuts a slice of a generated year


class Venue:
    """The server's one room at a time, its Redis, and the facilitator's key."""

    def __init__(
        self,
        settings: Settings,
        *,
        redis_url: str | None,
        key: str | None = None,
        thresholds: Path | None = None,
        scenario: Scenario | None = None,
        speed: float = 60.0,
        max_wait: float = 120.0,
    ) -> None:
        self.settings = settings
        self.redis_url = redis_url
        self.key = key or secrets.token_urlsafe(9)
        self.thresholds = thresholds
        self.preset = scenario  # given on the command line: the facilitator's first choice
        self.speed = speed
        self.max_wait = max_wait
        self.notifier = Notifier()
        self.room: Room | None = None
        self.rooms: list[Room] = []
        self.embedded: EmbeddedRedis | None = None
        self.closing = False

    async def start(self) -> None:
        if self.redis_url is None:
            self.embedded = await asyncio.to_thread(EmbeddedRedis().start)
            self.redis_url = self.embedded.url

    async def stop(self) -> None:
        self.closing = True
        self.notifier.bump()
        await asyncio.gather(*(r.close() for r in self.rooms), return_exceptions=True)
        if self.embedded is not None:
            embedded, self.embedded = self.embedded, None
            await asyncio.to_thread(embedded.stop)

    def scenarios(self) -> list[dict[str, str]]:
        listed = [{"name": s.name, "summary": s.summary} for s in library().values()]
        if self.preset is not None:
            listed.insert(0, {"name": self.preset.name, "summary": "given to mash room"})
        return [*listed, {"name": GENERATED, "summary": "a slice of a generated year"}]

    async def open(self, body: dict[str, Any]) -> Room:
        if self.room is not None and self.room.state != "ended":
            raise RoomError(409, "a room is already open: end it first")
        name = str(body.get("scenario") or (self.preset.name if self.preset else ""))
        try:
            speed = float(body.get("speed", self.speed))
            max_wait = float(body.get("max_wait", self.max_wait))
        except (TypeError, ValueError) as exc:
            raise RoomError(400, "speed and max_wait are numbers") from exc
        if not (0 < speed <= 10_000_000) or not (1 <= max_wait <= 86_400):
            raise RoomError(400, "speed is above 0; max_wait is 1 to 86400 real seconds")
        scenario = await self._scenario(name, body)
        assert self.redis_url is not None
        try:
            room = Room(
                redis_url=self.redis_url,
                scenario=scenario,
                speed=speed,
                max_wait=max_wait,
                settings=self.settings,
                thresholds_override=self.thresholds,
                notifier=self.notifier,
            )
        except MashError as exc:
            raise RoomError(400, str(exc)) from exc
        self.room = room
        self.rooms.append(room)
        log.info("room opened", room=room.code, contacts=room.total)
        self.notifier.bump()
        return room

    async def _scenario(self, name: str, body: dict[str, Any]) -> Scenario:
        if self.preset is not None and name == self.preset.name:
            return self.preset
        if name == GENERATED:
            return await asyncio.to_thread(generated_slice, body)
        found = library().get(name)
        if found is None:
            raise RoomError(404, f"no scenario {name!r} in the library (see `mash scenarios`)")
        try:
            return load_scenario(found.path)
        except MashError as exc:
            raise RoomError(400, str(exc)) from exc

    def current(self, code: str | None = None) -> Room:
        room = self.room
        if room is None or (code is not None and code.strip().upper() != room.code):
            shown = (code or "").strip()
            raise RoomError(404, f"no room has the code {shown!r}: check it with the facilitator")
        return room

    def trainee(self, token: str) -> tuple[Room, Trainee]:
        for room in reversed(self.rooms):
            if token in room.trainees:
                return room, room.trainees[token]
        raise RoomError(404, "no such trainee: join again with the room code")

    def check_key(self, key: str) -> None:
        if not secrets.compare_digest(key.encode(), self.key.encode()):
            raise RoomError(404, "no such page")

    def facilitator_state(self, base: str) -> dict[str, Any]:
        room = self.room
        return {
            "scenarios": self.scenarios(),
            "defaults": {"speed": self.speed, "max_wait": self.max_wait},
            "join_url": base,
            "room": room.facilitator_state() if room else None,
        }


def generated_slice(body: dict[str, Any]) -> Scenario:
    """A few days of a generated borough's year, as a scenario: its contacts to screen."""
    from mash._generator.generate import PRESETS, Generator  # noqa: PLC0415
    from mash._room.room import slice_of  # noqa: PLC0415
    from mash._scenarios.generated import open_generated  # noqa: PLC0415

    try:
        preset = PRESETS[str(body.get("preset", "borough-2013-14"))]
        seed = int(body.get("seed", 1))
        scale = float(body.get("scale", 0.25))
        days = float(body.get("days", 2))
    except (KeyError, TypeError, ValueError) as exc:
        raise RoomError(400, f"a generated slice needs a preset of {sorted(PRESETS)}") from exc
    if not (0 < scale <= 1) or not (0 < days <= 31):
        raise RoomError(400, "a generated slice: scale above 0 and at most 1, 1 to 31 days")
    with tempfile.TemporaryDirectory(prefix="mash-room-") as folder:
        path = Path(folder) / "year.jsonl"
        generator = Generator(preset, seed=seed, scale=scale)
        generator.write(path)
        with open_generated(path) as (header, events):
            listed = list(events)
    start = generator.start  # the year's first day; before it, the plans already open
    run_in = [e for e in listed if e.occurred_at < start and not isinstance(e, ContactReceived)]
    # `days` from the first contact of the year (1 April may be a bank holiday, with none).
    first = next(
        (
            e.occurred_at
            for e in listed
            if isinstance(e, ContactReceived) and e.occurred_at >= start
        ),
        start,
    )
    window = days + (first - start).total_seconds() / 86400
    chosen: list[Any] = run_in + slice_of(listed, start, window)
    end = start + timedelta(days=window)  # a last watermark: the slice's late clocks breach
    name = f"{preset.name}-seed{seed}-{days:g}d"
    return Scenario.from_events(name, chosen, end, description=f"{days:g} days of {header.name}")


# ---- the web app -------------------------------------------------------------------------


def build_app(venue: Venue) -> Starlette:
    """The room's ASGI app. The venue is started and stopped by whoever serves it
    (`mash._room.server`), outside the app, so a Redis that cannot be reached is one line."""

    def refused(exc: RoomError) -> JSONResponse:
        return JSONResponse({"error": exc.message}, status_code=exc.status)

    def guarded(
        handler: Callable[[Request], Awaitable[Response]],
    ) -> Callable[[Request], Awaitable[Response]]:
        async def run(request: Request) -> Response:
            try:
                return await handler(request)
            except RoomError as exc:
                if request.url.path.startswith("/api/"):
                    return refused(exc)
                return HTMLResponse(pages.error_page(exc.message), status_code=exc.status)

        return run

    async def body_of(request: Request) -> dict[str, Any]:
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise RoomError(400, "the request body is not JSON") from exc
        if not isinstance(body, dict):
            raise RoomError(400, "the request body is a JSON object")
        return body

    def base_url(request: Request) -> str:
        return str(request.base_url)

    # -- pages
    async def join_page(request: Request) -> Response:
        return HTMLResponse(pages.join_page())

    async def facilitator_page(request: Request) -> Response:
        venue.check_key(request.path_params["key"])
        return HTMLResponse(pages.facilitator_page(request.path_params["key"]))

    async def trainee_page(request: Request) -> Response:
        venue.trainee(request.path_params["token"])
        return HTMLResponse(pages.trainee_page(request.path_params["token"]))

    async def asset(request: Request) -> Response:
        name = request.path_params["name"]
        found = pages.ASSETS.get(name)
        if found is None:
            raise RoomError(404, "no such file")
        return Response(found[1], media_type=found[0])

    # -- the facilitator's API
    async def f_state(request: Request) -> Response:
        venue.check_key(request.path_params["key"])
        return JSONResponse(venue.facilitator_state(base_url(request)))

    async def f_action(request: Request) -> Response:
        venue.check_key(request.path_params["key"])
        action = request.path_params["action"]
        if action == "open":
            room = await venue.open(await body_of(request))
            return JSONResponse({"code": room.code})
        room = venue.current()
        acts: dict[str, Callable[[], Awaitable[None]]] = {
            "start": room.start,
            "pause": room.pause,
            "resume": room.resume,
            "skip": room.skip,
            "end": room.end,
        }
        if action not in acts:
            raise RoomError(404, f"no action {action!r}")
        await acts[action]()
        return JSONResponse({"state": room.state})

    async def f_events(request: Request) -> Response:
        venue.check_key(request.path_params["key"])
        base = base_url(request)
        watched: list[Room] = []

        def opened() -> None:
            if venue.room is not None:
                watched.append(venue.room)
                venue.room.facilitator_connected(+1)

        def closed() -> None:
            for room in watched:
                room.facilitator_connected(-1)

        def snapshot() -> dict[str, Any]:
            # A room opened while this page watched: it counts as the facilitator's from now.
            if venue.room is not None and venue.room not in watched:
                watched.append(venue.room)
                venue.room.facilitator_connected(+1)
            return venue.facilitator_state(base)

        return stream(snapshot, opened, closed)

    async def f_debrief(request: Request) -> Response:
        venue.check_key(request.path_params["key"])
        room = venue.current()
        if room.room_debrief is None:
            raise RoomError(409, "the debrief is ready when the room has ended")
        fmt = request.path_params.get("fmt", "html")
        if fmt == "md":
            return PlainTextResponse(room_markdown(room.room_debrief), media_type="text/markdown")
        if fmt == "json":
            return JSONResponse(room.room_debrief)
        return HTMLResponse(room_html(room.room_debrief))

    async def f_trainee_debrief(request: Request) -> Response:
        venue.check_key(request.path_params["key"])
        room = venue.current()
        name = request.path_params["name"]
        found = next((t for t in room.trainees.values() if t.name == name), None)
        if found is None or found.debrief is None:
            raise RoomError(404, f"no debrief for {name!r}")
        return debrief_response(found.debrief, request.path_params.get("fmt", "html"))

    # -- trainees
    async def join(request: Request) -> Response:
        body = await body_of(request)
        room = venue.current(str(body.get("code", "")))
        trainee = await room.join(str(body.get("code", "")), str(body.get("name", "")))
        return JSONResponse({"token": trainee.token, "url": f"/t/{trainee.token}"})

    async def t_state(request: Request) -> Response:
        room, trainee = venue.trainee(request.path_params["token"])
        return JSONResponse(room.trainee_state(trainee))

    async def t_answer(request: Request) -> Response:
        room, _ = venue.trainee(request.path_params["token"])
        saved = await room.answer(request.path_params["token"], await body_of(request))
        return JSONResponse({"answer": saved})

    async def t_events(request: Request) -> Response:
        room, trainee = venue.trainee(request.path_params["token"])

        def opened() -> None:
            room.connect(trainee, +1)

        def closed() -> None:
            room.connect(trainee, -1)
            room.bump()

        return stream(lambda: room.trainee_state(trainee), opened, closed)

    async def t_debrief(request: Request) -> Response:
        _, trainee = venue.trainee(request.path_params["token"])
        if trainee.debrief is None:
            raise RoomError(409, "your debrief is ready when the room has ended")
        return debrief_response(trainee.debrief, request.path_params.get("fmt", "html"))

    def debrief_response(debrief: dict[str, Any], fmt: str) -> Response:
        if fmt == "md":
            return PlainTextResponse(to_markdown(debrief), media_type="text/markdown")
        if fmt == "json":
            return JSONResponse(debrief)
        return HTMLResponse(to_html(debrief))

    def stream(
        snapshot: Callable[[], dict[str, Any]],
        opened: Callable[[], None],
        closed: Callable[[], None],
    ) -> StreamingResponse:
        async def events() -> AsyncIterator[str]:
            opened()
            venue.notifier.bump()
            try:
                seen = -1
                while not venue.closing:
                    now = venue.notifier.version
                    if now != seen:
                        seen = now
                        yield f"data: {json.dumps(snapshot(), default=_iso)}\n\n"
                    else:
                        yield ": still here\n\n"
                    await venue.notifier.wait(seen, HEARTBEAT)
            finally:
                closed()

        return StreamingResponse(
            events(),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    async def no_icon(request: Request) -> Response:
        return Response(status_code=204)  # the debrief pages ask; the room has no icon

    routes = [
        Route("/", guarded(join_page)),
        Route("/favicon.ico", no_icon),
        Route("/assets/{name}", guarded(asset)),
        Route("/f/{key}", guarded(facilitator_page)),
        Route("/f/{key}/debrief", guarded(f_debrief)),
        Route("/f/{key}/debrief.{fmt}", guarded(f_debrief)),
        Route("/f/{key}/debrief/{name}.{fmt}", guarded(f_trainee_debrief)),
        Route("/t/{token}", guarded(trainee_page)),
        Route("/t/{token}/debrief", guarded(t_debrief)),
        Route("/t/{token}/debrief.{fmt}", guarded(t_debrief)),
        Route("/api/join", guarded(join), methods=["POST"]),
        Route("/api/f/{key}/state", guarded(f_state)),
        Route("/api/f/{key}/events", guarded(f_events)),
        Route("/api/f/{key}/{action}", guarded(f_action), methods=["POST"]),
        Route("/api/t/{token}/state", guarded(t_state)),
        Route("/api/t/{token}/events", guarded(t_events)),
        Route("/api/t/{token}/answer", guarded(t_answer), methods=["POST"]),
    ]
    return Starlette(routes=routes)


def _iso(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(type(value).__name__)
