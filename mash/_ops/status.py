"""What a running hub holds now: the open statutory clocks, read from the timescales state."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mash._config.settings import Settings
from mash._runtime.hub import Hub
from mash.consumers.cse.rules import ChildRisk, Episode
from mash.consumers.timescales.rules import ChildClocks, OpenClock, all_open


async def open_clocks(hub: Hub) -> list[tuple[str, OpenClock]]:
    """(child, clock) for every clock open now, soonest deadline first."""
    raw: dict[Any, Any] = await hub.redis.hgetall(hub.keys.state("timescales"))
    return all_open((k.decode(), ChildClocks.model_validate_json(v)) for k, v in raw.items())


async def follow(
    settings: Settings,
    stream: str,
    show: Callable[[bytes], None],
    *,
    from_start: bool = False,
    count: int | None = None,
) -> int:
    """Hand each entry's raw event JSON to `show` as it arrives; returns how many were shown."""
    shown = 0
    async with Hub(settings, [], run_consumers=False) as hub:
        # Every shard of the stream at once; entries of different shards come in no set order.
        last: dict[Any, Any] = dict.fromkeys(hub.keys.streams(stream), "0-0" if from_start else "$")
        while count is None or shown < count:
            reply: Any = await hub.redis.xread(last, count=100, block=1000)
            for key, entries in reply or ():
                for entry_id, fields in entries:
                    last[key.decode()] = entry_id.decode()
                    show(fields.get(b"event", b"{}"))
                    shown += 1
                    if count is not None and shown >= count:
                        return shown
    return shown


async def open_episodes(hub: Hub) -> list[tuple[str, Episode]]:
    """(child, episode) for every missing episode not yet ended, earliest first."""
    raw: dict[Any, Any] = await hub.redis.hgetall(hub.keys.state("cse"))
    rows = []
    for key, value in raw.items():
        episode = ChildRisk.model_validate_json(value).open_episode
        if episode is not None:
            rows.append((key.decode(), episode))
    return sorted(rows, key=lambda row: (row[1].started_at, row[0]))


async def list_open_episodes(settings: Settings) -> list[dict[str, Any]]:
    """Children missing now (episodes started and not ended), longest missing first."""
    async with Hub(settings, [], run_consumers=False) as hub:
        rows = await open_episodes(hub)
    return [
        {"child": child, "missing_id": e.missing_id, "started_at": e.started_at.isoformat()}
        for child, e in rows
    ]


async def list_open_clocks(settings: Settings) -> list[dict[str, Any]]:
    """Open clocks as rows; reads state only and starts no consumer.

    The child's pseudonymous id is part of each instance id: this is for practitioners'
    tooling, not for logs.
    """
    async with Hub(settings, [], run_consumers=False) as hub:
        rows = await open_clocks(hub)
    return [
        {
            "clock": clock.clock,
            "instance": clock.instance,
            "started_at": clock.started_at.isoformat(),
            "deadline": clock.deadline.isoformat() if clock.deadline else None,
            "out_of_timescale": clock.breached,
        }
        for _child, clock in rows
    ]
