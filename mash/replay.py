"""Scenario replay: publish in event-time order, one instant at a time, and wait for the hub.

Each step publishes a `clock.tick` watermark for the instant and the events at it, then waits
until every consumer group has applied everything (including what other consumers emitted in
reaction). Stepping this way makes cross-stream effects (a CSE flag before the next contact,
a decision before its clock stops) independent of batch size, polling and worker count, so
the same file gives the same report byte for byte.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import groupby
from pathlib import Path
from typing import Any

from consumers import cse, reporter, screening
from consumers import timescales as clocks
from consumers.cse.scoring import Scoring, load_scoring
from consumers.screening.thresholds import Thresholds, load_thresholds
from consumers.timescales.config import Timescales, load_timescales
from consumers.timescales.rules import children_of
from mash.board import board_figures, census, write_meta
from mash.cin import Census
from mash.clock import VirtualClock
from mash.edge import Consumer
from mash.errors import HubUnavailable
from mash.expectations import Check, Outputs, check, check_figures
from mash.fleet import Fleet
from mash.generated import open_generated
from mash.hub import Hub
from mash.report import build_report, summarise
from mash.scenario import Scenario
from mash.settings import DEFAULT_SCORING, DEFAULT_TIMESCALES, Settings
from mash.status import open_clocks, open_episodes
from schemas.codes import Agency
from schemas.events import (
    ClockTick,
    CSEFlag,
    DeadLetter,
    Envelope,
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
    census: Census
    namespace: str = ""

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


def tick(at: datetime) -> ClockTick:
    return ClockTick(
        event_id=f"tick.{at.isoformat()}", occurred_at=at, recorded_at=at, agency=Agency.MASH
    )


def steps(
    events: Sequence[Envelope], end: datetime, clock: VirtualClock
) -> Iterator[list[Envelope]]:
    """[tick(T), events at T...] for each instant T, then a final tick at the end.

    The virtual clock is advanced to each instant before its tick is made, so event time can
    only move forward (an out-of-order file would raise here, not confuse a consumer).
    """
    for instant, group in groupby(events, key=lambda e: e.occurred_at):
        clock.advance_to(instant)
        yield [tick(clock.now()), *group]
    if not events or end > events[-1].occurred_at:
        clock.advance_to(end)
        yield [tick(clock.now())]


def _layers(window: Sequence[Envelope]) -> list[list[Envelope]]:
    """Layer k holds each child's k-th event of the window (a contact takes the deepest of its
    children's), in file order, so a child's events keep their order across layers."""
    layers: list[list[Envelope]] = []
    depth: dict[str, int] = {}
    for event in window:
        children = children_of(event)
        k = max((depth.get(c, -1) for c in children), default=-1) + 1
        if k == len(layers):
            layers.append([])
        layers[k].append(event)
        for child in children:
            depth[child] = k
    return layers


def packed_steps(
    events: Iterable[Envelope], end: datetime, window: int = 4000
) -> Iterator[list[Envelope]]:
    """[tick(T), events...] steps holding as many events as order cannot matter.

    Why this is the same run as one instant per step: every rule is a function of one child's
    state, the reporter's tallies are sums, a clock's outcomes carry fixed ids and the deadline
    as their instant, and a CSE window closes at its own instant whether a tick or the child's
    next event closes it. So events of different children commute, and only each child's own
    order matters. A window of events is cut into layers (each child's first event, second...),
    one step each, ticked at the layer's earliest instant: no tick ever runs ahead of an event
    still to come for any child. A generated year then takes about a hundred steps, not one
    per instant, and memory holds one window.
    """
    clock: VirtualClock | None = None
    pending: list[Envelope] = []

    def flush() -> Iterator[list[Envelope]]:
        nonlocal clock
        for layer in _layers(pending):
            if clock is None:
                clock = VirtualClock(layer[0].occurred_at)
            clock.advance_to(layer[0].occurred_at)
            yield [tick(clock.now()), *layer]
        pending.clear()

    for event in events:
        if not children_of(event):
            # No child: nothing says what it commutes with, so it is a step of its own.
            yield from flush()
            pending.append(event)
            yield from flush()
            continue
        pending.append(event)
        if len(pending) >= window:
            yield from flush()
    yield from flush()
    if clock is None or end > clock.now():
        yield [tick(end)]


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


def with_workers(settings: Settings, workers: int) -> Settings:
    """Settings for a run applied by `workers` processes: at least as many shards."""
    if workers <= 0:
        return settings
    shards = settings.shards or workers
    if shards < workers:
        msg = f"--workers {workers} needs at least {workers} shards; MASH_SHARDS is {shards}"
        raise HubUnavailable(msg)
    return settings.model_copy(update={"shards": shards})


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
        env={
            "MASH_RECLAIM_IDLE_MS": str(hub.settings.reclaim_idle_ms),
            "MASH_LEASE_MS": str(hub.settings.lease_ms),
            "MASH_MAX_ATTEMPTS": str(hub.settings.max_attempts),
            "MASH_MAX_ENTRY_BYTES": str(hub.settings.max_entry_bytes),
            "MASH_BATCH_SIZE": str(hub.settings.batch_size),
            "MASH_POLL_MS": str(hub.settings.poll_ms),
        },
    )
    await fleet.start()
    try:
        yield fleet
    finally:
        await fleet.stop()


def plan_steps(events: Sequence[Envelope], end: datetime) -> tuple[datetime, list[list[Envelope]]]:
    """Where event time starts, and the run's steps (see `steps`)."""
    start = min(events[0].occurred_at, end) if events else end
    return start, list(steps(events, end, VirtualClock(start)))


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


async def drain_step(hub: Hub, timeout: float, at: datetime, fleet: Fleet | None = None) -> None:
    """Wait for every consumer; a stall is one line naming the instant, not a traceback."""
    try:
        await hub.drain(timeout=timeout, watch=fleet.check if fleet else None)
    except TimeoutError as exc:
        msg = (
            f"stalled at {at.isoformat()}: {exc} (a consumer failed, or no worker applies "
            "a shard: see the log and `mash status`)"
        )
        raise HubUnavailable(msg) from exc


def build_consumers(
    thresholds: Thresholds,
    timescales: Timescales | None = None,
    scoring: Scoring | None = None,
    *,
    decide: bool = True,
) -> list[Consumer[Any]]:
    """The hub's consumers, in one place for replay, workers and the schema export."""
    return [
        screening.build(thresholds, decide=decide),
        clocks.build(timescales or load_timescales(DEFAULT_TIMESCALES)),
        cse.build(scoring or load_scoring(DEFAULT_SCORING)),
        reporter.build(),
    ]


async def replay(
    scenario: Scenario,
    settings: Settings,
    *,
    thresholds_override: Path | None = None,
    scoring_override: Path | None = None,
    on_step: Callable[[int, int], None] | None = None,
    timeout: float = 120.0,
    census_year: int | None = None,
    workers: int = 0,
    external_workers: bool = False,
) -> ReplayResult:
    """Replay a scenario; `workers` > 0 has that many `mash worker` processes apply it, and
    `external_workers` leaves it to the `mash worker`s already running on the namespace."""
    paths = config_paths(scenario, settings, thresholds_override, scoring_override)
    thresholds, timescales, scoring = configure(
        scenario, settings, thresholds_override, scoring_override
    )
    decide = scenario.spec.screening == "auto"
    start, plan = plan_steps(scenario.events, scenario.end)
    consumers = build_consumers(thresholds, timescales, scoring, decide=decide)
    settings = with_workers(settings, workers)
    async with (
        Hub(settings, consumers, run_consumers=workers <= 0 and not external_workers) as hub,
        applied_by(hub, workers, paths, decide=decide) as fleet,
    ):
        await refuse_used_namespace(hub)
        await write_meta(
            hub.redis,
            hub.keys,
            {
                "scenario": scenario.name,
                "description": scenario.spec.description,
                "thresholds": thresholds.name,
                "timescales": timescales.name,
                "scoring": scoring.name,
                "start": start.isoformat(),
                "end": scenario.end.isoformat(),
                "population": scenario.spec.population,
            },
        )
        for done, step in enumerate(plan, start=1):
            # A Ctrl-C cancels this task; a library that swallows the CancelledError inside a
            # Redis call must not let the replay carry on for minutes.
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise asyncio.CancelledError
            await hub.publish(step)
            await drain_step(hub, timeout, step[0].occurred_at, fleet)
            if on_step:
                on_step(done, len(plan))
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
    return ReplayResult(scenario, thresholds, outputs, checks, report, cin)


async def replay_generated(
    path: Path,
    settings: Settings,
    *,
    thresholds_override: Path | None = None,
    scoring_override: Path | None = None,
    on_step: Callable[[int, int], None] | None = None,
    timeout: float = 300.0,
    census_year: int | None = None,
    workers: int = 0,
    external_workers: bool = False,
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
        )
        paths = config_paths(stub, settings, thresholds_override, scoring_override)
        thresholds, timescales, scoring = configure(
            stub, settings, thresholds_override, scoring_override
        )
        published: Counter[str] = Counter()
        consumers = build_consumers(thresholds, timescales, scoring)
        settings = with_workers(settings, workers)
        async with (
            Hub(settings, consumers, run_consumers=workers <= 0 and not external_workers) as hub,
            applied_by(hub, workers, paths, decide=True) as fleet,
        ):
            await refuse_used_namespace(hub)
            await write_meta(
                hub.redis,
                hub.keys,
                {
                    "scenario": header.name,
                    "description": header.description,
                    "thresholds": thresholds.name,
                    "timescales": timescales.name,
                    "scoring": scoring.name,
                    "start": header.start.isoformat(),
                    "end": header.end.isoformat(),
                    "population": header.population,
                    "preset": header.preset,
                    "seed": header.seed,
                    "scale": header.scale,
                },
            )
            done = 0

            def counted(events: Iterator[Event]) -> Iterator[Event]:
                for event in events:
                    published[event.type] += 1
                    yield event

            for step in packed_steps(counted(events), header.end):
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    raise asyncio.CancelledError
                await hub.publish(step)
                await drain_step(hub, timeout, step[0].occurred_at, fleet)
                done += len(step) - 1
                if on_step:
                    on_step(done, max(done, header.events))
            await hub.stop_consuming()
            board = await board_figures(hub.redis, hub.keys, header.end)
            cin = await census(hub.redis, hub.keys, header.end, year=census_year)
    report = {
        "scenario": header.name,
        "description": header.description,
        "thresholds": thresholds.name,
        "timescales": timescales.name,
        "scoring": scoring.name,
        "generated": {"preset": header.preset, "seed": header.seed, "scale": header.scale},
        "events_published": dict(sorted(published.items())),
        **board,
    }
    checks = check_figures(header.expect, report)
    report["expectations"] = summarise(checks)
    return ReplayResult(
        stub, thresholds, Outputs(decisions=[], dead_letters=[]), checks, report, cin
    )
