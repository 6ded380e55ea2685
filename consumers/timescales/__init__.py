"""Assessment timescale tracking: statutory clocks in working days and hours.

Opens a clock when its start event arrives, stops it on its stop event, and emits
`timescale.met`, `timescale.breached` (at the deadline's instant, in event time) and
`timescale.stopped_late`. Reads every stream that starts or stops a clock, and the clock.
"""

from __future__ import annotations

from pathlib import Path

from mash._config.settings import DEFAULT_TIMESCALES
from mash._runtime.consumer import Consumer
from mash._time.calendar import WorkingDayCalendar
from mash.consumers.timescales.config import Timescales, load_timescales
from mash.consumers.timescales.rules import (
    ChildClocks,
    ClockRules,
    handled_types,
    keys,
    next_due,
)


def build(
    timescales: Timescales | Path, calendar: WorkingDayCalendar | None = None
) -> Consumer[ChildClocks]:
    config = timescales if isinstance(timescales, Timescales) else load_timescales(timescales)
    calendar = calendar or WorkingDayCalendar()
    calendar.prepare()  # at start-up, not in the first round
    return Consumer(
        name="timescales",
        inputs=("contacts", "decisions", "casework", "missing", "cse", "clock"),
        handles=handled_types(config),
        state_type=ChildClocks,
        keys=keys,
        rule=ClockRules(config, calendar),
        description="Statutory clocks: met, breached at the deadline, stopped late",
        next_due=next_due,
        emits=frozenset({"timescales"}),
    )


__all__ = ["DEFAULT_TIMESCALES", "ChildClocks", "build"]
