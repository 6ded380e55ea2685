"""The public face: what `mash` re-exports resolves, and importing it stays cheap."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys

import pytest

import mash
import mash.errors
import mash.schemas
import mash.testing
from mash._runtime.embedded_redis import EmbeddedRedis


def test_every_name_in_all_resolves() -> None:
    missing = [name for name in mash.__all__ if not hasattr(mash, name)]
    assert missing == []
    assert len(set(mash.__all__)) == len(mash.__all__)


def test_the_names_are_the_objects_teams_would_import_from_their_modules() -> None:
    assert mash.MashHub is mash.testing.MashHub
    assert mash.EmbeddedRedis is EmbeddedRedis
    for name in ("MashError", "HubUnavailable", "FileError", "ScenarioError", "ConfigError"):
        assert getattr(mash, name) is getattr(mash.errors, name)
    for name in mash.schemas.__all__:
        assert getattr(mash, name) is getattr(mash.schemas, name), name


def test_the_whole_wire_contract_is_re_exported() -> None:
    assert set(mash.schemas.__all__) <= set(mash.__all__)


def test_the_version_is_the_distributions() -> None:
    assert mash.__version__ == importlib.metadata.version("mash-simulator")


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'Hubb'"):
        _ = mash.Hubb  # type: ignore[attr-defined]
    with pytest.raises(ImportError):
        exec("from mash import Hubb", {})


def test_import_mash_is_cheap_until_a_name_is_used() -> None:
    probe = (
        "import sys, mash\n"
        "assert mash.__version__\n"
        "print(sorted(m for m in ('faststream', 'redis', 'pydantic', 'typer') if m in sys.modules))\n"
        "mash.MashHub\n"
        "print('faststream' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.splitlines() == ["[]", "True"]
