"""`mash worker`: the consumers against a Redis until told to stop."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

import structlog

from consumers.cse.scoring import load_scoring
from consumers.screening.thresholds import load_thresholds
from consumers.timescales.config import load_timescales
from mash.clock import Clock, WallClock
from mash.hub import Hub
from mash.replay import build_consumers, tick
from mash.settings import Settings, redact_url

log = structlog.get_logger("mash.worker")


async def tick_forever(hub: Hub, clock: Clock, interval: float) -> None:
    """Live mode's watermark: a `clock.tick` every `interval` seconds of wall time.

    Ticks are truncated to the second and named by their instant, so several workers ticking
    at once produce one applied tick each second (consumers dedupe on `event_id`).
    """
    while True:
        await asyncio.sleep(interval)
        await hub.publish([tick(clock.now().replace(microsecond=0))])


async def run_worker(
    settings: Settings,
    stop_signal: Callable[[], asyncio.Event],
    tick_interval: float = 1.0,
    clock: Clock | None = None,
) -> None:
    thresholds = load_thresholds(settings.thresholds)
    timescales = load_timescales(settings.timescales)
    scoring = load_scoring(settings.scoring)
    decide = settings.screening == "auto"
    stop = stop_signal()
    wall = clock or WallClock()
    async with Hub(
        settings, build_consumers(thresholds, timescales, scoring, decide=decide)
    ) as hub:
        if tick_interval > 0:  # the first watermark is part of starting up
            await hub.publish([tick(wall.now().replace(microsecond=0))])
        log.info(
            "worker started",
            redis=redact_url(hub.url),
            namespace=settings.namespace,
            consumer=hub.name,
            consumers=[c.name for c in hub.consumers],
            thresholds=thresholds.name,
        )
        ticker = (
            asyncio.create_task(tick_forever(hub, wall, tick_interval))
            if tick_interval > 0
            else None
        )
        await stop.wait()
        log.info("worker stopping")
        if ticker is not None:
            ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticker
