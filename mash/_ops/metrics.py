"""A worker's Prometheus metrics: lag, pending entries, outcomes and dead letters per group
and shard, read from Redis by the worker's loop and served from the last reading.

Each worker exports the shards it applies (and the clock stream if it owns shard 0), so
summing over workers gives the namespace without double counting; dead-letter totals are the
namespace's and carry no shard.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence
from typing import Any

import structlog
from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from redis.exceptions import RedisError

from mash._runtime.hub import Hub
from mash._runtime.progress import Snapshot, snapshot
from mash.errors import HubUnavailable

log = structlog.get_logger("mash.metrics")


class HubCollector(Collector):
    def __init__(self, shards: Sequence[int]) -> None:
        self.shards = set(shards)
        self.last: Snapshot | None = None
        self.scrapes_failed = 0

    def _mine(self, stream: str, shard: int) -> bool:
        return shard in self.shards

    def collect(self) -> Iterator[Any]:
        labels = ["consumer", "stream", "shard"]
        lag = GaugeMetricFamily("mash_consumer_lag", "Entries not yet applied", labels=labels)
        pending = GaugeMetricFamily(
            "mash_consumer_pending", "Entries read and not yet acked", labels=labels
        )
        outcomes = CounterMetricFamily(
            "mash_entries",
            "Entries acked, by outcome (applied, duplicate, ignored, dead.<reason>)",
            labels=[*labels, "outcome"],
        )
        owned = GaugeMetricFamily(
            "mash_shard_owned", "Shards this worker applies", labels=["shard"]
        )
        dead = CounterMetricFamily("mash_dead_letters", "Dead letters in the namespace")
        recent = GaugeMetricFamily(
            "mash_dead_letters_last_minute", "Dead letters written in the last minute"
        )
        by_reason = CounterMetricFamily(
            "mash_dead_letters_by_reason", "Dead letters by reason", labels=["reason"]
        )
        failed = CounterMetricFamily(
            "mash_metrics_read_failures", "Readings of Redis that failed (Redis unreachable)"
        )
        for shard in sorted(self.shards):
            owned.add_metric([str(shard)], 1)
        snap = self.last
        if snap is not None:
            for g in snap.groups:
                if not self._mine(g.stream, g.shard):
                    continue
                where = [g.consumer, g.stream, str(g.shard)]
                lag.add_metric(where, g.lag)
                pending.add_metric(where, g.pending)
                for outcome, n in sorted(g.outcomes.items()):
                    outcomes.add_metric([*where, outcome], n)
            dead.add_metric([], snap.dead_letters)
            recent.add_metric([], snap.dead_letters_last_minute)
            for reason, n in sorted(snap.dead_by_reason.items()):
                by_reason.add_metric([reason], n)
        failed.add_metric([], self.scrapes_failed)
        yield from (lag, pending, outcomes, owned, dead, recent, by_reason, failed)


class Metrics:
    """`async with Metrics(hub, port):` serves /metrics on the port while the block runs."""

    def __init__(self, hub: Hub, port: int, host: str = "127.0.0.1", interval: float = 2.0):
        self.hub = hub
        self.port = port
        self.host = host
        self.interval = interval
        self.registry = CollectorRegistry()
        self.collector = HubCollector(hub.owned)
        self.registry.register(self.collector)
        self._server: Any = None
        self._task: asyncio.Task[None] | None = None

    async def read(self) -> None:
        try:
            self.collector.last = await snapshot(self.hub.redis, self.hub.keys)
        except (RedisError, OSError):
            self.collector.scrapes_failed += 1

    async def _loop(self) -> None:
        while True:
            await self.read()
            await asyncio.sleep(self.interval)

    async def __aenter__(self) -> Metrics:
        try:
            self._server, _thread = start_http_server(self.port, self.host, registry=self.registry)
        except OSError as exc:
            msg = f"cannot serve metrics on {self.host}:{self.port}: {exc.strerror or exc}"
            raise HubUnavailable(msg) from exc
        log.info("metrics served", host=self.host, port=self.port)
        self._task = asyncio.create_task(self._loop())
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
