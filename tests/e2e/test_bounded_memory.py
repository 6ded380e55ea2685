"""Bounded memory, same answers. Retention: with MASH_RETENTION set, every stream keeps that
many entries as the run goes, never one a consumer group still owes. The edge's cache of
children: when a year's children outnumber it, the ones used longest ago are read back from
Redis when they return."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from mash._bootstrap import build_consumers
from mash._config.settings import DEFAULT_THRESHOLDS, Settings
from mash._replay.driver import replay_generated
from mash._report.report import to_json
from mash._runtime.hub import Hub
from mash._runtime.pipeline import Pipeline, due_instant
from mash._runtime.progress import snapshot
from mash.consumers.screening.thresholds import load_thresholds
from mash.schemas.events import STREAMS
from tests.e2e.test_scale import _workers, at_a_third, fault_settings

KEEP = 40


async def _lengths(hub: Hub) -> dict[str, int]:
    return {key: await hub.redis.xlen(key) for s in STREAMS for key in hub.keys.streams(s)}


async def test_a_year_replayed_with_retention_keeps_only_that_much_and_gives_the_same_report(
    year: Path, clean: str, redis_url: str, namespace: str
) -> None:
    settings = Settings(redis_url=SecretStr(redis_url), namespace=namespace, retention=KEEP)
    decisions = f"mash:{{{namespace}}}:decisions"
    async with Hub(settings, [], run_consumers=False) as hub:
        # A team's own consumer group on the decisions, created before the run and reading
        # nothing: the hub may trim every other stream, but it owes this group everything.
        await hub.redis.xgroup_create(decisions, "team", id="0", mkstream=True)
    result = await replay_generated(year, settings)
    assert to_json(result.report) == clean
    async with Hub(settings, [], run_consumers=False) as hub:
        lengths = await _lengths(hub)
        assert lengths[decisions] == result.report["decisions"]["total"]  # all still owed
        others = {k: n for k, n in lengths.items() if k != decisions}
        assert max(others.values()) <= KEEP, others
        assert lengths[f"mash:{{{namespace}}}:timescales"] == KEEP  # trimmed, down to KEEP
        progress = await snapshot(hub.redis, hub.keys)
        applying = [g for g in progress.groups if g.consumer.startswith("hub")]
        assert applying and all(g.lag == 0 for g in applying), [
            (g.consumer, g.stream, g.lag) for g in applying
        ]
        assert sum(g.trimmed for g in applying) > 0
        # The team reads 25 and acks 10: 15 pending. A trim keeps from the oldest it owes.
        read: Any = await hub.redis.xreadgroup("team", "t1", {decisions: ">"}, count=25)
        ids = [entry_id for entry_id, _ in read[0][1]]
        await hub.redis.xack(decisions, "team", *ids[:10])
    consumers = build_consumers(load_thresholds(DEFAULT_THRESHOLDS))
    async with Hub(settings, consumers, run_consumers=False) as hub:
        await hub.edges[0].trim()
        first: Any = await hub.redis.xrange(decisions, count=1)
        assert first[0][0] == ids[10]  # the oldest entry the team has not acked
        assert await hub.redis.xlen(decisions) == result.report["decisions"]["total"] - 10


@pytest.mark.parametrize("retention", [KEEP])
async def test_a_worker_killed_mid_replay_with_retention_loses_nothing(
    year: Path, clean: str, redis_url: str, namespace: str, retention: int
) -> None:
    """Exactly once with trimming: a SIGKILLed worker's pending entries are past every
    trim's bound, so its successor still claims and applies them."""
    killed: list[int] = []

    def kill_one() -> None:
        victim = _workers()[0]
        killed.append(victim.pid)
        victim.send_signal(signal.SIGKILL)

    settings = fault_settings(redis_url, namespace).model_copy(update={"retention": retention})
    result = await replay_generated(year, settings, workers=2, on_step=at_a_third(kill_one))
    assert killed, "the fault was never injected"
    assert to_json(result.report) == clean
    async with Hub(settings, [], run_consumers=False) as hub:
        assert max((await _lengths(hub)).values()) <= retention


async def test_a_year_whose_children_outnumber_the_cache_gives_the_same_report(
    year: Path, clean: str, redis_url: str, namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mash._runtime.edge as edge

    monkeypatch.setattr(edge, "CACHE_LIMIT", 40)  # the year has about 700 children
    settings = Settings(redis_url=SecretStr(redis_url), namespace=namespace)
    # Steps of 25 events: 80-odd rounds, so children kept in the cache come back round after
    # round, and others are forgotten and read back.
    result = await replay_generated(year, settings, step_events=25)
    assert to_json(result.report) == clean
    # A round sends only the deadline scores that changed, by what this process committed
    # last; children forgotten and read back must still leave the index as their states say.
    async with Hub(settings, [], run_consumers=False) as hub:
        index: Any = await hub.redis.zrange(hub.keys.due(0), 0, -1, withscores=True)
        assert {child.decode(): score for child, score in index} == await _deadlines(hub)


async def _deadlines(hub: Hub) -> dict[str, float]:
    """Each child's earliest deadline over the timed consumers, from its stored states."""
    pipeline = Pipeline(build_consumers(load_thresholds(DEFAULT_THRESHOLDS)))
    states: dict[str, dict[str, Any]] = {}
    for consumer in pipeline.timed:
        raw: Any = await hub.redis.hgetall(hub.keys.state(consumer.name))
        for child, value in raw.items():
            state = consumer.state_type.model_validate_json(value)
            states.setdefault(child.decode(), {})[consumer.name] = state
    dues = {child: due_instant(pipeline, held) for child, held in states.items()}
    assert len(dues) > 40  # more children than the cache holds
    return {child: due.timestamp() for child, due in dues.items() if due is not None}
