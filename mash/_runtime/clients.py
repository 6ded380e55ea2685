"""Which redis-py client a URL needs: a plain one, or a cluster one for a Redis Cluster node.

A cluster node answers a plain client only for the slots it holds, and replies MOVED for the
rest, so every mash process asks the node once (`INFO cluster`) and talks through
`RedisCluster` when it says so. Every key of a namespace carries the `{namespace}` hash tag,
so the whole namespace lives in one slot: Lua commits, transactions and multi-stream reads
stay on one node, and a cluster spreads namespaces (one per borough, say), not one
namespace's shards.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

import redis
import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster


async def open_client(url: str, timeout: float = 5.0) -> tuple[aioredis.Redis, bool]:
    """A connected async client for `url`, and whether it is a cluster's.

    The cluster client serves the same commands on one slot's keys, so callers keep the plain
    client's type and never need the difference.
    """
    client = aioredis.from_url(url)
    try:
        await asyncio.wait_for(client.ping(), timeout=timeout)
        info: Any = await client.info("cluster")
    except BaseException:
        await client.aclose()
        raise
    if not int(info.get("cluster_enabled", 0)):
        return client, False
    await client.aclose()
    cluster = RedisCluster.from_url(url)
    await asyncio.wait_for(cluster.initialize(), timeout=timeout)
    return cast(aioredis.Redis, cluster), True


def sync_client(url: str) -> redis.Redis:
    """The blocking twin of `open_client`, for the pytest plugin's helpers."""
    client = redis.Redis.from_url(url)
    info: Any = client.info("cluster")
    if not int(info.get("cluster_enabled", 0)):
        return client
    client.close()
    return cast(redis.Redis, redis.RedisCluster.from_url(url))
