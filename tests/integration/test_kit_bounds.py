"""The kit for other teams never hangs their suite: every wait has a bound, and a sharded
in-process hub stays quiet."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time

import pytest

from mash import EmbeddedRedis, MashHub
from tests.conftest import ROOT, SCENARIOS

GEMMA = SCENARIOS / "gemma.yaml"


def test_a_replay_that_cannot_finish_in_time_raises_timeout_error(redis_url: str) -> None:
    hub = MashHub(redis_url)
    started = time.monotonic()
    with pytest.raises(TimeoutError, match=r"replay of .*gemma.yaml did not finish within 0s"):
        hub.replay(GEMMA, timeout=0)  # nothing at all: gemma can finish inside 50 ms
    assert time.monotonic() - started < 30
    assert hub.replay(GEMMA).ok  # the hub is fine afterwards


def test_a_timeout_at_any_point_of_the_start_leaves_nothing_running(redis_url: str) -> None:
    """Cut off while the hub was still starting, a replay used to leave its readers running:
    they outlived the event loop, which then waited for them for ever. Each bound below
    lands at a different point of the start; every one must give up at once."""
    hub = MashHub(redis_url)
    for bound in [0.01 * n for n in range(1, 21)]:
        started = time.monotonic()
        with contextlib.suppress(TimeoutError):
            hub.replay(GEMMA, timeout=bound)
        assert time.monotonic() - started < 15, f"a replay cut off at {bound:.2f}s hung"


async def test_areplay_has_the_same_bound(redis_url: str) -> None:
    # A bound of nothing at all: gemma's replay, on a warm hub, can finish inside 50 ms.
    with pytest.raises(TimeoutError, match="did not finish within 0s"):
        await MashHub(redis_url).areplay(GEMMA, timeout=0)


def test_wait_for_ends_when_redis_stops_answering() -> None:
    with EmbeddedRedis() as server:
        hub = MashHub(server.url)
        assert hub.replay(GEMMA).ok
        assert server.pid is not None
        os.kill(server.pid, signal.SIGSTOP)  # alive, holding its socket, answering nothing
        try:
            started = time.monotonic()
            with pytest.raises(TimeoutError, match="Redis did not answer while waiting on 'dlq'"):
                hub.wait_for("dlq", timeout=1)
            assert time.monotonic() - started < 15
        finally:
            os.kill(server.pid, signal.SIGCONT)


QUIET = """
import sys
from mash import MashHub
hub = MashHub(sys.argv[1], shards=4)
result = hub.replay(sys.argv[2])
print("ok", result.ok, len(result.decisions))
"""


def test_a_four_shard_hub_in_process_prints_nothing_below_warning(redis_url: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", QUIET, redis_url, str(SCENARIOS / "board-figures.yaml")],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stderr == ""  # no debug lines, no "Too many connections" tracebacks
    assert done.stdout.startswith("ok True ")
