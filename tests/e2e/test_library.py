"""The packaged scenario library: replay by name from anywhere, and `mash scenarios`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from mash._scenarios.library import library, library_root
from tests.conftest import SCENARIOS
from tests.e2e.test_cli import SHIPPED, one_line_error


def mash_in(cwd: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The command run from a folder with no scenarios in it, as after a plain pip install."""
    return subprocess.run(
        [sys.executable, "-m", "mash", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        cwd=cwd,
        check=False,
    )


def test_the_library_is_every_shipped_scenario_and_nothing_else() -> None:
    names = {p.relative_to(SCENARIOS).with_suffix("").as_posix() for p in SHIPPED}
    assert set(library()) == names
    assert "thresholds/strict-council" not in library()
    assert library_root().resolve() == SCENARIOS.resolve()
    assert all(s.description for s in library().values())


def test_replay_a_scenario_by_its_library_name(
    tmp_path: Path, redis_url: str, namespace: str, cli_env: dict[str, str]
) -> None:
    report = tmp_path / "report.json"
    done = mash_in(
        tmp_path,
        "replay",
        "clocks/assessment",
        "--redis-url",
        redis_url,
        "--namespace",
        namespace,
        "-q",
        "--report",
        str(report),
        "-f",
        "json",
        env=cli_env,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(report.read_text())["scenario"] == "clock-assessment"
    # A top-level one, and the README's `scenarios/...` path, from a folder without it.
    for i, name in enumerate(("gemma", "scenarios/gemma.yaml")):
        ns = ("--namespace", f"{namespace}-{i}")
        done = mash_in(tmp_path, "replay", name, "--redis-url", redis_url, *ns, "-q", env=cli_env)
        assert done.returncode == 0, done.stderr


def test_an_unknown_name_is_one_line_with_the_nearest_names(
    tmp_path: Path, cli_env: dict[str, str]
) -> None:
    line = one_line_error(mash_in(tmp_path, "replay", "gema", env=cli_env))
    assert "gema:" in line and "nearest: gemma" in line
    line = one_line_error(mash_in(tmp_path, "replay", "clocks/icpcc", env=cli_env))
    assert "nearest: clocks/icpc" in line


def test_scenarios_lists_the_library_with_each_ones_line(
    tmp_path: Path, cli_env: dict[str, str]
) -> None:
    done = mash_in(tmp_path, "scenarios", "--json", env=cli_env)
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    assert [r["name"] for r in rows] == sorted(library())
    gemma = next(r for r in rows if r["name"] == "gemma")
    assert gemma["description"].startswith("Gemma (seeds 5.2.4)")
    assert Path(gemma["path"]).is_file()
    text = mash_in(tmp_path, "scenarios", env=cli_env)
    assert text.returncode == 0, text.stderr
    assert "clocks/assessment" in text.stdout
    assert "Gemma (seeds 5.2.4)" in text.stdout
