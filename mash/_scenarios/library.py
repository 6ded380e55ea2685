"""The scenario library that ships inside the wheel, found by name.

A plain `pip install` has no clone to point at, so `mash replay gemma` (or
`clocks/assessment`) looks the name up in the packaged library (`mash/scenarios`, a symlink
to the top-level `scenarios/` folder in a checkout). A path that exists always wins; only an
argument that names no file is tried as a library name.
"""

from __future__ import annotations

import difflib
import importlib.resources
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml

from mash.errors import ScenarioError

SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True)
class LibraryScenario:
    name: str  # its path in the library, without the suffix: "gemma", "clocks/assessment"
    path: Path
    description: str  # whitespace folded to one line

    @property
    def summary(self) -> str:
        """The description's first sentence: what a listing has room for."""
        first, dot, _rest = self.description.partition(". ")
        return first + dot.strip() if dot else self.description


def library_root() -> Path:
    """Where the packaged scenarios are: a real folder in a wheel and in an editable install
    alike (mash is never imported from a zip)."""
    return Path(str(importlib.resources.files("mash") / "scenarios"))


@cache
def library(root: Path | None = None) -> dict[str, LibraryScenario]:
    """Every scenario of the library by name, sorted: a YAML mapping with `events` (the
    thresholds, scoring and answers files beside them are not scenarios)."""
    base = root or library_root()
    found: dict[str, LibraryScenario] = {}
    for path in sorted(p for p in base.rglob("*") if p.suffix in SUFFIXES and p.is_file()):
        try:
            # BaseLoader: every scalar stays text, so listing never trips on a date.
            data = yaml.load(path.read_text(encoding="utf-8"), Loader=yaml.BaseLoader)  # noqa: S506
        except (OSError, UnicodeDecodeError, yaml.YAMLError):
            continue
        if not isinstance(data, dict) or "events" not in data:
            continue
        name = path.relative_to(base).with_suffix("").as_posix()
        description = " ".join(str(data.get("description", "")).split())
        found[name] = LibraryScenario(name, path, description)
    return dict(sorted(found.items()))


def _as_name(argument: str) -> str:
    """`gemma`, `gemma.yaml`, `scenarios/gemma.yaml` (the README's paths, run from
    anywhere): the library name they mean."""
    name = argument.replace("\\", "/").removeprefix("./").removeprefix("scenarios/")
    for suffix in SUFFIXES:
        name = name.removesuffix(suffix)
    return name


def nearest(argument: str, count: int = 3) -> list[str]:
    """The library names closest to what was typed, for a one-line hint."""
    name = _as_name(argument)
    names = list(library())
    close = difflib.get_close_matches(name, names, n=count, cutoff=0.5)
    # `assesment` for `clocks/assessment`: compare the last part of each name as well.
    stems = difflib.get_close_matches(name, [full.rsplit("/", 1)[-1] for full in names], n=count)
    close += [full for full in names if full.rsplit("/", 1)[-1] in stems and full not in close]
    return close[:count]


def resolve(argument: str | Path) -> Path:
    """The file a scenario argument means: the path itself if it exists, else the library
    scenario of that name; raises ScenarioError naming the nearest names otherwise."""
    path = Path(argument)
    if path.exists():
        return path
    found = library().get(_as_name(str(argument)))
    if found is not None:
        return found.path
    close = nearest(str(argument))
    hint = f"nearest: {', '.join(close)}" if close else "`mash scenarios` lists them"
    why = f"cannot read it (no such file), and no library scenario has that name; {hint}"
    raise ScenarioError(str(argument), None, "", why)
