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
from urllib.parse import parse_qsl, urlencode, urlsplit

import hiredis
import redis
import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.connection import AbstractConnection

# A hub reads each shard through a faststream subscriber per input stream and one on the
# clock (four), each holding a connection while it blocks in XREADGROUP, and the shard's edge
# reads and commits beside them. redis-py 6 and later cap a pool at 100 and then fail with
# MaxConnectionsError rather than wait, so the pool is sized for the shards (a hub of the
# earlier design, with forty subscribers a shard, ran out at four shards).
CONNECTIONS_PER_SHARD = 12
SPARE_CONNECTIONS = 32  # publishing, leases, the replay's own reads
POOL_WAIT = 30.0  # seconds our own client waits for a free connection before it fails


class _HiredisPacking(AbstractConnection):
    """Commands packed by hiredis, as redis-py's blocking client packs them when hiredis is
    installed: its asyncio client packs them in Python whatever is installed
    (redis/redis-py#4176), and a hub's commits and publishing are big commands. What hiredis
    refuses (a bool, None) goes the Python way, to fail there with redis-py's own DataError."""

    def pack_command(self, *args: Any) -> list[bytes]:
        # A command name with spaces in it ("CONFIG GET") is sent as separate words.
        words = args
        if isinstance(args[0], str):
            words = (*args[0].encode().split(), *args[1:])
        elif b" " in args[0]:
            words = (*args[0].split(), *args[1:])
        try:
            return [hiredis.pack_command(words)]
        except TypeError:
            return super().pack_command(*args)


def hiredis_packing(connection_class: type[AbstractConnection]) -> type[AbstractConnection]:
    """`connection_class` (plain TCP, unix socket or TLS, as the URL chose) packing with
    hiredis."""
    return type(f"Hiredis{connection_class.__name__}", (_HiredisPacking, connection_class), {})


def pool_size(shards: int) -> int:
    """Connections a hub of `shards` shards may hold at once: never below redis-py's 100."""
    return max(100, CONNECTIONS_PER_SHARD * shards + SPARE_CONNECTIONS)


def sized_url(url: str, shards: int) -> str:
    """`url` with `max_connections` for a hub of `shards` shards, for clients built from a
    URL alone (faststream's broker); a `max_connections` the user gave is kept."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    if any(key == "max_connections" for key, _ in query):
        return url
    query.append(("max_connections", str(pool_size(shards))))
    # Not urlunsplit: it writes `unix:///path` back as `unix:/path` (no authority), which
    # redis-py 8.2 refuses ("must specify one of the following schemes").
    base = url.split("#", 1)[0].split("?", 1)[0]
    fragment = f"#{parts.fragment}" if parts.fragment else ""
    return f"{base}?{urlencode(query)}{fragment}"


async def open_client(
    url: str, timeout: float = 5.0, shards: int = 1
) -> tuple[aioredis.Redis, bool]:
    """A connected async client for `url`, and whether it is a cluster's.

    The cluster client serves the same commands on one slot's keys, so callers keep the plain
    client's type and never need the difference.
    """
    # Ours waits for a free connection (the edge's commits come in bursts from every
    # subscriber at once) instead of failing at the cap.
    pool = aioredis.BlockingConnectionPool.from_url(
        url, max_connections=pool_size(shards), timeout=POOL_WAIT
    )
    pool.connection_class = hiredis_packing(pool.connection_class)
    client = aioredis.Redis(connection_pool=pool)
    try:
        await asyncio.wait_for(client.ping(), timeout=timeout)
        info: Any = await client.info("cluster")
    except BaseException:
        await client.aclose()
        raise
    if not int(info.get("cluster_enabled", 0)):
        return client, False
    await client.aclose()
    cluster = RedisCluster.from_url(url, max_connections=pool_size(shards))
    await asyncio.wait_for(cluster.initialize(), timeout=timeout)
    return cast(aioredis.Redis, cluster), True


def sync_client(url: str, socket_timeout: float = 30.0) -> redis.Redis:
    """The blocking twin of `open_client`, for the pytest plugin's helpers.

    Every reply is awaited at most `socket_timeout` seconds: a test against a Redis that
    stopped answering fails with redis-py's TimeoutError rather than hang the suite.
    """
    client = redis.Redis.from_url(url, socket_timeout=socket_timeout)
    info: Any = client.info("cluster")
    if not int(info.get("cluster_enabled", 0)):
        return client
    client.close()
    return cast(redis.Redis, redis.RedisCluster.from_url(url, socket_timeout=socket_timeout))
