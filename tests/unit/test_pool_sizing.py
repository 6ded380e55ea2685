"""Connection pools sized for a hub's shards (pure URL logic; the real hub is in
tests/integration/test_kit_bounds.py)."""

from __future__ import annotations

from typing import Any

from redis.asyncio.connection import parse_url

from mash._config.settings import Settings
from mash._runtime.clients import pool_size, sized_url
from mash._runtime.hub import Hub


def test_pools_grow_with_the_shards_and_never_shrink_below_redis_pys_default() -> None:
    assert pool_size(1) == 100
    for shards in (4, 16, 64):
        # Each blocking subscriber of a hub applying every shard holds a connection; the
        # edges' reads and commits, publishing and leases need spares beside them.
        subscribers = len(Hub(Settings(shards=shards), _consumers()).broker.subscribers)
        assert pool_size(shards) >= subscribers + 16 * shards // 4 + 16
    assert pool_size(16) > pool_size(4)


def _consumers() -> list[Any]:
    from mash._bootstrap import build_consumers
    from mash.consumers.screening.thresholds import load_thresholds

    return build_consumers(load_thresholds(Settings().thresholds))


def test_the_size_rides_on_the_url_for_clients_built_from_it() -> None:
    unix = sized_url("unix:///tmp/x/redis.sock", 4)
    assert parse_url(unix)["max_connections"] == pool_size(4)
    assert parse_url(unix)["path"] == "/tmp/x/redis.sock"
    assert unix.startswith("unix:///tmp/x/redis.sock?")  # redis-py 8.2 wants the `//`
    tls = sized_url("rediss://u:p@host:6380/2?ssl_ca_certs=/ca.pem", 2)
    options = parse_url(tls)
    assert options["ssl_ca_certs"] == "/ca.pem" and options["db"] == 2
    assert options["max_connections"] == pool_size(2)


def test_a_size_the_user_gave_is_kept() -> None:
    url = "redis://host:6379/0?max_connections=7"
    assert sized_url(url, 8) == url
