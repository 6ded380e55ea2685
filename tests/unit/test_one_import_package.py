"""mash installs one import package: nothing of it may reach the top-level folders as
packages of their own, or a team's `schemas`/`consumers` would shadow it (or be shadowed)."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import ROOT

SCRIPT = """
import importlib, pkgutil, sys
import mash
for info in pkgutil.walk_packages(mash.__path__, "mash."):
    if not info.name.endswith("__main__"):
        importlib.import_module(info.name)
print(",".join(sorted(n for n in ("schemas", "consumers") if n in sys.modules)) or "none")
"""


def test_importing_every_module_of_mash_imports_no_top_level_schemas_or_consumers() -> None:
    # From a neutral folder, so the repository root is not on the path by accident.
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, cwd="/", timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "none"


def test_the_symlinked_packages_are_the_top_level_folders() -> None:
    for name in ("schemas", "consumers", "scenarios"):
        link = ROOT / "mash" / name
        assert link.is_symlink() and link.resolve() == (ROOT / name).resolve()
