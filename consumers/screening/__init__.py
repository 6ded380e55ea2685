"""Threshold screening: every contact gets a level of need, a RAG rating and a MASH decision.

Reads contacts (to decide), and missing episodes, casework and CSE flags (to know each child's
history when the next contact arrives). Writes one `screening.decided` per child per contact.
"""

from __future__ import annotations

from pathlib import Path

from mash._runtime.consumer import Consumer
from mash._time.calendar import WorkingDayCalendar
from mash.consumers.screening.rules import ChildHistory, ScreeningRule, keys
from mash.consumers.screening.thresholds import Thresholds, load_thresholds

HANDLES = frozenset(
    {
        "contact.received",
        "missing.started",
        "assessment.started",
        "assessment.completed",
        "s47.started",
        "s47.completed",
        "cp_plan.started",
        "cp_plan.ended",
        "case.closed",
        "care.started",
        "care.ended",
        "cse.flag",
        "screening.decided",
    }
)


def build(
    thresholds: Thresholds | Path,
    calendar: WorkingDayCalendar | None = None,
    *,
    decide: bool = True,
    queued: bool = False,
) -> Consumer[ChildHistory]:
    """`decide=False` is the hub in manual mode: it keeps each child's history but leaves the
    decision to someone else (a trainee, a scenario), whose `screening.decided` it then reads.
    `queued=True` is a hub with a team: a contact waits, and is decided when the team's
    `contact.handled` says a practitioner has worked it."""
    rules = thresholds if isinstance(thresholds, Thresholds) else load_thresholds(thresholds)
    return Consumer(
        name="screening",
        # In manual mode decisions come from outside and must be read; in auto mode they are
        # this consumer's own, already applied to the child's history when made.
        inputs=(
            "contacts",
            "missing",
            "casework",
            "cse",
            *(() if decide else ("decisions",)),
            *(("queue",) if queued else ()),
        ),
        handles=HANDLES | ({"contact.handled"} if queued else set()),
        state_type=ChildHistory,
        keys=keys,
        rule=ScreeningRule(rules, calendar or WorkingDayCalendar(), decide=decide, queued=queued),
        description="Threshold screening: level of need, RAG rating and MASH decision",
        emits=frozenset({"decisions"}) if decide else frozenset(),
    )


__all__ = ["ChildHistory", "build"]
