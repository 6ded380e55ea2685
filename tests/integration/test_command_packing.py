"""Our async client packs commands with hiredis (redis-py's asyncio client packs them in
Python): the bytes on the wire, and the errors, must be redis-py's own; and they reach Redis."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from redis.asyncio.connection import Connection, UnixDomainSocketConnection
from redis.exceptions import DataError

from mash._runtime.clients import hiredis_packing, open_client

PYTHON = Connection()
HIREDIS = hiredis_packing(Connection)()

ARG = st.one_of(
    st.text(max_size=40),
    st.binary(max_size=40),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(allow_nan=False),
)


def _wire(connection: Connection, *args: Any) -> bytes:
    return b"".join(connection.pack_command(*args))


@given(name=st.sampled_from(["XADD", "HSET", "EVALSHA", "CONFIG GET", b"CLIENT SETNAME"]),
       args=st.lists(ARG, max_size=12))  # fmt: skip
def test_commands_go_on_the_wire_as_redis_py_packs_them(name: str | bytes, args: list[Any]) -> None:
    assert _wire(HIREDIS, name, *args) == _wire(PYTHON, name, *args)


@pytest.mark.parametrize("bad", [True, None, [1], {"a": 1}])
def test_what_redis_py_refuses_is_refused_the_same_way(bad: object) -> None:
    for connection in (PYTHON, HIREDIS):
        with pytest.raises(DataError):
            connection.pack_command("SET", "k", bad)


def test_a_memoryview_packs_to_the_same_bytes_and_the_url_keeps_its_transport() -> None:
    view = memoryview(b"value")
    assert _wire(HIREDIS, "SET", "k", view) == _wire(PYTHON, "SET", "k", view)
    unix = hiredis_packing(UnixDomainSocketConnection)
    assert issubclass(unix, UnixDomainSocketConnection)


async def test_a_hubs_own_client_packs_with_hiredis_and_its_commands_round_trip(
    redis_url: str, namespace: str
) -> None:
    client, cluster = await open_client(redis_url)
    try:
        assert not cluster
        assert client.connection_pool.connection_class.__name__.startswith("Hiredis")
        key = f"{{{namespace}}}:packing"
        await client.hset(key, mapping={"é": "ünïcode ☃", "n": 12, "f": 0.1})
        assert await client.hgetall(key) == {
            "é".encode(): "ünïcode ☃".encode(),
            b"n": b"12",
            b"f": b"0.1",
        }
    finally:
        await client.aclose()
