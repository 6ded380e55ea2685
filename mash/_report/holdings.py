"""What a hub holds now, read from its consumers' states: the statutory clocks open and the
children missing. A replay's result, `mash clocks` and `mash missing` all read it here."""

from __future__ import annotations

from typing import Any

from mash._runtime.hub import Hub
from mash.consumers.cse.rules import ChildRisk, Episode
from mash.consumers.timescales.rules import ChildClocks, OpenClock, all_open


async def open_clocks(hub: Hub) -> list[tuple[str, OpenClock]]:
    """(child, clock) for every clock open now, soonest deadline first."""
    raw: dict[Any, Any] = await hub.redis.hgetall(hub.keys.state("timescales"))
    return all_open((k.decode(), ChildClocks.model_validate_json(v)) for k, v in raw.items())


async def open_episodes(hub: Hub) -> list[tuple[str, Episode]]:
    """(child, episode) for every missing episode not yet ended, earliest first."""
    raw: dict[Any, Any] = await hub.redis.hgetall(hub.keys.state("cse"))
    rows = []
    for key, value in raw.items():
        episode = ChildRisk.model_validate_json(value).open_episode
        if episode is not None:
            rows.append((key.decode(), episode))
    return sorted(rows, key=lambda row: (row[1].started_at, row[0]))
