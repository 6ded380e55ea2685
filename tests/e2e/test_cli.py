"""The `mash` command as a user runs it: real processes, real Redis, real files."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis
import yaml

from mash._generator.generate import BOROUGH_2013_14, Generator
from mash._runtime.keys import Keys
from tests.conftest import ROOT, SCENARIOS
from tests.factories import contact

# The library: top-level storylines, and one file per decision type and per clock.
SHIPPED = sorted(
    [
        *SCENARIOS.glob("*.yaml"),
        *SCENARIOS.glob("decisions/*.yaml"),
        *SCENARIOS.glob("clocks/*.yaml"),
    ]
)


def mash(
    *args: str, env: dict[str, str], timeout: float = 120, **kw: object
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # type: ignore[call-overload,no-any-return]
        [sys.executable, "-m", "mash", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        cwd=ROOT,
        **kw,
    )


def replay_into(scenario: Path | str, redis_url: str, namespace: str, env: dict[str, str]) -> None:
    """Replay a scenario into a namespace of the test's Redis, for commands that read it after."""
    result = mash(
        "replay", str(scenario), "--redis-url", redis_url, "--namespace", namespace, "-q", env=env
    )
    assert result.returncode == 0, result.stderr


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.mark.parametrize(
    "scenario", SHIPPED, ids=[str(p.relative_to(SCENARIOS).with_suffix("")) for p in SHIPPED]
)
def test_every_shipped_scenario_replays_and_its_expectations_hold(
    scenario: Path, redis_url: str, namespace: str, cli_env: dict[str, str]
) -> None:
    result = mash(
        "replay", str(scenario), "--redis-url", redis_url, "--namespace", namespace, env=cli_env
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "FAILED" not in result.stderr


def test_replay_on_the_embedded_default_writes_a_report(
    tmp_path: Path, cli_env: dict[str, str]
) -> None:
    report = tmp_path / "report.json"
    scenario = SCENARIOS / "domestic-abuse-household.yaml"
    result = mash("replay", str(scenario), "--report", str(report), "--format", "json", env=cli_env)
    assert result.returncode == 0, result.stderr
    data = json.loads(report.read_text())
    assert data["decisions"]["total"] == 3
    assert data["expectations"] == {"total": 4, "passed": 4, "failed": []}


def test_same_scenario_same_report_byte_for_byte_whatever_the_batch_size(
    tmp_path: Path, redis_url: str, cli_env: dict[str, str]
) -> None:
    scenario = SCENARIOS / "neglect-when-is-enough-enough.yaml"
    outputs = []
    for index, batch in enumerate(("1", "500", "7")):
        for fmt in ("md", "json"):
            path = tmp_path / f"r{index}.{fmt}"
            result = mash(
                "replay",
                str(scenario),
                "--redis-url",
                redis_url,
                "--namespace",
                f"det{index}{fmt}{os.getpid()}",
                "--batch-size",
                batch,
                "--report",
                str(path),
                "--format",
                fmt,
                "-q",
                env=cli_env,
            )
            assert result.returncode == 0, result.stderr
            outputs.append((fmt, path.read_bytes()))
    for fmt in ("md", "json"):
        assert len({data for f, data in outputs if f == fmt}) == 1


@pytest.mark.parametrize("name", ["timescales-assessment", "timescales-child-protection"])
def test_breaches_come_at_the_same_instants_twice_and_whatever_the_batch_size(
    name: str, tmp_path: Path, redis_url: str, cli_env: dict[str, str]
) -> None:
    scenario = SCENARIOS / f"{name}.yaml"
    reports = []
    for index, batch in enumerate(("500", "500", "1")):
        path = tmp_path / f"r{index}.json"
        result = mash(
            "replay",
            str(scenario),
            "--redis-url",
            redis_url,
            "--namespace",
            f"ts{index}{name}{os.getpid()}",
            "--batch-size",
            batch,
            "--report",
            str(path),
            "--format",
            "json",
            "-q",
            env=cli_env,
        )
        assert result.returncode == 0, result.stderr
        reports.append(path.read_bytes())
    assert reports[0] == reports[1] == reports[2]
    breaches = json.loads(reports[0])["clocks"]["breaches"]
    assert breaches, "the scenario breaches clocks"


def test_clocks_lists_what_is_out_of_timescale_now(
    redis_url: str, namespace: str, cli_env: dict[str, str]
) -> None:
    scenario = SCENARIOS / "timescales-child-protection.yaml"
    replay_into(str(scenario), redis_url, namespace, cli_env)
    listed = mash(
        "clocks",
        "--redis-url",
        redis_url,
        "--namespace",
        namespace,
        "--breached",
        "--json",
        env=cli_env,
    )
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)
    assert [(r["clock"], r["deadline"], r["out_of_timescale"]) for r in rows] == [
        ("later_review", "2015-06-15T23:59:59+01:00", True)
    ]


def test_missing_lists_the_episodes_that_never_ended(
    redis_url: str, namespace: str, cli_env: dict[str, str]
) -> None:
    scenario = SCENARIOS / "missing-episode-errors.yaml"
    replay_into(str(scenario), redis_url, namespace, cli_env)
    listed = mash(
        "missing", "--redis-url", redis_url, "--namespace", namespace, "--json", env=cli_env
    )
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout) == [
        {"child": "F", "missing_id": "F-M1", "started_at": "2014-05-01T19:00:00+01:00"}
    ]


def test_a_failed_expectation_exits_1_and_says_expected_and_got(
    tmp_path: Path, cli_env: dict[str, str]
) -> None:
    text = (SCENARIOS / "neglect-when-is-enough-enough.yaml").read_text()
    text = text.replace(
        "- decision: {contact: c1, level: 2,", "- decision: {contact: c1, level: 4,"
    )
    path = tmp_path / "wrong.yaml"
    path.write_text(text)
    result = mash("replay", str(path), env=cli_env)
    assert result.returncode == 1
    assert "FAILED decision c1: level: expected 4, got 2" in result.stderr


def test_a_scenario_typo_is_one_line_with_file_line_and_field(
    tmp_path: Path, cli_env: dict[str, str]
) -> None:
    text = (
        (SCENARIOS / "domestic-abuse-household.yaml").read_text().replace("concerns:", "concens:")
    )
    path = tmp_path / "typo.yaml"
    path.write_text(text)
    line = one_line_error(mash("replay", str(path), env=cli_env))
    assert f"{path}:17: events[0].concens: unknown field" in line


def test_a_missing_scenario_file_is_one_line(cli_env: dict[str, str]) -> None:
    line = one_line_error(mash("replay", "scenarios/nope.yaml", env=cli_env))
    assert "scenarios/nope.yaml" in line and "cannot read" in line


def test_an_unreachable_redis_is_one_line_without_credentials(cli_env: dict[str, str]) -> None:
    result = mash(
        "replay", str(SHIPPED[0]), "--redis-url", "redis://ops:s3cret@127.0.0.1:1/0", env=cli_env
    )
    line = one_line_error(result)
    assert "cannot reach Redis at redis://***@127.0.0.1:1/0" in line
    assert "s3cret" not in result.stderr + result.stdout


def test_a_malformed_redis_url_is_one_line(cli_env: dict[str, str]) -> None:
    line = one_line_error(
        mash("replay", str(SHIPPED[0]), "--redis-url", "http://nowhere", env=cli_env)
    )
    assert "cannot reach Redis at http://nowhere" in line


def test_a_bad_setting_is_one_line(cli_env: dict[str, str]) -> None:
    env = cli_env | {"MASH_BATCH_SIZE": "lots"}
    line = one_line_error(mash("replay", str(SHIPPED[0]), env=env))
    assert "batch_size" in line


def test_a_second_thresholds_file_changes_the_decision(
    tmp_path: Path, redis_url: str, namespace: str, cli_env: dict[str, str]
) -> None:
    scenario = SCENARIOS / "domestic-abuse-household.yaml"
    report = tmp_path / "strict.json"
    result = mash(
        "replay",
        str(scenario),
        "--redis-url",
        redis_url,
        "--namespace",
        namespace,
        "--thresholds",
        str(SCENARIOS / "thresholds" / "strict-council.yaml"),
        "--report",
        str(report),
        "--format",
        "json",
        "-q",
        env=cli_env,
    )
    assert result.returncode == 1  # the scenario's expectations are the default council's
    assert "FAILED decision police-1/DA1: level: expected 3, got 4" in result.stderr
    data = json.loads(report.read_text())
    assert data["thresholds"] == "strict-council"
    da1 = next(d for d in data["decisions"]["list"] if d["child"] == "DA1")
    assert (da1["level"], da1["rag"], da1["reasons"][0]) == (4, "red", "SC4-DOMESTIC-ABUSE")


def test_a_scoring_file_changes_a_level(
    tmp_path: Path, redis_url: str, namespace: str, cli_env: dict[str, str]
) -> None:
    report = tmp_path / "strict.json"
    result = mash(
        "replay",
        str(SCENARIOS / "child-a.yaml"),
        "--redis-url",
        redis_url,
        "--namespace",
        namespace,
        "--scoring",
        str(SCENARIOS / "scoring" / "strict-cse.yaml"),
        "--report",
        str(report),
        "--format",
        "json",
        "-q",
        env=cli_env,
    )
    assert result.returncode == 1  # the scenario's expectations are the default protocol's
    assert "FAILED cse A: expected high at 2014-03-04T09:00:00+00:00" in result.stderr
    assert "high@2014-02-03T10:00:00+00:00" in result.stderr  # a month earlier under strict-cse
    data = json.loads(report.read_text())
    assert data["scoring"] == "strict-cse"
    assert data["cse"]["flags_by_level"] == {"high": 1, "medium": 1}


def test_a_bad_thresholds_file_fails_at_start_with_its_line(
    tmp_path: Path, cli_env: dict[str, str]
) -> None:
    bad = tmp_path / "bad-council.yaml"
    bad.write_text(
        (SCENARIOS / "thresholds" / "strict-council.yaml")
        .read_text()
        .replace("level: 3", "level: 5")
    )
    line = one_line_error(mash("replay", str(SHIPPED[0]), "--thresholds", str(bad), env=cli_env))
    assert f"{bad}:" in line and "level" in line


def test_checked_in_schemas_match_the_code(cli_env: dict[str, str]) -> None:
    result = mash("schemas", "--out", "schemas", "--check", env=cli_env)
    assert result.returncode == 0, result.stderr + result.stdout


def test_schema_drift_is_detected(tmp_path: Path, cli_env: dict[str, str]) -> None:
    assert mash("schemas", "--out", str(tmp_path), env=cli_env).returncode == 0
    target = tmp_path / "json" / "contact.received.json"
    target.write_text(target.read_text().replace('"concerns"', '"concernz"'))
    result = mash("schemas", "--out", str(tmp_path), "--check", env=cli_env)
    assert result.returncode == 1
    assert "json/contact.received.json" in result.stderr


def test_worker_applies_what_publish_sends_and_stops_cleanly(
    tmp_path: Path, redis_url: str, namespace: str, cli_env: dict[str, str]
) -> None:
    jsonl = tmp_path / "events.jsonl"
    jsonl.write_text(
        "\n".join(
            contact(event_id=f"w{i}", children=(f"W{i}",)).model_dump_json() for i in range(5)
        )
        + "\n"
    )
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mash",
            "worker",
            "--redis-url",
            redis_url,
            "--namespace",
            namespace,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli_env,
        cwd=ROOT,
    )
    try:
        published = mash(
            "publish", str(jsonl), "--redis-url", redis_url, "--namespace", namespace, env=cli_env
        )
        assert published.returncode == 0, published.stderr
        assert "published 5 events" in published.stdout
        client = redis.Redis.from_url(redis_url)
        key = Keys(namespace).stream("decisions")
        deadline = time.monotonic() + 30
        while client.xlen(key) < 5 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert client.xlen(key) == 5
    finally:
        worker.send_signal(signal.SIGTERM)
        out, err = worker.communicate(timeout=30)
    assert worker.returncode == 0, err
    logged = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    assert any(entry["event"] == "worker started" for entry in logged)
    assert all("W0" not in line for line in err.splitlines())
    ticks = client.xrange(Keys(namespace).stream("clock"))
    assert ticks, "a live worker ticks from the wall clock"
    assert json.loads(ticks[0][1][b"event"])["type"] == "clock.tick"


def test_publish_rejects_a_bad_jsonl_line_with_its_number(
    tmp_path: Path, redis_url: str, cli_env: dict[str, str]
) -> None:
    jsonl = tmp_path / "bad.jsonl"
    good = contact().model_dump_json()
    jsonl.write_text(good + "\n" + good.replace('"16A"', '"16Q"') + "\n")
    line = one_line_error(mash("publish", str(jsonl), "--redis-url", redis_url, env=cli_env))
    assert f"{jsonl}:2: concerns[0]:" in line


def _started(mask: str) -> list[str]:
    """How the replay's parent starts it: with SIGINT and SIGTERM blocked (some CI runners
    start every child so, and a Ctrl-C would stay pending until the replay ended), with SIGINT
    ignored (a background job of a non-interactive shell), or as this test runs. A small
    Python sets the mask and execs the CLI, which inherits it as from any parent."""
    prelude = {
        "blocked": "signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})",
        "ignored": "signal.signal(signal.SIGINT, signal.SIG_IGN)",
        "as-is": "pass",
    }[mask]
    code = f"import os, signal, sys; {prelude}; os.execv(sys.executable, sys.argv[1:])"
    return [sys.executable, "-c", code, sys.executable]


@pytest.mark.parametrize(
    ("source", "sig", "mask"),
    [
        ("scenario", signal.SIGINT, "as-is"),
        ("generated", signal.SIGINT, "as-is"),
        ("generated", signal.SIGTERM, "as-is"),
        ("scenario", signal.SIGINT, "blocked"),
        ("scenario", signal.SIGINT, "ignored"),
    ],
)
def test_ctrl_c_stops_the_replay_and_its_embedded_redis(
    source: str, sig: signal.Signals, mask: str, tmp_path: Path, cli_env: dict[str, str]
) -> None:
    """Stopped mid-run (Ctrl-C, or SIGTERM from a supervisor): exit 130, no traceback, no
    server left behind, whatever the parent did with the signals before starting us."""
    events = [
        {
            "id": f"c{i}",
            "at": f"{i}h",
            "type": "contact.received",
            "children": ["L1"],
            "referral_source": "2A",
            "concerns": ["16A"],
        }
        for i in range(20_000)  # long enough to be running still, however fast the hub
    ]
    long = tmp_path / "long.yaml"
    if source == "generated":
        long = tmp_path / "year.jsonl"
        Generator(BOROUGH_2013_14, seed=1, scale=0.5).write(long)
    else:
        long.write_text(
            yaml.safe_dump(
                {
                    "name": "long",
                    "start": "2014-01-06T09:00:00Z",
                    "children": [{"id": "L1", "dob": "2008-01-01", "sex": "F"}],
                    "events": events,
                }
            )
        )
    private_tmp = tmp_path / "tmp"
    private_tmp.mkdir()
    proc = subprocess.Popen(
        [*_started(mask), "-m", "mash", "replay", str(long), "-q"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=cli_env | {"TMPDIR": str(private_tmp)},
    )
    deadline = time.monotonic() + 60
    while not list(private_tmp.glob("mash-redis-*/redis.sock")) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)
    assert proc.poll() is None, "the replay finished before it could be stopped"
    proc.send_signal(sig)
    proc.wait(timeout=60)
    err = proc.stderr.read() if proc.stderr else ""
    assert proc.returncode == 130, err
    assert "Traceback" not in err, err
    assert list(private_tmp.iterdir()) == []  # socket dir removed, server stopped
    servers = subprocess.run(["pgrep", "-f", str(private_tmp)], capture_output=True, text=True)
    assert servers.stdout.strip() == ""


def test_docker_compose_names_images_and_commands_that_exist() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert services["redis"]["image"].startswith("redis:7")
    assert "--appendonly" in services["redis"]["command"] and "yes" in services["redis"]["command"]
    commands = {"replay", "publish", "worker", "schemas", "bench", "status"}
    workers = sorted(name for name in services if name.startswith("worker-"))
    assert len(workers) == 4
    for name in [*workers, "replay", "status"]:
        service = services[name]
        assert service["build"]["context"] == "."
        assert service["command"][0] == "mash" and service["command"][1] in commands
        assert service["environment"]["MASH_REDIS_URL"] == "redis://redis:6379/0"
        assert service["environment"]["MASH_SHARDS"] == "4"
    # Worker i of 4, each once: together they cover every shard (see mash._runtime.shards).
    specs = sorted(
        services[name]["command"][services[name]["command"].index("--shards") + 1]
        for name in workers
    )
    assert specs == ["0/4", "1/4", "2/4", "3/4"]
    assert "--external-workers" in services["replay"]["command"]
    scenario = services["replay"]["command"][2]
    assert (ROOT / scenario).is_file()
    dockerfile = (ROOT / services["worker-0"]["build"].get("dockerfile", "Dockerfile")).read_text()
    assert "pip install" in dockerfile
