"""Wiring in one place: the hub's consumers, built from the files a run uses.

The CLI, workers, replay, exercises, the benchmark and the schema export all build their
consumers here (cosmicpython's `bootstrap.py`), so they run the same code a user runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mash._config.settings import DEFAULT_SCORING, DEFAULT_TIMESCALES, Settings
from mash._runtime.consumer import Consumer
from mash._scenarios.scenario import Scenario
from mash.consumers import cse, reporter, screening
from mash.consumers import team as front_door
from mash.consumers import timescales as clocks
from mash.consumers.cse.scoring import Scoring, load_scoring
from mash.consumers.screening.thresholds import Thresholds, load_thresholds
from mash.consumers.team.config import Team, load_team
from mash.consumers.timescales.config import Timescales, load_timescales
from mash.errors import ConfigError


def config_paths(
    scenario: Scenario,
    settings: Settings,
    thresholds_override: Path | None = None,
    scoring_override: Path | None = None,
) -> tuple[Path, Path, Path]:
    """The files a run uses: a flag beats the scenario's own choice, which beats the hub's
    setting."""
    return (
        thresholds_override or scenario.thresholds_path or settings.thresholds,
        scenario.timescales_path or settings.timescales,
        scoring_override or scenario.scoring_path or settings.scoring,
    )


def configure(
    scenario: Scenario,
    settings: Settings,
    thresholds_override: Path | None = None,
    scoring_override: Path | None = None,
) -> tuple[Thresholds, Timescales, Scoring]:
    thresholds, timescales, scoring = config_paths(
        scenario, settings, thresholds_override, scoring_override
    )
    return load_thresholds(thresholds), load_timescales(timescales), load_scoring(scoring)


def team_file(
    scenario: Scenario, settings: Settings, team_override: Path | None = None
) -> tuple[Path | None, Team | None]:
    """The team a run queues its contacts for, if any: a flag beats the scenario's, which
    beats the hub's setting (MASH_TEAM). None decides each contact the instant it arrives."""
    path = team_override or scenario.team_path or settings.team
    return (path, load_team(path)) if path is not None else (None, None)


def build_consumers(
    thresholds: Thresholds,
    timescales: Timescales | None = None,
    scoring: Scoring | None = None,
    *,
    decide: bool = True,
    team: Team | None = None,
) -> list[Consumer[Any]]:
    """The hub's consumers, in one place for replay, workers and the schema export.

    In dependency order, which is the order the pipeline hands each event (and what each
    consumer emits) along: CSE flags feed screening and the clocks, decisions feed the
    clocks, and the reporter counts everything. With a `team`, contacts queue for its
    practitioners first and screening decides each when one has worked it.
    """
    if team is not None and not decide:
        why = "a team works the contacts in auto screening only (in manual mode a trainee decides)"
        raise ConfigError(f"team {team.name}", None, "", why)
    return [
        cse.build(scoring or load_scoring(DEFAULT_SCORING)),
        *([front_door.build(team, thresholds)] if team is not None else []),
        screening.build(thresholds, decide=decide, queued=team is not None),
        clocks.build(timescales or load_timescales(DEFAULT_TIMESCALES)),
        reporter.build(queue=team is not None),
    ]
