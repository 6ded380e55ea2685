"""A `mash room` for tests: the real command in a subprocess, on the session's Redis, on a
free port; its links read from what it prints; stopped with SIGTERM, which must exit 0."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.conftest import ROOT


@dataclass
class RoomProcess:
    proc: subprocess.Popen[str]
    base: str  # http://127.0.0.1:PORT
    key: str
    code: str | None
    lines: list[str] = field(default_factory=list)

    @property
    def facilitator(self) -> str:
        return f"{self.base}/f/{self.key}"

    def api(self, action: str) -> str:
        return f"{self.base}/api/f/{self.key}/{action}"

    def output(self) -> str:
        return "\n".join(self.lines)


@contextmanager
def mash_room(
    redis_url: str, *args: str, env: dict[str, str], wait_code: bool = True
) -> Iterator[RoomProcess]:
    namespace = f"r{uuid.uuid4().hex[:8]}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "mash", "room", *args, "--redis-url", redis_url,
         "--port", "0", "--namespace", namespace],
        cwd=str(ROOT), env={**env, "PYTHONUNBUFFERED": "1"}, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    lines: list[str] = []
    got: queue.Queue[str] = queue.Queue()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line.rstrip("\n"))
            got.put(line)

    threading.Thread(target=read, daemon=True).start()
    base = key = code = None
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline and (key is None or (wait_code and code is None)):
            try:
                line = got.get(timeout=1)
            except queue.Empty:
                if proc.poll() is not None:
                    break
                continue
            if line.startswith("facilitator:"):
                url = line.split()[-1]
                base, key = url.split("/f/")
            if line.startswith("room code:"):
                code = line.split()[2]
        assert key is not None and base is not None, "\n".join(lines)
        room = RoomProcess(proc, base, key, code, lines)
        yield room
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    # Stopped by SIGTERM whatever state the room was in: a clean exit, no traceback.
    time.sleep(0.1)
    assert proc.returncode == 0, "\n".join(lines)
    assert "Traceback" not in "\n".join(lines), "\n".join(lines)


class Stream:
    """An event stream read in a thread: its snapshots, in order; closing it is a page
    closing."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.snapshots: queue.Queue[dict[str, Any]] = queue.Queue()
        self.latest: dict[str, Any] | None = None
        self._stop = threading.Event()
        self._client = httpx.Client(timeout=httpx.Timeout(5.0, read=None))
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        import json

        try:
            with self._client.stream("GET", self.url) as reply:
                for line in reply.iter_lines():
                    if self._stop.is_set():
                        return
                    if line.startswith("data: "):
                        snap = json.loads(line[6:])
                        self.latest = snap
                        self.snapshots.put(snap)
        except Exception:  # the page was closed under it
            return

    def wait_for(self, test: Any, timeout: float = 30.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        if self.latest is not None and test(self.latest):
            return self.latest
        while time.monotonic() < deadline:
            try:
                snap = self.snapshots.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                break
            if test(snap):
                return snap
        raise AssertionError(f"no snapshot matched within {timeout}s; last: {self.latest}")

    def close(self) -> None:
        self._stop.set()
        self._client.close()
        self._thread.join(timeout=5)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True
