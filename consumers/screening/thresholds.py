"""The thresholds file: a council's threshold document as data.

A file lists descriptors, each a level of need, its wording and the conditions under which it
matches a contact. Conditions are monotone (more concerns, more history, a higher CSE level can
only make more descriptors match), which is what makes "an aggravating factor never lowers the
level" true for any file a council writes, not just ours.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

from mash._config.yamlfile import load_model
from mash.errors import ConfigError
from mash.schemas.codes import CSEIndicator, CSELevel, Factor, Level, Outcome, Rag, ReferralSource

# Outcomes a level-4 (child protection) descriptor may never lead to.
NOT_FOR_LEVEL_4 = frozenset({Outcome.NFA, Outcome.INFORMATION_ADVICE, Outcome.EARLY_HELP})


class _Closed(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Deadline(_Closed):
    hours: Annotated[float, Field(gt=0, le=24 * 30)] | None = None
    working_days: Annotated[int, Field(ge=0, le=60)] | None = None

    @model_validator(mode="after")
    def _one_unit(self) -> Deadline:
        if (self.hours is None) == (self.working_days is None):
            raise ValueError("give exactly one of hours or working_days")
        return self


class LevelResponse(_Closed):
    rag: Rag
    outcome: Outcome
    # What a practitioner choosing a level reads (a training exercise offers these).
    name: str | None = None
    description: str | None = None


class Conditions(_Closed):
    """All given conditions must hold for the descriptor to match."""

    concerns_any: list[Factor] | None = None
    concerns_at_least: Annotated[int, Field(ge=1)] | None = None
    cse_indicators_any: list[CSEIndicator] | None = None
    referral_source_any: list[ReferralSource] | None = None
    injury: bool | None = None
    urgent: bool | None = None
    non_mobile: bool | None = None
    age_under_months: Annotated[int, Field(ge=1, le=12 * 25)] | None = None
    prior_contacts_at_least: Annotated[int, Field(ge=1)] | None = None
    missing_episodes_at_least: Annotated[int, Field(ge=1)] | None = None
    cp_plan: bool | None = None
    looked_after: bool | None = None
    cse_level_at_least: CSELevel | None = None

    @model_validator(mode="after")
    def _monotone(self) -> Conditions:
        for name in ("injury", "urgent", "non_mobile", "cp_plan", "looked_after"):
            if getattr(self, name) is False:
                msg = f"{name}: only 'true' is allowed (conditions may not require an absence)"
                raise ValueError(msg)
        if not self.model_fields_set:
            raise ValueError("a descriptor needs at least one condition")
        return self


class Descriptor(_Closed):
    id: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")]
    level: Level
    text: Annotated[str, Field(min_length=1)]
    when: Conditions
    outcome: Outcome | None = None
    rag: Rag | None = None

    @model_validator(mode="after")
    def _protective(self) -> Descriptor:
        if self.level == Level.SPECIALIST and self.outcome in NOT_FOR_LEVEL_4:
            msg = f"a level-4 descriptor cannot lead to {self.outcome.value}"
            raise ValueError(msg)
        return self


class Thresholds(_Closed):
    name: Annotated[str, Field(min_length=1)]
    description: str = ""
    history_window_days: Annotated[int, Field(ge=1, le=3650)] = 365
    rag_deadlines: dict[Rag, Deadline]
    levels: dict[Level, LevelResponse]
    no_concerns_outcome: Outcome = Outcome.NFA
    descriptors: list[Descriptor]

    @property
    def contacts_to_remember(self) -> int:
        """A child's history needs its latest N contacts, N the largest count any descriptor
        asks about: "at least N earlier ones in the window" is then still decided exactly, and
        the state of a child contacted every day stays small. One more is kept, so that the
        history read just after a contact (a training exercise's view) still holds N earlier
        ones."""
        asked = max((d.when.prior_contacts_at_least or 0 for d in self.descriptors), default=0)
        return asked + 1 if asked else 0

    @property
    def missing_to_remember(self) -> int:
        return max((d.when.missing_episodes_at_least or 0 for d in self.descriptors), default=0)

    @model_validator(mode="after")
    def _complete(self) -> Thresholds:
        missing_rag = set(Rag) - set(self.rag_deadlines)
        if missing_rag:
            raise ValueError(f"rag_deadlines: missing {sorted(r.value for r in missing_rag)}")
        missing_levels = set(Level) - set(self.levels)
        if missing_levels:
            raise ValueError(f"levels: missing {sorted(int(x) for x in missing_levels)}")
        if self.levels[Level.SPECIALIST].outcome in NOT_FOR_LEVEL_4:
            raise ValueError("levels: level 4 cannot default to a non-protective outcome")
        ids = [d.id for d in self.descriptors]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"descriptors: duplicate id {duplicates[0]}")
        return self


def load_thresholds(path: Path) -> Thresholds:
    """Load and check a thresholds file; every mistake is a `ConfigError` with its line."""
    return load_model(path, Thresholds, "thresholds file", ConfigError)[0]
