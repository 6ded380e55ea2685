"""The consumer edge, written once for every consumer.

A batch of stream entries goes through five steps: parse each entry into its event (a bad one
becomes a dead letter with its reason, its payload and its stream id), skip events already
applied (at-least-once delivery, exactly-once effect), load the state of the children the
events touch, run the consumer's pure rule over the events in stream order, and commit the
new state, the output events, the dead letters, the applied ids and the XACK in one Lua script.

The script re-checks that no event of the batch was applied and that no child's state changed
since it was read (a revision counter per child); if another worker got there first it writes
nothing and the batch is recomputed from fresh state. Pure rules make the recompute safe.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import time
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Generic

import redis.asyncio as aioredis
import structlog
from pydantic import ValidationError

from mash._runtime.consumer import Consumer, RuleResult, S
from mash._runtime.keys import Keys
from mash.schemas.codes import Agency
from mash.schemas.events import EVENT_TYPES, DeadLetter, Envelope, Event, parse_event

log = structlog.get_logger("mash.edge")

Entry = tuple[bytes, Mapping[bytes, bytes]]

FIELD = b"event"
# The top-level `"type": "..."` of an entry, found without parsing it (see `Edge.parse`).
_TYPE = re.compile(rb'"type"\s*:\s*"([a-z0-9_.]{1,64})"')
FIXED_KEYS = 7  # state, revisions, applied ids, input stream, deadline index, tallies, progress
MAX_CONFLICT_RETRIES = 20


@dataclass
class BatchResult:
    applied: int = 0
    skipped_duplicates: int = 0
    ignored: int = 0
    dead_letters: int = 0
    outputs: int = 0
    conflicts: int = 0
    reasons: dict[str, int] = field(default_factory=dict)


_APPLY = """
local i = 1
local group = ARGV[i]; i = i + 1
local n_ack = tonumber(ARGV[i]); i = i + 1
local ack_start = i; i = i + n_ack
local n_ev = tonumber(ARGV[i]); i = i + 1
local ev_start = i; i = i + n_ev
for j = 0, n_ev - 1 do
  if redis.call('SISMEMBER', KEYS[3], ARGV[ev_start + j]) == 1 then return 0 end
end
local n_ch = tonumber(ARGV[i]); i = i + 1
local ch_start = i; i = i + 4 * n_ch
for j = 0, n_ch - 1 do
  local k = ch_start + 4 * j
  local rev = redis.call('HGET', KEYS[2], ARGV[k]) or '0'
  if rev ~= ARGV[k + 1] then return 0 end
end
for j = 0, n_ch - 1 do
  local k = ch_start + 4 * j
  if ARGV[k + 2] ~= '' then
    redis.call('HSET', KEYS[1], ARGV[k], ARGV[k + 2])
    redis.call('HINCRBY', KEYS[2], ARGV[k], 1)
    local score = ARGV[k + 3]
    if score == '' then
      redis.call('ZREM', KEYS[5], ARGV[k])
    elseif score ~= '-' then
      redis.call('ZADD', KEYS[5], score, ARGV[k])
    end
  end
end
for j = 0, n_ev - 1 do redis.call('SADD', KEYS[3], ARGV[ev_start + j]) end
local n_out = tonumber(ARGV[i]); i = i + 1
for j = 0, n_out - 1 do
  redis.call('XADD', KEYS[tonumber(ARGV[i])], '*', 'event', ARGV[i + 1])
  i = i + 2
end
local n_tally = tonumber(ARGV[i]); i = i + 1
for j = 0, n_tally - 1 do
  redis.call('HINCRBY', KEYS[6], ARGV[i], ARGV[i + 1])
  i = i + 2
end
local n_progress = tonumber(ARGV[i]); i = i + 1
for j = 0, n_progress - 1 do
  redis.call('HINCRBY', KEYS[7], ARGV[i], ARGV[i + 1])
  i = i + 2
end
local s = ack_start
while s < ack_start + n_ack do
  local e = math.min(s + 999, ack_start + n_ack - 1)
  redis.call('XACK', KEYS[4], group, unpack(ARGV, s, e))
  s = e + 1
end
return 1
"""


def _entry_instant(entry_id: bytes) -> datetime:
    """The server time an entry was added: the only time a bad entry has."""
    millis = int(entry_id.split(b"-", 1)[0])
    return datetime.fromtimestamp(millis / 1000, tz=UTC)


def _classify(exc: Exception) -> tuple[str, str]:
    """A short reason and one line for a person, from a parse failure."""
    if isinstance(exc, ValidationError):
        errors = exc.errors(include_url=False)
        first = errors[0] if errors else {"type": "invalid", "loc": (), "msg": str(exc)}
        kind = str(first.get("type", "invalid"))
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "function-after")
        message = str(first.get("msg", "invalid"))
        if kind == "json_invalid":
            return "invalid_json", f"not valid JSON: {message}"
        if kind == "union_tag_invalid":
            return "unknown_type", message
        if kind == "union_tag_not_found":
            return "missing_type", "the event has no 'type' field"
        more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
        return "invalid_event", f"{where or 'event'}: {message}{more}"
    return "invalid_event", str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def _payload_text(fields: Mapping[bytes, bytes]) -> str:
    return json.dumps(
        {k.decode("utf-8", "replace"): v.decode("utf-8", "replace") for k, v in fields.items()},
        sort_keys=True,
    )


class Edge(Generic[S]):
    """Applies batches of one input stream for one consumer, against one Redis."""

    def __init__(
        self,
        redis: aioredis.Redis,
        keys: Keys,
        consumer: Consumer[S],
        *,
        max_entry_bytes: int = 1 << 20,
        rule_attempts: int = 1,
    ) -> None:
        self.redis = redis
        self.rule_attempts = max(1, rule_attempts)
        self.max_entry_bytes = max_entry_bytes
        self.keys = keys
        self.consumer = consumer
        self._script = redis.register_script(_APPLY)
        self._state_key = keys.state(consumer.name)
        self._rev_key = keys.revisions(consumer.name)
        self._applied_key = keys.applied(consumer.name)
        self._due_key = keys.due(consumer.name)
        self._tally_key = keys.tallies(consumer.name)
        self._progress_key = keys.progress()
        self.last_commit = 0.0  # perf_counter() of the last committed batch, for `mash bench`
        # One batch at a time per consumer in this process: its input streams' subscribers
        # share children, and batches racing each other here would only conflict and recompute
        # (a clock tick's batch can touch every child with a deadline). Other processes still
        # race, and the revision check settles that.
        self._turn = asyncio.Lock()

    def dead_letter(
        self,
        stream: str,
        entry_id: bytes,
        fields: Mapping[bytes, bytes],
        reason: str,
        detail: str,
        shard: int = 0,
    ) -> DeadLetter:
        """A letter for a bad entry. Entry ids are unique within one stream only, so with
        several shards the shard is part of the letter's id and named in `source_shard`."""
        at = _entry_instant(entry_id)
        sid = entry_id.decode()
        sharded = self.keys.shards > 1
        where = f"{stream}.{shard}" if sharded else stream
        return DeadLetter(
            event_id=f"dlq.{self.consumer.name}.{where}.{sid}",
            source_shard=shard if sharded else None,
            occurred_at=at,
            recorded_at=at,
            agency=Agency.MASH,
            reason=reason,
            detail=detail,
            consumer=self.consumer.name,
            source_stream=stream,
            source_id=sid,
            payload=_payload_text(fields),
        )

    def parse(
        self, stream: str, entries: Sequence[Entry], shard: int = 0
    ) -> tuple[list[Event], list[DeadLetter], int]:
        """Events this consumer handles, dead letters, and how many entries it ignores."""
        events: list[Event] = []
        dead: list[DeadLetter] = []
        ignored = 0
        for entry_id, fields in entries:
            size = sum(len(k) + len(v) for k, v in fields.items())
            if size > self.max_entry_bytes:
                # Parsing a huge entry costs memory for nothing, and copying it whole into
                # the dead-letter stream would double it: its head is enough to find it.
                head = {k: v[:1024] for k, v in fields.items()}
                dead.append(
                    self.dead_letter(
                        stream,
                        entry_id,
                        head,
                        "too_large",
                        f"entry is {size} bytes; the limit is {self.max_entry_bytes}"
                        " (payload cut to its first 1 KiB per field)",
                        shard,
                    )
                )
                continue
            raw = fields.get(FIELD)
            if raw is None:
                names = ", ".join(sorted(k.decode("utf-8", "replace") for k in fields)) or "none"
                dead.append(
                    self.dead_letter(
                        stream,
                        entry_id,
                        fields,
                        "missing_field",
                        f"entry has no 'event' field (fields: {names})",
                        shard,
                    )
                )
                continue
            if len(fields) > 1:  # the contract is one field: anything beside it is a mistake
                extra = sorted(k.decode(errors="replace") for k in fields.keys() - {FIELD})
                why = f"entry has fields beside 'event': {', '.join(extra)}"
                dead.append(self.dead_letter(stream, entry_id, fields, "extra_fields", why, shard))
                continue
            if self._ignorable(stream, raw):
                ignored += 1
                continue
            try:
                event = parse_event(raw)
            except (ValidationError, ValueError) as exc:
                reason, detail = _classify(exc)
                dead.append(self.dead_letter(stream, entry_id, fields, reason, detail, shard))
                continue
            if type(event).stream != stream:
                dead.append(
                    self.dead_letter(
                        stream,
                        entry_id,
                        fields,
                        "wrong_stream",
                        f"{event.type} belongs on the '{type(event).stream}' stream",
                        shard,
                    )
                )
            elif event.type in self.consumer.handles:
                events.append(event)
            else:
                ignored += 1
        return events, dead, ignored

    def _ignorable(self, stream: str, raw: bytes) -> bool:
        """An entry of a known type this consumer does not handle, on its proper stream, is
        skipped unparsed: every consumer reads every entry of its streams, and parsing the ones
        it ignores was a third of the hub's work. Anything unusual (no type, an unknown one,
        two of them, a type of another stream) is parsed, so it is still dead-lettered."""
        found = _TYPE.findall(raw)
        if len(found) != 1:
            return False
        model = EVENT_TYPES.get(found[0].decode())
        return (
            model is not None
            and model.stream == stream
            and found[0].decode() not in self.consumer.handles
        )

    async def apply(self, stream: str, entries: Sequence[Entry], shard: int = 0) -> BatchResult:
        """Apply one batch of one shard's stream; returns once state, outputs and acks are
        committed."""
        result = BatchResult()
        if not entries:
            return result
        events, dead, result.ignored = self.parse(stream, entries, shard)
        ack_ids = [entry_id for entry_id, _ in entries]
        for attempt in range(MAX_CONFLICT_RETRIES):
            async with self._turn:
                committed = await self._try_commit(stream, shard, events, dead, ack_ids, result)
            if committed:
                return result
            result.conflicts = attempt + 1
            # Another worker won the race: back off a little, growing, with jitter, so two
            # busy workers stop colliding on the same children.
            await asyncio.sleep(random.uniform(0, min(0.002 * 2**attempt, 0.25)))  # noqa: S311
        msg = f"{self.consumer.name}: gave up after {MAX_CONFLICT_RETRIES} write conflicts"
        raise RuntimeError(msg)

    async def _try_commit(
        self,
        stream: str,
        shard: int,
        events: Sequence[Event],
        parse_dead: Sequence[DeadLetter],
        ack_ids: Sequence[bytes],
        result: BatchResult,
    ) -> bool:
        consumer = self.consumer
        event_ids = [e.event_id for e in events]
        child_ids = sorted({k for e in events for k in consumer.keys(e)})
        watermarks = [w for e in events if consumer.due and (w := consumer.due(e)) is not None]
        if watermarks and consumer.next_deadline is not None:
            due_now: list[Any] = await self.redis.zrangebyscore(
                self._due_key, "-inf", max(watermarks).timestamp()
            )
            child_ids = sorted({*child_ids, *(c.decode() for c in due_now)})
        async with self.redis.pipeline(transaction=False) as pipe:
            if event_ids:
                pipe.smismember(self._applied_key, event_ids)
            if child_ids:
                pipe.hmget(self._state_key, child_ids)
                pipe.hmget(self._rev_key, child_ids)
            replies = await pipe.execute()
        seen: list[Any] = list(replies.pop(0)) if event_ids else []
        raw_states: list[bytes | None] = list(replies[0]) if child_ids else []
        revisions: list[bytes | None] = list(replies[1]) if child_ids else []

        states: dict[str, S] = {}
        for child, raw in zip(child_ids, raw_states, strict=True):
            states[child] = (
                consumer.state_type.model_validate_json(raw) if raw else consumer.state_type()
            )
        touched: set[str] = set()
        read: set[str] = set()  # every child whose state an applied event's outcome rests on
        outputs: list[Envelope] = []
        dead = list(parse_dead)
        applied: list[str] = []
        tally: dict[str, int] = {}
        duplicates = 0
        batch_seen: set[str] = set()
        for event, already in zip(events, seen, strict=True):
            if already or event.event_id in batch_seen:
                duplicates += 1
                continue
            batch_seen.add(event.event_id)
            mine = {k: states[k] for k in consumer.keys(event)}
            watermark = consumer.due(event) if consumer.due else None
            if watermark is not None and consumer.next_deadline is not None:
                for child, state in states.items():
                    deadline = consumer.next_deadline(state)
                    if deadline is not None and deadline < watermark:
                        mine[child] = state
            result_of_rule = self._run_rule(mine, event)
            if isinstance(result_of_rule, Exception):
                dead.append(self._rule_failure(stream, event, result_of_rule))
                continue
            changed, emitted = result_of_rule[0], result_of_rule[1]
            if len(result_of_rule) == 3:
                for name, delta in result_of_rule[2].items():
                    tally[name] = tally.get(name, 0) + delta
            states.update(changed)
            touched.update(changed)
            read.update(mine)
            outputs.extend(emitted)
            applied.append(event.event_id)

        output_keys: list[str] = []
        key_index: dict[str, int] = {}
        out_args: list[str | int] = []
        for out in [*outputs, *dead]:
            key = self.keys.route(out, default=shard)
            if key not in key_index:
                output_keys.append(key)
                key_index[key] = FIXED_KEYS + len(output_keys)
            out_args.extend((key_index[key], out.model_dump_json()))

        rev_of = dict(zip(child_ids, revisions, strict=True))
        args: list[str | int | bytes] = [consumer.name, len(ack_ids), *ack_ids]
        # Every child read is re-checked, not only those written: an output may rest on a
        # state the rule left as it was. Unchanged children are checked, not rewritten ('').
        checked = sorted(read | touched)
        args.extend((len(applied), *applied, len(checked)))
        for child in checked:
            previous = rev_of.get(child)
            args.extend((child, previous.decode() if previous else "0"))
            if child in touched:
                args.extend((states[child].model_dump_json(), self._score(states[child])))
            else:
                args.extend(("", "-"))
        args.extend((len(outputs) + len(dead), *out_args))
        counted = sorted((name, delta) for name, delta in tally.items() if delta)
        args.append(len(counted))
        for name, delta in counted:
            args.extend((name, delta))
        progress = {"applied": len(applied), "duplicate": duplicates, "ignored": result.ignored}
        for letter in dead:
            progress[f"dead.{letter.reason}"] = progress.get(f"dead.{letter.reason}", 0) + 1
        self._progress_args(args, stream, shard, progress)
        keys = [*self._fixed_keys(stream, shard), *output_keys]
        ok = await self._script(keys=keys, args=args)
        if ok:
            self.last_commit = time.perf_counter()
            result.applied = len(applied)
            result.skipped_duplicates = duplicates
            result.dead_letters = len(dead)
            result.outputs = len(outputs)
            for letter in dead:
                result.reasons[letter.reason] = result.reasons.get(letter.reason, 0) + 1
                log.warning(
                    "dead letter",
                    consumer=consumer.name,
                    stream=stream,
                    source_id=letter.source_id,
                    reason=letter.reason,
                )
        return bool(ok)

    def _fixed_keys(self, stream: str, shard: int) -> list[str]:
        """KEYS[1..FIXED_KEYS] of the Lua script, in the order it reads them; the output
        streams follow from KEYS[FIXED_KEYS + 1]."""
        return [
            self._state_key,
            self._rev_key,
            self._applied_key,
            self.keys.stream(stream, shard),
            self._due_key,
            self._tally_key,
            self._progress_key,
        ]

    def _progress_args(
        self, args: list[str | int | bytes], stream: str, shard: int, counts: Mapping[str, int]
    ) -> None:
        """Entries by outcome (applied, duplicate, ignored, dead.<reason>) for this group and
        shard, counted in the commit that acks them, so `mash status` and the metrics can tell
        lag exactly (see `Keys.progress`)."""
        prefix = f"{self.consumer.name}|{self.keys.stream(stream, shard)}|"
        counted = [(prefix + outcome, n) for outcome, n in sorted(counts.items()) if n]
        args.append(len(counted))
        for name, n in counted:
            args.extend((name, n))

    def _score(self, state: S) -> str:
        """The child's score in the deadline index: '' removes it, '-' means no index."""
        if self.consumer.next_deadline is None:
            return "-"
        deadline = self.consumer.next_deadline(state)
        return "" if deadline is None else repr(deadline.timestamp())

    def _run_rule(self, mine: dict[str, S], event: Event) -> RuleResult[S] | Exception:
        """Up to `rule_attempts` tries, here in the batch rather than by redelivery: a retry
        through the reclaimer would let this batch's later entries be applied before this one,
        out of the child's order. A pure rule raises every time, so for mash's own consumers the
        retries only cost the failure's CPU; a consumer with a side door (a lookup, a cache) gets
        its second chance."""
        failure: Exception | None = None
        for attempt in range(1, self.rule_attempts + 1):
            try:
                return self.consumer.rule(mine, event)
            except Exception as exc:
                failure = exc
                log.debug("rule raised", consumer=self.consumer.name, attempt=attempt)
        assert failure is not None
        return failure

    def _rule_failure(self, stream: str, event: Event, exc: Exception) -> DeadLetter:
        """After its attempts, the event is dead-lettered with the traceback's last line and
        where it was raised, and the stream goes on. (An entry that kills the worker instead is
        redelivered, then dead-lettered by `give_up`.)"""
        summary = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        frames = traceback.extract_tb(exc.__traceback__)
        if frames:
            last = frames[-1]
            summary += f" (at {Path(last.filename).name}:{last.lineno} in {last.name})"
        tries = self.rule_attempts
        after = f" after {tries} attempts" if tries > 1 else ""
        detail = f"{self.consumer.name} rule failed on {event.type}{after}: {summary}"
        letter = DeadLetter.for_event(event, self.consumer.name, "rule_error", detail)
        log.error(
            "rule failed", consumer=self.consumer.name, event_id=event.event_id, error=summary
        )
        return letter

    async def give_up(
        self, stream: str, entries: Sequence[Entry], attempts: int, shard: int = 0
    ) -> None:
        """Dead-letter entries delivered too often (a poison entry that keeps killing workers)."""
        dead = [
            self.dead_letter(
                stream,
                entry_id,
                fields,
                "too_many_attempts",
                f"delivered {attempts} times without being applied",
                shard,
            )
            for entry_id, fields in entries
        ]
        ack_ids = [entry_id for entry_id, _ in entries]
        args: list[str | int | bytes] = [self.consumer.name, len(ack_ids), *ack_ids, 0, 0]
        args.append(len(dead))
        for letter in dead:
            args.extend((FIXED_KEYS + 1, letter.model_dump_json()))
        args.append(0)  # no tallies
        self._progress_args(args, stream, shard, {"dead.too_many_attempts": len(dead)})
        dlq = self.keys.stream("dlq", shard)
        await self._script(keys=[*self._fixed_keys(stream, shard), dlq], args=args)
        for letter in dead:
            log.warning(
                "dead letter",
                consumer=self.consumer.name,
                stream=stream,
                source_id=letter.source_id,
                reason=letter.reason,
            )
