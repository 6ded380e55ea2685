"""Bad input at volume: whatever lands on a stream, every entry is accounted for.

Hypothesis mixes good contacts with duplicates, malformed and truncated JSON, 1 MB entries,
wrongly typed fields, unknown types, entries with no event field and events on the wrong
stream, spread over the shards of a two-shard namespace. The hub's group on each shard must
account for every entry exactly once (applied, a duplicate, or dead-lettered with a reason),
and the dead-letter stream must hold one letter per bad entry, naming it.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import Counter
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

import mash.consumers.screening as screening
from mash._config.settings import DEFAULT_THRESHOLDS, Settings
from mash._runtime.hub import Hub
from mash._runtime.keys import HUB_GROUP, shard_of
from mash._runtime.progress import snapshot
from mash.schemas.events import DeadLetter
from tests.factories import T0, contact_data, event, settle

MB = 1 << 20

# kind -> the reason its dead letter must give (None: not dead-lettered)
REASONS: dict[str, str | None] = {
    "good": None,
    "duplicate": None,
    "malformed": "invalid_json",
    "truncated": "invalid_json",
    "oversized": "too_large",
    "wrong_type": "invalid_event",
    "unknown_type": "unknown_type",
    "no_event_field": "missing_field",
    "extra_fields": "extra_fields",
    "wrong_stream": "wrong_stream",
}


def _good(n: int) -> dict[str, Any]:
    return contact_data(event_id=f"good-{n}", children=(f"K{n % 37}",))


def entry(kind: str, n: int, text: str) -> dict[str, str]:
    if kind in ("good", "duplicate"):
        return {"event": json.dumps(_good(n))}
    if kind == "malformed":
        return {"event": "{" + text + ",,"}
    if kind == "truncated":
        whole = json.dumps(_good(n))
        return {"event": whole[: max(1, len(whole) * (len(text) % 9 + 1) // 10)]}
    if kind == "oversized":
        return {"event": json.dumps({**_good(n), "narrative": "x" * MB})}
    if kind == "wrong_type":
        return {"event": json.dumps({**_good(n), "children": text or 5})}
    if kind == "unknown_type":
        return {"event": json.dumps({**_good(n), "type": "contact.sideways"})}
    if kind == "no_event_field":
        return {"payload": text or "?"}
    if kind == "extra_fields":  # a good event, but the contract is one field
        return {"event": json.dumps(_good(n)), "source": text or "?"}
    assert kind == "wrong_stream"
    missing = event("missing.started", T0, event_id=f"m-{n}", missing_id=f"mi-{n}")
    return {"event": missing.model_dump_json()}


kinds = st.sampled_from(sorted(REASONS))
batches = st.lists(
    st.tuples(kinds, st.integers(0, 10_000), st.text(max_size=30), st.integers(0, 1)),
    min_size=1,
    max_size=60,
)


async def _throw(url: str, batch: list[tuple[str, int, str, int]]) -> None:
    hub_settings = Settings(
        redis_url=SecretStr(url),
        namespace=f"bad{uuid.uuid4().hex[:10]}",
        poll_ms=20,
        shards=2,
        thresholds=DEFAULT_THRESHOLDS,
    )
    expected: Counter[str] = Counter()
    bad_ids: dict[tuple[int, str], str] = {}
    seen_good: set[int] = set()
    async with Hub(hub_settings, [screening.build(DEFAULT_THRESHOLDS)]) as hub:
        for drawn, n, text, drawn_shard in batch:
            kind = drawn
            shard = drawn_shard
            if kind in ("good", "duplicate"):
                # The first copy of an event is good; only a later one is a duplicate. A good
                # event goes to its child's shard, as any publisher routes it.
                kind = "duplicate" if n in seen_good else "good"
                shard = shard_of(f"K{n % 37}", 2)
            entry_id = await hub.publish_raw("contacts", entry(kind, n, text), shard)
            reason = REASONS[kind]
            if kind in ("good", "duplicate"):
                seen_good.add(n)
                expected["applied" if kind == "good" else "duplicate"] += 1
            elif kind == "wrong_stream":
                expected["dead.wrong_stream"] += 1
                bad_ids[(shard, entry_id.decode())] = "wrong_stream"
            else:
                assert reason is not None
                expected[f"dead.{reason}"] += 1
                bad_ids[(shard, entry_id.decode())] = reason
        await settle(hub, timeout=60)
        snap = await snapshot(hub.redis, hub.keys)
        letters = [e for e in await hub.read("dlq") if isinstance(e, DeadLetter)]

    groups = [g for g in snap.groups if g.consumer == HUB_GROUP and g.stream == "contacts"]
    assert len(groups) == 2  # one per shard
    got: Counter[str] = Counter()
    for group in groups:
        assert group.lag == 0 and group.pending == 0
        got.update(group.outcomes)
    # Count in equals count out, outcome by outcome.
    assert sum(got.values()) == len(batch)
    assert +got == +expected
    # One letter per bad entry, naming the entry (ids are unique within a shard's stream only)
    # and giving its reason; nothing else.
    named = sorted(((d.source_shard or 0, d.source_id), d.reason) for d in letters)
    assert named == sorted(bad_ids.items())
    assert all(d.source_shard is not None for d in letters)
    for letter in letters:
        assert letter.detail
        assert len(letter.payload) < 64 * 1024  # a 1 MB entry is not copied whole


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(batch=batches)
# Found by hypothesis: two shards' streams hand out the same entry id in the same millisecond,
# so a dead letter must name its shard as well as its entry.
@example(batch=[("unknown_type", 1, "", 0), ("malformed", 2, "", 1)])
def test_every_entry_thrown_at_the_streams_is_applied_deduplicated_or_dead_lettered(
    redis_url: str, batch: list[tuple[str, int, str, int]]
) -> None:
    asyncio.run(_throw(redis_url, batch))


async def _extra_fields(url: str) -> list[DeadLetter]:
    hub_settings = Settings(
        redis_url=SecretStr(url),
        namespace=f"extra{uuid.uuid4().hex[:10]}",
        poll_ms=20,
        thresholds=DEFAULT_THRESHOLDS,
    )
    async with Hub(hub_settings, [screening.build(DEFAULT_THRESHOLDS)]) as hub:
        good = json.dumps(_good(1))
        await hub.publish_raw("contacts", {"event": good, "trace": "abc", "from": "team-b"})
        await hub.publish_raw("contacts", {"event": json.dumps(_good(2))})
        await settle(hub, timeout=30)
        snap = await snapshot(hub.redis, hub.keys)
        letters = [e for e in await hub.read("dlq") if isinstance(e, DeadLetter)]
    (group,) = [g for g in snap.groups if g.consumer == HUB_GROUP and g.stream == "contacts"]
    assert group.outcomes == {"applied": 1, "dead.extra_fields": 1}
    return letters


def test_an_entry_with_fields_beside_event_is_dead_lettered_naming_them(redis_url: str) -> None:
    (letter,) = asyncio.run(_extra_fields(redis_url))
    assert letter.reason == "extra_fields"
    assert letter.detail == "entry has fields beside 'event': from, trace"
    assert json.loads(letter.payload)["trace"] == "abc"  # kept whole, to be found and fixed
