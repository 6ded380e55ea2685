"""The reporter: every stream folded into the figures a safeguarding board publishes.

Reads contacts, missing episodes and casework (what happened) and decisions, CSE flags,
timescales and dead letters (what the hub made of it). Emits nothing: it keeps each child's
record and running tallies in Redis, so `mash report` can render the board's tables, charts and
the CIN census return at any instant of a run, live, without replaying anything.
"""

from __future__ import annotations

from mash._runtime.consumer import Consumer
from mash.consumers.reporter.rules import ChildRecord, ReporterRules, keys
from mash.schemas.events import EVENT_TYPES

NAME = "reporter"
INPUTS = ("contacts", "missing", "casework", "decisions", "cse", "timescales", "dlq")
HANDLES = frozenset(t for t, model in EVENT_TYPES.items() if model.stream in INPUTS)


def build(*, queue: bool = False) -> Consumer[ChildRecord]:
    """`queue=True` for a hub with a team: the reporter also reads the `queue` stream."""
    return Consumer(
        name=NAME,
        inputs=(*INPUTS, "queue") if queue else INPUTS,
        handles=HANDLES | {"contact.handled"} if queue else HANDLES,
        state_type=ChildRecord,
        keys=keys,
        rule=ReporterRules(),
        description="Board figures and CIN census records, folded from every stream",
    )


__all__ = ["NAME", "ChildRecord", "build"]
