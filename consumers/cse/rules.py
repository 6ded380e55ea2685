"""CSE risk as pure functions: a child's indicators and missing episodes in, a level out.

Every indicator counts from the instant it was last seen for its window in the scoring file;
`missing_repeat` is derived from the child's episodes. Each change of level is a `cse.flag`
naming the indicators behind it, including the moment an indicator ages out (a tick carries
event time past it), which is when a child de-escalates.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from pydantic import ConfigDict

from mash.consumers.cse.scoring import Scoring
from mash.schemas.codes import Agency, CSEIndicator, CSELevel
from mash.schemas.events import (
    ClockTick,
    ContactReceived,
    CSEFlag,
    CSEScreeningCompleted,
    DeadLetter,
    Envelope,
    Event,
    MissingReturned,
    MissingStarted,
    ReturnInterviewCompleted,
    State,
    construct,
)

SCORED = (
    ContactReceived,
    MissingStarted,
    MissingReturned,
    ReturnInterviewCompleted,
    CSEScreeningCompleted,
)
LEVELS_BY_RANK = sorted(CSELevel, key=lambda level: level.rank)


class Seen(State):
    model_config = ConfigDict(frozen=True, extra="forbid")

    indicator: CSEIndicator
    seen_at: datetime
    until: datetime


class Episode(State):
    model_config = ConfigDict(frozen=True, extra="forbid")

    missing_id: str
    started_at: datetime
    ended_at: datetime | None = None
    with_adults: bool = False


class Assessed(State):
    """The level a practitioner's screening tool gave, counted for the assessment window."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    level: CSELevel
    seen_at: datetime
    until: datetime


class ChildRisk(State):
    model_config = ConfigDict(frozen=True, extra="forbid")

    indicators: tuple[Seen, ...] = ()
    assessed: Assessed | None = None
    episodes: tuple[Episode, ...] = ()
    level: CSELevel = CSELevel.NONE

    @property
    def open_episode(self) -> Episode | None:
        return next((e for e in self.episodes if e.ended_at is None), None)


def live(state: ChildRisk, at: datetime) -> list[CSEIndicator]:
    return sorted({s.indicator for s in state.indicators if s.seen_at <= at < s.until})


def level_at(state: ChildRisk, at: datetime, scoring: Scoring) -> CSELevel:
    """The higher of the indicators' score and a live screening tool's own level."""
    level = score(live(state, at), scoring)
    assessed = state.assessed
    if assessed is not None and assessed.seen_at <= at < assessed.until:
        level = max(level, assessed.level, key=lambda lv: lv.rank)
    return level


def score(indicators: Sequence[CSEIndicator], scoring: Scoring) -> CSELevel:
    """Monotone by construction: weights are never negative and alone-high only adds."""
    if any(i in scoring.alone_high for i in indicators):
        return CSELevel.HIGH
    total = sum(scoring.indicators[i].weight for i in indicators)
    levels = scoring.levels
    if total >= levels.high:
        return CSELevel.HIGH
    if total >= levels.medium:
        return CSELevel.MEDIUM
    if total >= levels.low:
        return CSELevel.LOW
    return CSELevel.NONE


class RiskRules:
    def __init__(self, scoring: Scoring) -> None:
        self.scoring = scoring

    # ---- helpers -------------------------------------------------------------------------
    def see(self, state: ChildRisk, indicator: CSEIndicator, at: datetime) -> ChildRisk:
        """Record an indicator (one record each); seeing it again restarts its window."""
        until = at + timedelta(days=self.scoring.indicators[indicator].window_days)
        current = next((s for s in state.indicators if s.indicator == indicator), None)
        if current is not None and current.until >= until:
            return state
        others = tuple(s for s in state.indicators if s.indicator != indicator)
        seen = Seen(indicator=indicator, seen_at=at, until=until)
        return state.model_copy(update={"indicators": (*others, seen)})

    def repeat_missing(self, state: ChildRisk, at: datetime) -> ChildRisk:
        rule = self.scoring.missing_repeat
        window = timedelta(days=rule.window_days)
        starts = sorted(e.started_at for e in state.episodes if at - window < e.started_at <= at)
        if len(starts) < rule.episodes:
            return state
        # Counts while the last N episodes stay inside the window.
        until = starts[-rule.episodes] + window
        others = tuple(s for s in state.indicators if s.indicator != CSEIndicator.MISSING_REPEAT)
        seen = Seen(indicator=CSEIndicator.MISSING_REPEAT, seen_at=at, until=until)
        return state.model_copy(update={"indicators": (*others, seen)})

    def prune(self, state: ChildRisk, at: datetime) -> ChildRisk:
        """Forget indicators past their window and episodes no window can count any more."""
        horizon = at - timedelta(days=max(self.scoring.missing_repeat.window_days, 365))
        assessed = state.assessed if state.assessed and state.assessed.until > at else None
        indicators = tuple(s for s in state.indicators if s.until > at)
        episodes = tuple(e for e in state.episodes if e.ended_at is None or e.started_at > horizon)
        if (
            assessed is state.assessed
            and len(indicators) == len(state.indicators)
            and len(episodes) == len(state.episodes)
        ):
            return state  # nothing to forget: the same state, not a copy of it
        return state.model_copy(
            update={"assessed": assessed, "indicators": indicators, "episodes": episodes}
        )

    def flag(
        self,
        child: str,
        before: ChildRisk,
        after: ChildRisk,
        at: datetime,
        cause: Event | None,
        cause_id: str,
    ) -> tuple[ChildRisk, list[Envelope]]:
        level = level_at(after, at, self.scoring)
        if level == before.level:
            same = after if after.level == level else after.model_copy(update={"level": level})
            return same, []
        indicators = live(after, at)
        # Built without validating again: every field comes typed from here, and the property
        # tests parse each output back through the wire union.
        flag = construct(
            CSEFlag,
            event_id=f"cse.{child}.{cause_id}",
            occurred_at=at,
            recorded_at=at,
            child_id=child,
            agency=Agency.MASH,
            correlation_id=cause.correlation_id if cause else None,
            causation_id=cause_id,
            level=level,
            previous_level=before.level,
            indicators=indicators,
        )
        return after.model_copy(update={"level": level}), [flag]

    def reject(self, event: Event, reason: str, detail: str) -> DeadLetter:
        return DeadLetter.for_event(event, "cse", reason, detail)

    # ---- the rule ------------------------------------------------------------------------
    def __call__(
        self, states: Mapping[str, ChildRisk], event: Event
    ) -> tuple[dict[str, ChildRisk], list[Envelope]]:
        if isinstance(event, ClockTick):
            return self.tick(states, event)
        changed: dict[str, ChildRisk] = {}
        out: list[Envelope] = []
        for child, before in sorted(states.items()):
            after, emitted = self.apply(child, before, event)
            if after is not before:
                changed[child] = after
            out.extend(emitted)
        return changed, out

    def apply(self, child: str, state: ChildRisk, event: Event) -> tuple[ChildRisk, list[Envelope]]:
        if not isinstance(event, SCORED):
            return state, []
        at = event.occurred_at
        # What aged out by this event's instant ages out first, exactly as a tick would do it:
        # then whether the tick or the event comes first, the same flags come out.
        state, expired = self.expire(child, state, at)
        before = state
        seen: list[CSEIndicator] = []
        match event:
            case ContactReceived():
                seen = list(event.cse_indicators)
                details = next(c for c in event.children if c.child_id == child)
                if details.looked_after:
                    seen.append(CSEIndicator.LOOKED_AFTER)
            case MissingStarted():
                open_ = state.open_episode
                if open_ is not None:
                    detail = (
                        f"missing.started {event.missing_id} while episode "
                        f"{open_.missing_id} is still open"
                    )
                    return state, [*expired, self.reject(event, "overlapping_episode", detail)]
                if any(e.missing_id == event.missing_id for e in state.episodes):
                    return state, [
                        *expired,
                        self.reject(
                            event,
                            "duplicate_episode",
                            f"episode {event.missing_id} already started",
                        ),
                    ]
                episode = Episode(missing_id=event.missing_id, started_at=at)
                state = state.model_copy(update={"episodes": (*state.episodes, episode)})
                state = self.repeat_missing(state, at)
                if event.looked_after:
                    seen.append(CSEIndicator.LOOKED_AFTER)
            case MissingReturned():
                open_ = state.open_episode
                if open_ is None or open_.missing_id != event.missing_id:
                    detail = f"missing.returned {event.missing_id} has no open episode to end"
                    return state, [*expired, self.reject(event, "unknown_episode", detail)]
                ended = open_.model_copy(update={"ended_at": at, "with_adults": event.with_adults})
                episodes = tuple(ended if e is open_ else e for e in state.episodes)
                state = state.model_copy(update={"episodes": episodes})
                if event.with_adults:
                    seen.append(CSEIndicator.MISSING_WITH_ADULTS)
            case ReturnInterviewCompleted():
                seen = list(event.cse_indicators)
            case CSEScreeningCompleted():
                seen = list(event.indicators)
                window = timedelta(days=self.scoring.assessment_window_days)
                assessed = Assessed(level=event.level, seen_at=at, until=at + window)
                state = state.model_copy(update={"assessed": assessed})
        for indicator in seen:
            state = self.see(state, indicator, at)
        state = self.prune(state, at)
        state, flagged = self.flag(child, before, state, at, event, event.event_id)
        return state, [*expired, *flagged]

    def expire(
        self, child: str, state: ChildRisk, until: datetime
    ) -> tuple[ChildRisk, list[Envelope]]:
        """Age indicators out at the instant each window ends, in order, up to and including
        `until`: an indicator no longer counts at the instant its window closes, so anything
        else at that instant sees the child without it."""
        out: list[Envelope] = []
        first = next_deadline(state)
        if first is None or first > until:
            return state, out  # nothing ages out yet: most events of most children
        for expiry in sorted(u for u in _expiries(state) if u <= until):
            pruned = self.prune(state, expiry)
            state, emitted = self.flag(
                child, state, pruned, expiry, None, f"expired.{expiry.isoformat()}"
            )
            out.extend(emitted)
        return state, out

    def tick(
        self, states: Mapping[str, ChildRisk], tick: ClockTick
    ) -> tuple[dict[str, ChildRisk], list[Envelope]]:
        """Age every child's indicators out up to the tick."""
        changed: dict[str, ChildRisk] = {}
        out: list[Envelope] = []
        for child, state in sorted(states.items()):
            current, emitted = self.expire(child, state, tick.occurred_at)
            out.extend(emitted)
            if current is not state:
                changed[child] = current
        return changed, out


def _expiries(state: ChildRisk) -> set[datetime]:
    ends = {s.until for s in state.indicators}
    if state.assessed is not None:
        ends.add(state.assessed.until)
    return ends


def next_deadline(state: ChildRisk) -> datetime | None:
    """The next instant something ages out: a tick at that instant re-scores the child.
    (`min(_expiries(state))`, without the set: asked before nearly every event.)"""
    found: datetime | None = None
    for seen in state.indicators:  # indicators first, the assessment last: on a tie the
        if found is None or seen.until < found:  # set kept the first one put in it
            found = seen.until
    assessed = state.assessed
    if assessed is not None and (found is None or assessed.until < found):
        found = assessed.until
    return found


def keys(event: Event) -> list[str]:
    if isinstance(event, ContactReceived):
        return [c.child_id for c in event.children]
    return [event.child_id] if event.child_id else []
