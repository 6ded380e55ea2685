"""CSE risk flags: indicators and repeat missing episodes into a level, flagged on each change.

Reads contacts (indicators named by the referrer), missing episodes (lifecycle, repeat missing,
found with adults), return interviews and CSE screening tools, and the clock (indicators age
out). Writes `cse.flag` on every change of level, and dead letters for impossible episodes.
"""

from __future__ import annotations

from pathlib import Path

from mash._runtime.consumer import Consumer
from mash.consumers.cse.rules import ChildRisk, RiskRules, keys, next_deadline
from mash.consumers.cse.scoring import Scoring, load_scoring

HANDLES = frozenset(
    {
        "contact.received",
        "missing.started",
        "missing.returned",
        "rhi.completed",
        "cse.screening.completed",
        "clock.tick",
    }
)


def build(scoring: Scoring | Path) -> Consumer[ChildRisk]:
    rules = scoring if isinstance(scoring, Scoring) else load_scoring(scoring)
    return Consumer(
        name="cse",
        inputs=("contacts", "missing", "casework", "clock"),
        handles=HANDLES,
        state_type=ChildRisk,
        keys=keys,
        rule=RiskRules(rules),
        description="CSE risk: indicators and repeat missing into a level, flagged on change",
        next_due=next_deadline,
        emits=frozenset({"cse", "dlq"}),
    )


__all__ = ["ChildRisk", "build"]
