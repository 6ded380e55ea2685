"""The kit for other teams: the pytest plugin, `mash tail`, and a consumer with no mash code."""

from __future__ import annotations

import ast
import subprocess
import sys

import pytest
import redis

from mash._runtime.keys import Keys
from mash.schemas import STREAMS
from mash.testing import MashHub
from tests.conftest import ROOT, SCENARIOS
from tests.e2e.test_cli import mash, replay_into

EXAMPLE = ROOT / "examples" / "external_consumer.py"


@pytest.mark.parametrize("shards", [1, 3])
def test_an_outside_consumer_reads_every_event_and_each_matches_its_schema(
    redis_url: str, namespace: str, cli_env: dict[str, str], shards: int
) -> None:
    replay_into(
        str(SCENARIOS / "child-a.yaml"),
        redis_url,
        namespace,
        {**cli_env, "MASH_SHARDS": str(shards)},
    )
    result = subprocess.run(
        [sys.executable, str(EXAMPLE), "--redis-url", redis_url, "--namespace", namespace],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    client = redis.Redis.from_url(redis_url)
    keys = Keys(namespace, shards)
    published = sum(client.xlen(key) for s in STREAMS for key in keys.streams(s))
    assert f"total {published} invalid 0" in result.stdout
    assert "screening.decided 1" in result.stdout
    assert "cse.flag 2" in result.stdout


def test_the_outside_consumer_imports_no_mash_code() -> None:
    tree = ast.parse(EXAMPLE.read_text())
    imported = {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    }
    imported |= {
        node.module.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module
    }
    assert imported.isdisjoint({"mash", "schemas", "consumers", "faststream"})
    assert {"redis", "jsonschema"} <= imported


def test_tail_follows_a_stream(redis_url: str, namespace: str, cli_env: dict[str, str]) -> None:
    replay_into(str(SCENARIOS / "domestic-abuse-household.yaml"), redis_url, namespace, cli_env)
    tailed = mash(
        "tail",
        "decisions",
        "--redis-url",
        redis_url,
        "--namespace",
        namespace,
        "--from-start",
        "--count",
        "3",
        "--json",
        env=cli_env,
    )
    assert tailed.returncode == 0, tailed.stderr
    lines = tailed.stdout.strip().splitlines()
    assert len(lines) == 3
    assert all('"type":"screening.decided"' in line for line in lines)
    bad = mash("tail", "decision", "--redis-url", redis_url, env=cli_env)
    assert bad.returncode == 2
    assert "unknown stream 'decision'" in bad.stderr


def test_a_project_uses_only_the_plugin_fixtures(pytester: pytest.Pytester, redis_url: str) -> None:
    gemma = SCENARIOS / "gemma.yaml"
    pytester.makeini(
        "[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n"
    )
    pytester.makepyfile(
        test_their_consumer=f"""
        from mash.schemas import CSELevel, ScreeningDecided

        def test_sync(mash_hub):
            result = mash_hub.replay({str(gemma)!r})
            assert result.ok
            assert [d.level for d in result.decisions] == [4, 4]
            assert result.flags[-1].level == CSELevel.HIGH
            assert any(c.type == "timescale.breached" for c in result.clocks)
            assert result.report["missing"]["incidents"] == 6
            decision = mash_hub.wait_for(
                "decisions", lambda e: isinstance(e, ScreeningDecided), timeout=5)
            assert decision.child_id == "G"

        async def test_async(mash_hub):
            result = await mash_hub.areplay({str(gemma)!r})
            flag = await mash_hub.await_event(
                "cse", lambda e: e.level == CSELevel.HIGH, timeout=5)
            assert flag.child_id == "G"
            assert result.namespace and result.namespace == mash_hub.namespace

        def test_nothing_comes(mash_hub):
            import pytest
            mash_hub.replay({str(gemma)!r})
            with pytest.raises(TimeoutError):
                mash_hub.wait_for("dlq", timeout=0.5)
    """
    )
    for args in ((), ("--mash-redis-url", redis_url)):  # embedded, then a given Redis
        result = pytester.runpytest_subprocess(*args, "-p", "no:cacheprovider")
        result.assert_outcomes(passed=3)


def test_publish_paces_events_from_stdin_in_event_time(
    redis_url: str, namespace: str, cli_env: dict[str, str]
) -> None:
    import time
    from datetime import timedelta

    from tests.factories import T0, contact

    lines = "\n".join(
        contact(event_id=f"p{i}", children=(f"P{i}",), at=T0 + timedelta(hours=i)).model_dump_json()
        for i in range(3)
    )
    started = time.monotonic()
    # Two hours of event time at 3600x: about two seconds of wall time.
    published = mash(
        "publish",
        "-",
        "--redis-url",
        redis_url,
        "--namespace",
        namespace,
        "--speed",
        "3600",
        env=cli_env,
        input=lines,
    )
    elapsed = time.monotonic() - started
    assert published.returncode == 0, published.stderr
    assert "published 3 events" in published.stdout
    assert elapsed >= 2.0
    client = redis.Redis.from_url(redis_url)
    assert client.xlen(Keys(namespace).stream("contacts")) == 3


def test_the_test_helper_reads_every_shard_of_a_sharded_namespace(redis_url: str) -> None:
    hub = MashHub(redis_url, shards=4)
    result = hub.replay(SCENARIOS / "board-figures.yaml")
    assert result.ok
    keys = Keys(hub.namespace or "", 4)
    by_shard = {keys.shard(d) for d in result.decisions}
    assert len(by_shard) > 1  # the decisions really are spread over shards
    assert hub.streams("decisions") == keys.streams("decisions")
    read = hub.events("decisions")
    assert sorted(e.event_id for e in read) == sorted(d.event_id for d in result.decisions)
    last = max(by_shard)
    wanted = next(d for d in result.decisions if keys.shard(d) == last)
    found = hub.wait_for("decisions", lambda e: e.event_id == wanted.event_id, timeout=5)
    assert found.child_id == wanted.child_id


def test_the_documented_driver_example_passes(pytester: pytest.Pytester) -> None:
    """The worked example in docs/testing-your-consumer.md, run as a team would run it."""
    doc = (ROOT / "docs" / "testing-your-consumer.md").read_text()
    section = doc.split("## Stepping through event time", 1)[1]
    example = section.split("```python\n", 1)[1].split("```", 1)[0]
    pytester.makepyfile(test_documented=example)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
