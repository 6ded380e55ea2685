"""What a consumer is: the streams it reads, the events it handles, and its pure rule.

The declaration the four consumers in `mash.consumers` give the hub's pipeline; it has no I/O
of its own, so a rule's module imports nothing that talks to Redis.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
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

    `rule(states, event)` receives the current state of the children `keys(event)` names that
    the hub holds (a fresh `state_type()` for a child never seen) and applies the event to
    those children only: a contact naming children on several shards is applied by each
    shard to its own. It returns the states it changed and the events it emits, and must not
    do I/O or read the clock.
    """

    name: str
    inputs: tuple[str, ...]
    handles: frozenset[str]
    state_type: type[S]
    keys: Callable[[Event], Sequence[str]]
    rule: Callable[[Mapping[str, S], Event], RuleResult[S]]
    description: str = ""
    # For consumers whose state changes with time alone (a clock running out, a CSE window
    # closing): the first instant at which a `clock.tick` would change the child's state.
    # The pipeline ticks each child at exactly that instant, before anything later happens to
    # it, and keeps the instant in the shard's deadline index for the children it does not
    # see again.
    next_due: Callable[[S], datetime | None] | None = None
    # The streams its outputs go to: consumers later in the pipeline that read them are handed
    # the outputs at once, in the same commit.
    emits: frozenset[str] = frozenset()
    # One state for the whole hub instead of one per child (the team's queue): the pipeline
    # hands it every event it handles before the children's consumers see it, keeps its
    # state under the shard's hub key, and ticks it at `next_due` before anything later.
    hub_wide: bool = False
    # A hub-wide consumer's: the children its state may still emit about (the contacts in
    # the queue), whose states a round must hold before the consumer is ticked.
    holds: Callable[[S], Iterable[str]] | None = None
