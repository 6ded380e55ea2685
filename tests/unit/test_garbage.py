"""The edge's collector policy: what a round keeps is frozen, and now and then everything
is thawed and collected, so a cycle is not kept for ever."""

from __future__ import annotations

import gc
import weakref

import pytest
import redis.asyncio as aioredis

from mash._ops.bench import contacts, noop_consumer
from mash._runtime import edge
from mash._runtime.keys import Keys
from mash._runtime.pipeline import Pipeline


class Node:
    def __init__(self) -> None:
        self.me = self  # a cycle: only the collector frees it


def test_a_cycle_frozen_while_alive_is_freed_at_the_next_full_collection(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(edge, "FULL_COLLECT_EVERY", 3)
    monkeypatch.setattr(edge, "_rounds_since_full", 0)
    node = Node()
    alive = weakref.ref(node)
    try:
        edge.settle_garbage()  # round 1: the node survives, and is frozen
        del node
        edge.settle_garbage()  # round 2: frozen objects are not looked at
        assert alive() is not None
        edge.settle_garbage()  # round 3: thawed and collected
        assert alive() is None
    finally:
        gc.unfreeze()


def test_a_rounds_own_cyclic_garbage_waits_for_the_next_full_collection(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(edge, "FULL_COLLECT_EVERY", 2)
    monkeypatch.setattr(edge, "_rounds_since_full", 0)
    gc.disable()  # as in a round: the automatic collector does not get to it first
    try:
        node = Node()
        alive = weakref.ref(node)
        del node
        edge.settle_garbage()  # round 1: frozen as it is, not collected
        assert alive() is not None
        edge.settle_garbage()  # round 2: the full collection frees it
        assert alive() is None
    finally:
        gc.enable()
        gc.unfreeze()


def test_the_collector_is_off_while_rounds_run_and_back_on_when_the_last_ends() -> None:
    assert gc.isenabled()
    try:
        with edge.collector_paused():
            assert not gc.isenabled()
            with edge.collector_paused():  # another shard's round, interleaved at an await
                assert not gc.isenabled()
            assert not gc.isenabled()  # the first round is still running
        assert gc.isenabled()
        with pytest.raises(RuntimeError), edge.collector_paused():
            raise RuntimeError  # a round that fails (the lease lost) still turns it back on
        assert gc.isenabled()
    finally:
        gc.enable()


def test_a_collector_turned_off_by_the_application_stays_off() -> None:
    gc.disable()
    try:
        with edge.collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_what_parsing_a_batch_makes_is_frozen_as_soon_as_it_is_parsed() -> None:
    """Parsed events wait in the buffer for their watermark, out of the collector's sight:
    a full collection between rounds would otherwise walk every one of them."""
    keys = Keys("garbage")
    shard_edge = edge.ShardEdge(aioredis.Redis(), keys, Pipeline([noop_consumer()]), 0, "test")
    lines = contacts(50, children=10)
    ids = [f"{1_700_000_000_000 + i}-0".encode() for i in range(len(lines) + 1)]
    entries = [(at, {b"event": line.encode()}) for at, line in zip(ids, lines, strict=False)]
    entries.append((ids[-1], {b"event": b"{not json"}))
    try:
        parsed = shard_edge.parse("contacts", keys.stream("contacts", 0), entries)
        assert gc.isenabled()  # back on after the batch
        assert len(parsed.items) == 50 and len(parsed.letters) == 1
        in_sight = {id(o) for o in gc.get_objects()}  # every generation but the frozen
        made = [i.event for i in parsed.items] + [i.event.children[0] for i in parsed.items]
        assert all(gc.is_tracked(o) for o in made)
        assert not [o for o in made if id(o) in in_sight]
    finally:
        gc.unfreeze()
