"""pytest plugin, enabled by installing mash: the `mash_hub` fixture on a real Redis.

With no `--mash-redis-url` (or `MASH_REDIS_URL`), one private embedded Redis serves the whole
test session; every replay gets a namespace of its own, so tests never collide.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from mash._runtime.embedded_redis import EmbeddedRedis
from mash.testing import Driver, MashHub


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--mash-redis-url",
        default=None,
        help="Redis for mash fixtures (default: a private embedded server for the session).",
    )


@pytest.fixture(scope="session")
def mash_redis_url(request: pytest.FixtureRequest) -> Iterator[str]:
    given = request.config.getoption("--mash-redis-url") or os.environ.get("MASH_REDIS_URL")
    if given:
        yield str(given)
        return
    with EmbeddedRedis() as server:
        yield server.url


@pytest.fixture
def mash_hub(mash_redis_url: str) -> MashHub:
    """Replay scenarios and wait for events: `mash_hub.replay("scenarios/gemma.yaml")`."""
    return MashHub(mash_redis_url)


@pytest.fixture
def mash_driver(mash_redis_url: str) -> Iterator[Driver]:
    """A hub to step through event time, in a fresh namespace: `mash_driver.pipe(contact)`,
    `mash_driver.advance(timedelta(days=1))`, `mash_driver.take("timescales")`. For other
    files or manual screening, use `mash_hub.driver(screening="manual", ...)`."""
    with Driver(mash_redis_url) as driver:
        yield driver
