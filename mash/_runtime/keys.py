"""Every Redis key a hub uses, under one namespace in one hash tag, and which shard an event
belongs to.

The namespace sits inside `{...}` so that all of a hub's keys hash to one Redis Cluster slot:
the edge's Lua script touches the input stream, state and output streams together, which
Cluster only allows within one slot.

Sharding splits each input stream into `shards` streams by a stable hash of the child id, so a
child's events stay in order on one stream that one worker applies. State stays one hash per
consumer: a contact naming several children (a household) reads all of their states, whichever
shards they hash to, and the edge's revision check already makes concurrent commits safe. The
`clock` stream is not sharded: a tick is about every child, and is applied once.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

from mash.schemas.events import Envelope

UNSHARDED = frozenset({"clock"})


def shard_of(child: str, shards: int) -> int:
    """CRC-32 of the id: the same in every process and Python version (unlike `hash`)."""
    return zlib.crc32(child.encode()) % shards if shards > 1 else 0


@dataclass(frozen=True, slots=True)
class Keys:
    namespace: str = "mash"
    shards: int = 1

    @property
    def prefix(self) -> str:
        return f"mash:{{{self.namespace}}}"

    def stream(self, name: str, shard: int = 0) -> str:
        """One shard's stream. With a single shard the key has no suffix, as before sharding,
        so a one-worker hub's keys are the ones tools and tests already know."""
        if self.shards == 1 or name in UNSHARDED:
            return f"{self.prefix}:{name}"
        return f"{self.prefix}:{name}:{shard}"

    def streams(self, name: str) -> list[str]:
        """Every shard's stream of `name`, shard 0 first."""
        if self.shards == 1 or name in UNSHARDED:
            return [self.stream(name)]
        return [self.stream(name, shard) for shard in range(self.shards)]

    def shard(self, event: Envelope, default: int = 0) -> int:
        """An event's shard: its (first) child's; an event about no child keeps `default`."""
        child = getattr(event, "child_id", None)
        return shard_of(child, self.shards) if child else default

    def route(self, event: Envelope, default: int = 0) -> str:
        return self.stream(type(event).stream, self.shard(event, default))

    def state(self, consumer: str) -> str:
        return f"{self.prefix}:state:{consumer}"

    def revisions(self, consumer: str) -> str:
        return f"{self.prefix}:rev:{consumer}"

    def applied(self, consumer: str) -> str:
        return f"{self.prefix}:applied:{consumer}"

    def tallies(self, consumer: str) -> str:
        """Hash: figure -> count, changed by HINCRBY in the edge's atomic commit."""
        return f"{self.prefix}:tallies:{consumer}"

    def progress(self) -> str:
        """Hash: `consumer|stream key|outcome` -> entries, counted in the edge's commit.

        Outcomes are applied, duplicate, ignored and dead.<reason>; their sum is what a group has
        acked, so a group's lag is the stream's length minus it (Redis 6.2's XINFO has no lag).
        """
        return f"{self.prefix}:progress"

    def meta(self) -> str:
        """Hash: what a report needs to know of the run (scenario, period, population)."""
        return f"{self.prefix}:meta"

    def config(self) -> str:
        """Hash: what every process of the namespace must agree on (the shard count)."""
        return f"{self.prefix}:config"

    def lease(self, shard: int) -> str:
        """String: the worker applying a shard now, with an expiry it keeps renewing."""
        return f"{self.prefix}:lease:{shard}"

    def due(self, consumer: str) -> str:
        """Sorted set: child -> epoch seconds of its earliest open deadline."""
        return f"{self.prefix}:due:{consumer}"
