"""Serving the training room: a socket bound first (so a port in use is one line, not a
traceback), uvicorn on it, and mash's own signal handling, so Ctrl-C and SIGTERM close every
page's stream, stop each trainee's hub and the embedded Redis, and exit cleanly."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
from collections.abc import Callable, Iterator

import uvicorn

from mash._config.settings import redact_url
from mash._room.app import Venue, build_app
from mash._runtime.clients import open_client
from mash.errors import HubUnavailable, MashError


class _Server(uvicorn.Server):
    """uvicorn, without its own signal handlers: mash's stop the room (see `serve_room`)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def bind(host: str, port: int) -> socket.socket:
    """The room's listening socket; a mistake (a port in use, a host not ours) is one line."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        why = exc.strerror or str(exc)
        raise MashError(f"cannot listen on {host}:{port}: {why} (choose another --port)") from exc
    except (OverflowError, socket.gaierror) as exc:
        sock.close()
        raise MashError(f"cannot listen on {host}:{port}: {exc}") from exc
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


async def check_redis(url: str) -> None:
    """A given Redis must answer before the room opens: one line if it does not."""
    try:
        client, _ = await open_client(url)
        await client.aclose()
    except Exception as exc:
        why = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise HubUnavailable(f"cannot reach Redis at {redact_url(url)}: {why}") from exc


async def serve_room(venue: Venue, host: str, port: int, announce: Callable[[str], None]) -> None:
    """Serve the room until SIGINT or SIGTERM."""
    sock = bind(host, port)
    try:
        if venue.redis_url is not None:
            await check_redis(venue.redis_url)
        await venue.start()
        config = uvicorn.Config(
            build_app(venue),
            log_config=None,
            access_log=False,  # paths carry trainees' tokens and the facilitator's key
            log_level="warning",
            lifespan="off",
            timeout_graceful_shutdown=3,
        )
        server = _Server(config)
        loop = asyncio.get_running_loop()

        def stop() -> None:
            venue.closing = True
            venue.notifier.bump()
            server.should_exit = True

        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop)
        shown = f"[{host}]" if ":" in host else host
        announce(f"http://{shown}:{sock.getsockname()[1]}")
        await server.serve(sockets=[sock])
    finally:
        sock.close()
        await venue.stop()
