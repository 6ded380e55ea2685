"""Which worker applies a shard now: a lease in Redis, taken at start and kept by renewal.

Static assignment (`--shards 0-3`) says who should apply a shard; the lease makes sure only
one does, even when two workers are started with overlapping shards, or a stopped worker's
replacement comes up while it is still finishing. A worker that cannot take a shard waits for
it (a hot standby), and one that finds its lease taken by another stops applying.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import redis.asyncio as aioredis
import structlog
from redis.exceptions import RedisError

from mash._runtime.keys import Keys

log = structlog.get_logger("mash.leases")

# KEYS: the lease, and who held it last. ARGV: this worker, the time to live, and whether it
# is taking the shard afresh (at start) or renewing it. A renewal takes back a lease that ran
# out (Redis was away longer than its time to live) only if nobody held it meanwhile: another
# worker may have applied the shard since, and this one's memory of its states is then stale.
_TAKE = """
local holder = redis.call('GET', KEYS[1])
local mine = holder == ARGV[1]
if holder == false then
  mine = ARGV[3] == 'fresh' or redis.call('GET', KEYS[2]) == ARGV[1]
end
if mine then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  redis.call('SET', KEYS[2], ARGV[1])
  return ''
end
if holder == false then return redis.call('GET', KEYS[2]) end
return holder
"""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class ShardLost(Exception):
    """Another worker holds a shard this one was applying."""


class Leases:
    def __init__(
        self, redis: aioredis.Redis, keys: Keys, shards: Sequence[int], holder: str, ttl_ms: int
    ) -> None:
        self.redis = redis
        self.keys = keys
        self.shards = list(shards)
        self.holder = holder
        self.ttl_ms = ttl_ms
        self._take = redis.register_script(_TAKE)
        self._release = redis.register_script(_RELEASE)

    async def _try(self, shard: int, *, fresh: bool = False) -> str:
        """'' when the lease is ours now, else who holds it (or held it last)."""
        reply: Any = await self._take(
            keys=[self.keys.lease(shard), self.keys.lease_holder(shard)],
            args=[self.holder, self.ttl_ms, "fresh" if fresh else "renew"],
        )
        return reply.decode() if isinstance(reply, bytes) else str(reply)

    async def acquire(self, poll: float = 0.2) -> None:
        """Take every shard, waiting for any another worker holds (until it stops or its
        lease runs out)."""
        for shard in self.shards:
            told = False
            while holder := await self._try(shard, fresh=True):
                if not told:
                    log.warning("waiting for a shard", shard=shard, held_by=holder)
                    told = True
                await asyncio.sleep(poll)

    async def keep(self) -> None:
        """Renew every lease at a third of its time to live; raises ShardLost if another
        worker took one (ours ran out while Redis was unreachable for longer than that)."""
        while True:
            await asyncio.sleep(self.ttl_ms / 3000)
            for shard in self.shards:
                try:
                    holder = await self._try(shard)
                except (RedisError, OSError):
                    continue  # Redis is away: renew when it is back
                if holder:
                    msg = f"shard {shard} is now applied by {holder}; this worker stops"
                    raise ShardLost(msg)

    async def release(self) -> None:
        for shard in self.shards:
            try:
                await self._release(keys=[self.keys.lease(shard)], args=[self.holder])
            except (RedisError, OSError):
                return
