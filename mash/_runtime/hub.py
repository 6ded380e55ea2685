"""Wiring in one place: Redis, the faststream broker, the consumers, and the hub's own I/O.

The CLI, workers, replay, the benchmark and the tests all build their hub here, so they run
the same code a user runs (cosmicpython's `bootstrap.py`).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import operator
import os
import socket
from collections.abc import Callable, Iterable, Mapping, Sequence
from types import TracebackType
from typing import Annotated, Any

import redis.asyncio as aioredis
import structlog
from faststream import AckPolicy, FastStream
from faststream.redis import RedisBroker, RedisClusterBroker, StreamSub
from faststream.redis.message import FAKE_CONSUMER, RedisBatchStreamMessage
from faststream.specification import AsyncAPI
from pydantic import Field, SkipValidation
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisClusterException, RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from mash._config.settings import Settings, redact_url
from mash._runtime.clients import open_client, sized_url
from mash._runtime.consumer import Consumer
from mash._runtime.edge import Edge, Entry
from mash._runtime.embedded_redis import EmbeddedRedis
from mash._runtime.keys import UNSHARDED, Keys
from mash._runtime.leases import Leases
from mash._runtime.logs import BROKER_LOGGER
from mash._runtime.shards import ShardSpec, ShardSpecError
from mash.errors import HubUnavailable
from mash.schemas.events import EVENT_TYPES, STREAMS, Envelope, Event, parse_event

log = structlog.get_logger("mash.hub")


def consumer_name(settings: Settings) -> str:
    return settings.consumer_name or f"{socket.gethostname()}-{os.getpid()}"


async def _raw_batch(message: Any) -> RedisBatchStreamMessage:
    """Hand the entries to the edge untouched; the edge parses each one itself.

    faststream's default batch parser re-encodes every entry to JSON and back, which costs more
    than our own validation and turns one bad entry into a failed batch.
    """
    return RedisBatchStreamMessage(
        raw_message=message,
        body=list(zip(message["message_ids"], message["data"], strict=True)),
        consumer=FAKE_CONSUMER,
        group=None,
    )


async def _body(message: RedisBatchStreamMessage) -> Any:
    return message.body


def _batch_payload(consumer: Consumer[Any]) -> Any:
    """The handler's payload type: a batch of the events the consumer handles.

    `SkipValidation` gives faststream (and so the AsyncAPI document) the real schema of those
    events without validating anything: the edge validates entry by entry, so that one bad
    entry is one dead letter, not a failed batch.
    """
    models = tuple(EVENT_TYPES[t] for t in sorted(consumer.handles))
    union: Any = functools.reduce(operator.or_, models)  # A | B | ... built at run time
    item: Any = models[0] if len(models) == 1 else Annotated[union, Field(discriminator="type")]
    return Annotated[list[item], SkipValidation]


# What a lost connection looks like to redis-py: the server stopped, restarted or is
# unreachable. The edge's commit is atomic and idempotent, so a batch is simply tried again.
TRANSIENT = (RedisConnectionError, RedisTimeoutError, ConnectionError, OSError)


class Hub:
    """A running hub: `async with Hub(settings, consumers) as hub: ...`.

    `shards` are the shards this hub applies (all of them by default); a hub always publishes
    to, reads and waits for every shard.
    """

    def __init__(
        self,
        settings: Settings,
        consumers: Sequence[Consumer[Any]] = (),
        *,
        run_consumers: bool = True,
        shards: ShardSpec | Sequence[int] | None = None,
    ) -> None:
        self.settings = settings
        self.consumers = list(consumers)
        self.run_consumers = run_consumers
        self.keys = Keys(settings.namespace, settings.shards or 1)
        if shards is None or isinstance(shards, ShardSpec):
            self._spec = shards
        else:
            listed = tuple(sorted(set(shards)))
            self._spec = ShardSpec(",".join(map(str, listed)), listed=listed)
        self.owned: list[int] = list(range(self.keys.shards))
        self.name = consumer_name(settings)
        self._embedded: EmbeddedRedis | None = None
        self.url = ""
        self.redis: aioredis.Redis = aioredis.Redis()  # replaced in start()
        self.cluster = False  # the URL names a node of a Redis Cluster (see mash._runtime.clients)
        self.edges: dict[str, Edge[Any]] = {}
        self.leases: Leases | None = None
        self._build_app("redis://localhost:6379", connect=False)

    def _build_app(self, url: str, *, connect: bool = True) -> None:
        """A broker and app with every subscriber and publisher declared.

        Built again once the real URL is known; the first build (never connected) is what
        `mash schemas` documents, so the AsyncAPI file does not depend on where Redis runs.
        """
        broker_type = RedisClusterBroker if self.cluster else RedisBroker
        self.broker = broker_type(
            sized_url(url, self.keys.shards),
            logger=logging.getLogger(BROKER_LOGGER),
            log_level=logging.DEBUG,  # per-batch "Received/Processed" lines are debug for us
            specification_url="redis://localhost:6379" if not connect else None,
        )
        self.app = FastStream(
            self.broker,
            specification=AsyncAPI(
                title="mash",
                version="1",
                description="Multi-Agency Safeguarding Hub simulator: event streams",
            ),
        )
        self.edges = {}
        self.declare()

    # ---- lifecycle ---------------------------------------------------------------------
    async def start(self) -> Hub:
        secret = self.settings.redis_url
        if secret is None:
            self._embedded = await asyncio.to_thread(EmbeddedRedis().start)
            self.url = self._embedded.url
        else:
            self.url = secret.get_secret_value()
        shown = redact_url(self.url)
        try:
            self.redis, self.cluster = await open_client(self.url)
            if self.cluster:
                log.debug("redis cluster", url=shown)
        except (RedisError, RedisClusterException, OSError, ValueError, TimeoutError) as exc:
            await self.stop()
            why = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise HubUnavailable(f"cannot reach Redis at {shown}: {why}") from exc
        try:
            await self._agree_on_shards()
        except HubUnavailable:
            await self.stop()
            raise
        self._build_app(self.url)
        await self.create_groups()
        if self.run_consumers and self.consumers:
            self.leases = Leases(
                self.redis, self.keys, self.owned, self.name, self.settings.lease_ms
            )
            await self.leases.acquire()
        if self.run_consumers:
            await self.start_consuming()
        return self

    async def start_consuming(self) -> None:
        """Apply what a previous owner of these shards left pending, then read new entries."""
        await self.recover_pending()
        await self.broker.start()

    async def recover_pending(self) -> None:
        """Entries a dead worker read and never committed, applied before anything newer.

        The reclaim lane would take them too, but only after `reclaim_idle_ms`, by when this
        worker has applied later entries of the same children: out of order. Holding the
        shard's lease means their reader is gone, so they are claimed at once and applied in
        stream order; one that has already been delivered too often is dead-lettered as
        `too_many_attempts`, as the reclaim lane would.
        """
        for consumer in self.consumers:
            edge = self.edges[consumer.name]
            for stream, shard in self._inputs(consumer):
                await self._recover(edge, stream, shard)

    async def _recover(self, edge: Edge[Any], stream: str, shard: int) -> None:
        key, group = self.keys.stream(stream, shard), edge.consumer.name
        start: bytes | str = "0-0"
        while True:
            reply: Any = await self.redis.xautoclaim(
                key, group, self.name, 0, start_id=start, count=self.settings.batch_size
            )
            start, claimed = reply[0], [(i, f) for i, f in reply[1] if f is not None]
            if claimed:
                times = await _delivery_counts(self.redis, key, group, claimed, self.name)
                fresh: list[Entry] = []
                for entry in claimed:
                    if times.get(entry[0], 0) > self.settings.max_attempts:
                        await edge.give_up(stream, [entry], times[entry[0]], shard)
                    else:
                        fresh.append(entry)
                if fresh:
                    await edge.apply(stream, fresh, shard)
                log.info(
                    "recovered pending entries", consumer=group, stream=key, entries=len(claimed)
                )
            if start in (b"0-0", "0-0"):
                return

    async def _agree_on_shards(self) -> None:
        """Every process of a namespace must route events to the same shards.

        The first process that runs consumers or says a shard count fixes it in the
        namespace's config; the rest read it, and one that says another count is refused.
        """
        key, wanted = self.keys.config(), self.settings.shards
        if wanted is not None or self.consumers:
            await self.redis.hsetnx(key, "shards", wanted or 1)
        raw: Any = await self.redis.hget(key, "shards")
        total = int(raw) if raw else 1
        namespace = self.settings.namespace
        if wanted is not None and wanted != total:
            msg = (
                f"namespace {namespace!r} has {total} shard(s); this process was started "
                f"with {wanted} (MASH_SHARDS or --shard-count)"
            )
            raise HubUnavailable(msg)
        try:
            self.owned = self._spec.resolve(total) if self._spec else list(range(total))
        except ShardSpecError as exc:
            raise HubUnavailable(f"{exc} (namespace {namespace!r})") from exc
        self.keys = Keys(namespace, total)

    def declare(self) -> None:
        """Register every consumer's subscribers and publishers on the broker."""
        settings = self.settings
        for consumer in self.consumers:
            edge = Edge(
                self.redis,
                self.keys,
                consumer,
                max_entry_bytes=settings.max_entry_bytes,
                rule_attempts=settings.max_attempts,
            )
            self.edges[consumer.name] = edge
            payload = _batch_payload(consumer)
            for stream, shard in self._inputs(consumer):
                key = self.keys.stream(stream, shard)
                main = StreamSub(
                    key,
                    group=consumer.name,
                    consumer=self.name,
                    batch=True,
                    max_records=settings.batch_size,
                    polling_interval=settings.poll_ms,
                )
                reclaim = StreamSub(
                    key,
                    group=consumer.name,
                    consumer=f"{self.name}.reclaim",
                    batch=True,
                    max_records=1,
                    polling_interval=max(settings.poll_ms, 200),
                    min_idle_time=settings.reclaim_idle_ms,
                )
                self._subscribe(edge, stream, shard, main, payload, reclaiming=False)
                self._subscribe(edge, stream, shard, reclaim, payload, reclaiming=True)
        for stream in STREAMS:
            models = [m for m in EVENT_TYPES.values() if m.stream == stream]
            self.broker.publisher(
                stream=self.keys.stream(stream, 0),
                title=f"{stream}",
                description=f"Events on the {stream} stream",
                schema=models[0] if len(models) == 1 else Event,
            )

    def _inputs(self, consumer: Consumer[Any]) -> list[tuple[str, int]]:
        """(stream, shard) this hub applies for a consumer: each owned shard of a sharded
        stream; an unsharded one (the clock) by the owner of shard 0 only."""
        pairs: list[tuple[str, int]] = []
        for stream in consumer.inputs:
            if stream in UNSHARDED:
                if 0 in self.owned:
                    pairs.append((stream, 0))
            else:
                pairs.extend((stream, shard) for shard in self.owned)
        return pairs

    def _subscribe(
        self,
        edge: Edge[Any],
        stream: str,
        shard: int,
        sub: StreamSub[Any],
        payload: Any,
        *,
        reclaiming: bool,
    ) -> None:
        max_attempts = self.settings.max_attempts
        redis = self.redis
        where = f"{stream}:{shard}" if self.keys.shards > 1 and stream not in UNSHARDED else stream
        name = f"{edge.consumer.name}:{where}{':reclaim' if reclaiming else ''}"

        async def attempt(batch: list[Entry]) -> None:
            if reclaiming and batch:
                counts = await _delivery_counts(redis, sub.name, sub.group or "", batch[:1])
                attempts = counts.get(batch[0][0], 0)
                if attempts > max_attempts:
                    await edge.give_up(stream, batch, attempts, shard)
                    return
            result = await edge.apply(stream, batch, shard)
            log.debug(
                "batch applied",
                consumer=edge.consumer.name,
                stream=stream,
                entries=len(batch),
                applied=result.applied,
            )

        async def handle(entries: list[Entry]) -> None:
            # Redis gone (stopped, restarted, cut off): wait for it and try the batch again,
            # rather than fail it, which would leave it pending for the reclaimer and count a
            # delivery against a good event. The commit is idempotent, so a retry after a
            # commit whose reply was lost skips what it already applied.
            wait = 0.1
            while True:
                try:
                    await attempt(entries)
                except TRANSIENT as exc:
                    say = log.warning if wait == 0.1 else log.debug  # once per outage
                    say("Redis unreachable; retrying the batch", consumer=name, error=str(exc))
                    await asyncio.sleep(wait)
                    wait = min(wait * 2, 5.0)
                else:
                    return

        # Real objects, not strings: faststream builds its payload model (and the AsyncAPI
        # schema) from these, and `from __future__ import annotations` would hide them.
        handle.__annotations__ = {"entries": payload, "return": None}
        handle.__name__ = name.replace(":", "_")
        handle.__doc__ = edge.consumer.description
        self.broker.subscriber(
            stream=sub,
            parser=_raw_batch,
            decoder=_body,
            ack_policy=AckPolicy.MANUAL,
            title=name,
            description=edge.consumer.description,
            include_in_schema=not reclaiming,
        )(handle)

    async def create_groups(self) -> None:
        """Create each consumer's groups from the start of its streams.

        faststream creates a missing group at `$`, which would skip everything published before
        the first worker started; a replay publishes first, so we create groups at 0 ourselves.
        """
        for consumer in self.consumers:
            for stream in consumer.inputs:
                for key in self.keys.streams(stream):
                    try:
                        await self.redis.xgroup_create(key, consumer.name, id="0", mkstream=True)
                    except ResponseError as exc:
                        if "BUSYGROUP" not in str(exc):
                            raise

    async def stop(self) -> None:
        """Release everything, even on the way out of a cancelled (Ctrl-C) task.

        The shutdown runs in a task of its own: inside a task being cancelled, faststream's
        anyio task group would re-raise the cancellation and skip the rest of the cleanup.
        """
        await asyncio.shield(asyncio.ensure_future(self._shutdown()))

    async def stop_consuming(self) -> None:
        """Let each read loop finish its batch and leave at its next poll.

        faststream's stop cancels its read loops without waiting and then closes their
        connections, so a loop can wake on a closed socket (or be cut mid-batch) and log it as
        an error. A replay calls this once everything is applied, before its long final reads,
        so that idle loops are not left blocking on reads that time out meanwhile.
        """
        readers = [t for sub in self.broker.subscribers for t in getattr(sub, "tasks", ())]
        for sub in self.broker.subscribers:
            sub.running = False
        if readers:
            _, stragglers = await asyncio.wait(readers, timeout=self.settings.poll_ms / 1000 + 5)
            for reader in stragglers:
                reader.cancel()
            if stragglers:
                await asyncio.wait(stragglers, timeout=1)

    async def _shutdown(self) -> None:
        # Best effort: a half-started hub still releases what it holds.
        await self.stop_consuming()
        if self.leases is not None:
            leases, self.leases = self.leases, None
            with contextlib.suppress(Exception):
                await leases.release()
        with contextlib.suppress(Exception):
            await self.broker.stop()
        with contextlib.suppress(Exception):
            await self.redis.aclose()
        if self._embedded is not None:
            embedded, self._embedded = self._embedded, None
            await asyncio.to_thread(embedded.stop)

    async def __aenter__(self) -> Hub:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # ---- I/O a user of the hub needs ---------------------------------------------------
    async def publish(self, events: Iterable[Envelope], chunk: int = 1000) -> int:
        """XADD events to their streams, pipelined; returns how many were written.

        A chunk that fails because Redis went away is sent again once it is back, for up to
        a minute: entries that got through before the cut are then written twice, which the
        consumers' dedup on `event_id` makes harmless (at-least-once in, exactly-once effect).
        """
        count = 0
        chunk_of: list[tuple[str, bytes]] = []
        for event in events:
            chunk_of.append((self.keys.route(event), event.model_dump_json().encode()))
            count += 1
            if len(chunk_of) == chunk:
                await self._send(chunk_of)
                chunk_of = []
        if chunk_of:
            await self._send(chunk_of)
        return count

    async def _send(self, entries: Sequence[tuple[str, bytes]], patience: float = 60.0) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + patience
        wait = 0.1
        while True:
            try:
                async with self.redis.pipeline(transaction=False) as pipe:
                    for key, payload in entries:
                        pipe.xadd(key, {"event": payload})
                    await pipe.execute()
            except TRANSIENT as exc:
                if loop.time() > deadline:
                    msg = f"Redis at {redact_url(self.url)} unreachable for {patience:.0f}s: {exc}"
                    raise HubUnavailable(msg) from exc
                say = log.warning if wait == 0.1 else log.debug  # once per outage
                say("Redis unreachable; publishing again shortly", error=str(exc))
                await asyncio.sleep(wait)
                wait = min(wait * 2, 2.0)
            else:
                return

    async def publish_raw(
        self, stream: str, fields: Mapping[str, str | bytes], shard: int = 0
    ) -> bytes:
        """Write an entry as any client would: for tests and for other teams' tooling."""
        entry: dict[Any, Any] = dict(fields)
        entry_id: Any = await self.redis.xadd(self.keys.stream(stream, shard), entry)
        return bytes(entry_id)

    async def idle(self) -> bool:
        """True when every consumer group has read and acked everything in its streams.

        One MULTI snapshot, so no Lua commit can fall between two of the readings; each stream
        is asked once, for its last id (XREVRANGE COUNT 1, cheaper than XINFO STREAM, which
        sends whole entries) and its groups. Streams are never XDELed, so the last entry's id
        is the last id generated.
        """
        readers: dict[str, set[str]] = {}
        for consumer in self.consumers:
            for stream in consumer.inputs:
                for key in self.keys.streams(stream):
                    readers.setdefault(key, set()).add(consumer.name)
        if not readers:
            return True
        keys = sorted(readers)
        async with self.redis.pipeline(transaction=True) as pipe:
            for key in keys:
                pipe.xrevrange(key, count=1)
                pipe.xinfo_groups(key)
            replies: list[Any] = await pipe.execute()
        for index, key in enumerate(keys):
            newest, groups = replies[2 * index], replies[2 * index + 1]
            last = newest[0][0] if newest else b"0-0"
            for group in groups:
                mine = group["name"].decode() in readers[key]
                if mine and (group["pending"] or group["last-delivered-id"] != last):
                    return False
        return True

    async def drain(
        self,
        timeout: float = 60.0,
        poll: float = 0.001,
        watch: Callable[[], None] | None = None,
    ) -> None:
        """Wait until every consumer has applied everything published so far.

        Polls from `poll` seconds, doubling to 16x while the hub stays busy, so a quick step
        is noticed at once and a long one is not polled to death. `watch` may raise to stop
        waiting (the workers are gone). Redis going away for a while is waited out.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        wait = poll
        while True:
            if watch is not None:
                watch()
            try:
                if await self.idle():
                    return
            except TRANSIENT as exc:
                say = log.warning if wait < 0.1 else log.debug  # once per outage
                say("Redis unreachable; waiting for it", error=str(exc))
                wait = max(wait, 0.1)
            if loop.time() > deadline:
                raise TimeoutError(f"consumers did not drain within {timeout:.0f}s")
            await asyncio.sleep(wait)
            wait = min(wait * 2, max(poll * 16, wait))

    async def read(self, stream: str) -> list[Event]:
        """Every event on a stream: in stream order with one shard, and in event time (then
        shard order) with several, which is the same whatever the workers' timing."""
        keys = self.keys.streams(stream)
        events: list[Event] = []
        for key in keys:
            start = "-"
            while True:
                entries: Any = await self.redis.xrange(key, min=start, count=5000)
                if not entries:
                    break
                for _, fields in entries:
                    events.append(parse_event(fields[b"event"]))
                start = "(" + entries[-1][0].decode()
        if len(keys) > 1:
            events.sort(key=lambda e: e.occurred_at)
        return events

    def asyncapi(self) -> dict[str, Any]:
        spec = self.app.schema.to_specification()
        data: dict[str, Any] = spec.to_jsonable()
        return data


async def _delivery_counts(
    redis: aioredis.Redis,
    key: str,
    group: str,
    entries: Sequence[Entry],
    consumer: str | None = None,
) -> dict[bytes, int]:
    """How often each of these pending entries has been delivered (XPENDING's counter)."""
    rows: Any = await redis.xpending_range(
        key, group, min=entries[0][0], max=entries[-1][0], count=len(entries),
        consumername=consumer,
    )  # fmt: skip
    return {row["message_id"]: int(row["times_delivered"]) for row in rows}
