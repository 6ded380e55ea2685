"""Replay: publish a run's events in event-time order with watermarks, and read the result.

The hub applies each shard's events in event time as the watermarks arrive, with every
deadline that falls between them (`mash._runtime.pipeline`), so the replay only publishes:
steps of a few thousand events, each closed by a watermark, never more than `AHEAD` steps
ahead of what the hub has applied, and a last watermark at the run's end. The answers do not
depend on the step size, the batch size, polling or the number of workers, so the same file
gives the same report byte for byte.
"""

from __future__ import annotations

import contextlib
from collections import Counter, deque
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from mash._bootstrap import build_consumers, config_paths, configure, team_file
from mash._config.settings import Settings
from mash._replay.steps import STEP_EVENTS, Step, watermarked
from mash._report.board import (
    board_figures,
    census,
    files_meta,
    generated_meta,
    scenario_meta,
    write_meta,
)
from mash._report.chronology import Entry, chronology, read_child_events
from mash._report.cin import Census
from mash._report.holdings import open_clocks, open_episodes
from mash._report.report import build_report, summarise
from mash._runtime.cancellation import raise_if_cancelled
from mash._runtime.fleet import Fleet
from mash._runtime.hub import Hub
from mash._scenarios.expectations import Check, Outputs, check, check_figures
from mash._scenarios.generated import open_generated, timescales_path
from mash._scenarios.scenario import Scenario
from mash._time.clock import tick
from mash.consumers.screening.thresholds import Thresholds
from mash.errors import HubUnavailable
from mash.schemas.events import (
    CSEFlag,
    DeadLetter,
    Event,
    ScreeningDecided,
    TimescaleBreached,
    TimescaleMet,
    TimescaleStoppedLate,
)


@dataclass
class ReplayResult:
    scenario: Scenario
    thresholds: Thresholds
    outputs: Outputs
    checks: list[Check]
    report: dict[str, Any]
    census: Census | None  # the CIN return, when it was asked for
    namespace: str = ""
    # Each child the report lists (a scenario's decisions), their chronology, read from the
    # streams before an embedded Redis goes: the HTML report links a page per child.
    chronologies: dict[str, list[Entry]] = field(default_factory=dict)

    @property
    def decisions(self) -> list[ScreeningDecided]:
        return list(self.outputs.decisions)

    @property
    def flags(self) -> list[CSEFlag]:
        return list(self.outputs.flags)

    @property
    def clocks(self) -> list[TimescaleMet | TimescaleBreached | TimescaleStoppedLate]:
        return list(self.outputs.clock_events)

    @property
    def dead_letters(self) -> list[DeadLetter]:
        return list(self.outputs.dead_letters)

    @property
    def ok(self) -> bool:
        return all(c.passed for c in self.checks)


def with_workers(settings: Settings, workers: int) -> Settings:
    """Settings for a run: on the event clock (the run's watermarks), applied by `workers`
    processes with at least as many shards."""
    settings = settings.model_copy(update={"clock": "event"})
    if workers <= 0:
        return settings
    shards = settings.shards or workers
    if shards < workers:
        msg = f"--workers {workers} needs at least {workers} shards; MASH_SHARDS is {shards}"
        raise HubUnavailable(msg)
    return settings.model_copy(update={"shards": shards})


async def publish_steps(
    hub: Hub,
    steps: Iterable[Step],
    timeout: float,
    fleet: Fleet | None = None,
    on_step: Callable[[Step], None] | None = None,
) -> None:
    """Publish each step and its watermark, staying at most `AHEAD` steps ahead of the hub,
    then wait until the hub has applied the last."""
    behind: deque[datetime] = deque()
    for step in steps:
        raise_if_cancelled()  # a Ctrl-C a Redis call lost must not let the replay go on
        await hub.publish([*step.events, tick(step.watermark)])
        behind.append(step.watermark)
        if len(behind) > AHEAD:
            await drain_step(hub, timeout, behind.popleft(), fleet)
        if on_step:
            on_step(step)
    if behind:
        await drain_step(hub, timeout, behind[-1], fleet)


@contextlib.asynccontextmanager
async def applied_by(
    hub: Hub, workers: int, paths: tuple[Path, Path, Path], *, decide: bool
) -> AsyncIterator[Fleet | None]:
    """The hub applies in-process, or `workers` worker processes do, until the block ends."""
    if workers <= 0:
        yield None
        return
    thresholds, timescales, scoring = paths
    fleet = Fleet(
        url=hub.url,
        namespace=hub.settings.namespace,
        workers=workers,
        shards=hub.keys.shards,
        thresholds=thresholds.resolve(),
        timescales=timescales.resolve(),
        scoring=scoring.resolve(),
        screening="auto" if decide else "manual",
        team=hub.settings.team.resolve() if hub.settings.team else None,
        nice=hub.settings.worker_nice,
        env={
            "MASH_LEASE_MS": str(hub.settings.lease_ms),
            "MASH_MAX_ATTEMPTS": str(hub.settings.max_attempts),
            "MASH_MAX_ENTRY_BYTES": str(hub.settings.max_entry_bytes),
            "MASH_BATCH_SIZE": str(hub.settings.batch_size),
            "MASH_POLL_MS": str(hub.settings.poll_ms),
            "MASH_RETENTION": str(hub.settings.retention),
            "MASH_DEDUPE_DAYS": str(hub.settings.dedupe_days),
        },
    )
    await fleet.start()
    try:
        yield fleet
    finally:
        await fleet.stop()


async def refuse_used_namespace(hub: Hub) -> None:
    """A run writes into an empty namespace only: another run's events would be its own."""
    used = [
        await hub.redis.xlen(key)
        for stream in ("contacts", "decisions")
        for key in hub.keys.streams(stream)
    ]
    if any(used):
        msg = (
            f"namespace {hub.settings.namespace!r} already holds a run's streams; "
            "use another --namespace"
        )
        raise HubUnavailable(msg)


AHEAD = 2  # steps published beyond what the hub has applied: bounds what it holds


async def drain_step(hub: Hub, timeout: float, at: datetime, fleet: Fleet | None = None) -> None:
    """Wait until the hub has applied the watermark `at`; a stall is one line naming the
    instant, not a traceback."""
    try:
        await hub.drain(at, timeout=timeout, watch=fleet.check if fleet else None)
    except TimeoutError as exc:
        msg = (
            f"stalled at {at.isoformat()}: {exc} (a consumer failed, or no worker applies "
            "a shard: see the log and `mash status`)"
        )
        raise HubUnavailable(msg) from exc


async def replay(
    scenario: Scenario,
    settings: Settings,
    *,
    thresholds_override: Path | None = None,
    scoring_override: Path | None = None,
    team_override: Path | None = None,
    on_step: Callable[[int, int], None] | None = None,
    timeout: float = 120.0,
    census_year: int | None = None,
    workers: int = 0,
    external_workers: bool = False,
    step_events: int = STEP_EVENTS,
) -> ReplayResult:
    """Replay a scenario; `workers` > 0 has that many `mash worker` processes apply it, and
    `external_workers` leaves it to the `mash worker`s already running on the namespace."""
    paths = config_paths(scenario, settings, thresholds_override, scoring_override)
    thresholds, timescales, scoring = configure(
        scenario, settings, thresholds_override, scoring_override
    )
    decide = scenario.spec.screening == "auto"
    team_path, team = team_file(scenario, settings, team_override)
    consumers = build_consumers(thresholds, timescales, scoring, decide=decide, team=team)
    # A scenario's checks read its outputs back from the streams: nothing may be trimmed.
    settings = with_workers(settings, workers).model_copy(
        update={"retention": 0, "team": team_path}
    )
    async with (
        Hub(settings, consumers, run_consumers=workers <= 0 and not external_workers) as hub,
        applied_by(hub, workers, paths, decide=decide) as fleet,
    ):
        await refuse_used_namespace(hub)
        await write_meta(
            hub.redis,
            hub.keys,
            scenario_meta(scenario)
            | files_meta(
                thresholds.name, timescales.name, scoring.name, team.name if team else None
            ),
        )
        total = len(scenario.events)
        done = 0

        def progress(step: Step) -> None:
            nonlocal done
            done += len(step.events)
            if on_step:
                on_step(done, total)

        await publish_steps(
            hub, watermarked(scenario.events, scenario.end), timeout, fleet, progress
        )
        await hub.stop_consuming()
        outputs = Outputs(
            decisions=[e for e in await hub.read("decisions") if isinstance(e, ScreeningDecided)],
            dead_letters=[e for e in await hub.read("dlq") if isinstance(e, DeadLetter)],
            clock_events=[
                e
                for e in await hub.read("timescales")
                if isinstance(e, TimescaleMet | TimescaleBreached | TimescaleStoppedLate)
            ],
            open_clocks=[
                (child, o.clock, o.instance, o.breached) for child, o in await open_clocks(hub)
            ],
            flags=[e for e in await hub.read("cse") if isinstance(e, CSEFlag)],
            open_episodes=await open_episodes(hub),
        )
        board = await board_figures(
            hub.redis, hub.keys, scenario.end, population=scenario.spec.population
        )
        cin = await census(hub.redis, hub.keys, scenario.end, year=census_year)
        listed = sorted({d.child_id for d in outputs.decisions if d.child_id})
        events = await read_child_events(hub.redis, hub.keys, listed)
        chronologies = {child: chronology(child, events[child]) for child in listed}
    report = build_report(
        figures=board,
        scenario=scenario.name,
        description=scenario.spec.description,
        thresholds=thresholds.name,
        timescales=timescales.name,
        scoring=scoring.name,
        published=scenario.events,
        outputs=outputs,
        checks=[],
    )
    # Figures are expectations too, so the report is built first and checked after.
    checks = check(scenario, outputs, report)
    report["expectations"] = summarise(checks)
    return ReplayResult(
        scenario, thresholds, outputs, checks, report, cin, chronologies=chronologies
    )


async def replay_generated(
    path: Path,
    settings: Settings,
    *,
    thresholds_override: Path | None = None,
    scoring_override: Path | None = None,
    team_override: Path | None = None,
    on_step: Callable[[int, int], None] | None = None,
    timeout: float = 300.0,
    census_year: int | None = None,
    workers: int = 0,
    external_workers: bool = False,
    step_events: int = STEP_EVENTS,
    with_census: bool = True,
) -> ReplayResult:
    """A generated year, streamed: read a step, publish it, wait for the hub, read on.

    Nothing of the file is held but the step in hand, and the report is the board's figures
    (no per-decision list: a nation's year has millions).
    """
    with open_generated(path) as (header, events):
        stub = Scenario.from_events(
            header.name,
            [],
            header.end,
            description=header.description,
            population=header.population,
            timescales=timescales_path(header),
        )
        paths = config_paths(stub, settings, thresholds_override, scoring_override)
        thresholds, timescales, scoring = configure(
            stub, settings, thresholds_override, scoring_override
        )
        published: Counter[str] = Counter()
        team_path, team = team_file(stub, settings, team_override)
        consumers = build_consumers(thresholds, timescales, scoring, team=team)
        settings = with_workers(settings, workers).model_copy(update={"team": team_path})
        async with (
            Hub(settings, consumers, run_consumers=workers <= 0 and not external_workers) as hub,
            applied_by(hub, workers, paths, decide=True) as fleet,
        ):
            await refuse_used_namespace(hub)
            await write_meta(
                hub.redis,
                hub.keys,
                generated_meta(header)
                | files_meta(
                    thresholds.name, timescales.name, scoring.name, team.name if team else None
                ),
            )
            done = 0

            def counted(events: Iterator[Event]) -> Iterator[Event]:
                for event in events:
                    published[event.type] += 1
                    yield event

            def progress(step: Step) -> None:
                nonlocal done
                done += len(step.events)
                if on_step:
                    on_step(done, max(done, header.events))

            await publish_steps(
                hub, watermarked(counted(events), header.end, step_events), timeout, fleet, progress
            )
            await hub.stop_consuming()
            board = await board_figures(hub.redis, hub.keys, header.end)
            # Every child's record, read once: for a nation's year only when asked for.
            cin = (
                await census(hub.redis, hub.keys, header.end, year=census_year)
                if with_census
                else None
            )
    report = {
        "scenario": header.name,
        "description": header.description,
        "thresholds": thresholds.name,
        "timescales": timescales.name,
        "scoring": scoring.name,
        "generated": {
            "preset": header.preset,
            "seed": header.seed,
            "scale": header.scale,
            **({"team": header.team.model_dump()} if header.team else {}),
        },
        "events_published": dict(sorted(published.items())),
        **board,
    }
    checks = check_figures(header.expect, report)
    report["expectations"] = summarise(checks)
    return ReplayResult(
        stub, thresholds, Outputs(decisions=[], dead_letters=[]), checks, report, cin
    )
