"""The running hub: Redis, the faststream broker, the pipeline per shard, and the hub's I/O.

The CLI, workers, replay, the benchmark and the tests all build their hub here, so they run
the same code a user runs. A hub that runs consumers applies the shards it holds a lease on:
one faststream batch subscriber per input stream of each shard hands entries to the shard's
edge, and one per shard on the clock stream hands it the watermarks that start its rounds.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import operator
import os
import socket
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
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
from mash._runtime.cancellation import raise_if_cancelled
from mash._runtime.clients import open_client, sized_url
from mash._runtime.consumer import Consumer
from mash._runtime.edge import MEMO, EdgeStopping, Entry, ShardEdge, ShardMoved
from mash._runtime.embedded_redis import EmbeddedRedis
from mash._runtime.keys import HUB_GROUP, UNSHARDED, Keys
from mash._runtime.leases import Leases, ShardLost
from mash._runtime.logs import BROKER_LOGGER
from mash._runtime.pipeline import Pipeline
from mash._runtime.shards import ShardSpec, ShardSpecError
from mash.errors import HubUnavailable
from mash.schemas.events import EVENT_TYPES, STREAMS, Envelope, Event, parse_event, wire_json

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


def _batch_payload(types: Iterable[str]) -> Any:
    """A handler's payload type: a batch of the events it reads.

    `SkipValidation` gives faststream (and so the AsyncAPI document) the real schema of those
    events without validating anything: the edge validates entry by entry, so that one bad
    entry is one dead letter, not a failed batch.
    """
    models = tuple(EVENT_TYPES[t] for t in sorted(types))
    union: Any = functools.reduce(operator.or_, models)  # A | B | ... built at run time
    item: Any = models[0] if len(models) == 1 else Annotated[union, Field(discriminator="type")]
    return Annotated[list[item], SkipValidation]


# What a lost connection looks like to redis-py: the server stopped, restarted or is
# unreachable. Every commit is atomic and idempotent, so a batch is simply tried again.
TRANSIENT = (RedisConnectionError, RedisTimeoutError, ConnectionError, OSError)

# ARGV: pairs of (index into KEYS, payload); each payload one entry of its stream.
_PUBLISH = """
for i = 1, #ARGV, 2 do
  redis.call('XADD', KEYS[tonumber(ARGV[i])], '*', 'event', ARGV[i + 1])
end
return #ARGV / 2
"""


class Hub:
    """A running hub: `async with Hub(settings, consumers) as hub: ...`.

    `consumers` are listed in dependency order (see `mash._bootstrap`). `shards` are the
    shards this hub applies (all of them by default); a hub always publishes to, reads and
    waits for every shard.
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
        self.pipeline = Pipeline(
            self.consumers,
            dedupe_window=timedelta(days=settings.dedupe_days),
            rule_attempts=settings.max_attempts,
        )
        self.run_consumers = run_consumers
        self.keys = Keys(
            settings.namespace, settings.shards or 1, broadcast=bool(self.pipeline.hub)
        )
        if shards is None or isinstance(shards, ShardSpec):
            self._spec = shards
        else:
            listed = tuple(sorted(set(shards)))
            self._spec = ShardSpec(",".join(map(str, listed)), listed=listed)
        self.owned: list[int] = list(range(self.keys.shards))
        self.name = consumer_name(settings)
        self.clock = settings.clock
        self._embedded: EmbeddedRedis | None = None
        self.url = ""
        self._publish: Any = None  # the publishing script, registered on the hub's client
        self.redis: aioredis.Redis = aioredis.Redis()  # replaced in start()
        self.cluster = False  # the URL names a node of a Redis Cluster (see mash._runtime.clients)
        self.edges: dict[int, ShardEdge] = {}
        self.leases: Leases | None = None
        self.committed = asyncio.Condition()
        self._tasks: list[asyncio.Task[Any]] = []
        self._failure: BaseException | None = None
        self.applying = False  # this process applies its shards (it holds their leases)
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
            self._publish = None
            if self.cluster:
                log.debug("redis cluster", url=shown)
        except (RedisError, RedisClusterException, OSError, ValueError, TimeoutError) as exc:
            await self.stop()
            why = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise HubUnavailable(f"cannot reach Redis at {shown}: {why}") from exc
        try:
            await self._agree()
            self._build_app(self.url)
            await self.create_groups()
            if self.run_consumers and self.consumers:
                await self.start_applying()
        except BaseException:
            # Refused, failed, or cancelled half-way (a caller's timeout): a hub whose
            # readers started must stop them, or they outlive the caller's event loop.
            await self.stop()
            raise
        return self

    async def start_applying(self) -> None:
        """Take the leases of this hub's shards (waiting for a previous holder), keep them,
        and start applying: what a dead owner left pending first, then new entries."""
        self.leases = Leases(self.redis, self.keys, self.owned, self.name, self.settings.lease_ms)
        await self.leases.acquire()
        self.applying = True
        self._tasks.append(asyncio.create_task(self._keep_leases()))
        await self.start_consuming()

    async def _keep_leases(self) -> None:
        assert self.leases is not None
        try:
            await self.leases.keep()
        except ShardLost as exc:
            self._failure = exc
            log.error("shard lost", error=str(exc))  # noqa: TRY400 - the line says it all

    async def start_consuming(self) -> None:
        """Apply what a previous owner of these shards left pending, then read new entries."""
        ticks = await self.recover_pending()
        await self.broker.start()
        for shard, entries in ticks.items():
            if entries:
                self._tasks.append(
                    asyncio.create_task(self._guard(self.edges[shard].receive_ticks, entries))
                )

    async def recover_pending(self) -> dict[int, list[Entry]]:
        """Entries a dead worker read and never committed, taken over before anything newer.

        Holding the shard's lease means their reader is gone, so they are claimed at once and
        handed to the shard's edge in stream order; one already delivered too often is
        dead-lettered as `too_many_attempts`. Watermarks it had not applied yet are returned,
        to be applied once the subscribers run.
        """
        ticks: dict[int, list[Entry]] = {}
        for shard, edge in self.edges.items():
            for stream in self.pipeline.inputs:
                fresh = await self._claim(edge, stream, shard)
                await edge.receive(stream, fresh)
            ticks[shard] = await self._claim(edge, "clock", shard)
        return ticks

    async def _claim(self, edge: ShardEdge, stream: str, shard: int) -> list[Entry]:
        key, group = self.keys.stream(stream, shard), self.keys.group(stream, shard)
        start: bytes | str = "0-0"
        fresh: list[Entry] = []
        while True:
            reply: Any = await self.redis.xautoclaim(
                key, group, self.name, 0, start_id=start, count=self.settings.batch_size
            )
            start, claimed = reply[0], [(i, f) for i, f in reply[1] if f is not None]
            if claimed:
                times = await _delivery_counts(self.redis, key, group, claimed, self.name)
                worn = [e for e in claimed if times.get(e[0], 0) > self.settings.max_attempts]
                if worn:
                    await edge.give_up(stream, worn, max(times[e[0]] for e in worn))
                fresh.extend(e for e in claimed if e not in worn)
                log.info("recovered pending entries", stream=key, entries=len(claimed))
            if start in (b"0-0", "0-0"):
                return fresh

    async def _agree(self) -> None:
        """Every process of a namespace must route events to the same shards and run on one
        clock: the first process that runs consumers or says a shard count (or a clock) fixes
        it in the namespace's config; the rest read it, and one that says otherwise is
        refused."""
        key, wanted = self.keys.config(), self.settings.shards
        if wanted is not None or self.consumers:
            await self.redis.hsetnx(key, "shards", wanted or 1)
        if self.settings.clock is not None:
            await self.redis.hsetnx(key, "clock", self.settings.clock)
        if self.consumers:
            await self.redis.hsetnx(key, "team", "1" if self.pipeline.hub else "0")
        config: Any = await self.redis.hgetall(key)
        total = int(config.get(b"shards", b"1"))
        clock = config.get(b"clock")
        self.clock = clock.decode() if clock else self.settings.clock
        namespace = self.settings.namespace
        if wanted is not None and wanted != total:
            msg = (
                f"namespace {namespace!r} has {total} shard(s); this process was started "
                f"with {wanted} (MASH_SHARDS or --shard-count)"
            )
            raise HubUnavailable(msg)
        if self.settings.clock is not None and self.clock != self.settings.clock:
            msg = (
                f"namespace {namespace!r} runs on the {self.clock} clock; this process was "
                f"started with --clock {self.settings.clock}"
            )
            raise HubUnavailable(msg)
        team = config.get(b"team") == b"1"
        if self.consumers and team != bool(self.pipeline.hub):
            msg = (
                f"namespace {namespace!r} runs {'with' if team else 'without'} a team; "
                f"this process was started {'without' if team else 'with'} one (--team, MASH_TEAM)"
            )
            raise HubUnavailable(msg)
        try:
            self.owned = self._spec.resolve(total) if self._spec else list(range(total))
        except ShardSpecError as exc:
            raise HubUnavailable(f"{exc} (namespace {namespace!r})") from exc
        self.keys = Keys(namespace, total, broadcast=team)

    def declare(self) -> None:
        """Register every shard's subscribers (and the streams' publishers) on the broker."""
        settings = self.settings
        if self.consumers:
            for shard in self.owned:
                edge = ShardEdge(
                    self.redis,
                    self.keys,
                    self.pipeline,
                    shard,
                    self.name,
                    max_entry_bytes=settings.max_entry_bytes,
                    lease_ms=settings.lease_ms,
                    on_commit=self.committed,
                    retention=settings.retention,
                )
                self.edges[shard] = edge
                for stream in (*self.pipeline.inputs, "clock"):
                    self._subscribe(edge, stream, shard)
        for stream in STREAMS:
            models = [m for m in EVENT_TYPES.values() if m.stream == stream]
            self.broker.publisher(
                stream=self.keys.stream(stream, 0),
                title=f"{stream}",
                description=f"Events on the {stream} stream",
                schema=models[0] if len(models) == 1 else Event,
            )

    def _subscribe(self, edge: ShardEdge, stream: str, shard: int) -> None:
        key = self.keys.stream(stream, shard)
        sharded = self.keys.shards > 1 and stream not in UNSHARDED
        name = f"hub:{stream}" + (f":{shard}" if sharded or stream in UNSHARDED else "")
        sub = StreamSub(
            key,
            group=self.keys.group(stream, shard),
            consumer=self.name,
            batch=True,
            max_records=self.settings.batch_size,
            polling_interval=self.settings.poll_ms,
        )
        types = {t for t in self.pipeline.handled if EVENT_TYPES[t].stream == stream}
        if stream == "clock":

            async def apply(entries: list[Entry]) -> None:
                await edge.receive_ticks(entries)
        else:

            async def apply(entries: list[Entry]) -> None:
                await edge.receive(stream, entries)

        async def handle(entries: list[Entry]) -> None:
            try:
                await self._guard(apply, entries)
            except (asyncio.CancelledError, EdgeStopping):
                # The hub is stopping (Ctrl-C, SIGTERM) mid-batch: nothing of the batch was
                # committed, so it stays pending for whoever applies the shard next. Said
                # here, or faststream logs the cancellation as an error with its traceback.
                log.debug("batch cut short by the hub's stop", subscriber=name)

        # Real objects, not strings: faststream builds its payload model (and the AsyncAPI
        # schema) from these, and `from __future__ import annotations` would hide them.
        handle.__annotations__ = {
            "entries": _batch_payload(types or {"clock.tick"}),
            "return": None,
        }
        handle.__name__ = name.replace(":", "_")
        description = (
            "Watermarks: each starts a round of the shard's pipeline"
            if stream == "clock"
            else f"The {stream} stream, applied by every consumer that reads it"
        )
        handle.__doc__ = description
        self.broker.subscriber(
            stream=sub,
            parser=_raw_batch,
            decoder=_body,
            ack_policy=AckPolicy.MANUAL,
            title=name,
            description=description,
        )(handle)

    async def _guard(
        self, apply: Callable[[list[Entry]], Awaitable[None]], entries: list[Entry]
    ) -> None:
        """Apply a batch until it is applied: Redis gone (stopped, restarted, cut off) is
        waited for, and anything else is logged and tried again, never skipped, so a later
        batch can never overtake it. Commits are atomic and skip what they already applied,
        so a retry after a commit whose reply was lost is harmless. A shard taken over by
        another worker stops the hub."""
        wait = 0.1
        while True:
            try:
                await apply(entries)
            except (ShardMoved, EdgeStopping, asyncio.CancelledError) as exc:
                if isinstance(exc, ShardMoved):
                    self._failure = exc
                    log.error("shard lost", error=str(exc))  # noqa: TRY400 - the line says it all
                raise
            except TRANSIENT as exc:
                say = log.warning if wait == 0.1 else log.debug  # once per outage
                say("Redis unreachable; retrying the batch", error=str(exc))
            except Exception as exc:
                log.exception("batch failed; trying it again", error=repr(exc))
            else:
                return
            await asyncio.sleep(wait)
            wait = min(wait * 2, 5.0)

    def check(self) -> None:
        """Raise if this hub stopped applying (its shard was taken over)."""
        if self._failure is not None:
            raise HubUnavailable(str(self._failure))

    async def create_groups(self) -> None:
        """Create the hub's groups from the start of its streams.

        faststream creates a missing group at `$`, which would skip everything published before
        the first worker started; a replay publishes first, so we create groups at 0 ourselves.
        Every shard's groups, whichever shards this process applies.
        """
        if not self.consumers:
            return
        wanted = [
            (self.keys.stream(stream, shard), HUB_GROUP)
            for stream in self.pipeline.inputs
            for shard in range(self.keys.shards)
        ]
        clock = self.keys.stream("clock")
        wanted += [(clock, self.keys.clock_group(shard)) for shard in range(self.keys.shards)]
        for key, group in wanted:
            try:
                await self.redis.xgroup_create(key, group, id="0", mkstream=True)
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
        for edge in self.edges.values():
            edge.stop()  # a watermark waiting for entries no reader will now deliver
        if readers:
            _, stragglers = await asyncio.wait(readers, timeout=self.settings.poll_ms / 1000 + 5)
            for reader in stragglers:
                reader.cancel()
            if stragglers:
                await asyncio.wait(stragglers, timeout=1)

    async def _shutdown(self) -> None:
        # Best effort: a half-started hub still releases what it holds.
        await self.stop_consuming()
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=5)
        self._tasks = []
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
        """XADD events to their streams, a chunk per script call; returns how many events
        were written (a contact naming children of several shards is one event, written to
        each shard).

        A chunk that fails because Redis went away is sent again once it is back, for up to
        a minute: entries that got through before the cut (or a whole chunk whose reply was
        lost) are then written twice, which the hub's duplicate ledger makes harmless
        (at-least-once in, exactly-once effect).
        """
        count = 0
        here = self.run_consumers and bool(self.consumers)
        chunk_of: list[tuple[str, bytes]] = []
        for event in events:
            payload = wire_json(event)
            if here:
                MEMO.remember(payload, event)
            chunk_of.extend((key, payload) for key in self.keys.routes(event))
            count += 1
            if len(chunk_of) >= chunk:
                await self._send(chunk_of)
                chunk_of = []
                raise_if_cancelled()
        if chunk_of:
            await self._send(chunk_of)
        return count

    async def _send(self, entries: Sequence[tuple[str, bytes]], patience: float = 60.0) -> None:
        """One script call per chunk, not a pipeline of XADDs: redis-py reads and parses
        each pipelined reply in Python, which was a tenth of a replay's time, and the script
        answers once."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + patience
        wait = 0.1
        keys: dict[str, int] = {}
        args: list[int | bytes] = []
        for key, payload in entries:
            args.extend((keys.setdefault(key, len(keys) + 1), payload))
        if self._publish is None:
            self._publish = self.redis.register_script(_PUBLISH)
        while True:
            try:
                await self._publish(keys=list(keys), args=args)
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

    async def watermarks(self) -> dict[int, datetime]:
        """The last watermark each shard's rounds have applied."""
        raw: Any = await self.redis.hgetall(self.keys.watermarks())
        return {int(k): datetime.fromisoformat(v.decode()) for k, v in raw.items()}

    async def applied_until(self) -> datetime | None:
        """Event time the whole hub has reached: the least watermark over every shard."""
        marks = await self.watermarks()
        if len(marks) < self.keys.shards:
            return None
        return min(marks.values())

    async def drain(
        self,
        until: datetime,
        timeout: float = 60.0,
        poll: float = 0.001,
        watch: Callable[[], None] | None = None,
    ) -> None:
        """Wait until every shard has applied the watermark `until` (and with it everything
        at or before it, and all it caused).

        In-process shards say so as they commit; other workers' are polled, from `poll`
        seconds doubling to 16x while the hub stays busy. `watch` may raise to stop waiting
        (the workers are gone). Redis going away for a while is waited out.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        wait = poll
        # This process applies every shard: its edges say when they commit.
        local = self.applying and set(self.edges) == set(range(self.keys.shards))
        while True:
            raise_if_cancelled()
            self.check()
            if watch is not None:
                watch()
            if local:
                if all(
                    e.watermark is not None and e.watermark >= until for e in self.edges.values()
                ):
                    return
            else:
                try:
                    reached = await self.applied_until()
                except TRANSIENT as exc:
                    say = log.warning if wait < 0.1 else log.debug  # once per outage
                    say("Redis unreachable; waiting for it", error=str(exc))
                    wait = max(wait, 0.1)
                    reached = None
                if reached is not None and reached >= until:
                    return
            left = deadline - loop.time()
            if left <= 0:
                raise TimeoutError(
                    f"the hub did not reach {until.isoformat()} within {timeout:.0f}s"
                )
            if local:
                async with self.committed:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self.committed.wait(), timeout=min(left, 0.5))
            else:
                await asyncio.sleep(min(wait, left))
                wait = min(wait * 2, max(poll * 16, wait))

    async def idle(self) -> bool:
        """True when the hub's groups have read and acked everything in their streams."""
        if not self.consumers:
            return True
        wanted: dict[str, set[str]] = {}
        for stream in self.pipeline.inputs:
            for shard in range(self.keys.shards):
                wanted.setdefault(self.keys.stream(stream, shard), set()).add(HUB_GROUP)
        clock = self.keys.stream("clock")
        wanted[clock] = {self.keys.clock_group(s) for s in range(self.keys.shards)}
        keys = sorted(wanted)
        async with self.redis.pipeline(transaction=True) as pipe:
            for key in keys:
                pipe.xrevrange(key, count=1)
                pipe.xinfo_groups(key)
            replies: list[Any] = await pipe.execute()
        for index, key in enumerate(keys):
            newest, groups = replies[2 * index], replies[2 * index + 1]
            last = newest[0][0] if newest else b"0-0"
            for group in groups:
                mine = group["name"].decode() in wanted[key]
                if mine and (group["pending"] or group["last-delivered-id"] != last):
                    return False
        return True

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
