"""`mash publish`: JSONL, a scenario or a generated year into a hub's streams, on event time.

A hub fed historical events runs on the event clock: with the events goes a watermark after
each step (and at the run's end), so the workers' clocks run on the file's time, not the wall
clock's. Paced (`--speed`), each instant's events are followed by its watermark; flat out, the
steps are as large as a replay's, and the publisher stays a couple of steps ahead of what the
workers have applied, when workers are applying. Into a namespace that runs on the wall clock
the events go without watermarks: its workers tick it themselves.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterable, Iterator
from datetime import datetime
from itertools import groupby
from pathlib import Path
from typing import Any

import structlog
from pydantic import ValidationError

from mash._config.settings import Settings
from mash._config.yamlfile import describe, dotted
from mash._replay.steps import watermarked
from mash._report.board import generated_meta, scenario_meta, write_meta
from mash._runtime.hub import Hub
from mash._scenarios.generated import has_header, open_generated
from mash._scenarios.scenario import load_scenario
from mash._time.clock import tick
from mash.errors import HubUnavailable, ScenarioError
from mash.schemas.events import Envelope, parse_event

log = structlog.get_logger("mash.publish")

AHEAD = 2  # steps published beyond what the workers have applied


def read_jsonl(name: str, lines: Iterable[bytes]) -> Iterator[Envelope]:
    """Events of a JSONL file, each line checked; every mistake names the file and line.

    Lines are decoded here rather than by a text stream, so a binary or wrongly encoded file
    is an error at the line that holds the bad byte, not a traceback from deep in the reader.
    """
    number = 0
    try:
        for number, raw in enumerate(lines, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                why = f"not UTF-8 text (byte 0x{raw[exc.start]:02x}): is it the file you meant?"
                raise ScenarioError(name, number, "", why) from exc
            if not line.strip():
                continue
            try:
                event = parse_event(line)
            except ValidationError as exc:
                loc, message = describe(exc)
                loc = loc[1:] if loc and isinstance(loc[0], str) and "." in loc[0] else loc
                raise ScenarioError(name, number, dotted(loc), message) from exc
            yield event
    except OSError as exc:
        raise ScenarioError(name, number + 1, "", f"cannot read on ({exc.strerror})") from exc


class Source:
    """Events to publish, the instant the run ends at (None: its last event's), and what a
    report should say of the run (a scenario's name and period)."""

    def __init__(
        self,
        events: Iterator[Envelope],
        end: datetime | None = None,
        meta: dict[str, Any] | None = None,
    ) -> None:
        self.events = events
        self.end = end
        self.meta = meta or {}
        self.last: datetime | None = None

    def __iter__(self) -> Iterator[Envelope]:
        for event in self.events:
            self.last = event.occurred_at
            yield event


def _generated(path: Path) -> Iterator[Envelope]:
    with open_generated(path) as (_header, events):
        yield from events


def source_of(name: str) -> Source:
    if name == "-":
        return Source(read_jsonl("<stdin>", sys.stdin.buffer))
    path = Path(name)
    if has_header(path):
        with open_generated(path) as (header, _events):
            pass
        return Source(_generated(path), header.end, generated_meta(header))
    if path.suffix in {".yaml", ".yml"}:
        scenario = load_scenario(path)
        return Source(iter(scenario.events), scenario.end, scenario_meta(scenario))
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise ScenarioError(name, None, "", f"cannot read ({exc.strerror})") from exc
    return Source(read_jsonl(name, handle))


async def _event_clock(hub: Hub) -> bool:
    """Whether the namespace runs on the event clock (and so takes watermarks from here): it
    does unless its workers tick the wall clock."""
    key = hub.keys.config()
    await hub.redis.hsetnx(key, "clock", "event")
    raw: Any = await hub.redis.hget(key, "clock")
    return raw is None or raw.decode() == "event"


async def _applying(hub: Hub) -> bool:
    """Whether workers hold every shard now (then the publisher waits for them)."""
    holders = [await hub.redis.exists(hub.keys.lease(s)) for s in range(hub.keys.shards)]
    return all(holders)


async def publish_source(source_name: str, settings: Settings, speed: float) -> int:
    source = source_of(source_name)
    async with Hub(settings, []) as hub:
        if source.meta:
            await write_meta(hub.redis, hub.keys, source.meta)
        if not await _event_clock(hub):
            log.warning(
                "the namespace runs on the wall clock: publishing without watermarks",
                namespace=settings.namespace,
            )
            return await hub.publish(source)
        if speed > 0:
            return await _paced(hub, source, speed)
        return await _flat_out(hub, source)


async def _paced(hub: Hub, source: Source, speed: float) -> int:
    """Each instant's events and its watermark, `speed` seconds of event time a second."""
    count = 0
    previous: datetime | None = None
    for instant, group in groupby(source, key=lambda e: e.occurred_at):
        if previous is not None:
            gap = (instant - previous).total_seconds() / speed
            if gap > 0:
                await asyncio.sleep(gap)
        previous = instant
        count += await hub.publish([*group, tick(instant)])
        count -= 1  # the watermark is not one of the file's events
    end = source.end
    if end is not None and (previous is None or end > previous):
        await hub.publish([tick(end)])
    return count


async def _flat_out(hub: Hub, source: Source) -> int:
    """Steps with watermarks, as fast as the workers apply them (or at once, with none)."""
    count = 0
    behind: list[datetime] = []
    waiting = await _applying(hub)
    last_event: datetime | None = None
    for step in watermarked(source, None):  # the end's watermark: below, once it is known
        await hub.publish([*step.events, tick(step.watermark)])
        count += len(step.events)
        last_event = step.watermark
        behind.append(step.watermark)
        if waiting and len(behind) > AHEAD:
            try:
                await hub.drain(behind.pop(0), timeout=300)
            except TimeoutError as exc:
                raise HubUnavailable(f"the workers stopped applying: {exc}") from exc
    end = source.end
    if end is not None and (last_event is None or end > last_event):
        await hub.publish([tick(end)])
    return count
