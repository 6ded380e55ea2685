"""`mash worker`: the consumers against a Redis until told to stop."""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from collections.abc import Callable
from typing import Any

import structlog

from mash._bootstrap import build_consumers
from mash._config.settings import Settings, redact_url
from mash._ops.metrics import Metrics
from mash._report.board import files_meta, write_meta
from mash._runtime.hub import Hub
from mash._runtime.shards import ShardSpec
from mash._time.clock import Clock, WallClock, tick
from mash.consumers.cse.scoring import load_scoring
from mash.consumers.screening.thresholds import load_thresholds
from mash.consumers.team.config import load_team
from mash.consumers.timescales.config import load_timescales

log = structlog.get_logger("mash.worker")


async def tick_forever(hub: Hub, clock: Clock, interval: float) -> None:
    """A live hub's watermark: a `clock.tick` every `interval` seconds of wall time.

    Ticks are truncated to the second and named by their instant, so several workers ticking
    at once give each shard one round a second (a watermark it has passed is only acked).
    """
    while True:
        await asyncio.sleep(interval)
        await hub.publish([tick(clock.now().replace(microsecond=0))])


async def wall_or_event(hub: Hub) -> str:
    """The namespace's clock: the one it runs on, else (first worker) the wall clock."""
    if hub.clock is None:
        await hub.redis.hsetnx(hub.keys.config(), "clock", "wall")
        raw: Any = await hub.redis.hget(hub.keys.config(), "clock")
        hub.clock = raw.decode() if raw else "wall"
    return hub.clock


PARENT_PID = "MASH_PARENT_PID"
PARENT_POLL = 0.5  # seconds


async def parent_gone(parent: int, poll: float = PARENT_POLL) -> None:
    """Return once the process that started this worker is gone (we are re-parented).

    A worker of `mash replay --workers N` must not outlive its replay: on Linux the kernel
    signals it (a parent-death signal), elsewhere this watch ends it within `poll` seconds.
    """
    while os.getppid() == parent:
        await asyncio.sleep(poll)


def exit_if_stuck(grace: float) -> threading.Timer:
    """Leave the process, `grace` seconds from now, if it has not left by then.

    A worker told to stop while its Redis is gone can never finish stopping: faststream's read
    loop, cancelled in the middle of reconnecting, waits on a connection that will not come,
    and `asyncio.run` waits for it forever. A worker that lingers holds nothing (its lease
    runs out, its pending entries are reclaimed), so past the grace it exits without further
    cleanup rather than outlive its replay or ignore SIGTERM.
    """

    def leave() -> None:
        log.warning("worker did not stop in time; exiting", grace_s=grace)
        os._exit(1)

    timer = threading.Timer(grace, leave)
    timer.daemon = True
    timer.start()
    return timer


async def run_worker(
    settings: Settings,
    stop_signal: Callable[[], asyncio.Event],
    tick_interval: float = 1.0,
    clock: Clock | None = None,
    *,
    shards: ShardSpec | None = None,
    metrics_port: int | None = None,
    metrics_host: str = "127.0.0.1",
    shutdown_grace: float | None = None,
) -> None:
    """Apply `shards` (all by default) until stopped; raises HubUnavailable if another worker
    takes one of them over. On the wall clock it ticks event time itself; on the event clock
    the watermarks come from whoever publishes (a replay, `mash publish`). With
    `shutdown_grace` (the `mash worker` process), stopping that takes longer than it, however
    the worker stops, ends the process (`exit_if_stuck`)."""
    try:
        await _apply_until_stopped(
            settings,
            stop_signal,
            tick_interval,
            clock,
            shards=shards,
            metrics_port=metrics_port,
            metrics_host=metrics_host,
        )
    finally:
        if shutdown_grace is not None:
            exit_if_stuck(shutdown_grace)


async def _apply_until_stopped(
    settings: Settings,
    stop_signal: Callable[[], asyncio.Event],
    tick_interval: float,
    clock: Clock | None,
    *,
    shards: ShardSpec | None,
    metrics_port: int | None,
    metrics_host: str,
) -> None:
    thresholds = load_thresholds(settings.thresholds)
    timescales = load_timescales(settings.timescales)
    scoring = load_scoring(settings.scoring)
    decide = settings.screening == "auto"
    stop = stop_signal()
    wall = clock or WallClock()
    team = load_team(settings.team) if settings.team else None
    consumers = build_consumers(thresholds, timescales, scoring, decide=decide, team=team)
    async with Hub(settings, consumers, shards=shards) as hub, contextlib.AsyncExitStack() as stack:
        if metrics_port is not None:
            await stack.enter_async_context(Metrics(hub, metrics_port, metrics_host))
        mode = await wall_or_event(hub)
        await write_meta(
            hub.redis,
            hub.keys,
            files_meta(thresholds.name, timescales.name, scoring.name, team.name if team else None),
        )
        if mode == "wall":  # the first watermark is part of starting up
            await hub.publish([tick(wall.now().replace(microsecond=0))])
        log.info(
            "worker started",
            redis=redact_url(hub.url),
            namespace=settings.namespace,
            consumer=hub.name,
            consumers=[c.name for c in hub.consumers],
            thresholds=thresholds.name,
            clock=mode,
            shards=hub.owned,
            of=hub.keys.shards,
        )
        tasks: list[asyncio.Task[Any]] = [
            asyncio.create_task(stop.wait()),
            asyncio.create_task(_until_failed(hub)),
        ]
        parent = os.environ.get(PARENT_PID, "")
        if parent.isdigit():
            tasks.append(asyncio.create_task(parent_gone(int(parent))))
        if mode == "wall":
            tasks.append(asyncio.create_task(tick_forever(hub, wall, tick_interval)))
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        for task in done:
            failure = None if task.cancelled() else task.exception()
            if failure is not None:
                raise failure
        log.info("worker stopping", parent_gone=not stop.is_set() and bool(parent))


async def _until_failed(hub: Hub) -> None:
    """Returns never; raises HubUnavailable once the hub stops applying (its shard moved)."""
    while True:
        hub.check()
        await asyncio.sleep(0.2)
