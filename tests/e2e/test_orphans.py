"""A replay killed outright (SIGKILL, the OOM killer) leaves nothing running and, after the
next start, nothing on disk: workers and the embedded server die with it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from mash._runtime.embedded_redis import OWNER_PID, SERVER_PID, EmbeddedRedis, remove_stale_dirs
from tests.conftest import ROOT


def _gone(proc: psutil.Process) -> bool:
    try:
        return proc.status() == psutil.STATUS_ZOMBIE  # dead, not yet reaped by init
    except psutil.NoSuchProcess:
        return True


def _wait_until(what: str, check: object, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        if time.monotonic() > deadline:
            pytest.fail(f"{what} within {timeout:.0f}s")
        time.sleep(0.05)


@pytest.mark.skipif(sys.platform != "linux", reason="the parent-death signal is Linux's")
def test_sigkill_of_a_replay_with_workers_leaves_no_process_and_no_temp_dir(
    year: Path, cli_env: dict[str, str]
) -> None:
    replay = subprocess.Popen(
        [sys.executable, "-m", "mash", "replay", str(year), "--workers", "2", "-q"],
        cwd=ROOT,
        env=cli_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    parent = psutil.Process(replay.pid)
    try:

        def started() -> bool:
            kids = parent.children()
            workers = [p for p in kids if "worker" in p.cmdline()]
            return len(workers) == 2 and any("redis-server" in p.name() for p in kids)

        _wait_until("two workers and a server started", started, 60)
        time.sleep(1.0)  # mid-run: the workers are applying
        children = parent.children()
        server = next(p for p in children if "redis-server" in p.name())
        directory = Path(server.cwd())  # it works in its --dir
        assert (directory / OWNER_PID).read_text() == str(replay.pid)
        assert (directory / SERVER_PID).read_text() == str(server.pid)
        assert replay.poll() is None, "the replay ended before it could be killed"
        os.kill(replay.pid, signal.SIGKILL)
        replay.wait(timeout=10)
        _wait_until("every child gone", lambda: all(_gone(p) for p in children), 30)
    finally:
        if replay.poll() is None:
            replay.kill()
    assert directory.exists()  # nobody could clean up after a SIGKILL...
    with EmbeddedRedis():  # ...until the next embedded server starts
        assert not directory.exists()


def _telling(out: Path, cli_env: dict[str, str]) -> tuple[subprocess.Popen[str], psutil.Process]:
    """A `mash generate --jobs 2` of a twenty-times year into `out`, once its two telling
    processes have started and been telling for a moment."""
    args = ["generate", "--scale", "20", "--jobs", "2", "-o", str(out)]
    generate = subprocess.Popen(
        [sys.executable, "-m", "mash", *args],
        cwd=ROOT,
        env=cli_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    parent = psutil.Process(generate.pid)
    try:
        _wait_until("two telling processes", lambda: len(parent.children()) == 2, 60)
    except BaseException:
        generate.kill()
        raise
    time.sleep(0.5)  # mid-year: they are telling
    return generate, parent


@pytest.mark.skipif(sys.platform != "linux", reason="the parent-death signal is Linux's")
@pytest.mark.parametrize("stop", [signal.SIGKILL, signal.SIGTERM])
def test_a_generate_in_several_jobs_stopped_leaves_no_process(
    stop: signal.Signals, tmp_path: Path, cli_env: dict[str, str]
) -> None:
    out = tmp_path / "year.jsonl"
    generate, parent = _telling(out, cli_env)
    try:
        children = parent.children()
        assert generate.poll() is None, "the year was written before it could be killed"
        os.kill(generate.pid, stop)
        generate.communicate(timeout=30)
        assert generate.returncode == (-9 if stop == signal.SIGKILL else 130)
        _wait_until("every telling process gone", lambda: all(_gone(p) for p in children), 30)
    finally:
        if generate.poll() is None:
            generate.kill()
    assert not out.exists()  # the file is written only once every story is told
    # The buckets a SIGKILL left behind go with the next year written there.
    again = [sys.executable, "-m", "mash", "generate", "--scale", "0.05", "-o", str(out)]
    assert subprocess.run(again, cwd=ROOT, env=cli_env, capture_output=True).returncode == 0
    assert [p.name for p in tmp_path.iterdir()] == ["year.jsonl"]


@pytest.mark.skipif(sys.platform != "linux", reason="the parent-death signal is Linux's")
def test_a_telling_process_killed_is_a_one_line_error(
    tmp_path: Path, cli_env: dict[str, str]
) -> None:
    generate, parent = _telling(tmp_path / "year.jsonl", cli_env)
    try:
        one, other = parent.children()
        one.kill()  # the OOM killer's way
        _, err = generate.communicate(timeout=60)
        _wait_until("the other telling process gone", lambda: _gone(other), 30)
    finally:
        if generate.poll() is None:
            generate.kill()
    assert generate.returncode == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "a process telling the year died (out of memory?); try --jobs 1" in lines[0]
    assert list(tmp_path.iterdir()) == []


def test_a_stale_dir_goes_and_a_live_ones_stay(tmp_path: Path) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / "mash-redis-stale"
    stale.mkdir()
    (stale / OWNER_PID).write_text(str(dead.pid))
    (stale / SERVER_PID).write_text(str(dead.pid))
    kept = tmp_path / "mash-redis-kept"  # its owner lives: a crashed server to restart
    kept.mkdir()
    (kept / OWNER_PID).write_text(str(os.getpid()))
    (kept / SERVER_PID).write_text(str(dead.pid))
    other = tmp_path / "unrelated"
    other.mkdir()
    assert remove_stale_dirs(tmp_path) == [stale]
    assert kept.exists() and other.exists() and not stale.exists()


def test_a_worker_watching_its_parent_stops_when_the_parent_is_gone(tmp_path: Path) -> None:
    """Elsewhere than Linux a worker watches `os.getppid()`: a child whose parent exits is
    re-parented, and the watch returns."""
    script = tmp_path / "probe.py"
    script.write_text(
        "import asyncio, os, subprocess, sys\n"
        "if sys.argv[1:] == ['child']:\n"
        "    from mash._ops.workers import parent_gone\n"
        "    asyncio.run(asyncio.wait_for(parent_gone(int(os.environ['P']), 0.05), 20))\n"
        "    print('parent gone', flush=True)\n"
        "else:\n"
        "    os.environ['P'] = str(os.getpid())\n"
        "    subprocess.Popen([sys.executable, __file__, 'child'])\n"
    )
    # run() reads until every writer of the pipe is done: the child, after its parent exits.
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=60, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "parent gone\n", done.stderr
