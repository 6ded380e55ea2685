"""The team file: who works the MASH front door, when, and how long a contact takes them.

A team is a local fact as much as the thresholds are (posts approved, agency staff, a duty
rota), so it lives in a file a service manager can copy and change for a "what if" run, not in
code. Shifts are London wall-clock hours; `days` says which days a shift starts on.
"""

from __future__ import annotations

from datetime import time
from enum import StrEnum
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from mash._config.yamlfile import load_model
from mash.errors import ConfigError
from mash.schemas.codes import Rag


class _Closed(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Days(StrEnum):
    """The days a shift starts on: England and Wales working days, the others, or all."""

    WORKING = "working"
    NON_WORKING = "non_working"
    EVERY = "every"


def _clock_time(value: object) -> object:
    """`"09:00"`, or `"24:00"` for the end of the day; YAML's sexagesimal ints are refused."""
    if not isinstance(value, str):
        raise ValueError("a time is quoted text, HH:MM (London time)")
    if value == "24:00":
        return time(0, 0)
    try:
        hours, minutes = value.split(":")
        return time(int(hours), int(minutes))
    except ValueError:
        raise ValueError(f"{value!r} is not a time of day (HH:MM)") from None


class Shift(_Closed):
    """`count` practitioners who work from `start` to `end` on each of `days`; an end at or
    before the start runs into the next morning (a duty shift)."""

    group: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")]
    count: Annotated[int, Field(ge=0, le=500)]
    days: Days = Days.WORKING
    start: time
    end: time

    _times = field_validator("start", "end", mode="before")(_clock_time)

    @property
    def overnight(self) -> bool:
        return self.end <= self.start


class Team(_Closed):
    name: str
    description: str = ""
    practitioners: Annotated[list[Shift], Field(min_length=1)]
    minutes: dict[Rag, Annotated[float, Field(gt=0, le=24 * 60)]] = Field(
        description="Minutes of a practitioner's time a contact takes, by the RAG rating it "
        "queues with."
    )
    extra_child_minutes: Annotated[float, Field(ge=0, le=24 * 60)] = Field(
        default=0, description="Added for each child a contact names after the first."
    )
    priority: list[Rag] = Field(
        default=[Rag.RED, Rag.AMBER, Rag.GREEN],
        description="Which rating is worked first; within one, the oldest contact first.",
    )

    @model_validator(mode="after")
    def _complete(self) -> Team:
        missing = set(Rag) - set(self.minutes)
        if missing:
            raise ValueError(f"minutes: missing {sorted(r.value for r in missing)}")
        if sorted(self.priority) != sorted(Rag):
            raise ValueError("priority: name red, amber and green once each")
        groups = [s.group for s in self.practitioners]
        if len(set(groups)) != len(groups):
            raise ValueError("practitioners: two shifts share a group name")
        if not any(s.count for s in self.practitioners):
            raise ValueError("practitioners: nobody works (every count is 0)")
        return self

    def rank(self, rag: Rag) -> int:
        return self.priority.index(rag)


def load_team(path: Path) -> Team:
    return load_model(path, Team, "team file", ConfigError)[0]


__all__ = ["Days", "Shift", "Team", "load_team"]
