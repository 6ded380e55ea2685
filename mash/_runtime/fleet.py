"""`mash replay --workers N`: N `mash worker` processes, one share of the shards each.

The replay's own hub publishes and waits; the workers apply, exactly as a deployment's
workers would (the same command, the same environment variables), so a replay with workers
proves what a deployment does. A worker that dies is started again: its replacement waits for
the dead one's lease to run out, and reclaims what it had read but not applied. Workers end
with the replay, however it ends: on Linux a parent-death signal, elsewhere each worker
watches its parent (`MASH_PARENT_PID`, see `mash._ops.workers`).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path

import structlog

from mash._runtime.embedded_redis import die_with_parent
from mash.errors import HubUnavailable

log = structlog.get_logger("mash.fleet")

MAX_RESTARTS = 5


def usable_cores() -> int:
    """The cores this process may run on (a container's share, not the machine's): what the
    default worker and job counts, and a benchmark's share of the cores kept busy, go by."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _prepare_worker(nice: int) -> None:  # pragma: no cover - runs in the child before exec
    """In the worker before it starts: a lower priority, so a replay's bulk work yields the
    CPU to whoever asks for something meanwhile (a report from another shell, an editor),
    and, on Linux, death with the replay: a SIGKILLed replay cannot stop its workers, the
    kernel does."""
    if nice and hasattr(os, "nice"):
        os.nice(nice)
    if sys.platform == "linux":
        die_with_parent()


@dataclass
class Fleet:
    url: str
    namespace: str
    workers: int
    shards: int
    thresholds: Path
    timescales: Path
    scoring: Path
    screening: str = "auto"
    team: Path | None = None
    env: dict[str, str] = field(default_factory=dict)
    nice: int = 0  # added to each worker's niceness (see `Settings.worker_nice`)
    procs: list[asyncio.subprocess.Process | None] = field(default_factory=list)
    restarts: int = 0
    _watch: asyncio.Task[None] | None = None
    _failed: str | None = None

    def _environment(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(self.env)
        env.update(
            {
                "MASH_REDIS_URL": self.url,
                "MASH_NAMESPACE": self.namespace,
                "MASH_SHARDS": str(self.shards),
                "MASH_THRESHOLDS": str(self.thresholds),
                "MASH_TIMESCALES": str(self.timescales),
                "MASH_SCORING": str(self.scoring),
                "MASH_SCREENING": self.screening,
                # Where no parent-death signal exists, the worker watches for its parent.
                "MASH_PARENT_PID": str(os.getpid()),
            }
        )
        env.pop("MASH_TEAM", None)
        if self.team is not None:
            env["MASH_TEAM"] = str(self.team)
        env.setdefault("MASH_LOG_LEVEL", "WARNING")
        return env

    async def _spawn(self, index: int) -> asyncio.subprocess.Process:
        args = ["-m", "mash", "worker", "--shards", f"{index}/{self.workers}", "--clock", "event"]
        # No code in the child before exec where there is nothing to do there: elsewhere
        # than Linux, a worker that is not niced starts by plain fork and exec.
        wanted = os.name == "posix" and (self.nice > 0 or sys.platform == "linux")
        prepare = functools.partial(_prepare_worker, self.nice) if wanted else None
        return await asyncio.create_subprocess_exec(
            sys.executable,
            *args,
            env=self._environment(),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            preexec_fn=prepare,
        )

    async def start(self) -> None:
        self.procs = [await self._spawn(i) for i in range(self.workers)]
        self._watch = asyncio.create_task(self._supervise())

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.procs if p is not None]

    def check(self) -> None:
        """Raise if the fleet gave up on a worker (it kept dying), or its supervisor died: with
        nobody restarting workers, a replay would otherwise wait out its whole timeout."""
        if self._failed:
            raise HubUnavailable(self._failed)
        watch = self._watch
        if watch is not None and watch.done() and not watch.cancelled() and watch.exception():
            raise HubUnavailable(f"the worker supervisor failed: {watch.exception()!r}")

    async def _supervise(self) -> None:
        while True:
            await asyncio.sleep(0.1)
            for index, proc in enumerate(self.procs):
                if proc is None or proc.returncode is None:
                    continue
                self.restarts += 1
                how = (
                    f"signal {-proc.returncode}"
                    if proc.returncode < 0
                    else f"exit {proc.returncode}"
                )
                if self.restarts > MAX_RESTARTS:
                    self._failed = f"worker {index}/{self.workers} died ({how}) too often"
                    self.procs[index] = None
                    return
                log.warning("worker died; starting it again", worker=index, how=how)
                # Growing waits: a worker that died because Redis is away would otherwise use up
                # its restarts before Redis is back.
                await asyncio.sleep(min(0.25 * 2 ** (self.restarts - 1), 4.0))
                self.procs[index] = await self._spawn(index)

    async def stop(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
            await asyncio.wait([self._watch])  # a failure of its own is check()'s to report
        alive = [p for p in self.procs if p is not None and p.returncode is None]
        for proc in alive:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
        for proc in alive:
            try:
                await asyncio.wait_for(proc.wait(), timeout=15)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
