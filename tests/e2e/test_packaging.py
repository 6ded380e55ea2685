"""mash as another team gets it: its wheel, installed in a fresh virtual environment beside a
project with `consumers` and `schemas` packages of its own.

One environment per session (building it is the slow part). It installs faststream at the
lowest version pyproject allows, so CI proves both ends of the range: this venv the lowest,
the suite's own venv the newest.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import tomllib
import zipfile
from pathlib import Path

import pytest

from tests.conftest import ROOT

CACHES = ("__pycache__", "*.pyc", "*.egg-info", ".mypy_cache", ".ruff_cache")
pytestmark = pytest.mark.timeout(900)  # building the environment dominates the first test


def _run(*args: str | Path, cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("MASH_", "PYTHON", "VIRTUAL_ENV", "PYTEST"))
    }
    done = subprocess.run(
        [str(a) for a in args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, f"{args}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


def faststream_floor() -> str:
    """The lowest faststream pyproject allows: `faststream[redis]>=X,<Y` gives X."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    (spec,) = [d for d in project["dependencies"] if d.startswith("faststream")]
    found = re.search(r">=\s*([\w.]+)", spec)
    assert found, f"faststream needs a lower bound in pyproject: {spec}"
    return found.group(1)


@pytest.fixture(scope="session")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Built from a copy of what a release needs (the Dockerfile's list), so the build leaves
    nothing in the working tree and cannot lean on files outside it."""
    source = tmp_path_factory.mktemp("source")
    for name in ("pyproject.toml", "README.md", "mash", "consumers", "schemas", "scenarios"):
        if (ROOT / name).is_dir():
            shutil.copytree(
                ROOT / name, source / name, symlinks=True, ignore=shutil.ignore_patterns(*CACHES)
            )
        else:
            shutil.copy2(ROOT / name, source / name)
    out = tmp_path_factory.mktemp("wheel")
    _run(sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", out, source, cwd=out)
    (built,) = out.glob("mash_simulator-*.whl")
    return built


@pytest.fixture(scope="session")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh environment with the wheel, its dependencies from the index, and pytest."""
    home = tmp_path_factory.mktemp("venv")
    _run(sys.executable, "-m", "venv", home / "env", cwd=home)
    constraints = home / "constraints.txt"
    constraints.write_text(f"faststream=={faststream_floor()}\n")
    python = home / "env" / "bin" / "python"
    _run(python, "-m", "pip", "install", "-q", "-c", constraints, wheel, "pytest", cwd=home)
    return home / "env"


def test_the_wheel_holds_one_import_package_with_the_library_and_the_contract(
    wheel: Path,
) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    tops = {name.split("/", 1)[0] for name in names}
    assert not {"schemas", "consumers", "scenarios"} & tops
    assert {n.split("/")[0] for n in names if not n.startswith("mash_simulator-")} == {"mash"}
    for packaged in (
        "mash/__init__.py",
        "mash/scenarios/gemma.yaml",
        "mash/scenarios/clocks/assessment.yaml",
        "mash/scenarios/thresholds/strict-council.yaml",
        "mash/schemas/json/contact.received.json",
        "mash/schemas/asyncapi.json",
        "mash/consumers/screening/__init__.py",
        "mash/thresholds/default.yaml",
        "mash/py.typed",
    ):
        assert packaged in names, packaged


def test_a_project_with_its_own_consumers_and_schemas_uses_mash_hub(
    venv: Path, tmp_path: Path
) -> None:
    project = tmp_path / "team"
    for package in ("consumers", "schemas"):
        (project / package).mkdir(parents=True)
        (project / package / "__init__.py").write_text(f'MARKER = "the team\'s {package}"\n')
    (project / "pytest.ini").write_text("[pytest]\n")
    (project / "test_team.py").write_text(
        textwrap.dedent(
            """
            from pathlib import Path

            import consumers
            import schemas

            import mash
            from mash.schemas import Outcome


            def test_their_packages_and_mash_live_side_by_side(mash_hub):
                assert consumers.MARKER == "the team's consumers"
                assert schemas.MARKER == "the team's schemas"
                installed = Path(mash.__file__).parent
                assert "site-packages" in installed.parts
                scenario = installed / "scenarios" / "decisions" / "nfa.yaml"
                result = mash_hub.replay(scenario)
                assert result.ok
                assert [d.outcome for d in result.decisions] == [Outcome.NFA, Outcome.NFA]
                assert mash.__version__
            """
        )
    )
    done = _run(
        venv / "bin" / "python", "-m", "pytest", "-q", "-p", "no:cacheprovider", cwd=project
    )
    assert "1 passed" in done.stdout


def test_the_command_finds_the_packaged_library_in_a_plain_install(
    venv: Path, tmp_path: Path
) -> None:
    versions = _run(venv / "bin" / "python", "-m", "pip", "list", "--format", "json", cwd=tmp_path)
    installed = {p["name"].lower(): p["version"] for p in json.loads(versions.stdout)}
    assert installed["faststream"] == faststream_floor()
    listed = _run(venv / "bin" / "mash", "scenarios", "--json", cwd=tmp_path)
    rows = {row["name"]: row for row in json.loads(listed.stdout)}
    assert "gemma" in rows and "clocks/assessment" in rows
    assert str(venv) in rows["gemma"]["path"]
    replayed = _run(venv / "bin" / "mash", "replay", "gemma", "-q", cwd=tmp_path)
    assert replayed.stderr == ""
