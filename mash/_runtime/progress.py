"""How far each consumer group is through each shard, and what it dead-lettered: the figures
behind `mash status` and a worker's Prometheus metrics.

Read in one MULTI snapshot: each stream's length and groups (pending entries: read, and
waiting for their watermark or their commit), the progress hash the edge counts into in the
same commit as its XACK, and the shard leases. Lag is exact: entries the group has not acked
yet, whether read or not.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from mash._runtime.edge import TRIMMED
from mash._runtime.keys import HUB_GROUP, UNSHARDED, Keys
from mash.schemas.events import STREAMS


@dataclass(frozen=True)
class GroupProgress:
    consumer: str
    stream: str
    shard: int
    length: int
    pending: int
    outcomes: dict[str, int]
    trimmed: int = 0  # entries the retention setting removed from the stream

    @property
    def acked(self) -> int:
        return sum(self.outcomes.values())

    @property
    def lag(self) -> int:
        """Entries not yet applied: never read, or read and not yet committed. Trimmed
        entries were acked by every group before they went, so they count as in the stream."""
        return max(self.length + self.trimmed - self.acked, 0)

    @property
    def dead(self) -> int:
        return sum(n for k, n in self.outcomes.items() if k.startswith("dead."))


@dataclass(frozen=True)
class Snapshot:
    shards: int
    groups: list[GroupProgress]
    dead_letters: int
    dead_letters_last_minute: int
    dead_by_reason: dict[str, int]
    leases: dict[int, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "shards": self.shards,
            "leases": {str(k): v for k, v in sorted(self.leases.items())},
            "groups": [
                {
                    "consumer": g.consumer,
                    "stream": g.stream,
                    "shard": g.shard,
                    "length": g.length,
                    "acked": g.acked,
                    "pending": g.pending,
                    "lag": g.lag,
                    "trimmed": g.trimmed,
                    "outcomes": dict(sorted(g.outcomes.items())),
                }
                for g in self.groups
            ],
            "dead_letters": {
                "total": self.dead_letters,
                "last_minute": self.dead_letters_last_minute,
                "by_reason": dict(sorted(self.dead_by_reason.items())),
            },
        }


def _where(keys: Keys) -> list[tuple[str, int, str]]:
    rows = []
    for stream in STREAMS:
        if stream in UNSHARDED:
            rows.append((stream, 0, keys.stream(stream)))
        else:
            rows.extend((stream, shard, keys.stream(stream, shard)) for shard in range(keys.shards))
    return rows


async def snapshot(redis: aioredis.Redis, keys: Keys, now_ms: int | None = None) -> Snapshot:
    where = _where(keys)
    since = (now_ms if now_ms is not None else int(time.time() * 1000)) - 60_000
    dlq_keys = keys.streams("dlq")
    async with redis.pipeline(transaction=True) as pipe:
        for _, _, key in where:
            pipe.xlen(key)
            pipe.xinfo_groups(key)
        pipe.hgetall(keys.progress())
        for key in dlq_keys:
            pipe.xrange(key, min=f"{since}-0", count=100_000)
        for shard in range(keys.shards):
            pipe.get(keys.lease(shard))
        try:
            replies: list[Any] = await pipe.execute()
        except ResponseError:
            replies = []
    if not replies:  # XINFO GROUPS on a key that is not there yet: ask one by one
        replies = await _one_by_one(redis, keys, where, dlq_keys, since)
    progress: dict[tuple[str, str], dict[str, int]] = {}
    trimmed: dict[str, int] = {}
    raw_progress: dict[bytes, bytes] = replies[2 * len(where)]
    for name, value in raw_progress.items():
        consumer, key, outcome = name.decode().split("|")
        if consumer == TRIMMED:
            trimmed[key] = int(value)
        else:
            progress.setdefault((consumer, key), {})[outcome] = int(value)
    groups: list[GroupProgress] = []
    for index, (stream, shard, key) in enumerate(where):
        length, infos = replies[2 * index], replies[2 * index + 1]
        for info in infos:
            consumer = info["name"].decode()
            # Every shard reads the clock, through a group of its own (`hub.<shard>`).
            of_shard = _clock_shard(consumer) if stream in UNSHARDED else None
            groups.append(
                GroupProgress(
                    consumer=consumer,
                    stream=stream,
                    shard=shard if of_shard is None else of_shard,
                    length=int(length),
                    pending=int(info["pending"]),
                    outcomes=progress.get((consumer, key), {}),
                    trimmed=trimmed.get(key, 0),
                )
            )
    groups.sort(key=lambda g: (g.consumer, g.stream, g.shard))
    recent = replies[2 * len(where) + 1 : 2 * len(where) + 1 + len(dlq_keys)]
    holders = replies[2 * len(where) + 1 + len(dlq_keys) :]
    by_reason: dict[str, int] = {}
    for group in groups:
        for outcome, n in group.outcomes.items():
            if outcome.startswith("dead."):
                reason = outcome.removeprefix("dead.")
                by_reason[reason] = by_reason.get(reason, 0) + n
    dlq_total = sum(int(replies[2 * i]) for i, w in enumerate(where) if w[0] == "dlq")
    return Snapshot(
        shards=keys.shards,
        groups=groups,
        dead_letters=dlq_total,
        dead_letters_last_minute=sum(len(r) for r in recent),
        dead_by_reason=by_reason,
        leases={s: h.decode() for s, h in enumerate(holders) if h},
    )


def _clock_shard(group: str) -> int | None:
    prefix = f"{HUB_GROUP}."
    tail = group.removeprefix(prefix)
    return int(tail) if group.startswith(prefix) and tail.isdigit() else None


async def _one_by_one(
    redis: aioredis.Redis,
    keys: Keys,
    where: list[tuple[str, int, str]],
    dlq_keys: list[str],
    since: int,
) -> list[Any]:
    replies: list[Any] = []
    for _, _, key in where:
        replies.append(await redis.xlen(key))
        try:
            replies.append(await redis.xinfo_groups(key))
        except ResponseError:
            replies.append([])
    replies.append(await redis.hgetall(keys.progress()))
    for key in dlq_keys:
        replies.append(await redis.xrange(key, min=f"{since}-0", count=100_000))
    for shard in range(keys.shards):
        replies.append(await redis.get(keys.lease(shard)))
    return replies
