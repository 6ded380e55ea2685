"""Threshold screening as pure functions: facts about a contact in, a decision out.

No Redis, no clock, no logging: the edge hands in the child's history and the contact, and
gets back the new history and one `screening.decided` per child.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from pydantic import ConfigDict

from mash._time.calendar import LONDON, WorkingDayCalendar
from mash.consumers.screening.thresholds import Conditions, Deadline, Descriptor, Thresholds
from mash.schemas.codes import (
    Agency,
    AssessmentOutcome,
    CSEIndicator,
    CSELevel,
    Factor,
    Level,
    Outcome,
    Rag,
    ReferralSource,
)
from mash.schemas.events import (
    AssessmentCompleted,
    AssessmentStarted,
    CareEnded,
    CareStarted,
    CaseClosed,
    ChildDetails,
    ContactHandled,
    ContactReceived,
    CPPlanEnded,
    CPPlanStarted,
    CSEFlag,
    Envelope,
    Event,
    MissingStarted,
    Reason,
    S47Completed,
    S47Started,
    ScreeningDecided,
    State,
    construct,
)

RAG_URGENCY = {Rag.GREEN: 0, Rag.AMBER: 1, Rag.RED: 2}
# Outcomes that open a case: the child then has an allocated worker.
OPENS_CASE = frozenset({Outcome.S17_ASSESSMENT, Outcome.STRATEGY_DISCUSSION})
OPEN_CASE_REASON = "OPEN-CASE"


class ChildHistory(State):
    """What the hub knows of one child when the next contact arrives."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    contacts: tuple[datetime, ...] = ()
    missing: tuple[datetime, ...] = ()
    open_referral: bool = False
    open_assessment: bool = False
    open_s47: bool = False
    cp_plan: bool = False
    looked_after: bool = False
    cse_level: CSELevel = CSELevel.NONE
    # With a team: decisions made on contacts still waiting for a practitioner, recorded when
    # the team says one has worked the contact.
    pending: tuple[ScreeningDecided, ...] = ()

    @property
    def allocated(self) -> bool:
        return (
            self.open_referral
            or self.open_assessment
            or self.open_s47
            or self.cp_plan
            or self.looked_after
        )


@dataclass(frozen=True, slots=True)
class Facts:
    """Everything a descriptor may look at, for one child named in one contact."""

    concerns: frozenset[Factor]
    cse_indicators: frozenset[CSEIndicator]
    referral_source: ReferralSource
    injury: bool
    urgent: bool
    non_mobile: bool
    age_months: int
    prior_contacts: int
    missing_episodes: int
    cp_plan: bool
    looked_after: bool
    cse_level: CSELevel


@dataclass(frozen=True, slots=True)
class Decision:
    level: Level
    rag: Rag
    outcome: Outcome
    reasons: tuple[Descriptor, ...]


def months_between(born: date, on: date) -> int:
    months = (on.year - born.year) * 12 + (on.month - born.month)
    if on.day < born.day:
        months -= 1
    return max(months, 0)


def facts_for(
    contact: ContactReceived, child: ChildDetails, history: ChildHistory, window_days: int
) -> Facts:
    since = contact.occurred_at - timedelta(days=window_days)
    return Facts(
        concerns=frozenset(contact.concerns),
        cse_indicators=frozenset(contact.cse_indicators),
        referral_source=contact.referral_source,
        injury=contact.injury,
        urgent=contact.urgent,
        non_mobile=child.non_mobile,
        # The child's age on the London date of the contact, however its instant is written.
        age_months=months_between(child.dob, contact.occurred_at.astimezone(LONDON).date()),
        prior_contacts=sum(1 for t in history.contacts if since <= t < contact.occurred_at),
        missing_episodes=sum(1 for t in history.missing if since <= t <= contact.occurred_at),
        cp_plan=history.cp_plan,
        looked_after=history.looked_after or child.looked_after,
        cse_level=history.cse_level,
    )


@dataclass(frozen=True, slots=True)
class Compiled:
    """A descriptor with its lists turned into sets once, and its `Reason` built once."""

    descriptor: Descriptor
    reason: Reason
    concerns_any: frozenset[Factor] | None
    cse_indicators_any: frozenset[CSEIndicator] | None
    referral_source_any: frozenset[ReferralSource] | None

    @classmethod
    def of(cls, d: Descriptor) -> Compiled:
        w = d.when
        return cls(
            descriptor=d,
            reason=Reason(id=d.id, level=d.level, text=d.text),
            concerns_any=frozenset(w.concerns_any) if w.concerns_any is not None else None,
            cse_indicators_any=(
                frozenset(w.cse_indicators_any) if w.cse_indicators_any is not None else None
            ),
            referral_source_any=(
                frozenset(w.referral_source_any) if w.referral_source_any is not None else None
            ),
        )

    def matches(self, facts: Facts) -> bool:
        if self.concerns_any is not None and self.concerns_any.isdisjoint(facts.concerns):
            return False
        if self.cse_indicators_any is not None and self.cse_indicators_any.isdisjoint(
            facts.cse_indicators
        ):
            return False
        if (
            self.referral_source_any is not None
            and facts.referral_source not in self.referral_source_any
        ):
            return False
        return matches(self.descriptor.when, facts, lists_checked=True)


def matches(when: Conditions, facts: Facts, *, lists_checked: bool = False) -> bool:
    """Whether every condition given holds; one test per condition, all monotone."""
    if not lists_checked and not _lists_match(when, facts):
        return False
    return _scalars_match(when, facts)


def _lists_match(when: Conditions, facts: Facts) -> bool:
    if when.concerns_any is not None and not facts.concerns & set(when.concerns_any):
        return False
    if when.cse_indicators_any is not None and not facts.cse_indicators & set(
        when.cse_indicators_any
    ):
        return False
    return not (
        when.referral_source_any is not None
        and facts.referral_source not in when.referral_source_any
    )


def _scalars_match(when: Conditions, facts: Facts) -> bool:
    if when.concerns_at_least is not None and len(facts.concerns) < when.concerns_at_least:
        return False
    if when.injury and not facts.injury:
        return False
    if when.urgent and not facts.urgent:
        return False
    if when.non_mobile and not facts.non_mobile:
        return False
    if when.age_under_months is not None and facts.age_months >= when.age_under_months:
        return False
    if (
        when.prior_contacts_at_least is not None
        and facts.prior_contacts < when.prior_contacts_at_least
    ):
        return False
    if (
        when.missing_episodes_at_least is not None
        and facts.missing_episodes < when.missing_episodes_at_least
    ):
        return False
    if when.cp_plan and not facts.cp_plan:
        return False
    if when.looked_after and not facts.looked_after:
        return False
    return not (
        when.cse_level_at_least is not None and facts.cse_level.rank < when.cse_level_at_least.rank
    )


@dataclass(frozen=True, slots=True)
class Table:
    """Compiled descriptors, indexed so a contact is tested only against candidates.

    A descriptor that names concerns can only match a contact sharing one; the rest (history,
    age, CSE level) are always candidates. File order is kept, which fixes the reason order.
    """

    descriptors: tuple[Compiled, ...]
    by_concern: dict[Factor, frozenset[int]]
    always: frozenset[int]
    reason_of: dict[str, Reason]
    contacts_to_remember: int  # the thresholds' property, worked out once, not per contact
    # The candidates of each set of concerns seen: a generated borough year's 6,994 contacts
    # share 26 sets, and merging and sorting the indexes for each contact was a quarter of
    # screening's time (py-spy over that year's pure pipeline).
    _chosen: dict[frozenset[Factor], tuple[Compiled, ...]] = field(
        default_factory=dict, compare=False, repr=False
    )

    def candidates(self, concerns: frozenset[Factor]) -> tuple[Compiled, ...]:
        found = self._chosen.get(concerns)
        if found is None:
            chosen = set(self.always)
            for concern in concerns:
                chosen |= self.by_concern.get(concern, frozenset())
            if len(self._chosen) >= _CANDIDATE_SETS:
                self._chosen.clear()  # any subset of the factors may come: kept bounded
            found = self._chosen[concerns] = tuple(self.descriptors[i] for i in sorted(chosen))
        return found


_CANDIDATE_SETS = 4096


def compile_thresholds(thresholds: Thresholds) -> Table:
    compiled = tuple(Compiled.of(d) for d in thresholds.descriptors)
    by_concern: dict[Factor, set[int]] = {}
    always: set[int] = set()
    for index, item in enumerate(compiled):
        if item.concerns_any is None:
            always.add(index)
        for concern in item.concerns_any or ():
            by_concern.setdefault(concern, set()).add(index)
    return Table(
        descriptors=compiled,
        by_concern={k: frozenset(v) for k, v in by_concern.items()},
        always=frozenset(always),
        reason_of={c.descriptor.id: c.reason for c in compiled},
        contacts_to_remember=thresholds.contacts_to_remember,
    )


def screen(facts: Facts, thresholds: Thresholds, table: Table | None = None) -> Decision:
    """Level = the highest matching descriptor; RAG = the most urgent that applies."""
    table = table if table is not None else compile_thresholds(thresholds)
    matched = [c.descriptor for c in table.candidates(facts.concerns) if c.matches(facts)]
    if not matched:
        response = thresholds.levels[Level.UNIVERSAL]
        no_concerns = not (facts.concerns or facts.cse_indicators or facts.injury or facts.urgent)
        outcome = thresholds.no_concerns_outcome if no_concerns else response.outcome
        return Decision(Level.UNIVERSAL, response.rag, outcome, ())
    level = max(d.level for d in matched)
    reasons = tuple(sorted(matched, key=lambda d: -d.level))  # stable: file order within a level
    response = thresholds.levels[level]
    top = [d for d in reasons if d.level == level]
    outcome = next((d.outcome for d in top if d.outcome is not None), response.outcome)
    rags = [response.rag, *(d.rag for d in matched if d.rag is not None)]
    rag = max(rags, key=RAG_URGENCY.__getitem__)
    return Decision(level, rag, outcome, reasons)


def decision_due(
    received: datetime, rag: Rag, thresholds: Thresholds, calendar: WorkingDayCalendar
) -> datetime:
    deadline: Deadline = thresholds.rag_deadlines[rag]
    if deadline.hours is not None:
        return (received + timedelta(hours=deadline.hours)).astimezone(LONDON)
    assert deadline.working_days is not None
    return calendar.deadline(received, deadline.working_days)


def recent(
    times: tuple[datetime, ...], latest: datetime, since: datetime, keep: int
) -> tuple[datetime, ...]:
    """The last `keep` instants inside the window, `latest` included."""
    if keep <= 0:
        return ()
    return (*(t for t in times if t >= since), latest)[-keep:]


def remember_contact(
    history: ChildHistory,
    contact: ContactReceived,
    thresholds: Thresholds,
    child: ChildDetails,
    outcome: Outcome | None,
    table: Table,
) -> ChildHistory:
    since = contact.occurred_at - timedelta(days=thresholds.history_window_days)
    keep = table.contacts_to_remember
    return history.model_copy(
        update={
            "contacts": recent(history.contacts, contact.occurred_at, since, keep),
            "looked_after": history.looked_after or child.looked_after,
            "open_referral": history.open_referral or outcome in OPENS_CASE,
        }
    )


def decide_contact(
    histories: Mapping[str, ChildHistory],
    contact: ContactReceived,
    thresholds: Thresholds,
    calendar: WorkingDayCalendar,
    table: Table | None = None,
) -> tuple[dict[str, ChildHistory], list[Envelope]]:
    """One decision per child named, all sharing the contact's correlation id."""
    table = table if table is not None else compile_thresholds(thresholds)
    reason_of = table.reason_of
    changed: dict[str, ChildHistory] = {}
    out: list[Envelope] = []
    correlation = contact.correlation_id or contact.event_id
    for child in contact.children:
        if child.child_id not in histories:
            continue  # another shard's child: that shard decides for it
        history = histories[child.child_id]
        facts = facts_for(contact, child, history, thresholds.history_window_days)
        decision = screen(facts, thresholds, table)
        reasons = [reason_of[d.id] for d in decision.reasons]
        outcome = decision.outcome
        if history.allocated:
            outcome = Outcome.ALLOCATED_WORKER
            reasons.insert(
                0,
                Reason(
                    id=OPEN_CASE_REASON,
                    level=decision.level,
                    text="Child has an open case: passed to the allocated worker",
                ),
            )
        # Built without re-validation: every field comes typed from this function, and the
        # property tests parse each decision back through the wire union to keep it honest.
        out.append(
            construct(
                ScreeningDecided,
                event_id=f"{contact.event_id}.decision.{child.child_id}",
                occurred_at=contact.occurred_at,
                recorded_at=contact.occurred_at,
                child_id=child.child_id,
                agency=Agency.MASH,
                correlation_id=correlation,
                causation_id=contact.event_id,
                contact_id=contact.event_id,
                level=decision.level,
                rag=decision.rag,
                outcome=outcome,
                decision_due=decision_due(contact.occurred_at, decision.rag, thresholds, calendar),
                reasons=reasons,
                thresholds=thresholds.name,
                received_at=contact.occurred_at,
            )
        )
        changed[child.child_id] = remember_contact(
            history, contact, thresholds, child, outcome, table
        )
    return changed, out


def update_history(history: ChildHistory, event: Event, thresholds: Thresholds) -> ChildHistory:
    """Casework, missing episodes and CSE levels, as far as screening needs them."""
    match event:
        case MissingStarted():
            since = event.occurred_at - timedelta(days=thresholds.history_window_days)
            keep = thresholds.missing_to_remember
            return history.model_copy(
                update={
                    "missing": recent(history.missing, event.occurred_at, since, keep),
                    "looked_after": history.looked_after or event.looked_after,
                }
            )
        case AssessmentStarted():
            return history.model_copy(update={"open_assessment": True})
        case AssessmentCompleted():
            closes = event.outcome in {AssessmentOutcome.NFA, AssessmentOutcome.EARLY_HELP}
            return history.model_copy(
                update={
                    "open_assessment": False,
                    "open_referral": not closes and history.open_referral,
                }
            )
        case S47Started():
            return history.model_copy(update={"open_s47": True})
        case S47Completed():
            return history.model_copy(update={"open_s47": False})
        case CareStarted():
            return history.model_copy(update={"looked_after": True})
        case CareEnded():
            return history.model_copy(update={"looked_after": False})
        case CPPlanStarted():
            return history.model_copy(update={"cp_plan": True})
        case CPPlanEnded():
            return history.model_copy(update={"cp_plan": False})
        case CaseClosed():
            return history.model_copy(
                update={
                    "open_referral": False,
                    "open_assessment": False,
                    "open_s47": False,
                    "cp_plan": False,
                }
            )
        case CSEFlag():
            return history.model_copy(update={"cse_level": event.level})
        case ScreeningDecided() if event.outcome in OPENS_CASE and not history.open_referral:
            # A decision made outside the rules (manual mode) opens the case all the same.
            return history.model_copy(update={"open_referral": True})
    return history


def keys(event: Event) -> Sequence[str]:
    if isinstance(event, ContactReceived):
        return [c.child_id for c in event.children]
    return [event.child_id] if event.child_id else []


class ScreeningRule:
    """The consumer's rule: (histories, event) -> (changed histories, decisions)."""

    def __init__(
        self,
        thresholds: Thresholds,
        calendar: WorkingDayCalendar,
        *,
        decide: bool = True,
        queued: bool = False,
    ) -> None:
        self.thresholds = thresholds
        self.calendar = calendar
        self.decide = decide
        self.queued = queued  # a team works the contacts: decide on `contact.handled`
        self.table = compile_thresholds(thresholds)

    def __call__(
        self, histories: Mapping[str, ChildHistory], event: Event
    ) -> tuple[dict[str, ChildHistory], list[Envelope]]:
        if isinstance(event, ContactReceived) and self.queued:
            # Decided now, on what is known now; recorded when a practitioner has worked it.
            changed, decisions = decide_contact(
                histories, event, self.thresholds, self.calendar, self.table
            )
            for decision in decisions:
                child = decision.child_id
                assert child is not None
                assert isinstance(decision, ScreeningDecided)
                held = changed[child]
                changed[child] = held.model_copy(update={"pending": (*held.pending, decision)})
            return changed, []
        if isinstance(event, ContactHandled):
            return self.handled(histories, event)
        if isinstance(event, ContactReceived) and not self.decide:
            remembered = {
                c.child_id: remember_contact(
                    histories[c.child_id], event, self.thresholds, c, None, self.table
                )
                for c in event.children
                if c.child_id in histories
            }
            return remembered, []
        if isinstance(event, ContactReceived):
            return decide_contact(histories, event, self.thresholds, self.calendar, self.table)
        changed = {
            child: update_history(history, event, self.thresholds)
            for child, history in histories.items()
        }
        return {k: v for k, v in changed.items() if v is not histories[k]}, []

    def handled(
        self, histories: Mapping[str, ChildHistory], event: ContactHandled
    ) -> tuple[dict[str, ChildHistory], list[Envelope]]:
        """A practitioner has worked the contact: the child's decision is recorded at this
        instant. A contact the child is not waiting on (handled twice, after a producer's
        late retry) is recorded once only."""
        child = event.child_id
        history = histories.get(child) if child else None
        if history is None or child is None:
            return {}, []
        held = [d for d in history.pending if d.contact_id == event.contact_id]
        if not held:
            return {}, []
        kept = tuple(d for d in history.pending if d.contact_id != event.contact_id)
        at = event.occurred_at
        decided = [d.model_copy(update={"occurred_at": at, "recorded_at": at}) for d in held]
        return {child: history.model_copy(update={"pending": kept})}, list(decided)
