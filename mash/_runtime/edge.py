"""The consumer edge: one shard's stream entries in, one atomic commit per round out.

Entries of the shard's input streams are parsed as they arrive (a bad one is dead-lettered at
once, with its reason, its payload and its stream id) and wait, pending in the hub's consumer
group, until a watermark on the clock stream says their instant is complete. Then a round
(`mash._runtime.pipeline`) applies every event at or before the watermark in event time, and
one Lua script commits the round: the children's new states, the shard's deadline index, the
children's duplicate ledgers, the output events, the reporter's tallies, the progress counts,
the shard's watermark and the XACKs of every entry the round applied.

The script first checks that the shard's lease is still this worker's, so a worker that lost
its shard (a long pause, a partition) cannot commit over its successor; and since each child
belongs to one shard, a child's state has exactly one writer, which is why this process may
keep the states it wrote in memory instead of reading them back.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import itertools
import json
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import redis.asyncio as aioredis
import structlog
from pydantic import ValidationError
from pydantic_core import to_json

from mash._runtime.keys import HUB_GROUP, Keys, shard_of
from mash._runtime.pipeline import (
    HUB_KEY,
    Item,
    Ledger,
    Pipeline,
    RoundResult,
    ShardStates,
    children_of,
)
from mash.schemas.codes import Agency
from mash.schemas.events import (
    ClockTick,
    DeadLetter,
    Envelope,
    Event,
    parse_event,
    range_message,
    state_json,
    wire_json,
)

log = structlog.get_logger("mash.edge")

Entry = tuple[bytes, Mapping[bytes, bytes]]
FIELD = b"event"
# Children whose states one shard keeps in memory. Measured on a 45-times borough year
# (144,000 children a shard, the same report each time): 100,000 gave workers of 846 MB and
# 254 s of CPU each, 50,000 580 MB and 218 s, 25,000 397 MB and 224 s; a nation's year at
# 100,000 peaked at 1.2 GB. A returning child forgotten is one more read in a batched
# HMGET; a bigger cache costs more memory than those reads cost time.
CACHE_LIMIT = 40_000
_UNKNOWN: Any = object()  # a deadline score this process has not committed or found

_COMMIT = """
-- ARGV is a list of operations, each a letter and its arguments; KEYS holds every key they
-- name, by index. The lease check comes first, so a worker that lost its shard writes nothing.
local i = 1
local n = #ARGV
local function chunked(command, key, first, stop, per)
  local j = first
  while j < stop do
    local e = math.min(j + per - 1, stop - 1)
    redis.call(command, key, unpack(ARGV, j, e))
    j = e + 1
  end
end
while i <= n do
  local op = ARGV[i]
  if op == 'L' then
    -- The lease is ours; or it ran out while Redis was away and nobody took it since.
    local lease = KEYS[tonumber(ARGV[i + 1])]
    local holder = redis.call('GET', lease)
    if holder == false and redis.call('GET', KEYS[tonumber(ARGV[i + 2])]) == ARGV[i + 3] then
      redis.call('SET', lease, ARGV[i + 3], 'PX', ARGV[i + 4])
    elseif holder ~= ARGV[i + 3] then
      return 0
    end
    i = i + 5
  elseif op == 'H' then
    local stop = i + 3 + 2 * tonumber(ARGV[i + 2])
    chunked('HSET', KEYS[tonumber(ARGV[i + 1])], i + 3, stop, 1000)
    i = stop
  elseif op == 'Z' then
    local key = KEYS[tonumber(ARGV[i + 1])]
    local stop = i + 3 + 2 * tonumber(ARGV[i + 2])
    local j = i + 3
    while j < stop do
      if ARGV[j + 1] == '' then
        redis.call('ZREM', key, ARGV[j])
      else
        redis.call('ZADD', key, ARGV[j + 1], ARGV[j])
      end
      j = j + 2
    end
    i = stop
  elseif op == 'X' then
    local key = KEYS[tonumber(ARGV[i + 1])]
    local stop = i + 3 + tonumber(ARGV[i + 2])
    for j = i + 3, stop - 1 do
      redis.call('XADD', key, '*', 'event', ARGV[j])
    end
    i = stop
  elseif op == 'I' then
    local key = KEYS[tonumber(ARGV[i + 1])]
    local stop = i + 3 + 2 * tonumber(ARGV[i + 2])
    local j = i + 3
    while j < stop do
      -- A counter back at nought is dropped (absent reads as 0): counters of what is open
      -- now (care by its dates, plans by birth date) come and go, and kept at 0 they were
      -- half of a nation's tallies, read by every report.
      if redis.call('HINCRBY', key, ARGV[j], ARGV[j + 1]) == 0 then
        redis.call('HDEL', key, ARGV[j])
      end
      j = j + 2
    end
    i = stop
  elseif op == 'A' then
    local key = KEYS[tonumber(ARGV[i + 1])]
    local group = ARGV[i + 2]
    local stop = i + 4 + tonumber(ARGV[i + 3])
    local j = i + 4
    while j < stop do
      local e = math.min(j + 999, stop - 1)
      redis.call('XACK', key, group, unpack(ARGV, j, e))
      j = e + 1
    end
    i = stop
  else
    return redis.error_reply('unknown commit operation ' .. tostring(op))
  end
end
return 1
"""


class Commit:
    """The operations of one commit, and the keys they name."""

    def __init__(self) -> None:
        self.keys: list[str] = []
        self.args: list[str | bytes | int | float] = []
        self._index: dict[str, int] = {}

    def _key(self, key: str) -> int:
        if key not in self._index:
            self.keys.append(key)
            self._index[key] = len(self.keys)
        return self._index[key]

    def lease(self, key: str, last: str, holder: str, ttl_ms: int) -> None:
        self.args.extend(("L", self._key(key), self._key(last), holder, ttl_ms))

    def hset(self, key: str, fields: Mapping[str, str | bytes]) -> None:
        if fields:
            self.args.extend(("H", self._key(key), len(fields)))
            for name, value in fields.items():
                self.args.extend((name, value))

    def zset(self, key: str, scores: Mapping[str, float | None]) -> None:
        """Scores to set; None removes the member."""
        if scores:
            self.args.extend(("Z", self._key(key), len(scores)))
            for member, score in scores.items():
                self.args.extend((member, "" if score is None else repr(score)))

    def xadd(self, key: str, payloads: Sequence[str | bytes]) -> None:
        """Entries for one stream, in order: named once for them all, since a round writes
        thousands and every argument is a string the script's interpreter makes."""
        if payloads:
            self.args.extend(("X", self._key(key), len(payloads), *payloads))

    def hincr(self, key: str, deltas: Mapping[str, int]) -> None:
        counted = {k: v for k, v in deltas.items() if v}
        if counted:
            self.args.extend(("I", self._key(key), len(counted)))
            for name, delta in sorted(counted.items()):
                self.args.extend((name, delta))

    def xack(self, key: str, group: str, ids: Sequence[bytes]) -> None:
        if ids:
            self.args.extend(("A", self._key(key), group, len(ids), *ids))


def entry_instant(entry_id: bytes) -> datetime:
    """The server time an entry was added: the only time a bad entry has."""
    millis = int(entry_id.split(b"-", 1)[0])
    return datetime.fromtimestamp(millis / 1000, tz=UTC)


def id_tuple(entry_id: bytes | str) -> tuple[int, int]:
    raw = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    ms, _, seq = raw.partition("-")
    return int(ms), int(seq or 0)


def classify(exc: Exception) -> tuple[str, str]:
    """A short reason and one line for a person, from a parse failure."""
    if isinstance(exc, ValidationError):
        errors = exc.errors(include_url=False)
        first = errors[0] if errors else {"type": "invalid", "loc": (), "msg": str(exc)}
        kind = str(first.get("type", "invalid"))
        where = ".".join(str(p) for p in first.get("loc", ()) if not str(p).startswith("function-"))
        message = str(first.get("msg", "invalid"))
        if kind == "json_invalid":
            return "invalid_json", f"not valid JSON: {message}"
        if kind == "union_tag_invalid":
            return "unknown_type", message
        if kind == "union_tag_not_found":
            return "missing_type", "the event has no 'type' field"
        message = range_message(first) or message
        more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
        return "invalid_event", f"{where or 'event'}: {message}{more}"
    return "invalid_event", str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def payload_text(fields: Mapping[bytes, bytes]) -> str:
    return json.dumps(
        {k.decode("utf-8", "replace"): v.decode("utf-8", "replace") for k, v in fields.items()},
        sort_keys=True,
    )


class ParseMemo:
    """What this process published, by the bytes it wrote: a hub that publishes and applies
    in one process (a replay) parses each entry once, not once more on the way back in. The
    bytes are compared whole, so anything changed on the way is parsed afresh."""

    def __init__(self, limit: int = 200_000) -> None:
        self.limit = limit
        self._events: dict[bytes, Event] = {}

    def remember(self, raw: bytes, event: Envelope) -> None:
        if len(self._events) >= self.limit:
            self._events.clear()
        self._events[raw] = event  # type: ignore[assignment]

    def take(self, raw: bytes) -> Event | None:
        return self._events.pop(raw, None)


MEMO = ParseMemo()


_TRIM = """
-- KEYS[1] a stream, KEYS[2] the progress hash; ARGV[1] entries to keep, ARGV[2] the progress
-- field counting what was trimmed. Keeps the newest ARGV[1] entries, and never removes one
-- that any consumer group of the stream has not acked yet (pending) or not read yet (after
-- its last-delivered id): what a group still owes stays, whoever's group it is.
local keep = tonumber(ARGV[1])
local excess = redis.call('XLEN', KEYS[1]) - keep
if excess <= 0 then return 0 end
local oldest_kept = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', excess + 1)
local function parts(id)
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  return tonumber(ms), tonumber(seq)
end
local function before(a, b)
  local ams, aseq = parts(a)
  local bms, bseq = parts(b)
  return ams < bms or (ams == bms and aseq < bseq)
end
local cut = oldest_kept[#oldest_kept][1]
for _, group in ipairs(redis.call('XINFO', 'GROUPS', KEYS[1])) do
  local info = {}
  for j = 1, #group, 2 do info[group[j]] = group[j + 1] end
  local bound
  if tonumber(info['pending']) > 0 then
    bound = redis.call('XPENDING', KEYS[1], info['name'])[2]
  else
    local ms, seq = parts(info['last-delivered-id'])
    bound = ms .. '-' .. (seq + 1)
  end
  if before(bound, cut) then cut = bound end
end
local n = redis.call('XTRIM', KEYS[1], 'MINID', cut)
if n > 0 then redis.call('HINCRBY', KEYS[2], ARGV[2], n) end
return n
"""
TRIMMED = "*"  # the progress hash's `consumer` for entries trimmed from a stream


@dataclass
class Parsed:
    items: list[Item] = field(default_factory=list)
    letters: list[tuple[DeadLetter, bytes]] = field(default_factory=list)  # letter, entry id


class ShardEdge:
    """One shard of one hub process: events waiting for their watermark, the states it holds,
    and its commits."""

    def __init__(
        self,
        redis: aioredis.Redis,
        keys: Keys,
        pipeline: Pipeline,
        shard: int,
        holder: str,
        *,
        max_entry_bytes: int = 1 << 20,
        lease_ms: int = 10_000,
        on_commit: asyncio.Condition | None = None,
        retention: int = 0,
    ) -> None:
        self.redis = redis
        self.keys = keys
        self.pipeline = pipeline
        self.shard = shard
        self.hub_key = f"{HUB_KEY}.{shard}"  # a hub-wide consumer's state, as this shard keeps it
        self.holder = holder
        self.max_entry_bytes = max_entry_bytes
        self.lease_ms = lease_ms
        self.on_commit = on_commit
        self._script = redis.register_script(_COMMIT)
        self._trim = redis.register_script(_TRIM)
        self.retention = retention
        self.inputs = {keys.stream(s, shard): s for s in pipeline.inputs}
        self.clock_key = keys.stream("clock")
        # Entries waiting for their watermark, each with its instant as a POSIX timestamp,
        # worked out once: every round picks the ready ones out of all that wait, and an
        # aware datetime's comparison asks both sides for their UTC offset each time.
        self.buffer: list[tuple[float, Item]] = []
        self.seen_max: dict[str, tuple[int, int]] = dict.fromkeys(self.inputs, (0, 0))
        self._positions: dict[str, int] = dict.fromkeys(self.inputs, 0)
        self._arrived = asyncio.Event()
        self.stopping = False
        self._turn = asyncio.Lock()
        self.watermark: datetime | None = None
        self.cache: dict[str, dict[str, Any]] = {c.name: {} for c in pipeline.consumers}
        self.ledgers: dict[str, Ledger] = {}
        # Each child's score in the shard's deadline index (None: not in it), as this process
        # last committed it or found it reading the child, for the children it keeps: a
        # round sends only the scores that changed. Most children a round touches keep their
        # next deadline (a contact moves the reporter's and screening's states, not a clock),
        # and over a three-times borough year 42% of the scores sent were already there.
        self.scores: dict[str, float | None] = {}
        self.last_commit = 0.0  # perf_counter() of the last commit, for `mash bench`
        self.rounds = 0

    # ---- entries in -----------------------------------------------------------------
    def dead_letter(
        self, stream: str, entry_id: bytes, fields: Mapping[bytes, bytes], reason: str, detail: str
    ) -> DeadLetter:
        """A letter for a bad entry: one per entry, whichever consumers would have read it.
        Entry ids are unique within one stream only, so with several shards the shard is part
        of the letter's id and named in `source_shard`."""
        at = entry_instant(entry_id)
        sid = entry_id.decode()
        sharded = self.keys.shards > 1 and stream != "clock"
        where = f"{stream}.{self.shard}" if sharded else stream
        return DeadLetter(
            event_id=f"dlq.hub.{where}.{sid}",
            source_shard=self.shard if sharded else None,
            occurred_at=at,
            recorded_at=at,
            agency=Agency.MASH,
            reason=reason,
            detail=detail,
            consumer="hub",
            source_stream=stream,
            source_id=sid,
            payload=payload_text(fields),
        )

    def parse(self, stream: str, key: str, entries: Sequence[Entry]) -> Parsed:
        """The entries' events, and dead letters for the bad ones; what they made is put
        out of the collector's sight at once (`out_of_sight`)."""
        with collector_paused():
            parsed = self._parse(stream, key, entries)
            out_of_sight()
        return parsed

    def _parse(self, stream: str, key: str, entries: Sequence[Entry]) -> Parsed:
        parsed = Parsed()
        for entry_id, fields in entries:
            letter = self._check(stream, entry_id, fields)
            if letter is not None:
                parsed.letters.append((letter, entry_id))
                continue
            raw = fields[FIELD]
            event = MEMO.take(raw)
            if event is None:
                try:
                    event = parse_event(raw)
                except (ValidationError, ValueError) as exc:
                    reason, detail = classify(exc)
                    letter = self.dead_letter(stream, entry_id, fields, reason, detail)
                    parsed.letters.append((letter, entry_id))
                    continue
            if type(event).stream != stream:
                detail = f"{event.type} belongs on the '{type(event).stream}' stream"
                letter = self.dead_letter(stream, entry_id, fields, "wrong_stream", detail)
                parsed.letters.append((letter, entry_id))
                continue
            position = self._positions.get(key, 0)
            self._positions[key] = position + 1
            parsed.items.append(Item(event, stream, key, entry_id, position))  # and its stamp
        return parsed

    def _check(
        self, stream: str, entry_id: bytes, fields: Mapping[bytes, bytes]
    ) -> DeadLetter | None:
        """The entry's shape: its size, and one field named `event` (the wire contract)."""
        size = sum(len(k) + len(v) for k, v in fields.items())
        if size > self.max_entry_bytes:
            # Parsing a huge entry costs memory for nothing, and copying it whole into the
            # dead-letter stream would double it: its head is enough to find it.
            head = {k: v[:1024] for k, v in fields.items()}
            detail = (
                f"entry is {size} bytes; the limit is {self.max_entry_bytes}"
                " (payload cut to its first 1 KiB per field)"
            )
            return self.dead_letter(stream, entry_id, head, "too_large", detail)
        if FIELD not in fields:
            names = ", ".join(sorted(k.decode("utf-8", "replace") for k in fields)) or "none"
            detail = f"entry has no 'event' field (fields: {names})"
            return self.dead_letter(stream, entry_id, fields, "missing_field", detail)
        if len(fields) > 1:  # the contract is one field: anything beside it is a mistake
            extra = sorted(k.decode(errors="replace") for k in fields.keys() - {FIELD})
            why = f"entry has fields beside 'event': {', '.join(extra)}"
            return self.dead_letter(stream, entry_id, fields, "extra_fields", why)
        return None

    async def receive(self, stream: str, entries: Sequence[Entry]) -> None:
        """Entries of one input stream of this shard, in stream order: parsed and held until
        their watermark; bad ones dead-lettered now."""
        if not entries:
            return
        key = self.keys.stream(stream, self.shard)
        parsed = self.parse(stream, key, entries)
        if parsed.letters:
            await self.commit_letters(key, HUB_GROUP, parsed.letters)
        self.buffer.extend((i.stamp, i) for i in parsed.items)
        self.seen_max[key] = max(self.seen_max.get(key, (0, 0)), id_tuple(entries[-1][0]))
        self._arrived.set()

    async def receive_ticks(self, entries: Sequence[Entry], timeout: float = 60.0) -> None:
        """Watermarks, in order: each waits until every entry published before it has arrived
        here, then its round runs."""
        group = self.keys.clock_group(self.shard)
        parsed = self.parse("clock", self.clock_key, entries)
        if parsed.letters:
            await self.commit_letters(self.clock_key, group, parsed.letters)
        for item in parsed.items:
            if not isinstance(item.event, ClockTick):
                continue  # parse() dead-letters anything else on the clock stream
            await self.caught_up(timeout)
            await self.round(item)

    async def caught_up(self, timeout: float) -> None:
        """Every entry already in the shard's input streams has reached this process: a
        watermark read now vouches for everything published before it."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for key in self.inputs:
                pipe.xrevrange(key, count=1)
            replies: list[Any] = await pipe.execute()
        barrier = {
            key: id_tuple(reply[0][0])
            for key, reply in zip(self.inputs, replies, strict=True)
            if reply
        }
        deadline = time.monotonic() + timeout
        while any(self.seen_max.get(k, (0, 0)) < v for k, v in barrier.items()):
            if self.stopping:
                log.debug("watermark left pending: the hub is stopping", shard=self.shard)
                raise EdgeStopping(f"shard {self.shard}: the hub is stopping")
            self._arrived.clear()
            left = deadline - time.monotonic()
            if left <= 0:
                late = sorted(k for k, v in barrier.items() if self.seen_max.get(k, (0, 0)) < v)
                msg = (
                    f"shard {self.shard}: entries of {', '.join(late)} did not arrive "
                    f"within {timeout:.0f}s"
                )
                raise TimeoutError(msg)
            try:
                await asyncio.wait_for(self._arrived.wait(), timeout=min(left, 1.0))
            except TimeoutError:
                continue

    def stop(self) -> None:
        """No new wait for entries: the hub's readers are stopping (see `EdgeStopping`)."""
        self.stopping = True
        self._arrived.set()

    # ---- a round --------------------------------------------------------------------
    async def round(self, tick: Item) -> RoundResult | None:
        """Apply everything at or before the tick's instant, and commit it with the tick."""
        async with self._turn:
            watermark = tick.event.occurred_at
            if self.watermark is not None and watermark <= self.watermark:
                # An older or repeated watermark (several wall-clock workers tick the same
                # second): nothing new is due; it is only acked.
                await self.commit_letters(
                    self.clock_key, self.keys.clock_group(self.shard), [], [tick.entry_id]
                )
                return None
            with collector_paused():
                # Timestamps order as the instants do: the division that makes one rounds
                # correctly, and a float tells microseconds apart until 2^33 s (year 2242).
                waiting = self.buffer[:]  # `receive` extends the buffer while a round awaits
                upto = watermark.timestamp()
                ready = [i for at, i in waiting if at <= upto]
                due = await self._due(watermark)
                named = {c for i in ready for c in children_of(i.event) if self._owns(c)}
                children = sorted(named | set(due) | await self._held_by_hub())
                if self.pipeline.hub:
                    children.append(self.hub_key)  # the front door's queue, in every round
                shard = await self._load(children)
                result = self.pipeline.run_round(shard, ready, watermark, due)
                commit, scores = self._commit_of(shard, result, watermark, tick)
                if not await self._script(keys=commit.keys, args=commit.args):
                    # The lease is gone: another worker applies this shard now.
                    msg = f"shard {self.shard} is no longer this worker's (lease lost)"
                    raise ShardMoved(msg)
                self._remember(shard, scores)
                # What arrived while the round awaited Redis came after what it started with.
                self.buffer = [p for p in waiting if p[0] > upto] + self.buffer[len(waiting) :]
                self.watermark = watermark
                self.rounds += 1
                self.last_commit = time.perf_counter()
                self._log_letters(result.outputs)
                settle_garbage()
        if self.retention:
            await self.trim()
        if self.on_commit is not None:
            async with self.on_commit:
                self.on_commit.notify_all()
        return result

    def trimmed_streams(self) -> list[str]:
        """The streams this shard's owner trims: its inputs, what it writes, and (shard 0's
        owner) the clock every shard reads."""
        names = [*self.inputs.values(), *sorted({*self.pipeline.emits, "dlq"})]
        keys = [self.keys.stream(name, self.shard) for name in dict.fromkeys(names)]
        return [*keys, self.clock_key] if self.shard == 0 else keys

    async def trim(self) -> int:
        """Keep `retention` entries of each stream, never one a consumer group still owes
        (see `_TRIM`): a stream's memory stays bounded however long the run. Exactly-once
        is untouched: a trimmed entry was acked by every group of its stream, so nothing
        redelivers or reclaims it, and duplicates are told by the children's ledgers, not by
        the streams. The count goes to the progress hash, for lag."""
        removed = 0
        for key in self.trimmed_streams():  # one call a stream, once a round: cheap
            removed += int(
                await self._trim(
                    keys=[key, self.keys.progress()],
                    args=[self.retention, f"{TRIMMED}|{key}|trimmed"],
                )
            )
        return removed

    async def _held_by_hub(self) -> set[str]:
        """This shard's children a hub-wide consumer may emit about this round (a contact in
        the queue may be handled by the watermark, whatever round its contact came in)."""
        if not self.pipeline.hub:
            return set()
        if self.hub_key not in self.ledgers:
            await self._load([self.hub_key])  # read back once: this worker writes it after
        found: set[str] = set()
        for consumer in self.pipeline.hub:
            state = self.cache[consumer.name].get(self.hub_key)
            if state is not None and consumer.holds is not None:
                found.update(c for c in consumer.holds(state) if self._owns(c))
        return found

    def _owns(self, child: str) -> bool:
        return shard_of(child, self.keys.shards) == self.shard

    async def _due(self, watermark: datetime) -> list[str]:
        raw: Any = await self.redis.zrangebyscore(
            self.keys.due(self.shard), "-inf", watermark.timestamp()
        )
        return [c.decode() for c in raw]

    async def _load(self, children: Sequence[str]) -> ShardStates:
        """Every consumer's state and the ledger of each child: from memory where this
        process wrote them last, else from Redis."""
        consumers = self.pipeline.consumers
        missing = [c for c in children if c not in self.ledgers]
        if missing:
            async with self.redis.pipeline(transaction=False) as pipe:
                for consumer in consumers:
                    pipe.hmget(self.keys.state(consumer.name), missing)
                pipe.hmget(self.keys.seen(), missing)
                replies: list[Any] = await pipe.execute()
            for consumer, raws in zip(consumers, replies[:-1], strict=True):
                held = self.cache[consumer.name]
                for child, raw in zip(missing, raws, strict=True):
                    if raw is not None:
                        held[child] = consumer.state_type.model_validate_json(raw)
            for child, raw in zip(missing, replies[-1], strict=True):
                self.ledgers[child] = decode_ledger(raw) if raw is not None else Ledger()
            # Every commit sets a child's score with its states, so a child with no state of
            # a timed consumer is not in the deadline index, whichever mash wrote it: a round
            # that leaves it so (most children new to the hub) need not say so again. One
            # read back with such states has its score sent when a round touches it, as it
            # is worked out now: a score inferred from them would keep an index an older
            # mash wrote with other rules.
            timed = [self.cache[c.name] for c in self.pipeline.timed]
            for child in missing:
                if not any(child in held for held in timed):
                    self.scores[child] = None
        states = {
            c.name: {
                child: s for child in children if (s := self.cache[c.name].get(child)) is not None
            }
            for c in consumers
        }
        return ShardStates(
            consumers,
            states,
            {c: self.ledgers[c] for c in children},
            children,
            hub_key=self.hub_key,
            counts_hub=self.shard == 0,
        )

    def _commit_of(
        self, shard: ShardStates, result: RoundResult, watermark: datetime, tick: Item
    ) -> tuple[Commit, dict[str, float | None]]:
        """The round's commit, and the deadline scores it sets (kept once it is done)."""
        keys = self.keys
        commit = Commit()
        commit.lease(
            keys.lease(self.shard), keys.lease_holder(self.shard), self.holder, self.lease_ms
        )
        touched: set[str] = set()
        for consumer in self.pipeline.consumers:
            changed = shard.changed[consumer.name]
            held = shard.states[consumer.name]
            touched |= changed
            commit.hset(
                keys.state(consumer.name),
                {c: state_json(held[c]) for c in sorted(changed)},
            )
        scores: dict[str, float | None] = {}
        known = self.scores
        for child in sorted(touched | result.advanced):
            due = self.pipeline.next_due(shard, child)
            score = due.timestamp() if due is not None else None
            if known.get(child, _UNKNOWN) != score:
                scores[child] = score
        commit.zset(keys.due(self.shard), scores)
        commit.hset(
            keys.seen(), {c: encode_ledger(shard.ledgers[c]) for c in sorted(shard.ledgers_changed)}
        )
        # Each output's stream key, made once a stream and child: a child has outputs by
        # the handful in a round, and finding its shard hashes its id. Each stream's entries
        # keep the order the round made them in.
        streams: dict[tuple[str, str | None], list[bytes]] = {}
        written: dict[str, list[bytes]] = {}
        for out in result.outputs:
            where = (type(out).stream, out.child_id)
            entries = streams.get(where)
            if entries is None:
                key = keys.stream(where[0], self._shard_of(out))
                entries = streams[where] = written.setdefault(key, [])
            entries.append(wire_json(out))
        for key, payloads in written.items():
            commit.xadd(key, payloads)
        commit.hincr(keys.tallies("reporter"), result.tally)
        by_key: dict[str, list[bytes]] = {}
        progress: dict[str, int] = {}
        for item, outcome in zip(result.acked, result.item_outcomes, strict=True):
            by_key.setdefault(item.key, []).append(item.entry_id)
            name = f"{HUB_GROUP}|{item.key}|{outcome}"
            progress[name] = progress.get(name, 0) + 1
        clock_group = keys.clock_group(self.shard)
        progress[f"{clock_group}|{self.clock_key}|applied"] = 1
        commit.hincr(keys.progress(), progress)
        commit.hset(keys.watermarks(), {str(self.shard): watermark.isoformat()})
        for key, ids in by_key.items():
            commit.xack(key, HUB_GROUP, ids)
        commit.xack(self.clock_key, clock_group, [tick.entry_id])
        return commit, scores

    def _shard_of(self, event: Envelope) -> int:
        return shard_of(event.child_id, self.keys.shards) if event.child_id else self.shard

    def _remember(self, shard: ShardStates, scores: Mapping[str, float | None]) -> None:
        """Keep what this round wrote: the next round of this shard reads it from here."""
        self.scores.update(scores)
        for consumer in self.pipeline.consumers:
            held = self.cache[consumer.name]
            for child in shard.changed[consumer.name]:
                held[child] = shard.states[consumer.name][child]
        ledgers = self.ledgers
        for child in shard.owned:
            # Re-inserted, so the dict's order is the order children were last used in.
            ledgers.pop(child, None)
            ledgers[child] = shard.ledgers[child]
        if len(ledgers) > CACHE_LIMIT:
            # Bounded: forget the quarter used longest ago (read back from Redis if they come
            # back). Forgetting everything at once made a nation's year, whose children
            # outnumber the cache, read every child back on every round.
            stale = list(itertools.islice(ledgers, len(ledgers) - CACHE_LIMIT * 3 // 4))
            for child in stale:
                del ledgers[child]
                self.scores.pop(child, None)
            for held in self.cache.values():
                for child in stale:
                    held.pop(child, None)

    # ---- letters and their commits ----------------------------------------------------
    async def commit_letters(
        self,
        key: str,
        group: str,
        letters: Sequence[tuple[DeadLetter, bytes]],
        acks: Sequence[bytes] = (),
        reason: str | None = None,
    ) -> None:
        """Dead letters for entries nothing can apply (and their acks), committed at once:
        they wait for no watermark. The reporter counts them in the same commit."""
        commit = Commit()
        commit.lease(
            self.keys.lease(self.shard),
            self.keys.lease_holder(self.shard),
            self.holder,
            self.lease_ms,
        )
        result = RoundResult()
        empty = ShardStates(self.pipeline.consumers, {}, {}, ())
        progress: dict[str, int] = {}
        for letter, _ in letters:
            self.pipeline.apply(empty, letter, result)
            name = f"{group}|{key}|dead.{reason or letter.reason}"
            progress[name] = progress.get(name, 0) + 1
        commit.xadd(self.keys.stream("dlq", self.shard), [wire_json(x) for x, _ in letters])
        outputs: dict[str, list[bytes]] = {}
        for out in result.outputs:
            outputs.setdefault(self.keys.stream(type(out).stream, self.shard), []).append(
                wire_json(out)
            )
        for stream, payloads in outputs.items():
            commit.xadd(stream, payloads)
        commit.hincr(self.keys.tallies("reporter"), result.tally)
        if acks:
            progress[f"{group}|{key}|applied"] = progress.get(f"{group}|{key}|applied", 0) + len(
                acks
            )
        commit.hincr(self.keys.progress(), progress)
        commit.xack(key, group, [entry_id for _, entry_id in letters] + list(acks))
        if not await self._script(keys=commit.keys, args=commit.args):
            raise ShardMoved(f"shard {self.shard} is no longer this worker's (lease lost)")
        self._log_letters([letter for letter, _ in letters])

    async def give_up(self, stream: str, entries: Sequence[Entry], attempts: int) -> None:
        """Dead-letter entries delivered too often (a poison entry that keeps killing
        workers): acked with a letter each, never applied."""
        key = self.keys.stream(stream, self.shard)
        group = self.keys.group(stream, self.shard)
        detail = f"delivered {attempts} times without being applied"
        letters = [
            (self.dead_letter(stream, entry_id, fields, "too_many_attempts", detail), entry_id)
            for entry_id, fields in entries
        ]
        await self.commit_letters(key, group, letters)

    def _log_letters(self, outputs: Sequence[Envelope]) -> None:
        for out in outputs:
            if isinstance(out, DeadLetter):
                log.warning(
                    "dead letter",
                    consumer=out.consumer,
                    stream=out.source_stream,
                    source_id=out.source_id,
                    reason=out.reason,
                )


def settle_garbage() -> None:
    """After a round: freeze what the round made and kept, the states the edge keeps above
    all, out of the collector's sight; every `FULL_COLLECT_EVERY` rounds, thaw everything
    and collect once, so a cycle that died meanwhile is not kept for ever.

    Consumer states are acyclic, so reference counting frees them; but every one is a
    tracked object, and a shard holding 40,000 children's states holds millions. CPython's
    full collections scan them all whenever a quarter more have survived since the last:
    on a nation's year that was a pause of up to 6.5 s every few rounds and a third of the
    run's time (stalls that also tripped redis-py's 5 s socket timeout).

    Collecting the round's young objects before freezing them took 14.5% of a worker's CPU
    on a nation's year (a sample of one worker), and found nothing: over a three-times
    borough year it took 9 and 16 ms a round on average (the two workers) and freed no
    object in any round, a round's garbage being acyclic and freed by reference counting
    already. So a cycle a round leaves waits for the next full collection, at most
    `FULL_COLLECT_EVERY` rounds.
    """
    global _rounds_since_full  # noqa: PLW0603 - one collector per process, one count
    _rounds_since_full += 1
    if _rounds_since_full >= FULL_COLLECT_EVERY:
        _rounds_since_full = 0
        gc.unfreeze()
        gc.collect()
    gc.freeze()


class _Pause:
    """How many rounds of this process are under way (shards interleave at their awaits),
    and whether the collector was on when the first began."""

    depth = 0
    resume = False


def out_of_sight() -> None:
    """Freeze what parsing a batch made, the events waiting for their watermark above all,
    as `settle_garbage` freezes what a round kept; the next full collection of
    `settle_garbage` still looks at them. Freezing moves the collector's lists whole, so
    it costs the same however much there is.

    Events wait in the edge's buffer until a watermark reaches them, and a reader may be
    thousands of entries ahead of the clock. After a round froze everything, the
    collector's oldest generation holds only what arrived since, so CPython's rule (a full
    collection once a quarter more have survived) walked the whole waiting buffer again
    and again as it grew. In the no-op bench the collector took 0.69 s of 60,000 events
    (11.5 microseconds an event, more than parsing one), and parsing inside the edge cost
    15.6 to 19.6 microseconds an event against 4.9 alone; frozen as they are parsed, the
    collector took 0.09 s. Parsing makes no cycles (pydantic's models hold none, and a
    rejected entry's exception is dropped with its `except` block), so what is frozen is
    freed by reference counting as soon as the round is done with it.
    """
    gc.freeze()


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """The automatic collector held off while a round runs; `settle_garbage` after it
    collects what the round left, once.

    With everything kept frozen between rounds, the collector's oldest generation holds only
    what this round made and kept, so CPython's rule (a full collection once the survivors
    since the last one are a quarter of it) fires again and again inside one round, each time
    walking every object the round has made so far: work that grows with the square of the
    round's size. Over the pure pipeline of a three-tenths year, rounds of 8,000 events took
    1.18 s with it and 0.94 s without (rounds of 2,000: 1.00 s either way).
    """
    if _Pause.depth == 0:
        _Pause.resume = gc.isenabled()
        gc.disable()
    _Pause.depth += 1
    try:
        yield
    finally:
        _Pause.depth -= 1
        if _Pause.depth == 0 and _Pause.resume:
            gc.enable()


FULL_COLLECT_EVERY = 1000  # rounds: a worker ticking the wall clock every second, 17 minutes
_rounds_since_full = 0


class ShardMoved(Exception):
    """Another worker holds this shard's lease now: this one must stop applying it."""


class EdgeStopping(Exception):
    """The hub is stopping: a watermark still waiting for its shard's entries gives up.

    Its readers were told to stop, so the entries it waits for may never be delivered, and
    waiting for them held a worker's SIGTERM for as long as the hub's stop would wait (the
    poll and five seconds). Nothing of the batch is committed: the watermark and its entries
    stay pending for whoever applies the shard next, as after a kill."""


def encode_ledger(ledger: Ledger) -> bytes:
    """`[latest, [[id, instant], ...]]` as compact JSON, ids sorted (the same bytes however
    the ledger was built). Written by pydantic-core: every round writes each changed child's
    ledger, and `json.dumps` cost two and a half times as much (9% of a no-op edge's
    CPU). Ledgers written by `json.dumps` (with spaces) read back the same."""
    return to_json([ledger.latest, sorted(ledger.ids.items())])


def decode_ledger(raw: bytes | str) -> Ledger:
    latest, ids = json.loads(raw)
    return Ledger(latest=latest, ids=dict(ids))
