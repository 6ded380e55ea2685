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
    cse: bool = Field(
        default=False,
        description="The CSE team: these practitioners work only the contacts that raise child "
        "sexual exploitation (a CSE indicator, or concern 11A), and while the team has one, "
        "only they work those.",
    )

    _times = field_validator("start", "end", mode="before")(_clock_time)

    @property
    def overnight(self) -> bool:
        return self.end <= self.start


class AssessmentKind(StrEnum):
    """The assessments a generated year holds (2013-14: initial and core; later: single)."""

    INITIAL = "initial"
    CORE = "core"
    SINGLE = "single"


class SocialWorkers(_Closed):
    """The social workers who carry the assessments the front door's referrals open.

    An assessment is opened (and its clock starts) when the front door refers it; a worker
    with room on their caseload takes it on, and it is authorised `working_days` later. When
    every worker holds `caseload` assessments, a new one waits, oldest first, for the first
    to finish. `count` is for the preset's own borough: a year generated at `--scale s` has
    `count * caseload * s` places (at least one)."""

    count: Annotated[int, Field(ge=1, le=100_000)]
    caseload: Annotated[int, Field(ge=1, le=200)] = Field(
        description="Assessments a worker holds at once."
    )
    working_days: dict[AssessmentKind, tuple[int, int]] = Field(
        description="Working days an assessment takes once a worker holds it, by kind: the "
        "shortest and the longest, drawn evenly between."
    )

    priority: list[AssessmentKind] = Field(
        default=[],
        description="Kinds a worker with room takes first, in order (say `[initial]`: its "
        "clock is ten working days); the rest, and within a kind, the oldest first.",
    )

    @field_validator("priority")
    @classmethod
    def _once_each(cls, value: list[AssessmentKind]) -> list[AssessmentKind]:
        if len(set(value)) != len(value):
            raise ValueError("name a kind once")
        return value

    @field_validator("working_days")
    @classmethod
    def _ranges(
        cls, value: dict[AssessmentKind, tuple[int, int]]
    ) -> dict[AssessmentKind, tuple[int, int]]:
        missing = set(AssessmentKind) - set(value)
        if missing:
            raise ValueError(f"missing {sorted(k.value for k in missing)}")
        for kind, (low, high) in value.items():
            if not 1 <= low <= high <= 250:
                raise ValueError(f"{kind.value}: [{low}, {high}] is not 1 <= low <= high <= 250")
        return value

    def places(self, scale: float) -> int:
        """Assessments the workers hold at once in a year generated at `scale` (a tenth of
        the borough has a tenth of its places, however few workers that is)."""
        return max(1, round(self.count * self.caseload * scale))


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
    social_workers: SocialWorkers | None = Field(
        default=None,
        description="Who carries the assessments, for `mash generate --team`: absent, a "
        "generated year's assessments take the preset's drawn lengths.",
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
        if any(s.cse and s.count for s in self.practitioners) and not any(
            s.count and not s.cse for s in self.practitioners
        ):
            raise ValueError("practitioners: only the CSE team works (nobody for other contacts)")
        return self

    @property
    def has_cse_team(self) -> bool:
        return any(s.cse and s.count for s in self.practitioners)

    def rank(self, rag: Rag) -> int:
        return self.priority.index(rag)


def load_team(path: Path) -> Team:
    return load_model(path, Team, "team file", ConfigError)[0]


__all__ = ["AssessmentKind", "Days", "Shift", "SocialWorkers", "Team", "load_team"]
