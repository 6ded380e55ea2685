"""A generated year replayed in memory: the hub's pure pipeline, no Redis.

Why: calibrating a generator is a loop of "generate, replay, read the figures", and the
figures come from the same consumers and the same pure fold a real replay uses. Running the
pipeline in one process over the whole file (one round, watermark at the year's end) gives
the figures a Redis replay gives, because no answer depends on where watermarks fall
(`tests/unit/test_pipeline.py`), in seconds and with nothing to start. The e2e tests still
replay one year through real Redis and workers to prove the two agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mash._bootstrap import build_consumers
from mash._config.settings import DEFAULT_SCORING, DEFAULT_THRESHOLDS, DEFAULT_TIMESCALES
from mash._report.figures import figures
from mash._runtime.pipeline import Item, Pipeline, ShardStates, children_of
from mash._scenarios.generated import GeneratedHeader, open_generated, timescales_path
from mash.consumers.cse.scoring import load_scoring
from mash.consumers.screening.thresholds import load_thresholds
from mash.consumers.timescales.config import load_timescales
from mash.schemas.events import Envelope


@dataclass
class MemoryReplay:
    """What an in-memory replay of a generated year leaves: its header, the reporter's
    tallies, every consumer's state by child, and the derived events."""

    header: GeneratedHeader
    tallies: dict[str, int]
    states: dict[str, dict[str, Any]]
    outputs: list[Envelope]

    def figures(self) -> dict[str, Any]:
        h = self.header
        return figures(self.tallies, at=h.end, population=h.population, since=h.start)


def replay_in_memory(path: Path) -> MemoryReplay:
    """Every event of the file through the four consumers, in event time, in one round."""
    with open_generated(path) as (header, events):
        consumers = build_consumers(
            load_thresholds(DEFAULT_THRESHOLDS),
            load_timescales(timescales_path(header) or DEFAULT_TIMESCALES),
            load_scoring(DEFAULT_SCORING),
        )
        items: list[Item] = []
        children: set[str] = set()
        for i, event in enumerate(events):
            stream = type(event).stream
            items.append(Item(event, stream, stream, b"0-0", i))
            children.update(children_of(event))
    pipeline = Pipeline(consumers, dedupe_window=header.end - header.start)
    shard = ShardStates(consumers, {}, {}, children)
    result = pipeline.run_round(shard, items, header.end, children)
    return MemoryReplay(header, result.tally, shard.states, result.outputs)
