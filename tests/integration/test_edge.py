"""The edge's delivery guarantees, proven on a real Redis server."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from datetime import timedelta

import pytest
from pydantic import BaseModel

import mash.consumers.screening as screening
from mash._config.settings import DEFAULT_THRESHOLDS, Settings
from mash._runtime.consumer import Consumer
from mash._runtime.edge import Edge
from mash._runtime.hub import Hub
from mash.schemas import ContactReceived, DeadLetter, Envelope, Event, ScreeningDecided
from tests.factories import T0, contact, contact_data


def hub_for(settings: Settings, **kw: object) -> Hub:
    return Hub(settings, [screening.build(DEFAULT_THRESHOLDS)], **kw)  # type: ignore[arg-type]


async def decisions(hub: Hub) -> list[ScreeningDecided]:
    return [e for e in await hub.read("decisions") if isinstance(e, ScreeningDecided)]


async def test_contacts_become_decisions_on_plain_json_entries(settings: Settings) -> None:
    async with hub_for(settings) as hub:
        await hub.publish([contact(event_id=f"c{i}", at=T0 + timedelta(days=i)) for i in range(3)])
        await hub.drain(timeout=20)
        raw = await hub.redis.xrange(hub.keys.stream("decisions"))
    # Any client in any language reads one JSON field per entry, no faststream framing.
    assert [set(fields) for _, fields in raw] == [{b"event"}] * 3
    first = json.loads(raw[0][1][b"event"])
    assert first["type"] == "screening.decided"
    assert first["contact_id"] == "c0"


async def test_a_redelivered_event_changes_nothing(settings: Settings) -> None:
    event = contact()
    async with hub_for(settings) as hub:
        await hub.publish([event])
        await hub.drain(timeout=20)
        state_before = await hub.redis.hgetall(hub.keys.state("screening"))
        revs_before = await hub.redis.hgetall(hub.keys.revisions("screening"))
        # The same event delivered again: published twice more, and re-applied directly.
        await hub.publish([event, event])
        await hub.drain(timeout=20)
        entries = await hub.redis.xrange(hub.keys.stream("contacts"))
        edge = hub.edges["screening"]
        result = await edge.apply("contacts", entries)
        assert result.skipped_duplicates == 3
        assert len(await decisions(hub)) == 1
        assert await hub.redis.hgetall(hub.keys.state("screening")) == state_before
        assert await hub.redis.hgetall(hub.keys.revisions("screening")) == revs_before


async def test_a_consumer_killed_between_read_and_ack_loses_nothing(settings: Settings) -> None:
    events = [
        contact(event_id=f"k{i}", children=(f"K{i}",), at=T0 + timedelta(hours=i))
        for i in range(25)
    ]
    async with hub_for(settings, run_consumers=False) as hub:
        await hub.publish(events)
        key = hub.keys.stream("contacts")
        # A worker reads the whole backlog and dies before committing anything.
        taken = await hub.redis.xreadgroup("screening", "dead-worker", {key: ">"}, count=100)
        assert len(taken[0][1]) == 25
        pending = await hub.redis.xpending(key, "screening")
        assert pending["pending"] == 25
        # A new worker starts: its reclaim lane takes the dead worker's entries once idle.
        await hub.broker.start()
        await hub.drain(timeout=30)
        got = await decisions(hub)
        assert sorted(d.contact_id for d in got) == sorted(e.event_id for e in events)
        assert (await hub.redis.xpending(key, "screening"))["pending"] == 0


def malformed(i: int) -> dict[str, str]:
    kind = i % 6
    if kind == 0:
        return {"event": "{not json" + str(i)}
    if kind == 1:
        return {"event": json.dumps(contact_data(event_id=f"m{i}") | {"type": "contact.recieved"})}
    if kind == 2:
        return {"payload": "no event field"}
    if kind == 3:
        return {
            "event": json.dumps(
                contact_data(event_id=f"m{i}") | {"occurred_at": "2214-01-01T00:00:00Z"}
            )
        }
    if kind == 4:
        return {"event": json.dumps(contact_data(event_id=f"m{i}", concerns=("99Z",)))}
    tick = {
        "event_id": f"t{i}",
        "type": "clock.tick",
        "occurred_at": T0.isoformat(),
        "recorded_at": T0.isoformat(),
        "agency": "mash",
    }
    return {"event": json.dumps(tick)}


async def test_a_thousand_malformed_entries_are_dead_lettered_and_the_stream_moves_on(
    settings: Settings,
) -> None:
    async with hub_for(settings) as hub:
        pipe = hub.redis.pipeline(transaction=False)
        for i in range(1000):
            pipe.xadd(hub.keys.stream("contacts"), malformed(i))
        await pipe.execute()
        await hub.publish([contact(event_id="good")])
        await hub.drain(timeout=60)
        dead = [e for e in await hub.read("dlq") if isinstance(e, DeadLetter)]
        assert len(dead) == 1000
        reasons = {d.reason for d in dead}
        assert reasons == {
            "invalid_json",
            "unknown_type",
            "missing_field",
            "invalid_event",
            "wrong_stream",
        }
        assert all(d.detail and d.source_id and d.payload for d in dead)
        date_letter = next(d for d in dead if "2214" in d.payload)
        assert "outside the supported range" in date_letter.detail
        assert [d.contact_id for d in await decisions(hub)] == ["good"]


class Count(BaseModel):
    n: int = 0


TRIES: dict[str, int] = {}
APPLIED: list[str] = []


def exploding_rule(
    states: Mapping[str, Count], event: Event
) -> tuple[dict[str, Count], list[Envelope]]:
    TRIES[event.event_id] = TRIES.get(event.event_id, 0) + 1
    if event.event_id == "boom":
        raise ZeroDivisionError("division by zero")
    if event.event_id == "flaky" and TRIES["flaky"] < 3:
        raise ConnectionError("lookup service unavailable")
    APPLIED.append(event.event_id)
    return {k: Count(n=v.n + 1) for k, v in states.items()}, []


def exploding() -> Consumer[Count]:
    return Consumer(
        name="exploding",
        inputs=("contacts",),
        handles=frozenset({"contact.received"}),
        state_type=Count,
        keys=lambda e: [e.child_id or ""],
        rule=exploding_rule,
    )


async def test_a_rule_that_raises_dead_letters_the_event_with_a_summary(settings: Settings) -> None:
    TRIES.clear()
    async with Hub(settings.model_copy(update={"max_attempts": 4}), [exploding()]) as hub:
        await hub.publish([contact(event_id="a"), contact(event_id="boom"), contact(event_id="b")])
        await hub.drain(timeout=20)
        dead = [e for e in await hub.read("dlq") if isinstance(e, DeadLetter)]
        assert [(d.reason, d.source_id) for d in dead] == [("rule_error", "boom")]
        assert TRIES["boom"] == 4
        assert "after 4 attempts: ZeroDivisionError: division by zero" in dead[0].detail
        # The traceback's summary names where it was raised, for whoever mends the rule.
        assert "(at test_edge.py:" in dead[0].detail and "in exploding_rule)" in dead[0].detail
        state = await hub.redis.hget(hub.keys.state("exploding"), "C1")
        assert Count.model_validate_json(state).n == 2


async def test_a_rule_that_fails_then_succeeds_is_applied_in_order(settings: Settings) -> None:
    TRIES.clear()
    APPLIED.clear()
    async with Hub(settings.model_copy(update={"max_attempts": 3}), [exploding()]) as hub:
        await hub.publish([contact(event_id="flaky"), contact(event_id="after")])
        await hub.drain(timeout=20)
        assert [e for e in await hub.read("dlq") if isinstance(e, DeadLetter)] == []
        assert TRIES == {"flaky": 3, "after": 1}
        assert APPLIED == ["flaky", "after"]
        state = await hub.redis.hget(hub.keys.state("exploding"), "C1")
        assert Count.model_validate_json(state).n == 2


async def test_a_new_owner_applies_a_dead_workers_entries_before_newer_ones(
    settings: Settings,
) -> None:
    # The reclaim lane would take the dead worker's entries only after a minute: by then a
    # new owner reading `>` would have applied the child's later contact first.
    settings = settings.model_copy(update={"reclaim_idle_ms": 60_000})
    events = [contact(event_id=f"r{i}", at=T0 + timedelta(hours=i)) for i in range(4)]
    async with hub_for(settings, run_consumers=False) as hub:
        await hub.publish(events[:3])
        key = hub.keys.stream("contacts")
        taken = await hub.redis.xreadgroup("screening", "dead-worker", {key: ">"}, count=10)
        assert len(taken[0][1]) == 3
        await hub.publish(events[3:])
    async with hub_for(settings) as hub:  # takes the shard's lease, then consumes
        await hub.drain(timeout=20)
        got = await decisions(hub)
        assert (await hub.redis.xpending(key, "screening"))["pending"] == 0
    assert [d.contact_id for d in got] == ["r0", "r1", "r2", "r3"]
    # The fourth contact in a year is level 3: history was applied in the child's order.
    assert [d.level for d in got if d.contact_id == "r3"] == [3]


async def test_two_workers_racing_on_one_batch_apply_it_once(settings: Settings) -> None:
    events = [contact(event_id=f"r{i}", at=T0 + timedelta(hours=i)) for i in range(40)]
    async with hub_for(settings, run_consumers=False) as hub:
        await hub.publish(events)
        entries = await hub.redis.xrange(hub.keys.stream("contacts"))
        rival = Edge(hub.redis, hub.keys, hub.edges["screening"].consumer)
        results = await asyncio.gather(
            hub.edges["screening"].apply("contacts", entries), rival.apply("contacts", entries)
        )
        assert sum(r.applied for r in results) == 40
        got = await decisions(hub)
        assert len(got) == len({d.event_id for d in got}) == 40
        # The fourth contact in a year is level 3 in exactly one decision: history applied once.
        assert [d.level for d in got if d.contact_id == "r3"] == [3]


async def test_an_entry_delivered_too_often_is_dead_lettered(settings: Settings) -> None:
    poison = contact(event_id="poison")
    async with hub_for(settings.model_copy(update={"max_attempts": 3}), run_consumers=False) as hub:
        await hub.publish([poison])
        key = hub.keys.stream("contacts")
        taken = await hub.redis.xreadgroup("screening", "crashy", {key: ">"}, count=10)
        entry_id = taken[0][1][0][0]
        await hub.redis.xclaim(key, "screening", "crashy", 0, [entry_id], retrycount=5)
        await hub.broker.start()
        await hub.drain(timeout=30)
        dead = [e for e in await hub.read("dlq") if isinstance(e, DeadLetter)]
        assert [(d.reason, d.source_id) for d in dead] == [("too_many_attempts", entry_id.decode())]
        assert await decisions(hub) == []


async def test_a_new_owner_dead_letters_an_entry_that_killed_its_readers(
    settings: Settings,
) -> None:
    settings = settings.model_copy(update={"max_attempts": 3, "reclaim_idle_ms": 60_000})
    async with hub_for(settings, run_consumers=False) as hub:
        await hub.publish([contact(event_id="poison"), contact(event_id="fine", children=("C2",))])
        key = hub.keys.stream("contacts")
        taken = await hub.redis.xreadgroup("screening", "crashy", {key: ">"}, count=10)
        poison, fine = (entry_id for entry_id, _ in taken[0][1])
        await hub.redis.xclaim(key, "screening", "crashy", 0, [poison], retrycount=3)
    async with hub_for(settings) as hub:
        await hub.drain(timeout=20)
        dead = [e for e in await hub.read("dlq") if isinstance(e, DeadLetter)]
        got = await decisions(hub)
    assert [(d.reason, d.source_id) for d in dead] == [("too_many_attempts", poison.decode())]
    assert "delivered 4 times" in dead[0].detail
    assert [d.contact_id for d in got] == ["fine"]


async def test_wrong_redis_url_is_one_clear_error_without_credentials() -> None:
    from pydantic import SecretStr

    from mash.errors import HubUnavailable

    settings = Settings(redis_url=SecretStr("redis://admin:hunter2@127.0.0.1:1/0"))
    with pytest.raises(HubUnavailable) as info:
        await Hub(settings, []).start()
    message = str(info.value)
    assert message.startswith("cannot reach Redis at redis://***@127.0.0.1:1/0")
    assert "hunter2" not in message and "admin" not in message


async def test_contact_payload_reaches_only_debug_logs(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    from mash._runtime import logs

    logs.configure("INFO", json=True)
    async with hub_for(settings) as hub:
        await hub.redis.xadd(
            hub.keys.stream("contacts"),
            {
                "event": json.dumps(
                    contact_data(
                        event_id="secret", narrative="SENSITIVE-NARRATIVE", children=("CHILD-XYZ",)
                    )
                    | {"concerns": ["nope"]}
                )
            },
        )
        await hub.drain(timeout=20)
    captured = capsys.readouterr()
    with capsys.disabled():
        # Not onto capsys's stream: it is closed after this test, and a later test's warning
        # would raise there (it once killed a fleet's supervisor mid-replay).
        logs.configure("WARNING")
    assert "dead letter" in captured.err
    assert "SENSITIVE-NARRATIVE" not in captured.err + captured.out
    assert "CHILD-XYZ" not in captured.err + captured.out
    assert isinstance(contact(), ContactReceived)


async def test_entries_a_consumer_does_not_handle_are_skipped_unparsed_but_oddities_are_not(
    settings: Settings,
) -> None:
    """Screening handles contacts and casework it keeps history from; a core group meeting is
    neither. Skipping it unparsed is safe only where nothing about the entry is odd."""
    async with Hub(settings, [], run_consumers=False) as hub:
        edge = Edge(hub.redis, hub.keys, screening.build(DEFAULT_THRESHOLDS))
        core = {
            "event_id": "cg1",
            "type": "core_group.held",
            "occurred_at": T0.isoformat(),
            "recorded_at": T0.isoformat(),
            "agency": "la_social_care",
            "cpp_id": "P1",
        }
        unhandled = json.dumps(core).encode()
        broken = json.dumps({**core, "cpp_id": 7}).encode()  # invalid, but not screening's
        # JSON's last key wins: this is a (broken) contact, which screening must see.
        twice = unhandled[:-1] + b', "type": "contact.received"}'
        missing = {k: v for k, v in core.items() if k != "cpp_id"}
        missing |= {"type": "missing.started", "child_id": "C1", "missing_id": "M1"}
        elsewhere = json.dumps(missing).encode()
        entries = [
            (b"1700000000000-1", {b"event": unhandled}),
            (b"1700000000000-2", {b"event": broken}),
            (b"1700000000000-3", {b"event": twice}),
            (b"1700000000000-4", {b"event": elsewhere}),
        ]
        events, dead, ignored = edge.parse("casework", entries)
        assert events == []
        assert ignored == 2  # the valid and the invalid core group: both not screening's
        # Two types in one entry, and a type of another stream, are parsed: dead letters.
        assert sorted(d.source_id for d in dead) == ["1700000000000-3", "1700000000000-4"]
        assert {d.reason for d in dead} == {"invalid_event", "wrong_stream"}
