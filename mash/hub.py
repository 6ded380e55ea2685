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
from collections.abc import Iterable, Mapping, Sequence
from types import TracebackType
from typing import Annotated, Any

import redis.asyncio as aioredis
import structlog
from faststream import AckPolicy, FastStream
from faststream.redis import RedisBroker, StreamSub
from faststream.redis.message import FAKE_CONSUMER, RedisBatchStreamMessage
from faststream.specification import AsyncAPI
from pydantic import Field, SkipValidation
from redis.exceptions import RedisError, ResponseError

from mash.edge import Consumer, Edge, Entry
from mash.embedded_redis import EmbeddedRedis
from mash.errors import HubUnavailable
from mash.keys import Keys
from mash.logs import BROKER_LOGGER
from mash.settings import Settings, redact_url
from schemas.events import EVENT_TYPES, STREAMS, Envelope, Event, parse_event

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


class Hub:
    """A running hub: `async with Hub(settings, consumers) as hub: ...`."""

    def __init__(
        self,
        settings: Settings,
        consumers: Sequence[Consumer[Any]] = (),
        *,
        run_consumers: bool = True,
    ) -> None:
        self.settings = settings
        self.consumers = list(consumers)
        self.run_consumers = run_consumers
        self.keys = Keys(settings.namespace)
        self.name = consumer_name(settings)
        self._embedded: EmbeddedRedis | None = None
        self.url = ""
        self.redis: aioredis.Redis = aioredis.Redis()  # replaced in start()
        self.edges: dict[str, Edge[Any]] = {}
        self._build_app("redis://localhost:6379", connect=False)

    def _build_app(self, url: str, *, connect: bool = True) -> None:
        """A broker and app with every subscriber and publisher declared.

        Built again once the real URL is known; the first build (never connected) is what
        `mash schemas` documents, so the AsyncAPI file does not depend on where Redis runs.
        """
        self.broker = RedisBroker(
            url,
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
            self.redis = aioredis.from_url(self.url)
            await asyncio.wait_for(self.redis.ping(), timeout=5)
        except (RedisError, OSError, ValueError, TimeoutError) as exc:
            await self.stop()
            why = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise HubUnavailable(f"cannot reach Redis at {shown}: {why}") from exc
        self._build_app(self.url)
        await self.create_groups()
        if self.run_consumers:
            await self.broker.start()
        return self

    def declare(self) -> None:
        """Register every consumer's subscribers and publishers on the broker."""
        settings = self.settings
        for consumer in self.consumers:
            edge = Edge(self.redis, self.keys, consumer)
            self.edges[consumer.name] = edge
            payload = _batch_payload(consumer)
            for stream in consumer.inputs:
                key = self.keys.stream(stream)
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
                self._subscribe(edge, stream, main, payload, reclaiming=False)
                self._subscribe(edge, stream, reclaim, payload, reclaiming=True)
        for stream in STREAMS:
            models = [m for m in EVENT_TYPES.values() if m.stream == stream]
            self.broker.publisher(
                stream=self.keys.stream(stream),
                title=f"{stream}",
                description=f"Events on the {stream} stream",
                schema=models[0] if len(models) == 1 else Event,
            )

    def _subscribe(
        self, edge: Edge[Any], stream: str, sub: StreamSub[Any], payload: Any, *, reclaiming: bool
    ) -> None:
        max_attempts = self.settings.max_attempts
        redis = self.redis
        name = f"{edge.consumer.name}:{stream}{':reclaim' if reclaiming else ''}"

        async def handle(entries: list[Entry]) -> None:
            batch = entries
            if reclaiming and batch:
                attempts = await _delivery_count(redis, sub, batch[0][0])
                if attempts > max_attempts:
                    await edge.give_up(stream, batch, attempts)
                    return
            result = await edge.apply(stream, batch)
            log.debug(
                "batch applied",
                consumer=edge.consumer.name,
                stream=stream,
                entries=len(batch),
                applied=result.applied,
            )

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
                try:
                    await self.redis.xgroup_create(
                        self.keys.stream(stream), consumer.name, id="0", mkstream=True
                    )
                except ResponseError as exc:
                    if "BUSYGROUP" not in str(exc):
                        raise

    async def stop(self) -> None:
        """Release everything, even on the way out of a cancelled (Ctrl-C) task.

        The shutdown runs in a task of its own: inside a task being cancelled, faststream's
        anyio task group would re-raise the cancellation and skip the rest of the cleanup.
        """
        await asyncio.shield(asyncio.ensure_future(self._shutdown()))

    async def _shutdown(self) -> None:
        # Best effort: a half-started hub still releases what it holds. faststream's stop
        # cancels its read loops without waiting and then closes their connections, so a loop
        # can wake on a closed socket (or be cut mid-batch) and log it as an error. We let each
        # loop finish its batch and leave at its next poll instead; stragglers are cancelled.
        readers = [t for sub in self.broker.subscribers for t in getattr(sub, "tasks", ())]
        for sub in self.broker.subscribers:
            sub.running = False
        if readers:
            _, stragglers = await asyncio.wait(readers, timeout=self.settings.poll_ms / 1000 + 5)
            for reader in stragglers:
                reader.cancel()
            if stragglers:
                await asyncio.wait(stragglers, timeout=1)
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
        """XADD events to their streams, pipelined; returns how many were written."""
        count = 0
        pipe = self.redis.pipeline(transaction=False)
        for event in events:
            pipe.xadd(self.keys.stream(type(event).stream), {"event": event.model_dump_json()})
            count += 1
            if count % chunk == 0:
                await pipe.execute()
        await pipe.execute()
        return count

    async def publish_raw(self, stream: str, fields: Mapping[str, str | bytes]) -> bytes:
        """Write an entry as any client would: for tests and for other teams' tooling."""
        entry: dict[Any, Any] = dict(fields)
        entry_id: Any = await self.redis.xadd(self.keys.stream(stream), entry)
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
                readers.setdefault(self.keys.stream(stream), set()).add(consumer.name)
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

    async def drain(self, timeout: float = 60.0, poll: float = 0.001) -> None:
        """Wait until every consumer has applied everything published so far.

        Polls from `poll` seconds, doubling to 16x while the hub stays busy, so a quick step
        is noticed at once and a long one is not polled to death.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        wait = poll
        while not await self.idle():
            if loop.time() > deadline:
                raise TimeoutError(f"consumers did not drain within {timeout:.0f}s")
            await asyncio.sleep(wait)
            wait = min(wait * 2, poll * 16)

    async def read(self, stream: str) -> list[Event]:
        """Every event on a stream, in stream order."""
        key = self.keys.stream(stream)
        events: list[Event] = []
        start = "-"
        while True:
            entries: Any = await self.redis.xrange(key, min=start, count=5000)
            if not entries:
                return events
            for _, fields in entries:
                events.append(parse_event(fields[b"event"]))
            start = "(" + entries[-1][0].decode()

    def asyncapi(self) -> dict[str, Any]:
        spec = self.app.schema.to_specification()
        data: dict[str, Any] = spec.to_jsonable()
        return data


async def _delivery_count(redis: aioredis.Redis, sub: StreamSub[Any], entry_id: bytes) -> int:
    rows = await redis.xpending_range(
        sub.name, sub.group or "", min=entry_id, max=entry_id, count=1
    )
    return int(rows[0]["times_delivered"]) if rows else 0
