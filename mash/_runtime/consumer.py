"""What a consumer is: the streams it reads, the events it handles, and its pure rule.

The declaration the four consumers in `mash.consumers` give the edge; it has no I/O of its own,
so a rule's module imports nothing that talks to Redis.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

from pydantic import BaseModel

from mash.schemas.events import Envelope, Event

S = TypeVar("S", bound=BaseModel)

Tally = Mapping[str, int]
# A rule returns the states it changed and the events it emits, and may add counter deltas:
# figures a reader wants at any instant without scanning every child (the reporter's).
RuleResult = (
    tuple[Mapping[str, S], Sequence[Envelope]] | tuple[Mapping[str, S], Sequence[Envelope], Tally]
)


@dataclass(frozen=True)
class Consumer(Generic[S]):
    """A consumer: which streams it reads, which events it handles, and its pure rule.

    `rule(states, event)` receives the current state of every child `keys(event)` names
    (a fresh `state_type()` for a child never seen) and returns the states it changed and
    the events it emits. It must not do I/O or read the clock.
    """

    name: str
    inputs: tuple[str, ...]
    handles: frozenset[str]
    state_type: type[S]
    keys: Callable[[Event], Sequence[str]]
    rule: Callable[[Mapping[str, S], Event], RuleResult[S]]
    description: str = ""
    # Deadline index, for consumers with clocks: `next_deadline(state)` is the earliest instant
    # at which a child's state wants attention, and `due(event)` the watermark an event carries
    # (a clock tick). The edge keeps the index in a sorted set in the same atomic commit, and
    # hands a watermark event the states of exactly the children due by then.
    next_deadline: Callable[[S], datetime | None] | None = None
    due: Callable[[Event], datetime | None] | None = None
