"""Many workers, same answers, nothing lost: real worker processes on a real Redis.

Every run here is compared with a clean run of the same file applied in one process: a
report is the whole outcome of a replay (figures, clocks, flags, dead letters), so equal
bytes mean no decision was lost or applied twice.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest
import structlog
from pydantic import SecretStr

from mash._config.settings import Settings
from mash._replay.driver import ReplayResult, replay_generated
from mash._report.report import to_json
from mash._runtime import logs
from mash._runtime.embedded_redis import EmbeddedRedis
from mash._runtime.fleet import Fleet
from mash._runtime.hub import Hub
from mash.errors import HubUnavailable
from mash.schemas.events import ScreeningDecided
from tests.e2e.test_cli import mash, one_line_error


def _workers() -> list[psutil.Process]:
    return [
        p
        for p in psutil.Process().children(recursive=True)
        if "worker" in p.cmdline() and p.status() != psutil.STATUS_ZOMBIE
    ]


def at_a_third(action: Callable[[], None]) -> Callable[[int, int], None]:
    """An `on_step` that runs `action` once, a moment after the step a third of the way in:
    the next step is then being applied, so the fault lands mid-step, not between steps."""
    fired = False

    def on_step(done: int, total: int) -> None:
        nonlocal fired
        if not fired and done >= total // 3:
            fired = True
            asyncio.get_running_loop().call_later(0.05, action)

    return on_step


async def _no_decision_twice(settings: Settings) -> int:
    async with Hub(settings, [], run_consumers=False) as hub:
        decisions = [e for e in await hub.read("decisions") if isinstance(e, ScreeningDecided)]
    assert len(decisions) == len({d.event_id for d in decisions})
    return len(decisions)


def fault_settings(url: str, namespace: str) -> Settings:
    # A dead worker's lease (and with it its pending entries) moves after a second, not the
    # default 10, so the test spends its time replaying rather than waiting.
    return Settings(
        redis_url=SecretStr(url),
        namespace=namespace,
        poll_ms=20,
        lease_ms=1000,
    )


def test_one_process_and_four_worker_processes_give_byte_identical_reports(
    year: Path, clean: str, tmp_path: Path, cli_env: dict[str, str]
) -> None:
    out = tmp_path / "four.json"
    done = mash(
        "replay", str(year), "-f", "json", "--report", str(out), "-q", "--workers", "4",
        env=cli_env, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert out.read_text() == clean
    assert "Traceback" not in done.stderr


def test_a_scenario_with_its_decision_list_is_the_same_with_four_workers(
    tmp_path: Path, cli_env: dict[str, str]
) -> None:
    scenario = Path(__file__).parents[2] / "scenarios" / "board-figures.yaml"
    reports = []
    for workers in ("0", "4"):
        out = tmp_path / f"{workers}.json"
        done = mash(
            "replay", str(scenario), "-f", "json", "--report", str(out), "-q",
            "--workers", workers, env=cli_env,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        reports.append(out.read_text())
    assert reports[0] == reports[1]
    assert '"decisions"' in reports[0]


async def test_a_worker_killed_mid_replay_is_restarted_and_nothing_is_lost_or_doubled(
    year: Path, clean: str, redis_url: str, namespace: str
) -> None:
    killed: list[int] = []

    def kill_one() -> None:
        victim = _workers()[0]
        killed.append(victim.pid)
        victim.send_signal(signal.SIGKILL)

    settings = fault_settings(redis_url, namespace)
    result = await replay_generated(year, settings, workers=2, on_step=at_a_third(kill_one))
    assert killed, "the fault was never injected"
    assert to_json(result.report) == clean
    assert await _no_decision_twice(settings) == result.report["decisions"]["total"]
    assert all(p.pid not in killed for p in _workers())  # replacements are gone too


@pytest.mark.parametrize("fsync", ["always"])
async def test_redis_killed_mid_run_with_aof_always_loses_nothing(
    year: Path, clean: str, fsync: str
) -> None:
    """SIGKILL, not a clean shutdown: with `appendfsync always` Redis replies only after the
    write is on disk, so everything anyone was told is done survives. (With `everysec`, up to
    the last second of acknowledged writes can go: see the README's "Faults" section.)"""
    crashes: list[int] = []
    with EmbeddedRedis(appendonly=True, appendfsync=fsync) as server:

        def crash_and_restart() -> None:
            crashes.append(server.pid or 0)
            server.crash()
            server.start()

        settings = fault_settings(server.url, "aof")
        result: ReplayResult = await replay_generated(
            year, settings, workers=2, on_step=at_a_third(crash_and_restart)
        )
        assert crashes and server.pid not in crashes
        assert to_json(result.report) == clean
        assert await _no_decision_twice(settings) == result.report["decisions"]["total"]


async def test_redis_gone_for_seconds_workers_reconnect_and_finish(year: Path, clean: str) -> None:
    outage: list[float] = []
    with EmbeddedRedis(appendonly=True, appendfsync="everysec") as server:

        def cut() -> None:
            loop = asyncio.get_running_loop()
            outage.append(loop.time())
            server.stop(keep=True)
            # Started again from the loop's thread: the server is tied to the thread that
            # starts it (it dies with it), so not from a timer thread.
            loop.call_later(3.0, server.start)

        settings = fault_settings(server.url, "cut")
        result = await replay_generated(year, settings, workers=2, on_step=at_a_third(cut))
        assert outage
        assert to_json(result.report) == clean


def test_worker_shard_mistakes_are_one_line(redis_url: str, cli_env: dict[str, str]) -> None:
    env = {**cli_env, "MASH_REDIS_URL": redis_url}
    assert "--shards 4/4: worker 4 of 4 does not exist" in one_line_error(
        mash("worker", "--shards", "4/4", env=env)
    )
    assert "'x' is not a shard" in one_line_error(mash("worker", "--shards", "0,x", env=env))
    ns = "shardmistakes"
    first = mash("publish", "-", "--namespace", ns, env={**env, "MASH_SHARDS": "2"}, input="")
    assert first.returncode == 0, first.stderr
    line = one_line_error(mash("worker", "-n", ns, "--shards", "0-3", env=env))
    assert "shard 2 is out of range: 0-1" in line
    line = one_line_error(mash("worker", "-n", ns, "--shard-count", "3", env=env))
    assert f"namespace {ns!r} has 2 shard(s); this process was started with 3" in line


async def test_a_fleet_whose_supervisor_died_says_so(
    redis_url: str, namespace: str, tmp_path: Path
) -> None:
    """The supervisor's own failure (here, logging to a stream that was closed under it) must
    stop a replay at once, not leave it waiting for workers nobody restarts."""
    closed = (tmp_path / "log").open("w")
    closed.close()
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(file=closed))
    settings = Settings()
    fleet = Fleet(
        redis_url, namespace, 1, 1, settings.thresholds, settings.timescales, settings.scoring
    )
    try:
        await fleet.start()
        fleet.check()  # a healthy fleet says nothing
        (proc,) = [p for p in fleet.procs if p is not None]
        proc.kill()  # the supervisor's "worker died" warning then fails
        for _ in range(100):
            if fleet._watch is not None and fleet._watch.done():
                break
            await asyncio.sleep(0.1)
        with pytest.raises(HubUnavailable, match="the worker supervisor failed: ValueError"):
            fleet.check()
    finally:
        logs.configure("WARNING")
        await fleet.stop()


@pytest.mark.parametrize("nice", [None, 0, 5])
async def test_a_replays_workers_yield_the_cpu_by_the_niceness_set(
    redis_url: str, namespace: str, nice: int | None
) -> None:
    """Workers a replay starts run at `MASH_WORKER_NICE` above the replay (10 unless set), so
    a report asked from another shell gets a core while they are busy."""
    from mash._bootstrap import build_consumers
    from mash._replay.driver import applied_by
    from mash.consumers.screening.thresholds import load_thresholds

    overrides = {} if nice is None else {"worker_nice": nice}
    settings = Settings(redis_url=SecretStr(redis_url), namespace=namespace, **overrides)
    paths = (settings.thresholds, settings.timescales, settings.scoring)
    consumers = build_consumers(load_thresholds(settings.thresholds))
    own = psutil.Process().nice()
    async with (
        Hub(settings, consumers, run_consumers=False) as hub,
        applied_by(hub, 2, paths, decide=True) as fleet,
    ):
        assert fleet is not None
        niceness = [psutil.Process(pid).nice() for pid in fleet.pids]
    expected = min(19, own + (10 if nice is None else nice))
    assert niceness == [expected, expected]


def test_a_generated_year_is_applied_by_two_workers_by_default_on_two_cores(
    year: Path, clean: str, tmp_path: Path, redis_url: str, namespace: str, cli_env: dict[str, str]
) -> None:
    import os

    import redis

    cores = len(os.sched_getaffinity(0))
    out = tmp_path / "default.json"
    done = mash(
        "replay", str(year), "-f", "json", "--report", str(out), "-q",
        "--redis-url", redis_url, "-n", namespace, env=cli_env, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert out.read_text() == clean  # same bytes, whoever applied it
    with redis.Redis.from_url(redis_url) as client:
        shards = int(client.hget(f"mash:{{{namespace}}}:config", "shards") or 1)
    assert shards == (2 if cores >= 2 else 1)
