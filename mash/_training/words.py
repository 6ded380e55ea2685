"""Codes in the words a practitioner reads: referral sources, concerns, CSE indicators,
outcomes, levels, clocks, and London times.

The wire carries codes (the CIN census's `2A`, `16A`); people screening a contact read words.
One table for every front end (the terminal, the training room, the debriefs), so a code
reads the same wherever it is shown. Pure lookups; a code with no entry falls back to its
enum name in plain lower case rather than failing.
"""

from __future__ import annotations

from datetime import datetime
from enum import Enum

from mash._time.calendar import LONDON
from mash.consumers.screening.thresholds import Thresholds
from mash.consumers.timescales.config import Timescales
from mash.schemas.codes import CSEIndicator, Factor, Level, Outcome, Rag, ReferralSource

REFERRAL_SOURCE = {
    ReferralSource.FAMILY_MEMBER: "a family member or relative",
    ReferralSource.ACQUAINTANCE: "an acquaintance (a neighbour, a friend)",
    ReferralSource.SELF: "the child themself",
    ReferralSource.OTHER_INDIVIDUAL: "another individual",
    ReferralSource.SCHOOLS: "a school",
    ReferralSource.EDUCATION_SERVICES: "education services",
    ReferralSource.GP: "a GP",
    ReferralSource.HEALTH_VISITOR: "a health visitor",
    ReferralSource.SCHOOL_NURSE: "a school nurse",
    ReferralSource.OTHER_PRIMARY_HEALTH: "other primary health services",
    ReferralSource.A_AND_E: "A&E",
    ReferralSource.OTHER_HEALTH: "other health services",
    ReferralSource.HOUSING: "housing",
    ReferralSource.LA_SOCIAL_CARE: "the council's social care",
    ReferralSource.LA_OTHER_INTERNAL: "another council department",
    ReferralSource.LA_EXTERNAL: "another council",
    ReferralSource.LA_EARLY_HELP: "early help services",
    ReferralSource.POLICE: "the police",
    ReferralSource.OTHER_LEGAL: "another legal agency (courts, probation, prison)",
    ReferralSource.OTHER: "another source",
    ReferralSource.ANONYMOUS: "an anonymous caller",
    ReferralSource.UNKNOWN: "an unknown source",
}

_WHO = {"A": "the child", "B": "a parent or carer", "C": "another person in the household"}
_FACTOR_THEME = {
    "1": "alcohol misuse",
    "2": "drug misuse",
    "3": "domestic abuse",
    "4": "mental health",
    "5": "learning disability",
    "6": "physical disability or illness",
}
FACTOR = {
    Factor.YOUNG_CARER: "young carer",
    Factor.PRIVATE_FOSTERING_OVERSEAS_RETURN: "privately fostered (overseas, to return)",
    Factor.PRIVATE_FOSTERING_OVERSEAS_STAY: "privately fostered (overseas, to stay)",
    Factor.PRIVATE_FOSTERING_UK_EDUCATION: "privately fostered (UK, for education)",
    Factor.PRIVATE_FOSTERING_UK_FAMILY: "privately fostered (UK, family breakdown)",
    Factor.PRIVATE_FOSTERING_OTHER: "privately fostered (other)",
    Factor.UNACCOMPANIED_ASYLUM_SEEKING: "unaccompanied asylum-seeking child",
    Factor.MISSING: "going or being missing",
    Factor.CSE: "child sexual exploitation",
    Factor.TRAFFICKING: "trafficking",
    Factor.GANGS: "gangs",
    Factor.SOCIALLY_UNACCEPTABLE_BEHAVIOUR: "socially unacceptable behaviour",
    Factor.SELF_HARM: "self-harm",
    Factor.NEGLECT: "neglect",
    Factor.EMOTIONAL_ABUSE: "emotional abuse",
    Factor.PHYSICAL_ABUSE: "physical abuse (the child)",
    Factor.PHYSICAL_ABUSE_B: "physical abuse (by a parent or carer)",
    Factor.PHYSICAL_ABUSE_C: "physical abuse (by another person)",
    Factor.SEXUAL_ABUSE: "sexual abuse (the child)",
    Factor.SEXUAL_ABUSE_B: "sexual abuse (by a parent or carer)",
    Factor.SEXUAL_ABUSE_C: "sexual abuse (by another person)",
    Factor.OTHER: "other",
    Factor.NO_FACTORS: "no factors identified",
    Factor.FGM: "female genital mutilation",
    Factor.FAITH_OR_BELIEF: "abuse linked to faith or belief",
    Factor.CHILD_CRIMINAL_EXPLOITATION: "child criminal exploitation",
}
for _factor in Factor:
    _theme, _who = _FACTOR_THEME.get(_factor.value[:-1]), _WHO.get(_factor.value[-1])
    if _theme and _who and _factor not in FACTOR:
        FACTOR[_factor] = f"{_theme} ({_who})"

CSE_INDICATOR = {
    CSEIndicator.MISSING_REPEAT: "missing three or more times in 90 days",
    CSEIndicator.MISSING_WITH_ADULTS: "found or seen with older adults while missing",
    CSEIndicator.OLDER_PARTNER: "a relationship with, or gifts from, a much older person",
    CSEIndicator.GIFTS_MONEY_PHONE: "unexplained money, gifts or a new phone",
    CSEIndicator.SUBSTANCES: "access to drugs or alcohol",
    CSEIndicator.SCHOOL_ABSENCE: "truancy, exclusion or missing education",
    CSEIndicator.SEXUAL_HEALTH: "sexual health concerns (STIs, pregnancy)",
    CSEIndicator.SELF_HARM: "self-harm",
    CSEIndicator.HOTSPOT: "seen at a known hotspot",
    CSEIndicator.ONLINE_IMAGES: "sharing or being asked for images online",
    CSEIndicator.SEXUAL_ASSAULT: "sexual assault",
    CSEIndicator.LOOKED_AFTER: "looked after",
}

OUTCOME = {
    Outcome.NFA: "no further action",
    Outcome.INFORMATION_ADVICE: "information and advice",
    Outcome.EARLY_HELP: "early help",
    Outcome.S17_ASSESSMENT: "child and family assessment (section 17)",
    Outcome.STRATEGY_DISCUSSION: "strategy discussion (possible section 47)",
    Outcome.ALLOCATED_WORKER: "pass to the allocated worker (open case)",
    Outcome.POLICE: "police action",
}

# Domain §2's names; a thresholds file may give its own (`levels: {1: {name: ...}}`).
LEVEL = {
    Level.UNIVERSAL: ("universal", "needs met by universal services"),
    Level.EARLY_HELP: ("early help", "additional needs: single- or multi-agency early help"),
    Level.TARGETED: ("targeted", "complex needs, child in need: a section 17 assessment"),
    Level.SPECIALIST: ("specialist", "acute need, child protection: a strategy discussion"),
}


def _plain(code: Enum) -> str:
    return code.name.lower().replace("_", " ")


def referral_source(code: ReferralSource) -> str:
    return REFERRAL_SOURCE.get(code, _plain(code))


def factor(code: Factor) -> str:
    return FACTOR.get(code, _plain(code))


def cse_indicator(code: CSEIndicator) -> str:
    return CSE_INDICATOR.get(code, _plain(code))


def outcome(code: Outcome) -> str:
    return OUTCOME.get(code, _plain(code))


def level_name(level: Level, thresholds: Thresholds | None = None) -> str:
    given = thresholds.levels[level].name if thresholds is not None else None
    return given or LEVEL[level][0]


def level_description(level: Level, thresholds: Thresholds | None = None) -> str:
    given = thresholds.levels[level].description if thresholds is not None else None
    return given or LEVEL[level][1]


def rag_window(rag: Rag, thresholds: Thresholds) -> str:
    """`red: within 4 hours`, as the thresholds file sets it."""
    deadline = thresholds.rag_deadlines[rag]
    if deadline.hours is not None:
        hours = f"{deadline.hours:g}"
        return f"within {hours} hour{'s' if hours != '1' else ''}"
    days = deadline.working_days or 0
    return f"within {days} working day{'s' if days != 1 else ''}"


def clock_name(clock: str, timescales: Timescales | None) -> str:
    """A clock's name from the timescales file (`Decision within the contact's RAG window`),
    never its id."""
    if timescales is not None:
        for c in timescales.clocks:
            if c.id == clock:
                return c.name
    return clock.replace("_", " ")


def london(at: datetime, *, seconds: bool = False) -> str:
    """`Sat 11 Jan 2014 09:30 GMT`: London wall time with its zone named, so nobody reads a
    UTC instant as local time (or the other way round) in summer."""
    local = at.astimezone(LONDON)
    return local.strftime(f"%a %d %b %Y %H:%M{':%S' if seconds else ''} %Z")


def span(seconds: float) -> str:
    """A duration as a practitioner says it: `3 h 59 min`, `2 days 4 h`, `45 s`."""
    total = int(abs(seconds))
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} day{'s' if days != 1 else ''} {hours} h"
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min {secs:02d} s"
    return f"{secs} s"
