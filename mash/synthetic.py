"""A seeded synthetic year of a MASH's work: contacts, the casework that follows, missing episodes.

Groundwork for the calibrated generator (issue 7): the shape of each child's path is right
(contact, screening-shaped concerns, assessment, strategy, S47, conference, plan, reviews,
closure, missing episodes with return interviews), the rates are round numbers of ours, not yet
calibrated to the seeds. It serves the reporter's tests (a population whose CIN return must
pass the DfE's rules) and `mash bench --report`, which needs a borough-sized year.

Every date falls where practice puts it: conferences on working days, interviews after returns,
nothing after a closure. The same seed and size give the same events, in event-time order.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from mash.calendar import LONDON, WorkingDayCalendar
from schemas.codes import CPCategory, ReferralSource
from schemas.events import Event, parse_event_data

# Concerns that the default thresholds screen to each path (mash/thresholds/default.yaml).
PATHS: tuple[tuple[str, float], ...] = (
    ("nfa", 0.25),
    ("early_help", 0.30),
    ("assessment", 0.30),
    ("protection", 0.15),
)
SOURCES: tuple[tuple[str, float], ...] = (
    (ReferralSource.POLICE.value, 0.28),
    (ReferralSource.SCHOOLS.value, 0.18),
    (ReferralSource.GP.value, 0.05),
    (ReferralSource.HEALTH_VISITOR.value, 0.05),
    (ReferralSource.A_AND_E.value, 0.05),
    (ReferralSource.OTHER_HEALTH.value, 0.05),
    (ReferralSource.LA_SOCIAL_CARE.value, 0.08),
    (ReferralSource.FAMILY_MEMBER.value, 0.08),
    (ReferralSource.HOUSING.value, 0.03),
    (ReferralSource.OTHER_LEGAL.value, 0.04),
    (ReferralSource.OTHER.value, 0.06),
    (ReferralSource.ANONYMOUS.value, 0.05),
)
CATEGORIES: tuple[tuple[str, float], ...] = (
    (CPCategory.NEGLECT.value, 0.37),
    (CPCategory.EMOTIONAL.value, 0.19),
    (CPCategory.MULTIPLE.value, 0.32),
    (CPCategory.SEXUAL.value, 0.07),
    (CPCategory.PHYSICAL.value, 0.05),
)
ETHNICITIES: tuple[tuple[str, float], ...] = (
    ("WBRI", 0.85),
    ("WROM", 0.03),
    ("APKN", 0.05),
    ("MWBC", 0.03),
    ("BAFR", 0.02),
    ("NOBT", 0.02),
)
MISSING_SHARE = 0.04


def _pick(rng: random.Random, table: tuple[tuple[str, float], ...]) -> str:
    return rng.choices([v for v, _ in table], weights=[w for _, w in table])[0]


@dataclass
class _Child:
    child_id: str
    dob: date
    sex: str
    ethnicity: str
    events: list[dict[str, Any]] = field(default_factory=list)


class YearGenerator:
    """One census year (1 April to 31 March) of `children` children, from `seed`."""

    def __init__(self, year: int, children: int, seed: int = 0) -> None:
        self.year = year
        self.children = children
        self.rng = random.Random(f"{seed}:{year}:{children}")  # noqa: S311 - reproducible  # noqa: S311 - reproducible, not secret
        self.calendar = WorkingDayCalendar()
        self.start = date(year - 1, 4, 1)
        self.end = date(year, 3, 31)
        self._n = 0

    # ---- time ---------------------------------------------------------------------------
    def _at(self, day: date, hour: int, minute: int = 0) -> datetime:
        return datetime.combine(day, time(hour, minute), tzinfo=LONDON)

    def _office(self, day: date) -> datetime:
        """A working-day instant in office hours, on or after `day`."""
        while not self.calendar.is_working_day(day):
            day += timedelta(days=1)
        return self._at(day, self.rng.randint(9, 16), self.rng.choice((0, 15, 30, 45)))

    def _wd(self, day: date, n: int) -> date:
        return self.calendar.add_working_days(day, n)

    # ---- events ---------------------------------------------------------------------------
    def _event(
        self, child: _Child, kind: str, at: datetime, agency: str, **fields: Any
    ) -> dict[str, Any]:
        self._n += 1
        event = {
            "event_id": f"gen.{self.year}.{self._n:08d}",
            "type": kind,
            "occurred_at": at.isoformat(),
            "recorded_at": at.isoformat(),
            "child_id": child.child_id,
            "agency": agency,
            **fields,
        }
        child.events.append(event)
        return event

    def _child(self, index: int, on: date) -> _Child:
        age_days = self.rng.randint(30, 17 * 365)
        return _Child(
            child_id=f"Y{self.year}C{index:07d}",
            dob=on - timedelta(days=age_days),
            sex=self.rng.choice(("F", "M")),
            ethnicity=_pick(self.rng, ETHNICITIES),
        )

    def _contact(
        self, children: list[_Child], at: datetime, concerns: list[str], **extra: Any
    ) -> str:
        source = extra.pop("referral_source", None) or _pick(self.rng, SOURCES)
        first = children[0]
        event = self._event(
            first,
            "contact.received",
            at,
            "police" if source == "6" else "school" if source == "2A" else "health_other",
            referral_source=source,
            concerns=concerns,
            children=[
                {
                    "child_id": c.child_id,
                    "dob": c.dob.isoformat(),
                    "sex": c.sex,
                    "ethnicity": c.ethnicity,
                }
                for c in children
            ],
            **extra,
        )
        # The other children share the contact: their record starts with the same event.
        return str(event["event_id"])

    def _assessment(self, child: _Child, day: date, outcome: str, factors: list[str]) -> date:
        ref = f"{child.child_id}-A{len(child.events)}"
        begun = self._office(self._wd(day, self.rng.randint(0, 2)))
        self._event(child, "assessment.started", begun, "la_social_care", assessment_id=ref)
        took = self.rng.choice((10, 20, 30, 38, 44, 50, 60))  # some out of 45 working days
        done_day = self._wd(begun.date(), took)
        done = self._office(done_day)
        if done.date() <= self.end:
            self._event(
                child,
                "assessment.completed",
                done,
                "la_social_care",
                assessment_id=ref,
                factors=factors,
                outcome=outcome,
            )
        return done.date()

    def _close(self, child: _Child, day: date, reason: str) -> None:
        if day <= self.end:
            self._event(child, "case.closed", self._office(day), "la_social_care", reason=reason)

    def _assessment_path(self, family: list[_Child], on: date) -> None:
        concern = self.rng.choice((["3B"], ["17A"], ["15A"], ["3B", "2B"]))
        at = self._office(on)
        self._contact(family, at, concern)
        for child in family:
            outcome = self.rng.choice(("nfa", "early_help", "cin_plan", "cin_plan"))
            factors = sorted({*concern, self.rng.choice(("16A", "4B", "1B", "21"))} - {"21"})
            done = self._assessment(child, at.date(), outcome, factors or ["21"])
            if outcome == "nfa":
                self._close(child, self._wd(done, 1), "RC8")
            elif outcome == "early_help":
                self._close(child, self._wd(done, 1), "RC9")
            elif self.rng.random() < 0.5:
                self._close(child, self._wd(done, self.rng.randint(40, 120)), "RC7")

    def _protection_path(self, child: _Child, on: date) -> None:
        # Each screens to level 4 in the default thresholds: an injury from physical abuse,
        # sexual abuse, trafficking.
        concern, injury = self.rng.choice(((["18A"], True), (["19B"], False), (["12A"], False)))
        at = self._office(on)
        self._contact([child], at, concern, injury=injury)
        day = at.date()
        strategy = f"{child.child_id}-ST"
        held = self._at(day, min(at.hour + 2, 18))
        self._event(
            child,
            "strategy.held",
            held,
            "la_social_care",
            strategy_id=strategy,
            decision="s47_joint",
        )
        s47 = f"{child.child_id}-S47"
        self._event(
            child,
            "s47.started",
            held + timedelta(minutes=30),
            "la_social_care",
            s47_id=s47,
            strategy_id=strategy,
        )
        factors = {"18A": ["18C"], "19B": ["19C"], "12A": ["12A", "16A"]}[concern[0]]
        assessed = self._assessment(child, day, "strategy", factors)
        substantiated = self.rng.random() < 0.65
        completed = self._office(self._wd(day, self.rng.randint(5, 10)))
        if completed.date() > self.end:
            return
        outcome = "icpc_required" if substantiated else "not_substantiated"
        self._event(
            child, "s47.completed", completed, "la_social_care", s47_id=s47, outcome=outcome
        )
        if not substantiated:
            # RC8 and RC9 may not follow an S47 (DfE rule 2990): services ceased.
            # A case closes once its assessment is authorised (DfE rule 8867).
            self._close(child, max(self._wd(completed.date(), 30), self._wd(assessed, 1)), "RC7")
            return
        icpc_day = self._wd(day, self.rng.choice((10, 12, 14, 15, 17)))
        if icpc_day > self.end:
            return
        category = _pick(self.rng, CATEGORIES)
        self._event(
            child,
            "icpc.held",
            self._at(icpc_day, 10),
            "la_social_care",
            icpc_id=f"{child.child_id}-IC",
            s47_id=s47,
            plan_required=True,
            category=category,
        )
        cpp = f"{child.child_id}-CPP"
        self._event(
            child,
            "cp_plan.started",
            self._at(icpc_day, 11),
            "la_social_care",
            cpp_id=cpp,
            initial_category=category,
        )
        core = self._wd(icpc_day, self.rng.randint(5, 12))
        if core <= self.end:
            self._event(child, "core_group.held", self._office(core), "la_social_care", cpp_id=cpp)
        review = self._wd(icpc_day + timedelta(days=80), self.rng.randint(0, 10))
        if review <= self.end:
            self._event(child, "cp_review.held", self._office(review), "la_social_care", cpp_id=cpp)
            ended = self._wd(review, self.rng.randint(20, 200))
            if ended <= self.end and self.rng.random() < 0.4:
                self._event(
                    child,
                    "cp_plan.ended",
                    self._office(ended),
                    "la_social_care",
                    cpp_id=cpp,
                    latest_category=category,
                )
                self._close(child, self._wd(ended, 5), "RC7")

    def _missing(self, child: _Child) -> None:
        episodes = min(int(self.rng.paretovariate(1.2)), 12)
        day = self.start + timedelta(days=self.rng.randint(0, 300))
        for n in range(episodes):
            gone = self._at(day, self.rng.randint(17, 23))
            back = gone + timedelta(hours=self.rng.randint(3, 60))
            if back.date() > self.end:
                return
            ref = f"{child.child_id}-M{n + 1}"
            self._event(child, "missing.started", gone, "police", missing_id=ref)
            self._event(child, "missing.returned", back, "police", missing_id=ref)
            if self.rng.random() < 0.8:
                talk = back + timedelta(hours=self.rng.choice((20, 30, 48, 70, 90)))
                if talk.date() <= self.end:
                    self._event(child, "rhi.completed", talk, "voluntary", missing_id=ref)
            day = back.date() + timedelta(days=self.rng.randint(2, 40))

    def parsed(self) -> Iterator[Event]:
        """The year's events as the wire parser reads them."""
        for data in self.events():
            yield parse_event_data(data)

    def events(self) -> Iterator[dict[str, Any]]:
        """The year's events in event-time order (ties in the order they were made)."""
        made: list[_Child] = []
        index = 0
        span = (self.end - self.start).days - 60
        while index < self.children:
            on = self.start + timedelta(days=self.rng.randint(0, span))
            path = _pick(self.rng, PATHS)
            size = 1
            if path == "assessment" and self.rng.random() < 0.15:
                size = self.rng.randint(2, 3)  # a household: one contact names siblings
            family = [self._child(index + i, on) for i in range(size)]
            index += size
            made.extend(family)
            if path == "nfa":
                self._contact(family, self._office(on), [])
            elif path == "early_help":
                self._contact(family, self._office(on), ["16A"])
            elif path == "assessment":
                self._assessment_path(family, on)
            else:
                self._protection_path(family[0], on)
            for child in family:
                old_enough = (on - child.dob).days > 10 * 365
                if old_enough and self.rng.random() < MISSING_SHARE * 3:
                    self._missing(child)
        everything = [e for child in made for e in child.events]
        everything.sort(key=lambda e: (datetime.fromisoformat(e["occurred_at"]), e["event_id"]))
        yield from everything
