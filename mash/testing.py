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

from pydantic import SecretStr

from mash._config.settings import Settings
from mash._replay.driver import ReplayResult, replay
from mash._runtime.clients import sync_client
from mash._runtime.keys import Keys
from mash._scenarios.scenario import Scenario, load_scenario
from mash.schemas.events import Event, parse_event

T = TypeVar("T")


def _in_own_loop(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion on a fresh loop in a thread: works from sync tests and
    from inside a running event loop (an async test) alike."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = asyncio.run(coro)
        except BaseException as exc:  # re-raised in the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=target, name="mash-hub")
    thread.start()
    thread.join()
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

    def _settings(self, namespace: str) -> Settings:
        return Settings(redis_url=SecretStr(self.redis_url), namespace=namespace, **self.settings)

    async def areplay(self, scenario: str | Path | Scenario, **kwargs: Any) -> ReplayResult:
        """Replay in a fresh namespace; returns decisions, flags, clocks, report, checks."""
        loaded = scenario if isinstance(scenario, Scenario) else load_scenario(Path(scenario))
        self.namespace = f"test-{uuid.uuid4().hex[:12]}"
        result = await replay(loaded, self._settings(self.namespace), **kwargs)
        result.namespace = self.namespace
        return result

    def replay(self, scenario: str | Path | Scenario, **kwargs: Any) -> ReplayResult:
        return _in_own_loop(self.areplay(scenario, **kwargs))

    def stream(self, name: str, namespace: str | None = None) -> str:
        """The Redis key of a stream of this hub (the last replay's namespace by default);
        shard 0's when the namespace is sharded (`streams` gives them all)."""
        return self.streams(name, namespace)[0]

    def streams(self, name: str, namespace: str | None = None) -> list[str]:
        """Every shard's key of a stream, as many as the namespace's config says."""
        chosen = namespace or self.namespace
        if chosen is None:
            raise RuntimeError("no namespace yet: replay a scenario first, or name one")
        with sync_client(self.redis_url) as client:
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
        last = dict.fromkeys(self.streams(name, namespace), "0-0")
        deadline = time.monotonic() + timeout
        with sync_client(self.redis_url) as client:
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    msg = f"no matching event on {name!r} within {timeout:.1f}s"
                    raise TimeoutError(msg)
                reply: Any = client.xread(last, count=100, block=int(remaining * 1000) or 1)
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
