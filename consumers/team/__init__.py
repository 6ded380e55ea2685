"""The MASH team: contacts wait for a practitioner with time, and the decision's instant is
when one has worked the contact.

A hub-wide consumer: one queue for the whole front door, not a state per child. It reads the
contacts (every shard reads every contact when a hub has a team, so each keeps the same queue)
and the clock, and writes `contact.handled` to the `queue` stream, which screening decides on.
"""

from __future__ import annotations

from mash._runtime.consumer import Consumer
from mash._time.calendar import WorkingDayCalendar
from mash.consumers.screening.thresholds import Thresholds
from mash.consumers.team.config import Team, load_team
from mash.consumers.team.rules import TeamRule, TeamState, holds, keys, next_due

NAME = "team"


def build(
    team: Team, thresholds: Thresholds, calendar: WorkingDayCalendar | None = None
) -> Consumer[TeamState]:
    return Consumer(
        name=NAME,
        inputs=("contacts", "clock"),
        handles=frozenset({"contact.received", "clock.tick"}),
        state_type=TeamState,
        keys=keys,
        rule=TeamRule(team, thresholds, calendar or WorkingDayCalendar()),
        description=f"The front door's queue: {team.name}",
        next_due=next_due,
        emits=frozenset({"queue"}),
        hub_wide=True,
        holds=holds,
    )


__all__ = ["NAME", "Team", "TeamState", "build", "load_team"]
