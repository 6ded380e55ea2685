"""A generated year as a scenario the replay accepts (no file, no expectations)."""

from __future__ import annotations

from datetime import UTC, datetime

from mash.scenario import Scenario
from mash.synthetic import YearGenerator


def generated_scenario(children: int, seed: int, year: int = 2014) -> Scenario:
    events = list(YearGenerator(year, children, seed=seed).parsed())
    return Scenario.from_events(
        f"generated-{year}-{children}-{seed}",
        events,
        datetime(year, 3, 31, 22, tzinfo=UTC),
        population=children * 10,
    )
