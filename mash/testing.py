"""What other teams' tests import: a hub on a real Redis that replays scenarios and waits for
events, and a driver that steps one through event time. The pytest plugin
(`mash.pytest_plugin`) hands them out as the `mash_hub` and `mash_driver` fixtures.

Each replay runs in a fresh namespace of its own, so tests sharing one Redis never see each
other's streams; `result.namespace` tells which.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import time
import uuid
from collections.abc import Callable, Coroutine, Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import redis
from pydantic import SecretStr

from mash._bootstrap import build_consumers
from mash._config.settings import Settings
from mash._replay.driver import ReplayResult, replay
from mash._runtime import logs
from mash._runtime.clients import sync_client
from mash._runtime.hub import Hub
from mash._runtime.keys import Keys
from mash._scenarios.library import resolve
from mash._scenarios.scenario import Scenario, load_scenario
from mash._time.clock import tick
from mash.consumers.cse.scoring import load_scoring
from mash.consumers.screening.thresholds import load_thresholds
from mash.consumers.timescales.config import load_timescales
from mash.schemas.events import STREAMS, Envelope, Event, parse_event, parse_event_data

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

    def driver(self, **options: Any) -> Driver:
        """A step-by-step driver on this hub's Redis (`with mash_hub.driver() as hub:`)."""
        return Driver(self.redis_url, **options)

    def adriver(self, **options: Any) -> AsyncDriver:
        """The same, for async tests (`async with mash_hub.adriver() as hub:`)."""
        return AsyncDriver(self.redis_url, **options)

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


# ---- a step-by-step test driver ---------------------------------------------------------------
EventLike = Envelope | Mapping[str, Any]


def _as_event(item: EventLike) -> Envelope:
    if isinstance(item, Envelope):
        return item
    return parse_event_data(dict(item))


class AsyncDriver:
    """A hub on a real Redis that a test steps through event time, in the spirit of Kafka
    Streams' TopologyTestDriver: `pipe` events in, `advance` event time, `read` or `take` what
    a stream holds. Each call returns once the hub has applied everything due by then, and
    everything that caused in any consumer.

    `async with AsyncDriver(url) as hub:`; the namespace is fresh unless one is given. The
    hub runs in this process, on the event clock, with the default thresholds, timescales and
    scoring files unless others are given; `screening="manual"` leaves decisions to the test
    (a contact's referral-decision clock then runs until one is piped in).
    """

    def __init__(
        self,
        redis_url: str,
        *,
        namespace: str | None = None,
        thresholds: Path | None = None,
        timescales: Path | None = None,
        scoring: Path | None = None,
        screening: str = "auto",
        timeout: float = 30.0,
    ) -> None:
        self.redis_url = redis_url
        self.namespace = namespace or f"drive-{uuid.uuid4().hex[:12]}"
        self.timeout = timeout
        base = Settings(redis_url=SecretStr(redis_url))
        self.settings = Settings(
            redis_url=SecretStr(redis_url),
            namespace=self.namespace,
            clock="event",
            screening="manual" if screening == "manual" else "auto",
            thresholds=thresholds or base.thresholds,
            timescales=timescales or base.timescales,
            scoring=scoring or base.scoring,
        )
        self.now: datetime | None = None  # the last instant the hub has applied
        self._hub: Hub | None = None
        self._taken: dict[str, int] = {}

    async def __aenter__(self) -> AsyncDriver:
        consumers = build_consumers(
            load_thresholds(self.settings.thresholds),
            load_timescales(self.settings.timescales),
            load_scoring(self.settings.scoring),
            decide=self.settings.screening == "auto",
        )
        self._hub = await Hub(self.settings, consumers).start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._hub is not None:
            hub, self._hub = self._hub, None
            await hub.stop()

    @property
    def hub(self) -> Hub:
        if self._hub is None:
            raise RuntimeError("the driver is not running: use it as `async with`")
        return self._hub

    async def pipe(self, *events: EventLike) -> None:
        """Publish events (none before `now`), then a watermark at the latest of them."""
        parsed = [_as_event(e) for e in events]
        if not parsed:
            return
        latest = max(e.occurred_at for e in parsed)
        early = [e for e in parsed if self.now is not None and e.occurred_at < self.now]
        if early:
            msg = (
                f"{early[0].event_id} is at {early[0].occurred_at.isoformat()}, before the "
                f"driver's time {self.now.isoformat() if self.now else ''}: event time only "
                "moves forward"
            )
            raise ValueError(msg)
        await self.hub.publish(sorted(parsed, key=lambda e: e.occurred_at))
        await self.advance(latest)

    async def advance(self, to: datetime | timedelta) -> None:
        """Move event time to an instant (or by a duration): whatever falls due by then is
        applied (clocks breach, CSE windows close) before this returns."""
        if isinstance(to, timedelta):
            if self.now is None:
                raise ValueError("advance by a duration needs a time: pipe an event first")
            to = self.now + to
        if to.tzinfo is None:
            raise ValueError("give an instant with a timezone (event time is unambiguous)")
        if self.now is not None and to < self.now:
            raise ValueError(f"cannot go back from {self.now.isoformat()} to {to.isoformat()}")
        await self.hub.publish([tick(to)])
        await self.hub.drain(to, timeout=self.timeout)
        self.now = to

    async def read(self, stream: str) -> list[Event]:
        """Everything a stream holds now, in order (in event time across shards)."""
        if stream not in STREAMS:
            raise ValueError(f"unknown stream {stream!r}: one of {', '.join(STREAMS)}")
        return await self.hub.read(stream)

    async def take(self, stream: str) -> list[Event]:
        """What arrived on a stream since the last `take` of it (TestOutputTopic's read)."""
        events = await self.read(stream)
        seen = self._taken.get(stream, 0)
        self._taken[stream] = len(events)
        return events[seen:]


class Driver:
    """`AsyncDriver` for synchronous tests: the same calls, without `await`, on a loop of its
    own in a thread. `with Driver(url) as hub: hub.pipe(contact); hub.advance(timedelta(1))`."""

    def __init__(self, redis_url: str, **options: Any) -> None:
        self._driver = AsyncDriver(redis_url, **options)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self.timeout = self._driver.timeout + 30

    @property
    def namespace(self) -> str:
        return self._driver.namespace

    @property
    def now(self) -> datetime | None:
        return self._driver.now

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        if self._loop is None:
            coro.close()
            raise RuntimeError("the driver is not running: use it as `with`")
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return future.result(timeout=self.timeout)
        except concurrent.futures.TimeoutError as exc:
            future.cancel()
            raise TimeoutError(f"the hub did not answer within {self.timeout:.0f}s") from exc

    def __enter__(self) -> Driver:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="mash-driver")
        self._thread.start()
        try:
            self._call(self._driver.__aenter__())
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        try:
            self._call(self._driver.__aexit__())
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=10)
            loop.close()
            self._loop = self._thread = None

    def pipe(self, *events: EventLike) -> None:
        self._call(self._driver.pipe(*events))

    def advance(self, to: datetime | timedelta) -> None:
        self._call(self._driver.advance(to))

    def read(self, stream: str) -> list[Event]:
        return self._call(self._driver.read(stream))

    def take(self, stream: str) -> list[Event]:
        return self._call(self._driver.take(stream))
