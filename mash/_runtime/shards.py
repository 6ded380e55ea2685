"""Which shards a worker applies: `--shards 0-3`, `--shards 0,2,5` or `--shards 1/4`.

The last form is "worker 1 of 4": every shard whose number leaves 1 when divided by 4, so K
workers started as 0/K ... K-1/K cover every shard once, whatever the namespace's count.
The count is only known once the hub has read the namespace's config, hence the two steps:
the syntax is checked when the command starts, the shards resolved when the hub starts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_RANGE = re.compile(r"^(\d+)(?:-(\d+))?$")
_MEMBER = re.compile(r"^(\d+)/(\d+)$")


class ShardSpecError(ValueError):
    pass


@dataclass(frozen=True)
class ShardSpec:
    text: str
    listed: tuple[int, ...] = ()
    member: tuple[int, int] | None = None  # (i, K): worker i of K

    @classmethod
    def parse(cls, text: str) -> ShardSpec:
        spec = text.strip()
        if match := _MEMBER.match(spec):
            index, count = int(match[1]), int(match[2])
            if count < 1 or index >= count:
                msg = f"--shards {text}: worker {index} of {count} does not exist (0-{count - 1})"
                raise ShardSpecError(msg)
            return cls(text, member=(index, count))
        shards: set[int] = set()
        for part in spec.split(","):
            match = _RANGE.match(part.strip())
            if not match:
                msg = f"--shards {text}: {part.strip()!r} is not a shard, a range (0-3) or i/K"
                raise ShardSpecError(msg)
            low, high = int(match[1]), int(match[2] or match[1])
            if high < low:
                raise ShardSpecError(f"--shards {text}: range {part.strip()} runs backwards")
            shards.update(range(low, high + 1))
        return cls(text, listed=tuple(sorted(shards)))

    def resolve(self, total: int) -> list[int]:
        """The shards out of `total`; a spec naming none of them, or one past the end, is a
        mistake the user hears about."""
        if self.member is not None:
            index, count = self.member
            mine = [s for s in range(total) if s % count == index]
            if not mine:
                msg = f"--shards {self.text}: no shard is left for this worker ({total} shard(s))"
                raise ShardSpecError(msg)
            return mine
        outside = [s for s in self.listed if s >= total]
        if outside:
            msg = f"--shards {self.text}: shard {outside[0]} is out of range: 0-{total - 1}"
            raise ShardSpecError(msg)
        return list(self.listed)
