"""Scenario files: a start instant, children, events at offsets, and the expected answers.

A scenario is data with its answers (style §6): adding a case is adding a file. Everything is
checked at load time, so a typo is `file:line: field: why` before anything touches Redis.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, model_validator

from mash._config.settings import DEFAULT_TIMESCALES
from mash._config.yamlfile import describe, dotted, line_of, load_model
from mash._time.calendar import LONDON, WorkingDayCalendar
from mash.errors import ScenarioError
from mash.schemas.codes import (
    Agency,
    CSEIndicator,
    CSELevel,
    Ethnicity,
    Level,
    Outcome,
    Rag,
    ReferralSource,
    Sex,
)
from mash.schemas.events import ContactReceived, Event, parse_event_data

Slug = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$", max_length=100)]

_OFFSET = re.compile(
    r"^\s*(?P<sign>[-+])?\s*(?:(?P<w>\d+)\s*w)?\s*(?:(?P<d>\d+)\s*d)?\s*"
    r"(?:(?P<h>\d+)\s*h)?\s*(?:(?P<m>\d+)\s*m)?\s*$"
)

# Who sends a contact, by CIN referral source, when the scenario does not say.
AGENCY_BY_SOURCE: dict[ReferralSource, Agency] = {
    ReferralSource.FAMILY_MEMBER: Agency.INDIVIDUAL,
    ReferralSource.ACQUAINTANCE: Agency.INDIVIDUAL,
    ReferralSource.SELF: Agency.INDIVIDUAL,
    ReferralSource.OTHER_INDIVIDUAL: Agency.INDIVIDUAL,
    ReferralSource.SCHOOLS: Agency.SCHOOL,
    ReferralSource.EDUCATION_SERVICES: Agency.EDUCATION_SERVICES,
    ReferralSource.GP: Agency.HEALTH_GP,
    ReferralSource.HEALTH_VISITOR: Agency.HEALTH_VISITOR,
    ReferralSource.SCHOOL_NURSE: Agency.SCHOOL_NURSE,
    ReferralSource.OTHER_PRIMARY_HEALTH: Agency.HEALTH_OTHER,
    ReferralSource.A_AND_E: Agency.HEALTH_AE,
    ReferralSource.OTHER_HEALTH: Agency.HEALTH_OTHER,
    ReferralSource.HOUSING: Agency.HOUSING,
    ReferralSource.LA_SOCIAL_CARE: Agency.LA_SOCIAL_CARE,
    ReferralSource.LA_OTHER_INTERNAL: Agency.LA_OTHER,
    ReferralSource.LA_EXTERNAL: Agency.LA_OTHER,
    ReferralSource.LA_EARLY_HELP: Agency.LA_EARLY_HELP,
    ReferralSource.POLICE: Agency.POLICE,
    ReferralSource.OTHER_LEGAL: Agency.PROBATION,
    ReferralSource.OTHER: Agency.VOLUNTARY,
    ReferralSource.ANONYMOUS: Agency.ANONYMOUS,
    ReferralSource.UNKNOWN: Agency.ANONYMOUS,
}
AGENCY_BY_PREFIX = {"missing": Agency.POLICE, "rhi": Agency.VOLUNTARY}


class _Closed(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ChildSpec(_Closed):
    id: Slug
    dob: date
    sex: Sex
    looked_after: bool = False
    non_mobile: bool = False
    ethnicity: Ethnicity | None = None


class DecisionExpectation(_Closed):
    contact: Slug
    child: Slug | None = None
    level: Level | None = None
    level_at_least: Level | None = Field(
        default=None, description="The decision's level is this or higher."
    )
    rag: Rag | None = None
    outcome: Outcome | None = None
    reasons: list[str] | None = Field(default=None, description="Each must be among the reasons.")
    not_reasons: list[str] | None = None
    decided_by: Literal["rules", "trainee"] | None = None


class DecisionsExpectation(_Closed):
    """Counts over all decisions, or those of one contact (a shared correlation id)."""

    contact: Slug | None = None
    count: int = Field(ge=0)


class Lateness(_Closed):
    """How late a clock stopped, by value: one of working days, days or hours."""

    working_days: int | None = Field(default=None, ge=0)
    days: int | None = Field(default=None, ge=0)
    hours: float | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _one(self) -> Lateness:
        if len(self.model_fields_set) != 1:
            raise ValueError("give exactly one of working_days, days or hours")
        return self


class ClockExpectation(_Closed):
    """The outcome of one statutory clock for one child (and key, where a child has several).

    `absent`: the child has no such clock at all (it never started)."""

    name: str
    child: Slug
    key: str | None = Field(default=None, description="Start key: a missing_id, a contact id...")
    status: Literal["met", "breached", "late", "open", "absent"]
    breached_at: datetime | None = None
    deadline: datetime | None = None
    lateness: Lateness | str | None = Field(
        default=None,
        description="{working_days: 4}, {days: 3} or {hours: 26}; a string is compared as written.",
    )


class CSEExpectation(_Closed):
    """A CSE flag: the level a child reached, when, and why; or the level it ended at."""

    child: Slug
    level: CSELevel
    at: datetime | None = None
    indicators: list[CSEIndicator] | None = Field(default=None, description="Each must be named.")
    final: bool = Field(default=False, description="The child's level at the end of the replay.")


class FlagsExpectation(_Closed):
    """How many CSE flags a child was given (at one level, or at any)."""

    child: Slug
    count: int = Field(ge=0)
    level: CSELevel | None = None


class FigureExpectation(_Closed):
    """A figure of the report, by its dotted path (e.g. `missing.incidents`)."""

    # A part may hold single spaces: the performance indicators are keyed "NI 59"...
    path: Annotated[
        str, Field(pattern=r"^[a-zA-Z0-9_]+( [a-zA-Z0-9_]+)*(\.[a-zA-Z0-9_]+( [a-zA-Z0-9_]+)*)*$")
    ]
    equals: int | float | str | bool
    within: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description="A relative tolerance (0.1 = 10%): calibration figures, not counted ones.",
    )


class DeadLettersExpectation(_Closed):
    count: int = Field(ge=0)
    reason: str | None = None


class Expectation(_Closed):
    decision: DecisionExpectation | None = None
    decisions: DecisionsExpectation | None = None
    clock: ClockExpectation | None = None
    cse: CSEExpectation | None = None
    flags: FlagsExpectation | None = None
    figure: FigureExpectation | None = None
    dead_letters: DeadLettersExpectation | None = None


class ScenarioFile(_Closed):
    name: Slug
    description: str = ""
    start: AwareDatetime | datetime
    end: str | datetime | None = None
    seed: int = 0
    population: int | None = Field(default=None, ge=1)
    thresholds: str | None = None
    timescales: str | None = None
    scoring: str | None = None
    team: str | None = None
    screening: Literal["auto", "manual"] = "auto"
    children: list[ChildSpec] = []
    events: list[dict[str, Any]]
    expect: list[Expectation] = []


class Scenario:
    """A loaded scenario: events in publishing order, expectations, where it came from."""

    def __init__(
        self,
        spec: ScenarioFile,
        path: Path,
        events: list[Event],
        local_ids: dict[str, str],
        end: datetime,
    ) -> None:
        self.spec = spec
        self.path = path
        self.events = events
        self.local_ids = local_ids
        self.end = end

    @classmethod
    def from_events(
        cls,
        name: str,
        events: list[Event],
        end: datetime,
        *,
        description: str = "",
        population: int | None = None,
        timescales: Path | None = None,
    ) -> Scenario:
        """A scenario made in code (a generated year), with no file and no expectations;
        `timescales` is the year's own clocks file (an absolute path), if it has one."""
        start = events[0].occurred_at if events else end
        spec = ScenarioFile(
            name=name,
            description=description,
            start=start,
            population=population,
            timescales=str(timescales) if timescales else None,
            events=[],
        )
        return cls(spec, Path(f"<{name}>"), events, {}, end)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def thresholds_path(self) -> Path | None:
        return (self.path.parent / self.spec.thresholds) if self.spec.thresholds else None

    @property
    def scoring_path(self) -> Path | None:
        return (self.path.parent / self.spec.scoring) if self.spec.scoring else None

    @property
    def team_path(self) -> Path | None:
        return (self.path.parent / self.spec.team) if self.spec.team else None

    @property
    def timescales_path(self) -> Path | None:
        return (self.path.parent / self.spec.timescales) if self.spec.timescales else None


def aware(value: datetime) -> datetime:
    """Naive instants in scenario files mean London time, as a practitioner would write them."""
    return value if value.tzinfo else value.replace(tzinfo=LONDON)


def parse_at(value: Any, start: datetime) -> datetime:
    if isinstance(value, datetime):
        return aware(value)
    if isinstance(value, date):
        return datetime.combine(value, datetime.min.time(), tzinfo=LONDON)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return start + timedelta(days=float(value))
    if not isinstance(value, str):
        raise ValueError(f"expected an offset like '3d 4h' or an instant, got {value!r}")
    text = value.strip()
    match = _OFFSET.match(text)
    if match and any(match.group(k) for k in "wdhm"):
        delta = timedelta(
            weeks=int(match["w"] or 0),
            days=int(match["d"] or 0),
            hours=int(match["h"] or 0),
            minutes=int(match["m"] or 0),
        )
        return start - delta if match["sign"] == "-" else start + delta
    try:
        return aware(datetime.fromisoformat(text))
    except ValueError:
        pass
    msg = f"{value!r} is neither an offset like '3d 4h' / '-2w' nor an ISO instant"
    raise ValueError(msg)


def load_scenario(path: Path) -> Scenario:
    shown = str(path)
    spec, data = load_model(path, ScenarioFile, "scenario", ScenarioError)

    def fail(loc: tuple[int | str, ...], why: str) -> ScenarioError:
        return ScenarioError(shown, line_of(data, loc), dotted(loc), why)

    start = aware(spec.start)
    children = {c.id: c for c in spec.children}
    if len(children) != len(spec.children):
        raise fail(("children",), "a child id is used twice")
    local_ids: dict[str, str] = {}
    by_local: dict[str, Event] = {}
    built: list[tuple[datetime, int, Event]] = []
    for index, raw in enumerate(spec.events):
        here: tuple[int | str, ...] = ("events", index)
        fields: dict[str, Any] = dict(raw)
        local = fields.pop("id", None) or f"e{index + 1}"
        if not isinstance(local, str):
            raise fail((*here, "id"), "an event id is text")
        if local in local_ids:
            raise fail((*here, "id"), f"event id {local!r} is used twice")
        if "at" not in fields:
            raise fail(here, "at: required field is missing (an offset like '2d 9h' or an instant)")
        try:
            occurred = parse_at(fields.pop("at"), start)
        except ValueError as exc:
            raise fail((*here, "at"), str(exc)) from exc
        event_type = fields.get("type")
        if not isinstance(event_type, str):
            raise fail(here, "type: required field is missing")
        fields.setdefault("occurred_at", occurred.isoformat())
        fields.setdefault("recorded_at", occurred.isoformat())
        fields["event_id"] = f"{spec.name}.{local}"
        _resolve_children(fields, children, here, fail)
        _resolve_refs(fields, local_ids, here, fail)
        if event_type == "screening.decided":
            _decision_defaults(fields, by_local, here, fail)
        if event_type == "contact.received":
            fields.setdefault("correlation_id", fields["event_id"])
            source = fields.get("referral_source")
            known = _is_source(source)
            agency = AGENCY_BY_SOURCE.get(ReferralSource(str(source))) if known else None
            fields.setdefault("agency", (agency or Agency.ANONYMOUS).value)
        else:
            prefix = event_type.split(".", 1)[0]
            fields.setdefault("agency", AGENCY_BY_PREFIX.get(prefix, Agency.LA_SOCIAL_CARE).value)
        try:
            event = parse_event_data(fields)
        except ValidationError as exc:
            loc, message = describe(exc)
            loc = loc[1:] if loc and loc[0] == event_type else loc
            raise fail((*here, *loc), message) from exc
        local_ids[local] = event.event_id
        by_local[local] = event
        built.append((event.occurred_at, index, event))
    built.sort(key=lambda item: (item[0], item[1]))
    last = built[-1][0] if built else start
    try:
        end = parse_at(spec.end, start) if spec.end is not None else last
    except ValueError as exc:
        raise fail(("end",), str(exc)) from exc
    if end < last:
        raise fail(("end",), f"end {end.isoformat()} is before the last event ({last.isoformat()})")
    clocks, named = _clock_ids(spec, path)
    _check_expectations(spec, local_ids, children, fail, clocks, named)
    return Scenario(spec, path, [event for _, _, event in built], local_ids, end)


def _clock_ids(spec: ScenarioFile, path: Path) -> tuple[frozenset[str] | None, str]:
    """The clocks a scenario's expectations may name: those of its timescales file (its own,
    else the default). None when no expectation names a clock (nothing to check)."""
    if not any(e.clock is not None for e in spec.expect):
        return None, ""
    from mash.consumers.timescales.config import load_timescales  # noqa: PLC0415

    file = (path.parent / spec.timescales) if spec.timescales else DEFAULT_TIMESCALES
    timescales = load_timescales(file)
    return frozenset(c.id for c in timescales.clocks), f"timescales file {timescales.name!r}"


# A practitioner's decision in a scenario, when the file gives no deadline: the RAG windows of
# the default thresholds file (red 4 h, amber 1 working day, green 3 working days).
_RAG_DEFAULT_HOURS = {"red": 4}
_RAG_DEFAULT_WORKING_DAYS = {"amber": 1, "green": 3}


def _decision_defaults(
    fields: dict[str, Any], by_local: dict[str, Event], here: tuple[int | str, ...], fail: Any
) -> None:
    """`contact: c1` names the contact decided; the rest defaults as a practitioner's would."""
    ref = fields.pop("contact", None)
    if ref is None:
        raise fail(here, "contact: a decision names the contact it decides (contact: <id>)")
    contact = by_local.get(ref)
    if not isinstance(contact, ContactReceived):
        raise fail((*here, "contact"), f"no earlier contact with id {ref!r}")
    fields["contact_id"] = contact.event_id
    fields.setdefault("correlation_id", contact.correlation_id or contact.event_id)
    fields.setdefault("causation_id", contact.event_id)
    fields.setdefault("child_id", contact.child_id)
    fields["agency"] = Agency.MASH.value
    fields.setdefault("reasons", [])
    fields.setdefault("thresholds", "scenario")
    fields.setdefault("decided_by", "practitioner")
    fields.setdefault("received_at", contact.occurred_at.isoformat())
    rag = fields.get("rag")
    if "decision_due" not in fields and rag in _RAG_DEFAULT_HOURS:
        due = contact.occurred_at + timedelta(hours=_RAG_DEFAULT_HOURS[rag])
        fields["decision_due"] = due.isoformat()
    elif "decision_due" not in fields and rag in _RAG_DEFAULT_WORKING_DAYS:
        days = _RAG_DEFAULT_WORKING_DAYS[rag]
        fields["decision_due"] = (
            WorkingDayCalendar().deadline(contact.occurred_at, days).isoformat()
        )


def _is_source(value: Any) -> bool:
    return isinstance(value, str) and value in ReferralSource._value2member_map_


def _resolve_children(
    fields: dict[str, Any], children: dict[str, ChildSpec], here: tuple[int | str, ...], fail: Any
) -> None:
    """`children: [C1, C2]` and `child: C1` name children declared at the top of the file."""
    if fields.get("type") == "contact.received":
        names = fields.get("children")
        if not isinstance(names, list) or not names:
            raise fail((*here, "children"), "a contact names one or more children by id")
        details = []
        for position, name in enumerate(names):
            if name not in children:
                raise fail((*here, "children", position), f"unknown child {name!r}")
            details.append(children[name].model_dump(mode="json") | {"child_id": name})
            details[-1].pop("id")
        fields["children"] = details
        fields["child_id"] = names[0]
        return
    name = fields.pop("child", None)
    if name is not None:
        if name not in children:
            raise fail((*here, "child"), f"unknown child {name!r}")
        fields["child_id"] = name


def _resolve_refs(
    fields: dict[str, Any], local_ids: dict[str, str], here: tuple[int | str, ...], fail: Any
) -> None:
    """Fields that name an earlier event by its local id (`correlation: c1`)."""
    for key, target in (("correlation", "correlation_id"), ("causation", "causation_id")):
        ref = fields.pop(key, None)
        if ref is None:
            continue
        if ref not in local_ids:
            raise fail((*here, key), f"no earlier event with id {ref!r}")
        fields[target] = local_ids[ref]


def _check_expectations(
    spec: ScenarioFile,
    local_ids: dict[str, str],
    children: dict[str, ChildSpec],
    fail: Any,
    clocks: frozenset[str] | None = None,
    timescales_name: str = "the timescales file",
) -> None:
    for index, expectation in enumerate(spec.expect):
        here: tuple[int | str, ...] = ("expect", index)
        chosen = [k for k, v in expectation if v is not None]
        if len(chosen) != 1:
            raise fail(
                here,
                "each expectation is exactly one of: "
                "decision, decisions, clock, cse, flags, figure, dead_letters",
            )
        clock = expectation.clock
        if clock is not None and clocks is not None and clock.name not in clocks:
            known = ", ".join(sorted(clocks))
            raise fail(
                (*here, "clock", "name"),
                f"no clock {clock.name!r} in {timescales_name}: one of {known}",
            )
        for kind in ("clock", "cse", "flags"):
            item = getattr(expectation, kind)
            if item is not None and item.child not in children:
                raise fail((*here, kind, "child"), f"unknown child {item.child!r}")
        decision = expectation.decision
        if decision is not None:
            if decision.contact not in local_ids:
                raise fail((*here, "decision", "contact"), f"no event with id {decision.contact!r}")
            if decision.child is not None and decision.child not in children:
                raise fail((*here, "decision", "child"), f"unknown child {decision.child!r}")
        counted = expectation.decisions
        if counted is not None and counted.contact is not None and counted.contact not in local_ids:
            raise fail((*here, "decisions", "contact"), f"no event with id {counted.contact!r}")
