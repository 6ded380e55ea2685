"""The edge's collector policy: what a round keeps is frozen, and now and then everything
is thawed and collected, so a cycle is not kept for ever."""

from __future__ import annotations

import gc
import weakref

import pytest

from mash._runtime import edge


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
