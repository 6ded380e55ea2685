"""Words beside codes: what a person reads where the contract carries a code.

A board analyst reading `2A`, `16A` or `RC7` has to look each one up; every table, chart and
list a person reads puts the code's words beside it. The words are the DfE's labels as
domain-reference §5 gives them (CIN census code lists, Annex A), and the simulator's own for
its own lists. A code with no words here (a council's own clock, a new code) is shown bare
rather than refused: a report must never fail for want of a label.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from mash.schemas.codes import (
    AssessmentOutcome,
    ClosureReason,
    CPCategory,
    CSEIndicator,
    CSELevel,
    DecidedBy,
    Factor,
    Outcome,
    PrimaryNeed,
    Rag,
    ReferralSource,
    S47Outcome,
    StrategyDecision,
)

EMPTY = "—"  # an empty rate or cell: never "none", which is a CSE level

REFERRAL_SOURCE: dict[str, str] = {
    ReferralSource.FAMILY_MEMBER: "Individual: family member, relative or carer",
    ReferralSource.ACQUAINTANCE: "Individual: acquaintance",
    ReferralSource.SELF: "Individual: self",
    ReferralSource.OTHER_INDIVIDUAL: "Individual: other",
    ReferralSource.SCHOOLS: "Schools",
    ReferralSource.EDUCATION_SERVICES: "Education services",
    ReferralSource.GP: "Health services: GP",
    ReferralSource.HEALTH_VISITOR: "Health services: health visitor",
    ReferralSource.SCHOOL_NURSE: "Health services: school nurse",
    ReferralSource.OTHER_PRIMARY_HEALTH: "Health services: other primary health services",
    ReferralSource.A_AND_E: "Health services: A&E",
    ReferralSource.OTHER_HEALTH: "Health services: other",
    ReferralSource.HOUSING: "Housing",
    ReferralSource.LA_SOCIAL_CARE: "LA services: social care",
    ReferralSource.LA_OTHER_INTERNAL: "LA services: other internal",
    ReferralSource.LA_EXTERNAL: "LA services: external",
    ReferralSource.LA_EARLY_HELP: "LA services: early help",
    ReferralSource.POLICE: "Police",
    ReferralSource.OTHER_LEGAL: "Other legal agency",
    ReferralSource.OTHER: "Other",
    ReferralSource.ANONYMOUS: "Anonymous",
    ReferralSource.UNKNOWN: "Unknown",
}

_WHO = {"A": "child", "B": "parent or carer", "C": "other person in the household"}
_FACTOR_BY_GROUP = {
    "1": "alcohol misuse",
    "2": "drug misuse",
    "3": "domestic abuse",
    "4": "mental health",
    "5": "learning disability",
    "6": "physical disability or illness",
}
FACTOR: dict[str, str] = {
    f"{group}{who}": f"{words}: {_WHO[who]}"
    for group, words in _FACTOR_BY_GROUP.items()
    for who in "ABC"
} | {
    Factor.YOUNG_CARER: "young carer",
    Factor.PRIVATE_FOSTERING_OVERSEAS_RETURN: "privately fostered: overseas, intending to return",
    Factor.PRIVATE_FOSTERING_OVERSEAS_STAY: "privately fostered: overseas, intending to stay",
    Factor.PRIVATE_FOSTERING_UK_EDUCATION: "privately fostered: UK, educational placement",
    Factor.PRIVATE_FOSTERING_UK_FAMILY: "privately fostered: UK, family arrangement",
    Factor.PRIVATE_FOSTERING_OTHER: "privately fostered: other",
    Factor.UNACCOMPANIED_ASYLUM_SEEKING: "unaccompanied asylum-seeking child",
    Factor.MISSING: "going or being missing",
    Factor.CSE: "child sexual exploitation",
    Factor.TRAFFICKING: "trafficking",
    Factor.GANGS: "gangs",
    Factor.SOCIALLY_UNACCEPTABLE_BEHAVIOUR: "socially unacceptable behaviour",
    Factor.SELF_HARM: "self-harm",
    Factor.NEGLECT: "neglect",
    Factor.EMOTIONAL_ABUSE: "emotional abuse",
    Factor.PHYSICAL_ABUSE: "physical abuse",
    Factor.PHYSICAL_ABUSE_B: "physical abuse (by a child)",
    Factor.PHYSICAL_ABUSE_C: "physical abuse (by an adult)",
    Factor.SEXUAL_ABUSE: "sexual abuse",
    Factor.SEXUAL_ABUSE_B: "sexual abuse (by a child)",
    Factor.SEXUAL_ABUSE_C: "sexual abuse (by an adult)",
    Factor.OTHER: "other",
    Factor.NO_FACTORS: "no factors identified",
    Factor.FGM: "female genital mutilation",
    Factor.FAITH_OR_BELIEF: "abuse linked to faith or belief",
    Factor.CHILD_CRIMINAL_EXPLOITATION: "child criminal exploitation",
}

CATEGORY: dict[str, str] = {
    CPCategory.NEGLECT: "Neglect",
    CPCategory.PHYSICAL: "Physical abuse",
    CPCategory.EMOTIONAL: "Emotional abuse",
    CPCategory.SEXUAL: "Sexual abuse",
    CPCategory.MULTIPLE: "Multiple",
}

CLOSURE: dict[str, str] = {
    ClosureReason.ADOPTED: "adopted",
    ClosureReason.DIED: "died",
    ClosureReason.CHILD_ARRANGEMENTS_ORDER: "child arrangements order",
    ClosureReason.SPECIAL_GUARDIANSHIP_ORDER: "special guardianship order",
    ClosureReason.TRANSFERRED_LA: "transferred to another local authority",
    ClosureReason.TRANSFERRED_ADULT_SERVICES: "transferred to adult social care",
    ClosureReason.CEASED_OTHER: "services ceased for any other reason",
    ClosureReason.NFA_AFTER_ASSESSMENT: "closed after assessment, no further action",
    ClosureReason.EARLY_HELP_AFTER_ASSESSMENT: "closed after assessment, referred to early help",
}

PRIMARY_NEED: dict[str, str] = {
    PrimaryNeed.NOT_STATED: "not stated",
    PrimaryNeed.ABUSE_OR_NEGLECT: "abuse or neglect",
    PrimaryNeed.CHILD_DISABILITY: "child's disability or illness",
    PrimaryNeed.PARENT_DISABILITY: "parental disability or illness",
    PrimaryNeed.ACUTE_STRESS: "family in acute stress",
    PrimaryNeed.FAMILY_DYSFUNCTION: "family dysfunction",
    PrimaryNeed.SOCIALLY_UNACCEPTABLE_BEHAVIOUR: "socially unacceptable behaviour",
    PrimaryNeed.LOW_INCOME: "low income",
    PrimaryNeed.ABSENT_PARENTING: "absent parenting",
    PrimaryNeed.NOT_IN_NEED: "cases other than children in need",
}

OUTCOME: dict[str, str] = {
    Outcome.NFA: "no further action",
    Outcome.INFORMATION_ADVICE: "information and advice",
    Outcome.EARLY_HELP: "early help",
    Outcome.S17_ASSESSMENT: "section 17 assessment",
    Outcome.STRATEGY_DISCUSSION: "strategy discussion",
    Outcome.ALLOCATED_WORKER: "passed to the allocated worker",
    Outcome.POLICE: "police",
}

ASSESSMENT_OUTCOME: dict[str, str] = {
    AssessmentOutcome.NFA: "no further action",
    AssessmentOutcome.EARLY_HELP: "early help",
    AssessmentOutcome.CIN_PLAN: "child in need plan",
    AssessmentOutcome.STRATEGY: "strategy discussion",
    AssessmentOutcome.LOOKED_AFTER: "looked after",
}

STRATEGY: dict[str, str] = {
    StrategyDecision.S47_SINGLE_AGENCY: "section 47, single agency",
    StrategyDecision.S47_JOINT: "section 47, joint with police",
    StrategyDecision.NO_S47: "no section 47",
    StrategyDecision.POLICE_ONLY: "police only",
}

S47: dict[str, str] = {
    S47Outcome.NOT_SUBSTANTIATED: "not substantiated",
    S47Outcome.SUBSTANTIATED_NO_ICPC: "substantiated, no conference",
    S47Outcome.ICPC_REQUIRED: "conference required",
}

LEVEL = {"1": "universal", "2": "early help", "3": "targeted", "4": "specialist"}
RAG: dict[str, str] = {Rag.RED: "red", Rag.AMBER: "amber", Rag.GREEN: "green"}
DECIDED_BY: dict[str, str] = {
    DecidedBy.RULES: "the thresholds file",
    DecidedBy.TRAINEE: "a trainee",
    DecidedBy.PRACTITIONER: "a practitioner",
}
CSE_LEVEL: dict[str, str] = {
    CSELevel.NONE: "no risk",
    CSELevel.LOW: "low",
    CSELevel.MEDIUM: "medium",
    CSELevel.HIGH: "high",
}
CSE_INDICATOR: dict[str, str] = {
    CSEIndicator.MISSING_REPEAT: "repeatedly missing",
    CSEIndicator.MISSING_WITH_ADULTS: "missing with older adults",
    CSEIndicator.OLDER_PARTNER: "older boyfriend or girlfriend",
    CSEIndicator.GIFTS_MONEY_PHONE: "unexplained gifts, money or phone",
    CSEIndicator.SUBSTANCES: "drug or alcohol use",
    CSEIndicator.SCHOOL_ABSENCE: "absent from school",
    CSEIndicator.SEXUAL_HEALTH: "sexual health concerns",
    CSEIndicator.SELF_HARM: "self-harm",
    CSEIndicator.HOTSPOT: "seen at a known hotspot",
    CSEIndicator.ONLINE_IMAGES: "sharing images online",
    CSEIndicator.SEXUAL_ASSAULT: "sexual assault",
    CSEIndicator.LOOKED_AFTER: "looked after",
    CSEIndicator.PEER_EXPLOITED: "friends being exploited",
}
# The default timescales file's clocks (mash/timescales/default.yaml), in a board's words.
CLOCK = {
    "referral_decision": "decision within 1 working day",
    "referral_decision_rag": "decision within the RAG window",
    "assessment": "assessment within 45 working days of referral",
    "assessment_dfe": "assessment within 45 working days of its start",
    "strategy_discussion": "strategy discussion the same day",
    "icpc": "ICPC within 15 working days of the strategy discussion",
    "icpc_dfe": "ICPC within 15 working days of the S47 start",
    "core_group": "first core group within 10 working days",
    "first_review": "first review within 3 months",
    "later_review": "later reviews within 6 months",
    "return_home_interview": "return home interview within 72 hours",
    "cse_screening": "CSE screening within 1 working day",
}

LISTS: dict[str, Mapping[str, str]] = {
    "source": REFERRAL_SOURCE,
    "factor": FACTOR,
    "category": CATEGORY,
    "closure": CLOSURE,
    "primary_need": PRIMARY_NEED,
    "outcome": OUTCOME,
    "assessment_outcome": ASSESSMENT_OUTCOME,
    "strategy": STRATEGY,
    "s47": S47,
    "level": LEVEL,
    "rag": RAG,
    "decided_by": DECIDED_BY,
    "cse_level": CSE_LEVEL,
    "cse_indicator": CSE_INDICATOR,
    "clock": CLOCK,
}


def words(kind: str, code: str) -> str:
    """The words for a code of a list, or "" when it has none."""
    return str(LISTS[kind].get(code, ""))


def label(kind: str, code: Any) -> str:
    """`2A Schools`, `NEG Neglect`: the code first (what an analyst filters on), then words."""
    text = str(code)
    said = words(kind, text)
    if not said:
        return text
    # A clock's id is a word already (`referral_decision`): its words lead, the id follows.
    return f"{said} ({text})" if kind == "clock" else f"{text} {said}"


def plain(kind: str, code: Any) -> str:
    """Just the words (a chart's legend, where the code would crowd it), else the code."""
    return words(kind, str(code)) or str(code)


def natural_key(code: str) -> tuple[Any, ...]:
    """`1B` before `10A` before `19C`: numbers compared as numbers, the rest as text."""
    return tuple(
        (0, int(part), "") if part.isdigit() else (1, 0, part)
        for part in re.findall(r"\d+|\D+", code)
    )


def natural(codes: Iterable[str]) -> list[str]:
    return sorted(codes, key=natural_key)
