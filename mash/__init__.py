"""mash, a Multi-Agency Safeguarding Hub simulator: the names other teams import.

This is the public face: `MashHub` (the hub for tests, also the `mash_hub` fixture),
`EmbeddedRedis` (a private real Redis), the error types, and the event models and code lists
of the wire contract (`mash.schemas`). Everything under an underscore (`mash._runtime`,
`mash._cli`...) is internal and may move without notice.

Names are resolved on first use (PEP 562), so `import mash` stays cheap: the `mash` command
and a team's conftest do not pay for faststream or pydantic until they touch a name that
needs them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mash._runtime.embedded_redis import EmbeddedRedis
    from mash.errors import ConfigError, FileError, HubUnavailable, MashError, ScenarioError
    from mash.schemas import (
        EVENT_ADAPTER,
        EVENT_TYPES,
        STREAMS,
        Agency,
        AssessmentCompleted,
        AssessmentKind,
        AssessmentOutcome,
        AssessmentStarted,
        CareEnded,
        CareStarted,
        CaseClosed,
        ChildDetails,
        ClockTick,
        ClosureReason,
        ContactReceived,
        CoreGroupHeld,
        CPCategory,
        CPPlanEnded,
        CPPlanStarted,
        CPReviewHeld,
        CSEFlag,
        CSEIndicator,
        CSELevel,
        CSEScreeningCompleted,
        DeadLetter,
        DecidedBy,
        Envelope,
        Ethnicity,
        Event,
        Factor,
        ICPCHeld,
        LACReviewHeld,
        Level,
        MissingReturned,
        MissingStarted,
        Outcome,
        PlacementStarted,
        PlacementType,
        PrimaryNeed,
        Rag,
        Reason,
        ReferralSource,
        ReturnInterviewCompleted,
        S47Completed,
        S47Started,
        ScreeningDecided,
        Sex,
        StrategyHeld,
        TimescaleBreached,
        TimescaleCancelled,
        TimescaleMet,
        TimescaleStarted,
        TimescaleStoppedLate,
        parse_event,
        parse_event_data,
        to_wire,
    )
    from mash.testing import MashHub

# Defined here, or in the module named; every other name of `__all__` is the wire contract's
# (`mash.schemas.__all__`, which a test keeps in step with this list).
_WHERE: dict[str, str] = {
    "MashHub": "mash.testing",
    "EmbeddedRedis": "mash._runtime.embedded_redis",
    "MashError": "mash.errors",
    "HubUnavailable": "mash.errors",
    "FileError": "mash.errors",
    "ScenarioError": "mash.errors",
    "ConfigError": "mash.errors",
}

__all__ = [
    "EVENT_ADAPTER",
    "EVENT_TYPES",
    "STREAMS",
    "Agency",
    "AssessmentCompleted",
    "AssessmentKind",
    "AssessmentOutcome",
    "AssessmentStarted",
    "CPCategory",
    "CPPlanEnded",
    "CPPlanStarted",
    "CPReviewHeld",
    "CSEFlag",
    "CSEIndicator",
    "CSELevel",
    "CSEScreeningCompleted",
    "CareEnded",
    "CareStarted",
    "CaseClosed",
    "ChildDetails",
    "ClockTick",
    "ClosureReason",
    "ConfigError",
    "ContactReceived",
    "CoreGroupHeld",
    "DeadLetter",
    "DecidedBy",
    "EmbeddedRedis",
    "Envelope",
    "Ethnicity",
    "Event",
    "Factor",
    "FileError",
    "HubUnavailable",
    "ICPCHeld",
    "LACReviewHeld",
    "Level",
    "MashError",
    "MashHub",
    "MissingReturned",
    "MissingStarted",
    "Outcome",
    "PlacementStarted",
    "PlacementType",
    "PrimaryNeed",
    "Rag",
    "Reason",
    "ReferralSource",
    "ReturnInterviewCompleted",
    "S47Completed",
    "S47Started",
    "ScenarioError",
    "ScreeningDecided",
    "Sex",
    "StrategyHeld",
    "TimescaleBreached",
    "TimescaleCancelled",
    "TimescaleMet",
    "TimescaleStarted",
    "TimescaleStoppedLate",
    "__version__",
    "parse_event",
    "parse_event_data",
    "to_wire",
]


def _version() -> str:
    """The installed distribution's version, read on first use: asking `importlib.metadata`
    for it at import cost every `import mash` (a team's conftest, each short command) the
    metadata lookup whether or not the version was wanted."""
    from importlib.metadata import PackageNotFoundError, version  # noqa: PLC0415

    try:
        return version("mash-simulator")
    except PackageNotFoundError:  # pragma: no cover - a source tree that was never installed
        return "0+unknown"


def __getattr__(name: str) -> Any:
    if name == "__version__":
        found = globals()["__version__"] = _version()
        return found
    if name not in __all__:
        msg = f"module 'mash' has no attribute {name!r}"
        raise AttributeError(msg)
    value = getattr(importlib.import_module(_WHERE.get(name, "mash.schemas")), name)
    globals()[name] = value  # the next lookup is a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
