"""Event contracts: one envelope, one model per event type, one discriminated union.

Models are frozen (an event is a fact), strict (a string is not silently a number) and reject
unknown fields (a typo in a producer is an error, not a lost field). Every event travels as
the JSON of its model in one stream field, so any Redis client in any language can read it;
the JSON Schema files exported beside this module are that contract.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, ClassVar, Final, Literal, TypeVar
from zoneinfo import ZoneInfo

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    model_validator,
)

from mash.schemas.codes import (
    Agency,
    AssessmentKind,
    AssessmentOutcome,
    ClosureReason,
    CPCategory,
    CSEIndicator,
    CSELevel,
    DecidedBy,
    Ethnicity,
    Factor,
    FoundBy,
    Level,
    MissingFrom,
    Outcome,
    PlacementType,
    PoliceRisk,
    Rag,
    ReferralSource,
    S47Outcome,
    Sex,
    StrategyDecision,
)

SCHEMA_VERSION: Final = 1

# Event time outside these bounds is a producer's mistake (a two-digit year, an epoch in
# milliseconds read as seconds), never a real safeguarding record. The bounds are pydantic-core
# constraints, checked in Rust: a Python validator here was a tenth of the hub's time.
EARLIEST = datetime(1990, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)
EARLIEST_BIRTH = date(1970, 1, 1)  # a young person's birth, twenty years before the earliest
# Where a date is judged (an age, a month, a census year), it is the date in London, however
# the instant is written.
LONDON = ZoneInfo("Europe/London")

EventTime = Annotated[AwareDatetime, Field(ge=EARLIEST, lt=LATEST)]
EventDate = Annotated[date, Field(ge=EARLIEST_BIRTH, lt=LATEST.date())]
_RANGE_ERRORS = frozenset({"greater_than_equal", "less_than", "greater_than", "less_than_equal"})
# The bounds as pydantic writes them in an error's context.
_BOUNDS = frozenset(
    {"1990-01-01T00:00:00Z", "2100-01-01T00:00:00Z", EARLIEST_BIRTH.isoformat(), "2100-01-01"}
)


def range_message(error: Mapping[str, Any]) -> str | None:
    """The one line for a pydantic error that is an instant or a date out of range (the
    constraints' own words name the bound, not the reason)."""
    if error.get("type") not in _RANGE_ERRORS:
        return None
    bounds = [str(b) for b in dict(error.get("ctx") or {}).values()]
    if not bounds or bounds[0] not in _BOUNDS:
        return None
    first = "1990" if "T" in bounds[0] else str(EARLIEST_BIRTH.year)
    return f"{error.get('input')} is outside the supported range ({first} to 2099)"


Id = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:+\-]*$")]
ShortText = Annotated[str, Field(max_length=10_000)]


def _none_yet() -> Any:
    """A list field's default, empty: made by `list()` for each event that leaves the field
    out. pydantic deep-copies a `[]` default for every such event (`copy.deepcopy`, in
    Python), and most contacts name no CSE indicator: 40,000 entries of England's year
    parsed in 4.3 us each with `[]` defaults, 3.9 us with these. The JSON Schema still
    says `"default": []`."""
    return Field(default_factory=list, json_schema_extra={"default": []})


class Contract(BaseModel):
    """Base of every wire model: frozen, strict, closed."""

    model_config = ConfigDict(frozen=True, strict=True, extra="forbid")


class Envelope(Contract):
    """Fields every event carries (design §3)."""

    stream: ClassVar[str] = ""

    event_id: Id = Field(description="Unique id; the idempotency key consumers dedupe on.")
    schema_version: Literal[1] = SCHEMA_VERSION
    occurred_at: EventTime = Field(description="Event time; every statutory clock runs on it.")
    recorded_at: EventTime = Field(description="When the producer recorded the event.")
    child_id: Id | None = Field(default=None, description="Pseudonymous child id (LAchildID).")
    agency: Agency
    correlation_id: Id | None = Field(
        default=None, description="The contact (or episode) that started this thread."
    )
    causation_id: Id | None = Field(default=None, description="The event that caused this one.")


class ChildDetails(Contract):
    """What a contact says about one child it names."""

    child_id: Id
    dob: EventDate
    sex: Sex
    looked_after: bool = False
    non_mobile: bool = Field(default=False, description="A baby not yet crawling or walking.")
    ethnicity: Ethnicity | None = Field(
        default=None, description="CIN census ethnicity code, when the referrer knows it."
    )


class ContactReceived(Envelope):
    """A concern about one or more children, from an agency or a person."""

    stream: ClassVar[str] = "contacts"
    type: Literal["contact.received"] = "contact.received"
    referral_source: ReferralSource
    children: Annotated[list[ChildDetails], Field(min_length=1, max_length=20)]
    concerns: Annotated[list[Factor], Field(max_length=50)] = _none_yet()
    cse_indicators: Annotated[list[CSEIndicator], Field(max_length=50)] = _none_yet()
    injury: bool = False
    urgent: bool = False
    narrative: ShortText = Field(default="", description="Free text: never logged.")

    @model_validator(mode="after")
    def _children_consistent(self) -> ContactReceived:
        """Runs in Python for every contact parsed, so the common case is kept cheap: one
        child, and a birth well before the contact's date in the offset it was written
        with (a day either side of London's), which needs no time-zone conversion."""
        children = self.children
        if len(children) > 1:
            ids = [c.child_id for c in children]
            if len(set(ids)) != len(ids):
                raise ValueError("children: a child is named twice")
        if self.child_id != children[0].child_id:
            raise ValueError("child_id must be the first child named in children")
        # An unborn child may be the subject of a pre-birth contact, up to a full term ahead.
        surely_fine = self.occurred_at.date() + _TERM_LESS_A_DAY
        latest_dob: date | None = None
        for child in children:
            if child.dob <= surely_fine:
                continue
            if latest_dob is None:
                latest_dob = self.occurred_at.astimezone(LONDON).date() + _FULL_TERM
            if child.dob > latest_dob:
                msg = f"children: {child.child_id} dob {child.dob} is after the contact"
                raise ValueError(msg)
        return self


# A London date is at least the day before the date of the same instant in any other offset
# (offsets lie within a day of UTC, London's within an hour).
_FULL_TERM = timedelta(days=280)
_TERM_LESS_A_DAY = _FULL_TERM - timedelta(days=1)


class ContactHandled(Envelope):
    """A MASH practitioner has worked a contact, for one child it names (a hub with a team).

    Written by the team's queue when the practitioner finishes: `occurred_at` is the
    decision's instant, `started_at` when they picked the contact up, so the wait and the
    handling time are both on the stream. Screening records the child's decision here (made
    by the rules on what was known when the contact arrived)."""

    stream: ClassVar[str] = "queue"
    type: Literal["contact.handled"] = "contact.handled"
    contact_id: Id
    first_child: Id = Field(description="The contact's first child: who counts the contact.")
    received_at: EventTime = Field(description="When the contact arrived at the front door.")
    started_at: EventTime = Field(description="When a practitioner picked it up.")
    practitioner: Id = Field(description="Which of the team's practitioners worked it.")
    triage: Rag = Field(description="The rating it queued with: the contact read on its own.")


class MissingStarted(Envelope):
    stream: ClassVar[str] = "missing"
    type: Literal["missing.started"] = "missing.started"
    missing_id: Id
    missing_from: MissingFrom = MissingFrom.HOME
    police_risk: PoliceRisk = PoliceRisk.MEDIUM
    looked_after: bool = False


class MissingReturned(Envelope):
    stream: ClassVar[str] = "missing"
    type: Literal["missing.returned"] = "missing.returned"
    missing_id: Id
    found_by: FoundBy = FoundBy.POLICE
    with_adults: bool = Field(default=False, description="Found with, or seen with, older adults.")
    harm_disclosed: bool = False


class ReturnInterviewCompleted(Envelope):
    stream: ClassVar[str] = "missing"
    type: Literal["rhi.completed"] = "rhi.completed"
    missing_id: Id
    independent: bool = True
    declined: bool = False
    cse_indicators: Annotated[list[CSEIndicator], Field(max_length=50)] = _none_yet()


class Reason(Contract):
    """A threshold descriptor that matched, as the thresholds file words it."""

    id: str
    level: Level
    text: str


class ScreeningDecided(Envelope):
    stream: ClassVar[str] = "decisions"
    type: Literal["screening.decided"] = "screening.decided"
    contact_id: Id
    level: Level
    rag: Rag
    outcome: Outcome
    decision_due: EventTime = Field(description="Deadline the RAG rating implies.")
    reasons: list[Reason]
    decided_by: DecidedBy = DecidedBy.RULES
    thresholds: str = Field(description="Name of the thresholds file applied.")
    received_at: EventTime | None = Field(
        default=None,
        description="When the contact decided was received: clocks that run from the "
        "referral (the 45-working-day assessment) start there.",
    )


class AssessmentStarted(Envelope):
    stream: ClassVar[str] = "casework"
    type: Literal["assessment.started"] = "assessment.started"
    assessment_id: Id
    kind: AssessmentKind = Field(
        default=AssessmentKind.SINGLE,
        description="single (Working Together 2013 on), or the older initial or core "
        "assessment, which a timescales file may time separately (NI 59, NI 60).",
    )


class AssessmentCompleted(Envelope):
    stream: ClassVar[str] = "casework"
    type: Literal["assessment.completed"] = "assessment.completed"
    assessment_id: Id
    factors: Annotated[list[Factor], Field(min_length=1, max_length=50)]
    outcome: AssessmentOutcome
    kind: AssessmentKind = Field(
        default=AssessmentKind.SINGLE, description="As the assessment's start gave it."
    )
    worked_from: EventTime | None = Field(
        default=None,
        description="When a social worker with room on their caseload took it on (a year "
        "generated with a team's social workers); absent: from its start. The time between "
        "the start and this is the wait for a worker.",
    )

    @model_validator(mode="after")
    def _worked_before_done(self) -> AssessmentCompleted:
        if self.worked_from is not None and self.worked_from > self.occurred_at:
            raise ValueError("worked_from: after the assessment was completed")
        return self


class StrategyHeld(Envelope):
    stream: ClassVar[str] = "casework"
    type: Literal["strategy.held"] = "strategy.held"
    strategy_id: Id
    decision: StrategyDecision
    attendees: list[Agency] = _none_yet()


class S47Started(Envelope):
    stream: ClassVar[str] = "casework"
    type: Literal["s47.started"] = "s47.started"
    s47_id: Id
    strategy_id: Id | None = None


class S47Completed(Envelope):
    stream: ClassVar[str] = "casework"
    type: Literal["s47.completed"] = "s47.completed"
    s47_id: Id
    outcome: S47Outcome


class ICPCHeld(Envelope):
    stream: ClassVar[str] = "casework"
    type: Literal["icpc.held"] = "icpc.held"
    icpc_id: Id
    s47_id: Id | None = None
    plan_required: bool
    category: CPCategory | None = None


class CPPlanStarted(Envelope):
    stream: ClassVar[str] = "casework"
    type: Literal["cp_plan.started"] = "cp_plan.started"
    cpp_id: Id
    initial_category: CPCategory
    previous_plans: Annotated[int, Field(ge=0, le=50)] = 0


class CPPlanEnded(Envelope):
    stream: ClassVar[str] = "casework"
    type: Literal["cp_plan.ended"] = "cp_plan.ended"
    cpp_id: Id
    latest_category: CPCategory | None = None


class CoreGroupHeld(Envelope):
    stream: ClassVar[str] = "casework"
    type: Literal["core_group.held"] = "core_group.held"
    cpp_id: Id


class CPReviewHeld(Envelope):
    stream: ClassVar[str] = "casework"
    type: Literal["cp_review.held"] = "cp_review.held"
    cpp_id: Id
    continue_plan: bool = True


class CaseClosed(Envelope):
    stream: ClassVar[str] = "casework"
    type: Literal["case.closed"] = "case.closed"
    reason: ClosureReason


class CareStarted(Envelope):
    """A child becomes looked after (section 20 or a care order): screening holds them as
    looked after, and the looked-after reviews' clocks start."""

    stream: ClassVar[str] = "casework"
    type: Literal["care.started"] = "care.started"
    care_id: Id


class PlacementStarted(Envelope):
    """A looked-after child moves into a placement (NI 62, NI 63 count them)."""

    stream: ClassVar[str] = "casework"
    type: Literal["placement.started"] = "placement.started"
    care_id: Id
    placement_id: Id
    placement: PlacementType = PlacementType.FOSTER
    adoption_decided_on: EventDate | None = Field(
        default=None,
        description="For a placement for adoption: the day the agency decided the child "
        "should be placed for adoption (NI 61 counts placements within 12 months of it).",
    )


class LACReviewHeld(Envelope):
    """A looked-after child's review (NI 66: within 20 working days of entering care, then
    at most six months apart)."""

    stream: ClassVar[str] = "casework"
    type: Literal["lac_review.held"] = "lac_review.held"
    care_id: Id


class CareEnded(Envelope):
    """A child stops being looked after, with the census's reason (RC1 adopted, RC3 child
    arrangements order, RC4 special guardianship, RC5 another authority, RC6 adult services,
    RC7 any other reason)."""

    stream: ClassVar[str] = "casework"
    type: Literal["care.ended"] = "care.ended"
    care_id: Id
    reason: ClosureReason


class CSEScreeningCompleted(Envelope):
    stream: ClassVar[str] = "casework"
    type: Literal["cse.screening.completed"] = "cse.screening.completed"
    tool: str = "local"
    indicators: Annotated[list[CSEIndicator], Field(max_length=50)] = _none_yet()
    level: CSELevel


class CSEFlag(Envelope):
    stream: ClassVar[str] = "cse"
    type: Literal["cse.flag"] = "cse.flag"
    level: CSELevel
    previous_level: CSELevel
    indicators: list[CSEIndicator]


class ClockTick(Envelope):
    """A watermark: nothing with an earlier `occurred_at` will be published after it."""

    stream: ClassVar[str] = "clock"
    type: Literal["clock.tick"] = "clock.tick"


class TimescaleStarted(Envelope):
    """A clock began: with met, breached and cancelled, the whole life of every clock is on
    the stream, so a reader can say what is running and out of timescale at any instant."""

    stream: ClassVar[str] = "timescales"
    type: Literal["timescale.started"] = "timescale.started"
    clock: str
    clock_id: Id
    deadline: EventTime | None = Field(
        description="None while the limit is known only at the stop (a RAG window)."
    )


class TimescaleCancelled(Envelope):
    """A clock stopped by an event that ends the need for it (the case closed)."""

    stream: ClassVar[str] = "timescales"
    type: Literal["timescale.cancelled"] = "timescale.cancelled"
    clock: str
    clock_id: Id
    breached: bool = Field(description="Whether it had already run out of timescale.")


class TimescaleMet(Envelope):
    stream: ClassVar[str] = "timescales"
    type: Literal["timescale.met"] = "timescale.met"
    clock: str
    clock_id: Id
    started_at: EventTime
    deadline: EventTime
    stopped_at: EventTime


class TimescaleBreached(Envelope):
    stream: ClassVar[str] = "timescales"
    type: Literal["timescale.breached"] = "timescale.breached"
    clock: str
    clock_id: Id
    started_at: EventTime
    deadline: EventTime


class TimescaleStoppedLate(Envelope):
    stream: ClassVar[str] = "timescales"
    type: Literal["timescale.stopped_late"] = "timescale.stopped_late"
    clock: str
    clock_id: Id
    deadline: EventTime
    stopped_at: EventTime
    lateness: str = Field(description="e.g. '4 working days' or '5.5 hours'")


class DeadLetter(Envelope):
    """An entry a consumer could not apply, kept with the reason and the original bytes."""

    stream: ClassVar[str] = "dlq"
    type: Literal["dead_letter"] = "dead_letter"
    reason: str = Field(description="Short machine-readable reason, e.g. 'invalid_json'.")
    detail: str = Field(description="One line for a person: what and where.")
    consumer: str
    source_stream: str
    source_shard: int | None = Field(
        default=None, description="The shard of `source_stream`, when the hub has several."
    )
    source_id: str
    payload: str = Field(description="The entry's fields as received, JSON-encoded.")

    @classmethod
    def for_event(cls, event: Envelope, consumer: str, reason: str, detail: str) -> DeadLetter:
        """A valid event that a consumer cannot apply (a rule that raised, an impossible
        missing episode): kept whole, with why."""
        return cls(
            event_id=f"dlq.{consumer}.{event.event_id}",
            occurred_at=event.occurred_at,
            recorded_at=event.recorded_at,
            agency=Agency.MASH,
            correlation_id=event.correlation_id,
            causation_id=event.event_id,
            reason=reason,
            detail=detail,
            consumer=consumer,
            source_stream=type(event).stream,
            source_id=event.event_id,
            payload=event.model_dump_json(),
        )


Event = Annotated[
    ContactReceived
    | MissingStarted
    | MissingReturned
    | ReturnInterviewCompleted
    | ScreeningDecided
    | ContactHandled
    | AssessmentStarted
    | AssessmentCompleted
    | StrategyHeld
    | S47Started
    | S47Completed
    | ICPCHeld
    | CPPlanStarted
    | CPPlanEnded
    | CoreGroupHeld
    | CPReviewHeld
    | CaseClosed
    | CareStarted
    | PlacementStarted
    | LACReviewHeld
    | CareEnded
    | CSEScreeningCompleted
    | CSEFlag
    | ClockTick
    | TimescaleStarted
    | TimescaleCancelled
    | TimescaleMet
    | TimescaleBreached
    | TimescaleStoppedLate
    | DeadLetter,
    Field(discriminator="type"),
]

EVENT_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)

EVENT_TYPES: dict[str, type[Envelope]] = {
    model.model_fields["type"].default: model
    for model in (
        ContactReceived,
        MissingStarted,
        MissingReturned,
        ReturnInterviewCompleted,
        ScreeningDecided,
        ContactHandled,
        AssessmentStarted,
        AssessmentCompleted,
        StrategyHeld,
        S47Started,
        S47Completed,
        ICPCHeld,
        CPPlanStarted,
        CPPlanEnded,
        CoreGroupHeld,
        CPReviewHeld,
        CaseClosed,
        CareStarted,
        PlacementStarted,
        LACReviewHeld,
        CareEnded,
        CSEScreeningCompleted,
        CSEFlag,
        ClockTick,
        TimescaleStarted,
        TimescaleCancelled,
        TimescaleMet,
        TimescaleBreached,
        TimescaleStoppedLate,
        DeadLetter,
    )
}

STREAMS: tuple[str, ...] = (
    "contacts",
    "missing",
    "casework",
    "clock",
    "decisions",
    "queue",
    "cse",
    "timescales",
    "dlq",
)


_PLANS: dict[type[BaseModel], tuple[dict[str, Any], frozenset[str], set[str]]] = {}
M = TypeVar("M", bound=BaseModel)
S = TypeVar("S", bound="State")
_REQUIRED: Any = object()  # a template's place for a field the caller must give
_set = object.__setattr__
# BaseModel's slots, set through their descriptors: a frozen model refuses setattr, and the
# descriptor is cheaper than object.__setattr__ on the hot paths below.
_set_fields_set = BaseModel.__dict__["__pydantic_fields_set__"].__set__
_set_extra = BaseModel.__dict__["__pydantic_extra__"].__set__
_set_private = BaseModel.__dict__["__pydantic_private__"].__set__
_new = object.__new__


def construct(cls: type[M], /, **values: Any) -> M:
    """A model from values that are already of the right types, without validating them.

    For the hot paths that build outputs and states from fields they typed themselves: about
    five times cheaper than validating, and than pydantic's own `model_construct`. The field
    order is the model's (pydantic serialises `__dict__` in its order). The property tests
    parse such outputs back through the wire union to keep them honest.

    Every field counts as set (the defaults were filled in from the model), and all the
    models built of one class share one fields-set object: models here are frozen, so
    pydantic never adds to it in place (its `model_copy` copies it first, and `State`'s
    shares it), and a set of its own for each of the hot paths' 150,000 models a borough
    year was one more object for the cyclic collector to walk each time.
    """
    return construct_from(cls, values)


def construct_from(cls: type[M], values: dict[str, Any], /) -> M:
    """`construct` from a dict the caller built (and gives up): the hottest rules build their
    outputs' fields as one dict, and passing it on as keywords would pack it again, which
    cost as much as the rest of the construction."""
    plan = _PLANS.get(cls)
    if plan is None:
        fields = cls.model_fields
        template = {
            name: _REQUIRED if field.is_required() else field.get_default(call_default_factory=True)
            for name, field in fields.items()
        }
        required = frozenset(n for n, f in fields.items() if f.is_required())
        plan = _PLANS[cls] = (template, required, set(fields))
    template, required, every = plan
    if not required <= values.keys():
        missing = ", ".join(sorted(required - values.keys()))
        raise TypeError(f"{cls.__name__} needs {missing}")
    data = template.copy()
    data.update(values)
    model = _new(cls)
    _set(model, "__dict__", data)
    _set_fields_set(model, every)
    _set_extra(model, None)
    _set_private(model, None)
    return model


class State(BaseModel):
    """A consumer's state of one child: immutable, closed, and cheap to copy.

    Rules replace a state with a changed copy on nearly every event, and pydantic's
    `model_copy` goes through `__copy__` (extra, private and fields-set copies) for fields
    that a closed, frozen model does not have. Like pydantic's, the update is not validated.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    def model_copy(self: S, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> S:
        if deep:
            return super().model_copy(update=update, deep=True)
        data = self.__dict__.copy()
        # Shared, never changed in place (see `construct`): a copy only when the update
        # sets a field this state's set lacks (one loaded from a JSON that omitted it).
        fields_set = self.__pydantic_fields_set__
        if update:
            data.update(update)
            if not fields_set.issuperset(update):
                fields_set = fields_set | update.keys()
        copied = _new(type(self))
        _set(copied, "__dict__", data)
        _set_fields_set(copied, fields_set)
        _set_extra(copied, None)
        _set_private(copied, None)
        return copied


def wire_json(model: BaseModel) -> bytes:
    """`model.model_dump_json()` as the UTF-8 bytes Redis is sent, from pydantic-core's
    serializer itself: the edge writes each output and changed state this way, and the
    method's keyword plumbing and the text round trip (decoded here, encoded again by the
    client) were a third of the cost of a small event's serialization."""
    return model.__pydantic_serializer__.to_json(model)


def state_json(state: State) -> bytes:
    """A consumer's state as the UTF-8 bytes the edge stores, without the fields that hold
    their defaults: most fields of most children's states are at their defaults (no plan,
    no care, no open clock, an empty note), and writing them was a third of the state bytes
    a year sends to Redis and keeps there. Reading one back (`model_validate_json`) gives
    the defaults again, so the state read equals the state written."""
    return state.__pydantic_serializer__.to_json(state, exclude_defaults=True)


def parse_event(raw: str | bytes) -> Event:
    """Parse one wire payload; raises `pydantic.ValidationError` or `ValueError`."""
    return EVENT_ADAPTER.validate_json(raw)


def parse_event_data(data: dict[str, Any]) -> Event:
    """Parse a mapping (e.g. from YAML) exactly as the wire would deliver it.

    Going through JSON keeps one strict validation path: a YAML date becomes the same ISO
    string a producer in another language would send.
    """
    return EVENT_ADAPTER.validate_json(json.dumps(data, default=str))


def to_wire(event: Envelope) -> str:
    """The JSON text an event travels as (one stream field, `event`)."""
    return event.model_dump_json()
