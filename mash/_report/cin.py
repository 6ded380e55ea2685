"""The DfE Children in Need census return, cut from the reporter's child records.

A child's record is their whole history as the hub saw it; the census is one year's view of it
(1 April to 31 March): the CIN episodes open at any time in the year, with the activity the
DfE's rules allow in it. Episodes are built the way a case management system records them:
a referral (a contact social care took on) opens one, casework attaches to the open one, a
closure ends it; casework arriving with no episode open opens one at its own date, so no
activity ever precedes its referral.

The output must pass `csc-validator-be-cin` with zero errors (a test runs it); the comments
name the DfE rule each choice satisfies. Where an event carries less than the census asks
(ethnicity, disability, UPN), the choice is written here and in the report's notes.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from xml.etree import ElementTree as ET

from mash._config.settings import DEFAULT_LEA
from mash._time.calendar import LONDON, WorkingDayCalendar
from mash.consumers.reporter.rules import ChildRecord, Fact
from mash.schemas.codes import Ethnicity, PrimaryNeed, S47Outcome, Sex

UPN_LETTERS = "ABCDEFGHJKLMNPQRTUVWXYZ"
ICPC_WORKING_DAYS = 15
# Factors retired from the census (rules 8945Q and 8950Q): abuse whose perpetrator is not
# recorded is reported as by an adult, the commoner case.
RETIRED_FACTORS = {"18A": "18C", "19A": "19C"}
NO_FACTORS = "21"

# The primary need a referral's concerns point to, first match wins (DfE N-codes).
_ABUSE = {"3A", "3B", "3C", "10A", "11A", "12A", "16A", "17A", "18A", "18B", "18C", "19A"}
_ABUSE |= {"19B", "19C", "22A", "23A", "24A"}
PRIMARY_NEED_RULES: tuple[tuple[frozenset[str], PrimaryNeed], ...] = (
    (frozenset(_ABUSE), PrimaryNeed.ABUSE_OR_NEGLECT),
    (frozenset({"5A", "6A"}), PrimaryNeed.CHILD_DISABILITY),
    (frozenset({"4B", "5B", "6B", "4C", "5C", "6C"}), PrimaryNeed.PARENT_DISABILITY),
    (frozenset({"13A", "14A", "1A", "2A", "15A"}), PrimaryNeed.SOCIALLY_UNACCEPTABLE_BEHAVIOUR),
    (frozenset({"1B", "1C", "2B", "2C"}), PrimaryNeed.FAMILY_DYSFUNCTION),
)


def census_year_of(day: date) -> int:
    """The census year (named by the year it ends) that a day falls in."""
    return day.year + 1 if day >= date(day.year, 4, 1) else day.year


def la_child_id(child: str) -> str:
    """LAchildID: at most 20 letters and digits (rules 1570, 1580); others are hashed."""
    if re.fullmatch(r"[A-Za-z0-9]{1,20}", child):
        return child
    return "X" + hashlib.sha256(child.encode()).hexdigest()[:16].upper()


def upn(lea: str, serial: int) -> str:
    """A well-formed UPN (check letter, LA, 8 digits, a final digit; rules 1510-1550)."""
    body = f"{lea}{serial:08d}0"
    total = sum(int(ch) * weight for ch, weight in zip(body, range(2, 14), strict=True))
    return UPN_LETTERS[total % 23] + body


def _date(at: datetime) -> date:
    return at.astimezone(LONDON).date()


def _factors(codes: Iterable[str]) -> list[str]:
    mapped = list(dict.fromkeys(RETIRED_FACTORS.get(c, c) for c in codes))  # rule 8898
    if NO_FACTORS in mapped and len(mapped) > 1:
        mapped.remove(NO_FACTORS)  # rule 8869: "21" stands alone
    return mapped or [NO_FACTORS]


def primary_need(concerns: Iterable[str], protective: bool) -> PrimaryNeed:
    if protective:
        return PrimaryNeed.ABUSE_OR_NEGLECT
    found = set(concerns)
    for codes, need in PRIMARY_NEED_RULES:
        if found & codes:
            return need
    return PrimaryNeed.ACUTE_STRESS


@dataclass
class Assessment:
    start: date
    end: date | None = None
    factors: list[str] = field(default_factory=list)


@dataclass
class S47:
    ref: str
    start: date
    icpc: date | None = None
    not_required: bool = False


@dataclass
class Plan:
    ref: str
    start: date
    category: str
    previous: int
    end: date | None = None
    latest: str | None = None
    reviews: list[date] = field(default_factory=list)


@dataclass
class Episode:
    referral: date
    source: str
    concerns: tuple[str, ...] = ()
    closure: date | None = None
    reason: str | None = None
    assessments: dict[str, Assessment] = field(default_factory=dict)
    s47s: list[S47] = field(default_factory=list)
    plans: list[Plan] = field(default_factory=list)
    cin_plans: list[tuple[date, date | None]] = field(default_factory=list)
    icpcs: list[tuple[date, str, bool]] = field(default_factory=list)
    # A plan whose conference the hub never saw (it predates the run): the plan's start is
    # that conference's date, recorded at episode level where no S47 holds it (rule 2884).
    plan_icpc: date | None = None

    @property
    def active(self) -> bool:
        return bool(self.assessments or self.s47s or self.plans or self.cin_plans)


_ORDER = {
    "contact": 0,
    "referral": 1,
    "assessment_started": 2,
    "strategy": 3,
    "s47_started": 4,
    "icpc": 5,
    "s47_completed": 6,
    "cpp_started": 7,
    "review": 8,
    "assessment_completed": 9,
    "cpp_ended": 10,
    "closed": 11,
}


# Facts kept for other returns (Annex A's early help list) that open no CIN episode.
NOT_SOCIAL_CARE = frozenset({"early_help"})


def episodes(record: ChildRecord, until: date) -> list[Episode]:
    """The child's CIN episodes from their record, with every fact dated on or before `until`."""
    facts = sorted(
        (f for f in record.facts if _date(f.at) <= until),
        key=lambda f: (f.at, _ORDER.get(f.kind, 99), f.ref),
    )
    contacts = {f.ref: f for f in facts if f.kind == "contact"}
    out: list[Episode] = []
    current: Episode | None = None
    last_contact: Fact | None = None

    def open_at(day: date, contact: Fact | None) -> Episode:
        source = contact.codes[0] if contact and contact.codes else "10"
        concerns = contact.codes[1:] if contact else ()
        episode = Episode(referral=day, source=source, concerns=concerns)
        out.append(episode)
        return episode

    for fact in facts:
        day = _date(fact.at)
        if fact.kind == "contact":
            last_contact = fact
            continue
        if fact.kind in NOT_SOCIAL_CARE:
            continue
        if fact.kind == "referral":
            if current is None:
                contact = contacts.get(fact.ref)
                current = open_at(_date(contact.at) if contact else day, contact or last_contact)
            continue
        if fact.kind == "closed":
            if current is not None:
                _close(current, day, fact.note)
                current = None
            continue
        if current is None:
            current = open_at(day, last_contact)
        _attach(current, fact, day)
    return out


def _attach(episode: Episode, fact: Fact, day: date) -> None:
    kind = fact.kind
    if kind == "assessment_started":
        open_ones = [a for a in episode.assessments.values() if a.end is None]
        if not open_ones:  # rule 8896: one open assessment at a time
            episode.assessments[fact.ref] = Assessment(start=day)
    elif kind == "assessment_completed":
        found = episode.assessments.get(fact.ref)
        if found is None:
            found = episode.assessments[fact.ref] = Assessment(start=day)
        if found.end is None:
            found.end = day
            found.factors = _factors(fact.codes)
            if fact.note == "cin_plan" and not _plan_open(episode):
                episode.cin_plans.append((day, None))
    elif kind == "s47_started":
        if not any(s.icpc is None and not s.not_required for s in episode.s47s):  # rule 8890
            episode.s47s.append(S47(ref=fact.ref, start=day))
    elif kind == "s47_completed":
        for s47 in episode.s47s:
            if s47.ref == fact.ref and s47.icpc is None:
                s47.not_required = fact.note != S47Outcome.ICPC_REQUIRED.value
    elif kind == "icpc":
        episode.icpcs.append((day, fact.note, fact.flag))
        target = next(
            (s for s in episode.s47s if s.ref == fact.note and s.icpc is None),
            next((s for s in episode.s47s if s.icpc is None and not s.not_required), None),
        )
        if target is not None:
            target.icpc = day
            target.not_required = False
    elif kind == "cpp_started":
        if _plan_open(episode):
            return  # rule 8935: one open plan at a time
        # A plan starts at the conference that made it (rule 2885).
        icpc = next((d for d, _s47, required in reversed(episode.icpcs) if required), None)
        start = icpc if icpc is not None and icpc <= day else day
        if icpc is None and episode.plan_icpc is None:
            episode.plan_icpc = day
        _end_cin_plan(episode, start)
        episode.plans.append(
            Plan(ref=fact.ref, start=start, category=fact.codes[0], previous=int(fact.note or 0))
        )
    elif kind == "cpp_ended":
        for plan in episode.plans:
            if plan.ref == fact.ref and plan.end is None and day > plan.start:  # rule 8840
                plan.end = day
                plan.latest = fact.codes[0] if fact.codes else None
    elif kind == "review":
        for plan in episode.plans:
            if plan.ref == fact.ref and plan.end is None and day > plan.start:  # rule 8841
                plan.reviews.append(day)


def _plan_open(episode: Episode) -> bool:
    return any(p.end is None for p in episode.plans)


def _end_cin_plan(episode: Episode, day: date) -> None:
    """A CP plan replaces a CIN plan (rules 4001, 4016, 4017): the CIN plan ends that day."""
    for i, (start, end) in enumerate(episode.cin_plans):
        if end is None:
            episode.cin_plans[i] = (start, day)


def _close(episode: Episode, day: date, reason: str) -> None:
    episode.closure = day
    episode.reason = reason
    for plan in episode.plans:
        if plan.end is None:
            plan.end = max(day, plan.start)
    _end_cin_plan(episode, day)
    for s47 in episode.s47s:
        if s47.icpc is None:
            s47.not_required = True  # rule 8868: a closed episode's S47 is concluded


@dataclass(frozen=True)
class Period:
    start: date
    end: date

    @classmethod
    def census(cls, year: int) -> Period:
        return cls(date(year - 1, 4, 1), date(year, 3, 31))


def _in_period(episode: Episode, period: Period) -> bool:
    return episode.referral <= period.end and (
        episode.closure is None or episode.closure >= period.start
    )


def _trim(episode: Episode, period: Period) -> Episode:
    """Drop what the year's return does not carry: activity finished before it began."""
    ps = period.start
    episode.assessments = {
        k: a for k, a in episode.assessments.items() if a.end is None or a.end >= ps
    }
    episode.s47s = [
        s
        for s in episode.s47s
        if (s.icpc is None or s.icpc >= ps) and not (s.not_required and s.start < ps)
    ]
    episode.plans = [p for p in episode.plans if p.end is None or p.end >= ps]
    episode.cin_plans = [(s, e) for s, e in episode.cin_plans if e is None or e >= ps]
    return episode


def _text(parent: ET.Element, tag: str, value: object) -> ET.Element:
    element = ET.SubElement(parent, tag)
    element.text = str(value)
    return element


def _episode_xml(parent: ET.Element, episode: Episode, calendar: WorkingDayCalendar) -> None:
    details = ET.SubElement(parent, "CINdetails")
    _text(details, "CINreferralDate", episode.referral.isoformat())
    _text(details, "ReferralSource", episode.source)
    nfa = episode.closure is not None and not episode.active
    need = primary_need(episode.concerns, bool(episode.s47s or episode.plans))
    _text(details, "PrimaryNeedCode", PrimaryNeed.NOT_IN_NEED.value if nfa else need.value)
    if episode.closure is not None:
        _text(details, "CINclosureDate", episode.closure.isoformat())
        _text(details, "ReasonForClosure", episode.reason or "RC7")
    if episode.plan_icpc is not None:
        _text(details, "DateOfInitialCPC", episode.plan_icpc.isoformat())
    for assessment in sorted(episode.assessments.values(), key=lambda a: a.start):
        node = ET.SubElement(details, "Assessments")
        _text(
            node, "AssessmentActualStartDate", max(assessment.start, episode.referral).isoformat()
        )
        if assessment.end is not None:
            _text(node, "AssessmentAuthorisationDate", assessment.end.isoformat())
            factors = ET.SubElement(node, "FactorsIdentifiedAtAssessment")
            for code in assessment.factors:
                _text(factors, "AssessmentFactors", code)
    for start, end in episode.cin_plans:
        node = ET.SubElement(details, "CINPlanDates")
        _text(node, "CINPlanStartDate", start.isoformat())
        if end is not None:
            _text(node, "CINPlanEndDate", end.isoformat())
    for s47 in episode.s47s:
        node = ET.SubElement(details, "Section47")
        _text(node, "S47ActualStartDate", s47.start.isoformat())
        _text(
            node,
            "InitialCPCtarget",
            calendar.add_working_days(s47.start, ICPC_WORKING_DAYS).isoformat(),
        )
        if s47.icpc is not None:
            _text(node, "DateOfInitialCPC", s47.icpc.isoformat())
        _text(node, "ICPCnotRequired", "true" if s47.not_required else "false")
    _text(details, "ReferralNFA", "1" if nfa else "0")
    for plan in episode.plans:
        node = ET.SubElement(details, "ChildProtectionPlans")
        _text(node, "CPPstartDate", plan.start.isoformat())
        if plan.end is not None:
            _text(node, "CPPendDate", plan.end.isoformat())
        _text(node, "InitialCategoryOfAbuse", plan.category)
        _text(node, "LatestCategoryOfAbuse", plan.latest or plan.category)
        _text(node, "NumberOfPreviousCPP", plan.previous)
        if plan.reviews:
            reviews = ET.SubElement(node, "Reviews")
            for day in plan.reviews:
                _text(reviews, "CPPreviewDate", day.isoformat())


@dataclass(frozen=True)
class Census:
    xml: str
    children: int
    episodes: int


def census_xml(
    records: Mapping[str, ChildRecord],
    *,
    year: int,
    at: datetime,
    lea: str = DEFAULT_LEA,
    release: str = "0",
) -> Census:
    """The return for census year `year` (1 April year-1 to 31 March year), as of `at`."""
    period = Period.census(year)
    calendar = WorkingDayCalendar()
    until = min(period.end, _date(at))
    message = ET.Element("Message")
    header = ET.SubElement(message, "Header")
    collection = ET.SubElement(header, "CollectionDetails")
    _text(collection, "Collection", "CIN")
    _text(collection, "Year", year)
    _text(collection, "ReferenceDate", period.end.isoformat())  # rule 100
    source = ET.SubElement(header, "Source")
    _text(source, "SourceLevel", "L")
    _text(source, "LEA", lea)
    _text(source, "SoftwareCode", "mash")
    _text(source, "Release", release)
    _text(source, "SerialNo", "001")
    # Event time, never the wall clock: the same run gives the same file.
    _text(source, "DateTime", at.astimezone(LONDON).replace(tzinfo=None).isoformat("T", "seconds"))
    children = ET.SubElement(message, "Children")
    school_age_born_by = date(period.end.year - 5, 8, 31)  # rule 8770Q's school-age line
    n_children = n_episodes = 0
    for serial, child in enumerate(sorted(records), start=1):
        record = records[child]
        kept = [_trim(e, period) for e in episodes(record, until) if _in_period(e, period)]
        if not kept:
            continue
        n_children += 1
        n_episodes += len(kept)
        node = ET.SubElement(children, "Child")
        ids = ET.SubElement(node, "ChildIdentifiers")
        _text(ids, "LAchildID", la_child_id(child))
        unborn = record.dob is not None and record.dob > period.end
        if record.dob is None:
            # Casework about a child no contact described: no age, so no school-age test;
            # UN5 says the UPN could not be obtained, and the birth date is left out (8525Q).
            _text(ids, "UPNunknown", "UN5")
        elif not unborn and record.dob <= school_age_born_by:
            _text(ids, "UPN", upn(lea, serial))
        else:
            _text(ids, "UPNunknown", "UN1")  # not yet of school age
        if record.dob is None:
            pass
        elif unborn:
            _text(ids, "ExpectedPersonBirthDate", record.dob.isoformat())
        else:
            _text(ids, "PersonBirthDate", record.dob.isoformat())
        sex = Sex.UNKNOWN if unborn or record.sex is None else record.sex
        _text(ids, "Sex", sex.value)  # rule 8750: U for an unborn child
        characteristics = ET.SubElement(node, "ChildCharacteristics")
        _text(characteristics, "Ethnicity", (record.ethnicity or Ethnicity.NOBT).value)
        disabilities = ET.SubElement(characteristics, "Disabilities")
        _text(disabilities, "Disability", "NONE")
        for episode in kept:
            _episode_xml(node, episode, calendar)
    ET.indent(message)
    xml = '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(message, encoding="unicode")
    return Census(xml=xml + "\n", children=n_children, episodes=n_episodes)


__all__ = [
    "Census",
    "Period",
    "census_xml",
    "census_year_of",
    "episodes",
    "la_child_id",
    "upn",
]
