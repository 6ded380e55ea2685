"""Reading a generated year: a header line, then one event per line in event-time order.

Why a file format of its own and not a scenario: a nation's year is millions of events, and a
YAML scenario is loaded whole. A generated file is read line by line (plain or gzip), so
`mash replay` and `mash publish` hold one step of it at a time. Every mistake in it names the
file and line, as a scenario's does.
"""

from __future__ import annotations

import gzip
import io
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from mash._config.yamlfile import describe, dotted
from mash._scenarios.scenario import Expectation, Slug
from mash.errors import ScenarioError
from mash.schemas.events import Event, parse_event

SUFFIXES = (".jsonl", ".jsonl.gz")
PACKAGED_TIMESCALES = Path(__file__).parent.parent / "timescales"


class GeneratedTeam(BaseModel):
    """The social workers whose caseloads timed a year's assessments (`mash generate --team`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    social_workers: int = Field(ge=1, description="At the preset's scale 1.")
    caseload: int = Field(ge=1)
    places: int = Field(ge=1, description="Assessments held at once at this year's scale.")
    waited: int = Field(
        ge=0, description="Assessments that found every caseload full and waited for room."
    )


class GeneratedHeader(BaseModel):
    """The first line of a generated file: what made it, its period, and its calibration."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    format: Literal["mash-generated-year"]
    version: Literal[1]
    name: Slug
    description: str = ""
    preset: str
    seed: int
    scale: float = Field(gt=0)
    start: AwareDatetime
    end: AwareDatetime
    census_year: int
    population: int = Field(ge=1)
    events: int = Field(ge=0)
    children: int = Field(ge=0)
    timescales: str | None = Field(
        default=None,
        pattern=r"^[a-z0-9][a-z0-9-]*$",
        description="A timescales file that comes with mash (mash/timescales/NAME.yaml) for "
        "the year's own framework (the 2013-14 preset: initial and core assessments); "
        "absent: the hub's own file.",
    )
    team: GeneratedTeam | None = Field(
        default=None,
        description="Whose caseloads timed the assessments; absent: the preset's drawn lengths.",
    )
    expect: list[Expectation] = []


def timescales_path(header: GeneratedHeader) -> Path | None:
    """The packaged timescales file a generated year names, if it names one."""
    if header.timescales is None:
        return None
    return PACKAGED_TIMESCALES / f"{header.timescales}.yaml"


def is_generated(path: Path) -> bool:
    """A generated year by its name; `mash publish` also looks inside (see `has_header`)."""
    return path.name.endswith(SUFFIXES)


def has_header(path: Path) -> bool:
    """Whether a JSONL file starts with a generated year's header (else it is plain events)."""
    try:
        with _text(path) as handle:
            first = json.loads(handle.readline() or "null")
    except (ScenarioError, OSError, EOFError, ValueError, gzip.BadGzipFile):
        return False
    return isinstance(first, dict) and first.get("format") == "mash-generated-year"


def _text(path: Path) -> IO[str]:
    shown = str(path)
    try:
        raw = path.open("rb")
    except OSError as exc:
        raise ScenarioError(shown, None, "", f"cannot read ({exc.strerror})") from exc
    if path.name.endswith(".gz"):
        return io.TextIOWrapper(gzip.GzipFile(fileobj=raw, mode="rb"), encoding="utf-8")
    return io.TextIOWrapper(raw, encoding="utf-8")


def read_header(shown: str, line: str) -> GeneratedHeader:
    try:
        return GeneratedHeader.model_validate_json(line)
    except ValidationError as exc:
        loc, message = describe(exc)
        raise ScenarioError(
            shown, 1, dotted(loc), f"not a generated year's header: {message}"
        ) from exc


def events_after_header(shown: str, lines: Iterator[str]) -> Iterator[Event]:
    """Events from line 2 on, each checked; one out of time order is an error at its line."""
    previous = None
    number = 1
    try:
        for number, line in enumerate(lines, start=2):
            if not line.strip():
                continue
            try:
                event = parse_event(line)
            except ValidationError as exc:
                loc, message = describe(exc)
                loc = loc[1:] if loc and isinstance(loc[0], str) and "." in loc[0] else loc
                raise ScenarioError(shown, number, dotted(loc), message) from exc
            if previous is not None and event.occurred_at < previous:
                why = (
                    f"{event.occurred_at.isoformat()} is before the line above "
                    f"({previous.isoformat()}): a generated year is in event-time order"
                )
                raise ScenarioError(shown, number, "occurred_at", why)
            previous = event.occurred_at
            yield event
    except (OSError, EOFError, gzip.BadGzipFile, UnicodeDecodeError) as exc:
        raise ScenarioError(shown, number + 1, "", f"cannot read on: {exc}") from exc


@contextmanager
def open_generated(path: Path) -> Iterator[tuple[GeneratedHeader, Iterator[Event]]]:
    """`with open_generated(p) as (header, events):` the events are read as they are used."""
    shown = str(path)
    with _text(path) as handle:
        try:
            first = handle.readline()
        except (OSError, EOFError, gzip.BadGzipFile, UnicodeDecodeError) as exc:
            raise ScenarioError(shown, 1, "", f"cannot read: {exc}") from exc
        if not first.strip():
            raise ScenarioError(shown, 1, "", "empty file: a generated year starts with a header")
        try:
            json.loads(first)
        except json.JSONDecodeError as exc:
            raise ScenarioError(shown, 1, "", f"the header is not JSON ({exc.msg})") from exc
        yield read_header(shown, first), events_after_header(shown, handle)
