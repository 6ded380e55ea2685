"""The timescales file: which event starts each statutory clock, which stops it, and its limit.

Limits are local choices as much as statute (a MASH's RAG windows, "same day" strategy
discussions), so they live in a file beside their sources, not in code.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from mash._config.yamlfile import load_model
from mash.errors import ConfigError
from mash.schemas.events import EVENT_TYPES

Scalar = str | int | bool


class _Closed(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Trigger(_Closed):
    """An event type, the field that identifies the clock instance, and optional conditions."""

    event: str
    key: str = Field(default="child", description="'child', or a field of the event")
    when: dict[str, list[Scalar]] = {}
    at: str | None = Field(
        default=None,
        description="A start's field holding the instant the clock runs from (else the "
        "event's own): `received_at` of a decision, for clocks that run from the referral.",
    )

    @model_validator(mode="after")
    def _known(self) -> Trigger:
        model = EVENT_TYPES.get(self.event)
        if model is None:
            raise ValueError(f"unknown event type {self.event!r}")
        for name in [self.key, *self.when, *([self.at] if self.at else [])]:
            if name != "child" and name not in model.model_fields:
                raise ValueError(f"{self.event} has no field {name!r}")
        return self

    @cached_property
    def conditions(self) -> tuple[tuple[str, frozenset[Any]], ...]:
        """`when` as sets, built once per trigger: a code list's enums hash as their values,
        so `Outcome.S17_ASSESSMENT in {"section17_assessment"}` holds."""
        return tuple((name, frozenset(allowed)) for name, allowed in self.when.items())


class Limit(_Closed):
    hours: Annotated[float, Field(gt=0)] | None = None
    working_days: Annotated[int, Field(ge=0, le=365)] | None = None
    months: Annotated[int, Field(ge=1, le=60)] | None = None
    from_stop: str | None = Field(
        default=None, description="Deadline carried by the stop event (e.g. decision_due)."
    )

    @model_validator(mode="after")
    def _one(self) -> Limit:
        given = [
            v for v in (self.hours, self.working_days, self.months, self.from_stop) if v is not None
        ]
        if len(given) != 1:
            raise ValueError("give exactly one of hours, working_days, months or from_stop")
        return self


class ClockDef(_Closed):
    id: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]
    name: str
    source: str
    start: Trigger
    stop: Trigger
    limit: Limit
    cancel: list[str | Trigger] = Field(
        default=[],
        description="Events that end the clock with no outcome: a type, or a type with `when`.",
    )
    early_stop: bool = Field(
        default=False,
        description="The stop may be read before its start (they travel on different streams).",
    )

    @model_validator(mode="after")
    def _consistent(self) -> ClockDef:
        for event in self.cancel:
            if isinstance(event, str) and event not in EVENT_TYPES:
                raise ValueError(f"cancel: unknown event type {event!r}")
        if (
            self.limit.from_stop
            and self.limit.from_stop not in EVENT_TYPES[self.stop.event].model_fields
        ):
            raise ValueError(
                f"limit.from_stop: {self.stop.event} has no field {self.limit.from_stop!r}"
            )
        return self


class Timescales(_Closed):
    name: str
    clocks: list[ClockDef]

    @model_validator(mode="after")
    def _unique(self) -> Timescales:
        ids = [c.id for c in self.clocks]
        if len(set(ids)) != len(ids):
            raise ValueError("clocks: two clocks share an id")
        return self


def load_timescales(path: Path) -> Timescales:
    return load_model(path, Timescales, "timescales file", ConfigError)[0]
