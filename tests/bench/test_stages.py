"""Where an event's time goes, stage by stage and consumer by consumer, so a regression shows
where it is: parsing an entry, loading a child's state, each consumer's rule, writing the
state back, and the edge's atomic commit on a real Redis.

In the suite these run once each, as tests of what they measure (`--benchmark-disable` is in
the defaults). For figures: `pytest tests/bench --benchmark-enable --benchmark-columns=
median,iqr,ops --benchmark-sort=name`, and compare medians between commits on the same
machine, never against a figure from another.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

import pytest
import redis.asyncio as aioredis

from mash._bootstrap import build_consumers
from mash._config.settings import DEFAULT_THRESHOLDS
from mash._replay.steps import watermarked
from mash._runtime.consumer import Consumer
from mash._runtime.edge import ShardEdge
from mash._runtime.keys import Keys
from mash._runtime.pipeline import Item, Pipeline, RoundResult, ShardStates, children_of
from mash._time.clock import tick as clock_tick
from mash.consumers.screening.thresholds import load_thresholds
from mash.schemas.events import ClockTick, Event, parse_event
from tests.generated import generated_year

NAMES = ["cse", "screening", "timescales", "reporter"]


@dataclasses.dataclass
class Recorded:
    """A slice of a generated year run through the pure pipeline, with every rule call."""

    lines: list[str]
    consumers: list[Consumer[Any]]
    calls: dict[str, list[tuple[Mapping[str, Any], Event]]]
    outputs: dict[str, int]  # events each consumer emitted
    states: dict[str, dict[str, Any]]  # each consumer's final states by child
    last: tuple[ShardStates, RoundResult, datetime]  # the last round, for the commit


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Recorded:
    path = generated_year(tmp_path_factory.mktemp("bench"), 0.05, seed=3)
    lines = path.read_text(encoding="utf-8").splitlines()[1:]
    calls: dict[str, list[tuple[Mapping[str, Any], Event]]] = {n: [] for n in NAMES}
    outputs = dict.fromkeys(NAMES, 0)

    def recording(consumer: Consumer[Any]) -> Consumer[Any]:
        inner = consumer.rule

        def rule(states: Mapping[str, Any], event: Event) -> Any:
            calls[consumer.name].append((dict(states), event))
            result = inner(states, event)
            outputs[consumer.name] += len(result[1])
            return result

        return dataclasses.replace(consumer, rule=rule)

    plain = build_consumers(load_thresholds(DEFAULT_THRESHOLDS))
    consumers = [recording(c) for c in plain]
    pipeline = Pipeline(consumers)
    states: dict[str, dict[str, Any]] = {c.name: {} for c in consumers}
    ledgers: dict[str, Any] = {}
    events = [parse_event(line) for line in lines]
    last: tuple[ShardStates, RoundResult, datetime] | None = None
    for step in watermarked(events, None, every=200):
        items = [
            Item(e, type(e).stream, type(e).stream, b"0-0", i)
            for i, e in enumerate(step.events)
            if not isinstance(e, ClockTick)
        ]
        children = {c for i in items for c in children_of(i.event)}
        every = set().union(*(s.keys() for s in states.values()))
        shard = ShardStates(consumers, states, ledgers, children | every)
        result = pipeline.run_round(shard, items, step.watermark, sorted(every))
        for name, held in shard.states.items():
            states[name].update({k: held[k] for k in shard.changed[name]})
        ledgers.update(shard.ledgers)
        last = (shard, result, step.watermark)
    assert last is not None
    return Recorded(lines, plain, calls, outputs, states, last)


def test_parse(benchmark: Any, recorded: Recorded) -> None:
    parsed = benchmark(lambda: [parse_event(line) for line in recorded.lines])
    assert len(parsed) == len(recorded.lines)
    assert {type(e).stream for e in parsed} >= {"contacts", "casework", "missing"}


@pytest.mark.parametrize("name", NAMES)
def test_rule(benchmark: Any, recorded: Recorded, name: str) -> None:
    """Each consumer's rule over the very calls it got in the run: rules are pure, so the
    same states and events give the same outputs."""
    consumer = next(c for c in recorded.consumers if c.name == name)
    calls = recorded.calls[name]

    def run() -> int:
        return sum(len(consumer.rule(states, event)[1]) for states, event in calls)

    assert len(calls) > 100
    assert benchmark(run) == recorded.outputs[name]


@pytest.mark.parametrize("name", NAMES)
def test_state_load(benchmark: Any, recorded: Recorded, name: str) -> None:
    """What the edge does for a child it has not held in memory: validate its stored JSON."""
    consumer = next(c for c in recorded.consumers if c.name == name)
    stored = [s.model_dump_json() for s in recorded.states[name].values()]
    loaded = benchmark(lambda: [consumer.state_type.model_validate_json(j) for j in stored])
    assert loaded == list(recorded.states[name].values())


@pytest.mark.parametrize("name", NAMES)
def test_state_dump(benchmark: Any, recorded: Recorded, name: str) -> None:
    """What every commit does for each child a round changed."""
    states = list(recorded.states[name].values())
    dumped = benchmark(lambda: [s.model_dump_json() for s in states])
    assert len(dumped) == len(states) > 0


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    running = asyncio.new_event_loop()
    yield running
    running.close()


def test_commit(
    benchmark: Any,
    recorded: Recorded,
    redis_url: str,
    namespace: str,
    loop: asyncio.AbstractEventLoop,
) -> None:
    """The last round's commit (states, deadline index, ledgers, outputs, tallies, progress,
    acks), as one Lua script on the session's real Redis."""
    shard, result, watermark = recorded.last
    keys = Keys(namespace)
    client = aioredis.from_url(redis_url)
    edge = ShardEdge(client, keys, Pipeline(recorded.consumers), 0, "bench")
    tick = Item(clock_tick(watermark), "clock", keys.stream("clock"), b"1-0", 0)
    commit, _scores = edge._commit_of(shard, result, watermark, tick)

    async def once() -> int:
        return int(await edge._script(keys=commit.keys, args=commit.args))

    try:
        loop.run_until_complete(client.set(keys.lease_holder(0), "bench"))
        assert benchmark(lambda: loop.run_until_complete(once())) == 1
        stored = loop.run_until_complete(client.hlen(keys.state("reporter")))
        assert stored == len(shard.changed["reporter"]) > 0
    finally:
        loop.run_until_complete(client.aclose())
