"""The kit for other teams never hangs their suite: every wait has a bound, and a sharded
in-process hub stays quiet."""

from __future__ import annotations

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
        hub.replay(GEMMA, timeout=0.05)
    assert time.monotonic() - started < 30
    assert hub.replay(GEMMA).ok  # the hub is fine afterwards


async def test_areplay_has_the_same_bound(redis_url: str) -> None:
    with pytest.raises(TimeoutError, match="did not finish within"):
        await MashHub(redis_url).areplay(GEMMA, timeout=0.05)


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
