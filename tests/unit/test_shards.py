"""Shard routing and `--shards` specs: pure logic, no Redis."""

from __future__ import annotations

import zlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mash._runtime.keys import Keys, shard_of
from mash._runtime.shards import ShardSpec, ShardSpecError
from tests.factories import T0, contact, tick


def test_a_child_has_one_shard_in_every_process_and_python() -> None:
    # CRC-32 values are fixed by the algorithm, unlike hash(), which is salted per process.
    assert zlib.crc32(b"C1") % 4 == shard_of("C1", 4)
    assert [shard_of(c, 4) for c in ("C1", "C2", "C3", "C4")] == [
        zlib.crc32(c.encode()) % 4 for c in ("C1", "C2", "C3", "C4")
    ]
    assert shard_of("anyone", 1) == 0


def test_events_route_by_their_first_child_and_the_clock_is_not_sharded() -> None:
    keys = Keys("ns", 4)
    household = contact(event_id="h", children=("C7", "C8"))
    assert keys.route(household) == f"mash:{{ns}}:contacts:{shard_of('C7', 4)}"
    assert keys.route(tick(T0)) == "mash:{ns}:clock"
    assert keys.streams("clock") == ["mash:{ns}:clock"]
    assert keys.streams("dlq") == [f"mash:{{ns}}:dlq:{i}" for i in range(4)]
    # One shard keeps the keys every tool knew before sharding.
    assert Keys("ns").route(household) == "mash:{ns}:contacts"


@pytest.mark.parametrize(
    ("spec", "total", "shards"),
    [("0-3", 4, [0, 1, 2, 3]), ("2", 4, [2]), ("0,2, 5", 8, [0, 2, 5]), ("1/4", 8, [1, 5])],
)
def test_shard_specs(spec: str, total: int, shards: list[int]) -> None:
    assert ShardSpec.parse(spec).resolve(total) == shards


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("3-1", "runs backwards"),
        ("a", "'a' is not a shard"),
        ("4/4", "worker 4 of 4 does not exist"),
        ("", "'' is not a shard"),
    ],
)
def test_bad_shard_specs_say_what_is_wrong(spec: str, message: str) -> None:
    with pytest.raises(ShardSpecError, match=message):
        ShardSpec.parse(spec)


def test_a_spec_past_the_namespace_s_shards_is_refused() -> None:
    with pytest.raises(ShardSpecError, match="shard 4 is out of range: 0-3"):
        ShardSpec.parse("2-4").resolve(4)
    with pytest.raises(ShardSpecError, match="no shard is left"):
        ShardSpec.parse("3/4").resolve(2)


@given(total=st.integers(1, 64), workers=st.integers(1, 16))
def test_k_workers_started_as_i_of_k_cover_every_shard_once(total: int, workers: int) -> None:
    owned: list[int] = []
    for index in range(min(workers, total)):
        owned.extend(ShardSpec.parse(f"{index}/{workers}").resolve(total))
    assert sorted(owned) == list(range(total))
