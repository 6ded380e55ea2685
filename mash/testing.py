"""What other teams' tests import: a hub on a real Redis that replays scenarios and waits for
events. The pytest plugin (`mash.pytest_plugin`) hands it out as the `mash_hub` fixture.

Each replay runs in a fresh namespace of its own, so tests sharing one Redis never see each
other's streams; `result.namespace` tells which.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import redis
from pydantic import SecretStr

from mash._config.settings import Settings
from mash._replay.driver import ReplayResult, replay
from mash._runtime import logs
from mash._runtime.clients import sync_client
from mash._runtime.keys import Keys
from mash._scenarios.library import resolve
from mash._scenarios.scenario import Scenario, load_scenario
from mash.schemas.events import Event, parse_event

T = TypeVar("T")


REPLAY_TIMEOUT = 600.0  # seconds: the slowest shipped scenario takes a few on a busy machine


def _in_own_loop(coro: Coroutine[Any, Any, T], timeout: float, what: str) -> T:
    """Run a coroutine to completion on a fresh loop in a thread: works from sync tests and
    from inside a running event loop (an async test) alike.

    Waits at most `timeout` seconds, then raises TimeoutError: a hub that cannot finish (a
    Redis gone, a machine overloaded) fails its test instead of hanging the whole suite. The
    thread is a daemon, so a run left behind never keeps the process alive.
    """
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = asyncio.run(coro)
        except BaseException as exc:  # re-raised in the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=target, name="mash-hub", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        msg = f"{what} did not finish within {timeout:.0f}s (is its Redis answering?)"
        raise TimeoutError(msg)
    if "error" in box:
        raise box["error"]
    return box["value"]  # type: ignore[no-any-return]


class MashHub:
    """A hub for tests: `replay` a scenario, then assert on what came out, or `wait_for` an
    event on a stream."""

    def __init__(self, redis_url: str, **settings: Any) -> None:
        self.redis_url = redis_url
        self.settings = settings
        self.namespace: str | None = None
        logs.configure_library()

    def _settings(self, namespace: str) -> Settings:
        return Settings(redis_url=SecretStr(self.redis_url), namespace=namespace, **self.settings)

    async def areplay(
        self, scenario: str | Path | Scenario, *, timeout: float = REPLAY_TIMEOUT, **kwargs: Any
    ) -> ReplayResult:
        """Replay in a fresh namespace; returns decisions, flags, clocks, report, checks.

        `scenario` is a path, or a name from the packaged library ("gemma",
        "clocks/assessment"), as `mash replay` takes. Raises TimeoutError if the replay takes
        more than `timeout` seconds.
        """
        loaded = scenario if isinstance(scenario, Scenario) else load_scenario(resolve(scenario))
        self.namespace = f"test-{uuid.uuid4().hex[:12]}"
        bound = asyncio.timeout(timeout)
        try:
            async with bound:
                result = await replay(loaded, self._settings(self.namespace), **kwargs)
        except TimeoutError:
            if not bound.expired():
                raise
            msg = f"replay of {scenario} did not finish within {timeout:.0f}s"
            raise TimeoutError(msg) from None
        result.namespace = self.namespace
        return result

    def replay(
        self, scenario: str | Path | Scenario, *, timeout: float = REPLAY_TIMEOUT, **kwargs: Any
    ) -> ReplayResult:
        """`areplay` from synchronous code; raises TimeoutError after `timeout` seconds."""
        # The thread's own bound is a backstop, for a replay whose cleanup cannot finish.
        run = self.areplay(scenario, timeout=timeout, **kwargs)
        return _in_own_loop(run, timeout + 30, f"replay of {scenario}")

    def stream(self, name: str, namespace: str | None = None) -> str:
        """The Redis key of a stream of this hub (the last replay's namespace by default);
        shard 0's when the namespace is sharded (`streams` gives them all)."""
        return self.streams(name, namespace)[0]

    def streams(self, name: str, namespace: str | None = None) -> list[str]:
        """Every shard's key of a stream, as many as the namespace's config says."""
        with sync_client(self.redis_url) as client:
            return self._streams(client, name, namespace)

    def _streams(self, client: redis.Redis, name: str, namespace: str | None) -> list[str]:
        chosen = namespace or self.namespace
        if chosen is None:
            raise RuntimeError("no namespace yet: replay a scenario first, or name one")
        shards: Any = client.hget(Keys(chosen).config(), "shards")
        return Keys(chosen, int(shards) if shards else 1).streams(name)

    def events(self, name: str, namespace: str | None = None) -> list[Event]:
        """Every event on a stream: in stream order, or in event time across shards."""
        keys = self.streams(name, namespace)
        events: list[Event] = []
        with sync_client(self.redis_url) as client:
            for key in keys:
                entries: Any = client.xrange(key)
                events.extend(parse_event(fields[b"event"]) for _, fields in entries)
        if len(keys) > 1:
            events.sort(key=lambda e: e.occurred_at)
        return events

    def wait_for(
        self,
        name: str,
        predicate: Callable[[Event], bool] = lambda _event: True,
        *,
        namespace: str | None = None,
        timeout: float = 10.0,
    ) -> Event:
        """The first event on the stream (past or future, any shard) that satisfies
        `predicate`."""
        deadline = time.monotonic() + timeout
        # Every reply within the wait (plus a margin): a Redis that stops answering ends the
        # wait too, instead of blocking the test for ever.
        try:
            with sync_client(self.redis_url, socket_timeout=timeout + 5) as client:
                return self._wait(client, name, predicate, namespace, deadline, timeout)
        except redis.TimeoutError as exc:
            msg = f"Redis did not answer while waiting on {name!r} ({timeout:.1f}s)"
            raise TimeoutError(msg) from exc

    def _wait(
        self,
        client: redis.Redis,
        name: str,
        predicate: Callable[[Event], bool],
        namespace: str | None,
        deadline: float,
        timeout: float,
    ) -> Event:
        last: dict[Any, Any] = dict.fromkeys(self._streams(client, name, namespace), "0-0")
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                msg = f"no matching event on {name!r} within {timeout:.1f}s"
                raise TimeoutError(msg)
            # At most a second per read, well inside the client's socket timeout.
            block = max(1, int(min(remaining, 1.0) * 1000))
            reply: Any = client.xread(last, count=100, block=block)
            for key, entries in reply or ():
                for entry_id, fields in entries:
                    last[key.decode() if isinstance(key, bytes) else key] = entry_id.decode()
                    event = parse_event(fields[b"event"])
                    if predicate(event):
                        return event

    async def await_event(
        self,
        name: str,
        predicate: Callable[[Event], bool] = lambda _event: True,
        *,
        namespace: str | None = None,
        timeout: float = 10.0,
    ) -> Event:
        """`wait_for` for async tests, without blocking their event loop."""
        return await asyncio.to_thread(
            self.wait_for, name, predicate, namespace=namespace, timeout=timeout
        )
