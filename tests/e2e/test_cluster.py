"""mash on a Redis Cluster: three real primaries from the same wheel, on private ports.

A namespace's keys share one hash tag, so each namespace lives on one node; a cluster spreads
namespaces over nodes. Runs on it must give the clean run's report, byte for byte.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from mash._runtime.embedded_redis import EmbeddedCluster
from mash.testing import MashHub
from tests.e2e.test_cli import mash


@pytest.fixture(scope="module")
def cluster() -> Iterator[EmbeddedCluster]:
    with EmbeddedCluster(nodes=3) as running:
        yield running


def _node_of(cluster: EmbeddedCluster, namespace: str) -> int:
    with redis.RedisCluster.from_url(cluster.url) as client:
        node = client.get_node_from_key(f"mash:{{{namespace}}}:contacts")
        assert node is not None
        return int(node.port)


def _namespaces_on_two_nodes(cluster: EmbeddedCluster) -> tuple[str, str]:
    first = "borough-0"
    for n in range(1, 50):
        other = f"borough-{n}"
        if _node_of(cluster, other) != _node_of(cluster, first):
            return first, other
    raise AssertionError("no two namespaces on different nodes")


def _namespaces_held(port: int) -> set[str]:
    with redis.Redis(port=port) as node:
        return {key.decode().split(":")[1] for key in node.scan_iter(count=1000)}


def test_a_year_on_a_cluster_gives_the_clean_report_one_namespace_per_node(
    cluster: EmbeddedCluster, year: Path, clean: str, tmp_path: Path, cli_env: dict[str, str]
) -> None:
    one, two = _namespaces_on_two_nodes(cluster)
    runs = {one: ("--workers", "0"), two: ("--workers", "2")}
    for namespace, workers in runs.items():
        out = tmp_path / f"{namespace}.json"
        done = mash(
            "replay", str(year), "-f", "json", "--report", str(out), "-q",
            "--redis-url", cluster.url, "--namespace", namespace, *workers,
            env=cli_env, timeout=300,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert "Traceback" not in done.stderr
        assert out.read_text() == clean
    # Each namespace on the one node that owns its hash tag, and nowhere else.
    held = {s.port: _namespaces_held(s.port) for s in cluster.servers}
    assert held[_node_of(cluster, one)] >= {f"{{{one}}}"}
    assert held[_node_of(cluster, two)] >= {f"{{{two}}}"}
    assert sum(f"{{{one}}}" in names for names in held.values()) == 1
    assert sum(f"{{{two}}}" in names for names in held.values()) == 1

    # What an operator and a team's tests read back, through the same URL.
    status = mash("status", "--json", "--redis-url", cluster.url, "-n", two, env=cli_env)
    assert status.returncode == 0, status.stderr
    assert status.stderr == ""
    snapshot = json.loads(status.stdout)
    assert snapshot["shards"] == 2
    assert snapshot["groups"] and all(g["lag"] == 0 for g in snapshot["groups"])
    decided = MashHub(cluster.url).events("decisions", namespace=one)
    assert len(decided) == json.loads(clean)["decisions"]["total"]
