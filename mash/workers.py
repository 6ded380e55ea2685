"""`mash worker`: the consumers against a Redis until told to stop."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import structlog

from consumers.screening.thresholds import load_thresholds
from mash.hub import Hub
from mash.replay import build_consumers
from mash.settings import Settings, redact_url

log = structlog.get_logger("mash.worker")


async def run_worker(settings: Settings, stop_signal: Callable[[], asyncio.Event]) -> None:
    thresholds = load_thresholds(settings.thresholds)
    stop = stop_signal()
    async with Hub(settings, build_consumers(thresholds)) as hub:
        log.info(
            "worker started",
            redis=redact_url(hub.url),
            namespace=settings.namespace,
            consumer=hub.name,
            consumers=[c.name for c in hub.consumers],
            thresholds=thresholds.name,
        )
        await stop.wait()
        log.info("worker stopping")
