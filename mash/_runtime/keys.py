"""Every Redis key a hub uses, under one namespace in one hash tag, and which shard an event
belongs to.

The namespace sits inside `{...}` so that all of a hub's keys hash to one Redis Cluster slot:
the edge's Lua script touches the input stream, state and output streams together, which
Cluster only allows within one slot.

Sharding splits each stream into `shards` streams by a stable hash of the child id, and each
shard is applied by one worker at a time, so every child's state has exactly one writer. A
contact naming children of several shards (a household) is written to each of their shards,
and each shard applies it to its own children. State stays one hash per consumer. The `clock`
stream is not sharded: a watermark is about every child, and every shard reads it through a
consumer group of its own.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

from mash.schemas.events import ContactReceived, Envelope

UNSHARDED = frozenset({"clock"})
HUB_GROUP = "hub"  # the hub's consumer group on every sharded stream it reads


def shard_of(child: str, shards: int) -> int:
    """CRC-32 of the id: the same in every process and Python version (unlike `hash`)."""
    return zlib.crc32(child.encode()) % shards if shards > 1 else 0


@dataclass(frozen=True, slots=True)
class Keys:
    namespace: str = "mash"
    shards: int = 1
    # A hub with a team writes every contact to every shard: each keeps the whole queue.
    broadcast: bool = False

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

    def shards_of(self, event: Envelope) -> list[int]:
        """Every shard an event is written to: each distinct shard of the children a contact
        names (its first child's first; with a team, every shard), else its child's."""
        if isinstance(event, ContactReceived) and self.shards > 1:
            if self.broadcast:
                first = shard_of(event.children[0].child_id, self.shards)
                return [first, *(s for s in range(self.shards) if s != first)]
            found: list[int] = []
            for child in event.children:
                shard = shard_of(child.child_id, self.shards)
                if shard not in found:
                    found.append(shard)
            return found
        return [self.shard(event)]

    def routes(self, event: Envelope) -> list[str]:
        """The stream keys an event is written to (see `shards_of`)."""
        name = type(event).stream
        return [self.stream(name, shard) for shard in self.shards_of(event)]

    def clock_group(self, shard: int) -> str:
        """Each shard reads every watermark, so each has a group of its own on the clock."""
        return f"{HUB_GROUP}.{shard}"

    def group(self, stream: str, shard: int) -> str:
        return self.clock_group(shard) if stream in UNSHARDED else HUB_GROUP

    def state(self, consumer: str) -> str:
        return f"{self.prefix}:state:{consumer}"

    def seen(self) -> str:
        """Hash: child -> the ids of its latest events (a bounded ledger, for duplicates)."""
        return f"{self.prefix}:seen"

    def watermarks(self) -> str:
        """Hash: shard -> the last watermark (ISO instant) its rounds have applied."""
        return f"{self.prefix}:watermarks"

    def tallies(self, consumer: str) -> str:
        """Hash: figure -> count, changed by HINCRBY in the edge's atomic commit."""
        return f"{self.prefix}:tallies:{consumer}"

    def progress(self) -> str:
        """Hash: `group|stream key|outcome` -> entries, counted in the commit that acks them.

        Outcomes are applied, duplicate, ignored and dead.<reason>, whose sum is what a group has
        acked, and `trimmed`, entries the retention setting removed: a group's lag is the
        stream's length plus what was trimmed minus what it acked (Redis 6.2's XINFO has no lag).
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

    def lease_holder(self, shard: int) -> str:
        """String: the worker that took a shard's lease last (it does not expire)."""
        return f"{self.prefix}:leaseholder:{shard}"

    def due(self, shard: int = 0) -> str:
        """Sorted set: child -> epoch seconds of the first instant anything of it falls due
        (a clock running out, a CSE window closing), for one shard's children."""
        return f"{self.prefix}:due:{shard}"
