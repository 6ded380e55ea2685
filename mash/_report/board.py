"""Reading the reporter's aggregates out of Redis: the I/O edge of every report.

A board report at an instant is one HGETALL of the tallies (plus the run's metadata and the
latest clock tick), so it costs the same halfway through a live run as at its end. The CIN
return reads every child's record, once, when it is asked for.
"""

from __future__ import annotations

import json
from datetime import datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, Any

import redis.asyncio as aioredis

from mash._config.settings import DEFAULT_LEA, Settings
from mash._report.figures import figures
from mash._report.indicators import fill_indicators
from mash._report.performance import Benchmarks
from mash._runtime.keys import Keys
from mash._runtime.reader import HubReader
from mash._time.calendar import LONDON
from mash.consumers import reporter
from mash.consumers.reporter.rules import ChildRecord
from mash.errors import MashError
from mash.schemas.events import ClockTick, parse_event

if TYPE_CHECKING:  # each format's own modules are imported by the function that writes it
    from mash._report.annex_a import AnnexList
    from mash._report.chronology import Entry
    from mash._report.cin import Census
    from mash._scenarios.generated import GeneratedHeader
    from mash._scenarios.scenario import Scenario


class ReportError(MashError):
    """Nothing to report on: a namespace no run has written."""


async def read_tallies(redis: aioredis.Redis, keys: Keys) -> dict[str, int]:
    raw: Any = await redis.hgetall(keys.tallies(reporter.NAME))
    return {k.decode(): int(v) for k, v in raw.items()}


async def read_records(redis: aioredis.Redis, keys: Keys) -> dict[str, ChildRecord]:
    records: dict[str, ChildRecord] = {}
    async for child, raw in redis.hscan_iter(keys.state(reporter.NAME), count=1000):
        records[child.decode()] = ChildRecord.model_validate_json(raw)
    return records


async def write_meta(redis: aioredis.Redis, keys: Keys, meta: dict[str, Any]) -> None:
    await redis.hset(keys.meta(), mapping={k: json.dumps(v) for k, v in meta.items()})


def scenario_meta(scenario: Scenario) -> dict[str, Any]:
    """What a report says of the run a scenario makes: its name, period and population."""
    events = scenario.events
    start = min(events[0].occurred_at, scenario.end) if events else scenario.end
    return {
        "scenario": scenario.name,
        "description": scenario.spec.description,
        "start": start.isoformat(),
        "end": scenario.end.isoformat(),
        "population": scenario.spec.population,
    }


def generated_meta(header: GeneratedHeader) -> dict[str, Any]:
    """The same, for a generated year: its preset, seed and scale too."""
    return {
        "scenario": header.name,
        "description": header.description,
        "start": header.start.isoformat(),
        "end": header.end.isoformat(),
        "population": header.population,
        "preset": header.preset,
        "seed": header.seed,
        "scale": header.scale,
    }


def files_meta(
    thresholds: str, timescales: str, scoring: str, team: str | None = None
) -> dict[str, Any]:
    """The files the hub's consumers run on, by their names."""
    files = {"thresholds": thresholds, "timescales": timescales, "scoring": scoring}
    return files | ({"team": team} if team else {})


async def read_meta(redis: aioredis.Redis, keys: Keys) -> dict[str, Any]:
    raw: Any = await redis.hgetall(keys.meta())
    return {k.decode(): json.loads(v) for k, v in raw.items()}


async def latest_tick(redis: aioredis.Redis, keys: Keys) -> datetime | None:
    """Event time now: the last watermark on the clock stream."""
    entries: Any = await redis.xrevrange(keys.stream("clock"), count=1)
    for _id, fields in entries:
        event = parse_event(fields[b"event"])
        if isinstance(event, ClockTick):
            return event.occurred_at
    return None


async def applied_until(redis: aioredis.Redis, keys: Keys) -> datetime | None:
    """Event time every shard's rounds have applied: the least of their watermarks."""
    raw: Any = await redis.hgetall(keys.watermarks())
    config: Any = await redis.hget(keys.config(), "shards")
    shards = int(config) if config else 1
    if len(raw) < shards:
        return None
    return min(datetime.fromisoformat(v.decode()) for v in raw.values())


async def report_instant(
    redis: aioredis.Redis, keys: Keys, at: datetime | None = None
) -> datetime | None:
    """The instant a report speaks for: asked, else the last watermark every shard has
    applied, else the last tick published, else the run's end."""
    if at is not None:
        return at
    applied = await applied_until(redis, keys)
    if applied is not None:
        return applied
    tick = await latest_tick(redis, keys)
    if tick is not None:
        return tick
    end = (await read_meta(redis, keys)).get("end")
    return datetime.fromisoformat(end) if end else None


async def board_figures(
    redis: aioredis.Redis, keys: Keys, at: datetime, population: int | None = None
) -> dict[str, Any]:
    meta = await read_meta(redis, keys)
    tallies = await read_tallies(redis, keys)
    since = datetime.fromisoformat(meta["start"]) if meta.get("start") else None
    result = figures(tallies, at=at, population=population or meta.get("population"), since=since)
    for name in ("scenario", "description", "thresholds", "timescales", "scoring", "team"):
        if name in meta:
            result[name] = meta[name]
    return fill_indicators(result)


async def census(
    redis: aioredis.Redis,
    keys: Keys,
    at: datetime,
    year: int | None = None,
    lea: str = DEFAULT_LEA,
) -> Census:
    from mash._report.cin import census_xml, census_year_of  # noqa: PLC0415

    records = await read_records(redis, keys)
    return census_xml(
        records,
        year=year or census_year_of(at.astimezone(LONDON).date()),
        at=at,
        lea=lea,
        release=_release(),
    )


def _release() -> str:
    try:
        return version("mash-simulator")
    except PackageNotFoundError:  # running from a checkout without installing
        return "0"


async def render_live(
    settings: Settings,
    fmt: str,
    *,
    at: datetime | None = None,
    population: int | None = None,
    census_year: int | None = None,
    lea: str = DEFAULT_LEA,
    benchmarks: Benchmarks | None = None,
) -> str:
    """A report of a running hub (or one that has finished) in any format, starting nothing."""
    from mash._report.report import render  # noqa: PLC0415

    async with HubReader(settings) as hub:
        instant = await report_instant(hub.redis, hub.keys, at)
        if instant is None:
            msg = (
                f"namespace {settings.namespace!r} has no clock ticks and no run metadata: "
                "nothing to report (wrong --namespace?)"
            )
            raise ReportError(msg)
        if fmt == "cin-xml":
            return (await census(hub.redis, hub.keys, instant, census_year, lea)).xml
        figures_now = await board_figures(hub.redis, hub.keys, instant, population)
    return render(figures_now, fmt, benchmarks)


async def _hub_instant(hub: Any, settings: Settings, at: datetime | None) -> datetime:
    instant = await report_instant(hub.redis, hub.keys, at)
    if instant is None:
        msg = (
            f"namespace {settings.namespace!r} has no clock ticks and no run metadata: "
            "nothing to report (wrong --namespace?)"
        )
        raise ReportError(msg)
    return instant


async def live_annex_a(
    settings: Settings, out: Path, *, at: datetime | None = None
) -> list[AnnexList]:
    """Ofsted's Annex A lists of a running (or finished) hub, written into folder `out`."""
    from mash._report.annex_a import annex_a, write_annex_a  # noqa: PLC0415

    async with HubReader(settings) as hub:
        instant = await _hub_instant(hub, settings, at)
        meta = await read_meta(hub.redis, hub.keys)
        records = await read_records(hub.redis, hub.keys)
    since = datetime.fromisoformat(meta["start"]) if meta.get("start") else None
    lists = annex_a(records, at=instant, since=since)
    write_annex_a(lists, out, instant)
    return lists


async def live_chronology(settings: Settings, child: str) -> list[Entry]:
    """One child's chronology, read from a hub's streams; unknown child: a `ReportError`."""
    from mash._report.chronology import chronology, read_child_events  # noqa: PLC0415

    async with HubReader(settings) as hub:
        events = (await read_child_events(hub.redis, hub.keys, [child]))[child]
    if not events:
        msg = f"child {child!r}: no events about this child in namespace {settings.namespace!r}"
        raise ReportError(msg)
    return chronology(child, events)
