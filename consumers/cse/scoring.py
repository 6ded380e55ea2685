"""The CSE scoring file: weights, windows and the indicators that alone mean high."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

from mash._config.yamlfile import load_model
from mash.errors import ConfigError
from mash.schemas.codes import CSEIndicator


class _Closed(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class IndicatorRule(_Closed):
    # Weights are never negative: adding an indicator can never lower a child's level.
    weight: Annotated[int, Field(ge=0, le=1000)]
    window_days: Annotated[int, Field(ge=1, le=3650)]


class RepeatMissing(_Closed):
    episodes: Annotated[int, Field(ge=2, le=50)] = 3
    window_days: Annotated[int, Field(ge=1, le=3650)] = 90


class Levels(_Closed):
    low: Annotated[int, Field(ge=1)]
    medium: Annotated[int, Field(ge=1)]
    high: Annotated[int, Field(ge=1)]

    @model_validator(mode="after")
    def _ordered(self) -> Levels:
        if not self.low <= self.medium <= self.high:
            raise ValueError("levels must satisfy low <= medium <= high")
        return self


class Scoring(_Closed):
    name: str
    missing_repeat: RepeatMissing = RepeatMissing()
    assessment_window_days: Annotated[int, Field(ge=1, le=3650)] = 90
    levels: Levels
    alone_high: list[CSEIndicator] = []
    indicators: dict[CSEIndicator, IndicatorRule]

    @model_validator(mode="after")
    def _complete(self) -> Scoring:
        missing = sorted(i.value for i in set(CSEIndicator) - set(self.indicators))
        if missing:
            raise ValueError(f"indicators: no weight for {', '.join(missing)}")
        return self


def load_scoring(path: Path) -> Scoring:
    return load_model(path, Scoring, "scoring file", ConfigError)[0]
