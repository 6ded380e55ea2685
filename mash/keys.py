"""Every Redis key a hub uses, under one namespace in one hash tag.

The namespace sits inside `{...}` so that all of a hub's keys hash to one Redis Cluster slot:
the edge's Lua script touches the input stream, state and output streams together, which
Cluster only allows within one slot.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Keys:
    namespace: str = "mash"

    @property
    def prefix(self) -> str:
        return f"mash:{{{self.namespace}}}"

    def stream(self, name: str) -> str:
        return f"{self.prefix}:{name}"

    def state(self, consumer: str) -> str:
        return f"{self.prefix}:state:{consumer}"

    def revisions(self, consumer: str) -> str:
        return f"{self.prefix}:rev:{consumer}"

    def applied(self, consumer: str) -> str:
        return f"{self.prefix}:applied:{consumer}"

    def tallies(self, consumer: str) -> str:
        """Hash: figure -> count, changed by HINCRBY in the edge's atomic commit."""
        return f"{self.prefix}:tallies:{consumer}"

    def meta(self) -> str:
        """Hash: what a report needs to know of the run (scenario, period, population)."""
        return f"{self.prefix}:meta"

    def due(self, consumer: str) -> str:
        """Sorted set: child -> epoch seconds of its earliest open deadline."""
        return f"{self.prefix}:due:{consumer}"
