"""What an operator touches: `mash status`, a worker's Prometheus metrics, shard leases, and
Redis reached as an ACL user, over TLS, without the password ever being printed."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import ssl
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import trustme
from prometheus_client.parser import text_string_to_metric_families

from mash._runtime.embedded_redis import EmbeddedRedis
from tests.e2e.test_cli import ROOT, mash, one_line_error
from tests.factories import contact_data

GEMMA = str(ROOT / "scenarios" / "gemma.yaml")


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def _scrape(port: int) -> Samples:
    """Samples by name and label set, parsed by prometheus_client's own exposition parser."""
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def _at(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


def _status(env: dict[str, str], namespace: str) -> dict[str, object]:
    done = mash("status", "--json", "-n", namespace, env=env)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def test_status_and_metrics_show_lag_dead_letters_and_leases_per_shard(
    redis_url: str, cli_env: dict[str, str], tmp_path: Path
) -> None:
    namespace = f"ops{uuid.uuid4().hex[:8]}"
    env = {**cli_env, "MASH_REDIS_URL": redis_url, "MASH_SHARDS": "2"}
    port = _free_port()
    worker = subprocess.Popen(
        [sys.executable, "-m", "mash", "worker", "-n", namespace, "--shards", "0-1",
         "--clock", "event", "--metrics-port", str(port)],
        env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        lines = [json.dumps(contact_data(event_id=f"s{i}", children=(f"S{i}",))) for i in range(20)]
        lines.append('{"type": "contact.received", "broken"')
        source = tmp_path / "in.jsonl"
        source.write_text("\n".join(lines[:-1]) + "\n")
        assert mash("publish", str(source), "-n", namespace, env=env).returncode == 0
        client = redis.Redis.from_url(redis_url)
        client.xadd(f"mash:{{{namespace}}}:contacts:1", {"event": lines[-1]})
        deadline = time.monotonic() + 60
        while True:
            status = _status(env, namespace)
            groups = status["groups"]
            assert isinstance(groups, list)
            contacts = [g for g in groups if g["consumer"] == "hub" and g["stream"] == "contacts"]
            if sum(g["acked"] for g in contacts) == 21 and all(g["lag"] == 0 for g in groups):
                break
            assert time.monotonic() < deadline, status
            time.sleep(0.2)
        assert status["shards"] == 2
        assert sorted(g["shard"] for g in contacts) == [0, 1]
        assert sum(g["length"] for g in contacts) == 21
        assert sum(g["outcomes"].get("applied", 0) for g in contacts) == 20
        # Each shard reads every watermark, through a group of its own.
        clocks = sorted((g["consumer"], g["shard"]) for g in groups if g["stream"] == "clock")
        assert clocks == [("hub.0", 0), ("hub.1", 1)]
        letters = status["dead_letters"]
        assert isinstance(letters, dict)
        # One letter for the broken entry, however many consumers would have read it.
        assert letters["by_reason"] == {"invalid_json": 1}
        assert letters["total"] == letters["last_minute"] == 1
        leases = status["leases"]
        assert isinstance(leases, dict) and sorted(leases) == ["0", "1"]
        assert len(set(leases.values())) == 1  # one worker holds both

        deadline = time.monotonic() + 30
        while True:  # the metrics are read every two seconds
            samples = _scrape(port)
            if samples.get(("mash_dead_letters_total", frozenset())) == 1:
                break
            assert time.monotonic() < deadline, samples
            time.sleep(0.5)
        where = {"consumer": "hub", "stream": "contacts", "shard": "1"}
        assert _at(samples, "mash_consumer_lag", **where) == 0
        assert _at(samples, "mash_entries_total", **where, outcome="dead.invalid_json") == 1
        by_reason = _at(samples, "mash_dead_letters_by_reason_total", reason="invalid_json")
        assert by_reason == 1
        assert _at(samples, "mash_shard_owned", shard="0") == 1
        assert _at(samples, "mash_shard_owned", shard="1") == 1
        human = mash("status", "-n", namespace, env=env)
        assert human.returncode == 0 and "invalid_json" in human.stdout
    finally:
        worker.send_signal(signal.SIGTERM)
        _, err = worker.communicate(timeout=30)
    assert worker.returncode == 0, err
    assert "Traceback" not in err
    assert _status(env, namespace)["leases"] == {}  # released on the way out


def test_a_second_worker_for_the_same_shard_waits_for_the_first(
    redis_url: str, cli_env: dict[str, str]
) -> None:
    namespace = f"lease{uuid.uuid4().hex[:8]}"
    env = {**cli_env, "MASH_REDIS_URL": redis_url, "MASH_LEASE_MS": "1000"}
    args = [sys.executable, "-m", "mash", "worker", "-n", namespace, "--clock", "event"]
    first = subprocess.Popen(args, env=env, cwd=ROOT, stderr=subprocess.PIPE, text=True)
    standby: subprocess.Popen[str] | None = None
    try:
        deadline = time.monotonic() + 30
        while not _status(env, namespace)["leases"]:
            assert time.monotonic() < deadline
            time.sleep(0.2)
        holder = _status(env, namespace)["leases"]
        standby = subprocess.Popen(args, env=env, cwd=ROOT, stderr=subprocess.PIPE, text=True)
        time.sleep(3)
        assert _status(env, namespace)["leases"] == holder  # still the first worker's
        first.send_signal(signal.SIGKILL)  # no release: the lease has to run out
        deadline = time.monotonic() + 30
        while _status(env, namespace)["leases"] in ({}, holder):
            assert time.monotonic() < deadline
            time.sleep(0.2)
        assert standby is not None and str(standby.pid) in json.dumps(
            _status(env, namespace)["leases"]
        )
    finally:
        for proc in (first, standby):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        _, err = standby.communicate(timeout=30) if standby is not None else ("", "")
        first.wait(timeout=30)
    assert "waiting for a shard" in err


# ---- ACL users and TLS ------------------------------------------------------------------------
@pytest.fixture
def acl_user(redis_server: EmbeddedRedis) -> Iterator[tuple[str, str]]:
    name, password = f"u{uuid.uuid4().hex[:8]}", f"pw-{uuid.uuid4().hex}"
    admin = redis.Redis(unix_socket_path=str(redis_server.socket))
    admin.execute_command("ACL", "SETUSER", name, "on", f">{password}", "~*", "&*", "+@all")
    yield name, password
    admin.execute_command("ACL", "DELUSER", name)


@pytest.fixture
def tls_port(redis_server: EmbeddedRedis, tmp_path: Path) -> Iterator[int]:
    """A TLS front for the test's Redis (what stunnel or a managed Redis's TLS port does):
    trustme's CA signs a certificate for localhost, and the client must verify it."""
    ca = trustme.CA()
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost").configure_cert(context)
    ready, ports = threading.Event(), []
    loop = asyncio.new_event_loop()

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, ssl.SSLError):
            pass
        finally:
            writer.close()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_unix_connection(str(redis_server.socket))
        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    async def serve() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=context)
        ports.append(server.sockets[0].getsockname()[1])
        ready.set()
        async with server:
            await server.serve_forever()

    def run() -> None:
        with contextlib.suppress(asyncio.CancelledError):
            loop.run_until_complete(serve())

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    ready.wait(10)
    yield ports[0]
    loop.call_soon_threadsafe(lambda: [t.cancel() for t in asyncio.all_tasks(loop)])
    thread.join(5)


def test_an_acl_user_over_tls_replays_and_its_password_is_never_printed(
    acl_user: tuple[str, str], tls_port: int, tmp_path: Path, cli_env: dict[str, str]
) -> None:
    user, password = acl_user
    ca = tmp_path / "ca.pem"
    url = f"rediss://{user}:{password}@localhost:{tls_port}/0?ssl_ca_certs={ca}"
    done = mash(
        "replay", GEMMA, "--redis-url", url, "-n", f"tls{uuid.uuid4().hex[:6]}",
        "--log-level", "DEBUG", env=cli_env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert password not in done.stdout + done.stderr
    assert "expectations" in done.stdout
    # The same port with a CA that did not sign its certificate is refused, in one line.
    other = tmp_path / "other.pem"
    trustme.CA().cert_pem.write_to_path(str(other))
    bad = f"rediss://{user}:{password}@localhost:{tls_port}/0?ssl_ca_certs={other}"
    line = one_line_error(mash("replay", GEMMA, "--redis-url", bad, env=cli_env))
    assert "cannot reach Redis at rediss://***@localhost" in line
    assert password not in line


def test_an_acl_user_on_the_unix_socket_and_a_wrong_password(
    acl_user: tuple[str, str], redis_server: EmbeddedRedis, cli_env: dict[str, str]
) -> None:
    user, password = acl_user
    url = f"unix://{user}:{password}@{redis_server.socket}"
    done = mash(
        "replay", GEMMA, "--redis-url", url, "-n", f"acl{uuid.uuid4().hex[:6]}", env=cli_env
    )
    assert done.returncode == 0, done.stderr
    assert password not in done.stdout + done.stderr
    wrong = f"unix://{user}:not-{password}@{redis_server.socket}"
    line = one_line_error(mash("replay", GEMMA, "--redis-url", wrong, env=cli_env))
    assert "invalid username-password pair" in line
    assert password not in line and "***@" in line


def test_a_namespace_runs_on_one_clock_and_a_worker_on_the_other_is_refused(
    redis_url: str, cli_env: dict[str, str], tmp_path: Path
) -> None:
    namespace = f"clock{uuid.uuid4().hex[:8]}"
    env = {**cli_env, "MASH_REDIS_URL": redis_url}
    source = tmp_path / "one.jsonl"
    source.write_text(json.dumps(contact_data()) + "\n")
    # Publishing a file's events puts the namespace on their event time.
    assert mash("publish", str(source), "-n", namespace, env=env).returncode == 0
    line = one_line_error(mash("worker", "-n", namespace, "--clock", "wall", env=env))
    assert f"namespace {namespace!r} runs on the event clock" in line
    assert "--clock wall" in line
