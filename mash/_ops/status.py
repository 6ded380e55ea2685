"""What a running hub holds now, for the terminal: open clocks, children missing, a stream's
entries as they arrive."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mash._config.settings import Settings
from mash._report.holdings import open_clocks, open_episodes
from mash._runtime.hub import Hub

__all__ = ["follow", "list_open_clocks", "list_open_episodes", "open_clocks", "open_episodes"]


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
