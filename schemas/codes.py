"""Official and simulator code lists, as enums.

The CIN census lists (referral source, assessment factors, CP category, closure reason,
primary need) follow the DfE's validation rules (`csc-validator-be-cin`, rules 8866, 8897Q,
8905/8910, 8640, 8650) so that the census return we produce later validates. The simulator's
own lists (agency, level, RAG, outcome, CSE indicator) follow `shared/domain.md`.
"""

from __future__ import annotations

from enum import IntEnum, StrEnum


class ReferralSource(StrEnum):
    """CIN census `ReferralSource` (N00152), valid for referrals from 1 April 2013."""

    FAMILY_MEMBER = "1A"
    ACQUAINTANCE = "1B"
    SELF = "1C"
    OTHER_INDIVIDUAL = "1D"
    SCHOOLS = "2A"
    EDUCATION_SERVICES = "2B"
    GP = "3A"
    HEALTH_VISITOR = "3B"
    SCHOOL_NURSE = "3C"
    OTHER_PRIMARY_HEALTH = "3D"
    A_AND_E = "3E"
    OTHER_HEALTH = "3F"
    HOUSING = "4"
    LA_SOCIAL_CARE = "5A"
    LA_OTHER_INTERNAL = "5B"
    LA_EXTERNAL = "5C"
    LA_EARLY_HELP = "5D"
    POLICE = "6"
    OTHER_LEGAL = "7"
    OTHER = "8"
    ANONYMOUS = "9"
    UNKNOWN = "10"


class Factor(StrEnum):
    """CIN census `AssessmentFactors` (N00181); contacts name their concerns with these too.

    Suffix A is the child, B a parent or carer, C another person in the household.
    """

    ALCOHOL_CHILD = "1A"
    ALCOHOL_PARENT = "1B"
    ALCOHOL_OTHER = "1C"
    DRUGS_CHILD = "2A"
    DRUGS_PARENT = "2B"
    DRUGS_OTHER = "2C"
    DOMESTIC_ABUSE_CHILD = "3A"
    DOMESTIC_ABUSE_PARENT = "3B"
    DOMESTIC_ABUSE_OTHER = "3C"
    MENTAL_HEALTH_CHILD = "4A"
    MENTAL_HEALTH_PARENT = "4B"
    MENTAL_HEALTH_OTHER = "4C"
    LEARNING_DISABILITY_CHILD = "5A"
    LEARNING_DISABILITY_PARENT = "5B"
    LEARNING_DISABILITY_OTHER = "5C"
    PHYSICAL_DISABILITY_CHILD = "6A"
    PHYSICAL_DISABILITY_PARENT = "6B"
    PHYSICAL_DISABILITY_OTHER = "6C"
    YOUNG_CARER = "7A"
    PRIVATE_FOSTERING_OVERSEAS_RETURN = "8B"
    PRIVATE_FOSTERING_OVERSEAS_STAY = "8C"
    PRIVATE_FOSTERING_UK_EDUCATION = "8D"
    PRIVATE_FOSTERING_UK_FAMILY = "8E"
    PRIVATE_FOSTERING_OTHER = "8F"
    UNACCOMPANIED_ASYLUM_SEEKING = "9A"
    MISSING = "10A"
    CSE = "11A"
    TRAFFICKING = "12A"
    GANGS = "13A"
    SOCIALLY_UNACCEPTABLE_BEHAVIOUR = "14A"
    SELF_HARM = "15A"
    NEGLECT = "16A"
    EMOTIONAL_ABUSE = "17A"
    PHYSICAL_ABUSE = "18A"
    PHYSICAL_ABUSE_B = "18B"
    PHYSICAL_ABUSE_C = "18C"
    SEXUAL_ABUSE = "19A"
    SEXUAL_ABUSE_B = "19B"
    SEXUAL_ABUSE_C = "19C"
    OTHER = "20"
    NO_FACTORS = "21"
    FGM = "22A"
    FAITH_OR_BELIEF = "23A"
    CHILD_CRIMINAL_EXPLOITATION = "24A"


class CPCategory(StrEnum):
    """CIN census `InitialCategoryOfAbuse` / `LatestCategoryOfAbuse` (rules 8905, 8910)."""

    NEGLECT = "NEG"
    PHYSICAL = "PHY"
    EMOTIONAL = "EMO"
    SEXUAL = "SAB"
    MULTIPLE = "MUL"


class ClosureReason(StrEnum):
    """CIN census `ReasonForClosure` (rule 8640)."""

    ADOPTED = "RC1"
    DIED = "RC2"
    CHILD_ARRANGEMENTS_ORDER = "RC3"
    SPECIAL_GUARDIANSHIP_ORDER = "RC4"
    TRANSFERRED_LA = "RC5"
    TRANSFERRED_ADULT_SERVICES = "RC6"
    CEASED_OTHER = "RC7"
    NFA_AFTER_ASSESSMENT = "RC8"
    EARLY_HELP_AFTER_ASSESSMENT = "RC9"


class PrimaryNeed(StrEnum):
    """CIN census `PrimaryNeedCode` (rule 8650)."""

    NOT_STATED = "N0"
    ABUSE_OR_NEGLECT = "N1"
    CHILD_DISABILITY = "N2"
    PARENT_DISABILITY = "N3"
    ACUTE_STRESS = "N4"
    FAMILY_DYSFUNCTION = "N5"
    SOCIALLY_UNACCEPTABLE_BEHAVIOUR = "N6"
    LOW_INCOME = "N7"
    ABSENT_PARENTING = "N8"
    NOT_IN_NEED = "N9"


class Sex(StrEnum):
    """CIN census `Sex` (2024-25 onwards): F, M or U (unknown / unborn)."""

    FEMALE = "F"
    MALE = "M"
    UNKNOWN = "U"


class Ethnicity(StrEnum):
    """CIN census ethnicity codes (DfE); NOBT is "information not yet obtained"."""

    WBRI = "WBRI"
    WIRI = "WIRI"
    WIRT = "WIRT"
    WOTH = "WOTH"
    WROM = "WROM"
    MWBC = "MWBC"
    MWBA = "MWBA"
    MWAS = "MWAS"
    MOTH = "MOTH"
    AIND = "AIND"
    APKN = "APKN"
    ABAN = "ABAN"
    AOTH = "AOTH"
    BCRB = "BCRB"
    BAFR = "BAFR"
    BOTH = "BOTH"
    CHNE = "CHNE"
    OOTH = "OOTH"
    REFU = "REFU"
    NOBT = "NOBT"


class Agency(StrEnum):
    """Who produced an event (domain-reference §1.2); maps onto referral sources."""

    POLICE = "police"
    HEALTH_GP = "health_gp"
    HEALTH_VISITOR = "health_visitor"
    SCHOOL_NURSE = "school_nurse"
    HEALTH_AE = "health_ae"
    HEALTH_OTHER = "health_other"
    SCHOOL = "school"
    EDUCATION_SERVICES = "education_services"
    LA_SOCIAL_CARE = "la_social_care"
    LA_EARLY_HELP = "la_early_help"
    LA_OTHER = "la_other"
    HOUSING = "housing"
    PROBATION = "probation"
    YOS = "yos"
    VOLUNTARY = "voluntary"
    CAFCASS = "cafcass"
    LADO = "lado"
    MARAC = "marac"
    INDIVIDUAL = "individual"
    ANONYMOUS = "anonymous"
    MASH = "mash"


class Level(IntEnum):
    """Level of need on the continuum of need (domain §2)."""

    UNIVERSAL = 1
    EARLY_HELP = 2
    TARGETED = 3
    SPECIALIST = 4


class Rag(StrEnum):
    """Urgency of a contact; each colour implies a decision deadline (thresholds file)."""

    RED = "red"
    AMBER = "amber"
    GREEN = "green"


class Outcome(StrEnum):
    """What the MASH decides to do next (domain §1.3, domain-reference §2.2)."""

    NFA = "nfa"
    INFORMATION_ADVICE = "information_advice"
    EARLY_HELP = "early_help"
    S17_ASSESSMENT = "section17_assessment"
    STRATEGY_DISCUSSION = "strategy_discussion"
    ALLOCATED_WORKER = "pass_to_allocated_worker"
    POLICE = "police"


class CSEIndicator(StrEnum):
    """Child sexual exploitation indicators (domain §4)."""

    MISSING_REPEAT = "missing_repeat"
    MISSING_WITH_ADULTS = "missing_with_adults"
    OLDER_PARTNER = "older_partner"
    GIFTS_MONEY_PHONE = "gifts_money_phone"
    SUBSTANCES = "substances"
    SCHOOL_ABSENCE = "school_absence"
    SEXUAL_HEALTH = "sexual_health"
    SELF_HARM = "self_harm"
    HOTSPOT = "hotspot"
    ONLINE_IMAGES = "online_images"
    SEXUAL_ASSAULT = "sexual_assault"
    LOOKED_AFTER = "looked_after"
    PEER_EXPLOITED = "peer_exploited"


class CSELevel(StrEnum):
    """CSE risk level; `none` is the level of a child with no live indicator."""

    NONE = "none"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"

    @property
    def rank(self) -> int:
        return _CSE_RANK[self]


_CSE_RANK = {CSELevel.NONE: 0, CSELevel.LOW: 1, CSELevel.MEDIUM: 2, CSELevel.HIGH: 3}


class StrategyDecision(StrEnum):
    """Outcome of a strategy discussion."""

    S47_SINGLE_AGENCY = "s47_single_agency"
    S47_JOINT = "s47_joint"
    NO_S47 = "no_s47"
    POLICE_ONLY = "police_only"


class S47Outcome(StrEnum):
    NOT_SUBSTANTIATED = "not_substantiated"
    SUBSTANTIATED_NO_ICPC = "substantiated_no_icpc"
    ICPC_REQUIRED = "icpc_required"


class AssessmentOutcome(StrEnum):
    NFA = "nfa"
    EARLY_HELP = "early_help"
    CIN_PLAN = "cin_plan"
    STRATEGY = "strategy"
    LOOKED_AFTER = "looked_after"
    # An initial assessment that leads to a core assessment (before Working Together 2013):
    # the case stays open, and no plan starts until the core assessment says which.
    CORE_ASSESSMENT = "core_assessment"


class AssessmentKind(StrEnum):
    """Which assessment framework an assessment belongs to.

    Working Together 2013 replaced the initial assessment (10 working days from the referral,
    NI 59) and the core assessment (35 working days from its start, NI 60) with one child and
    family assessment (45 working days from the referral). Councils moved at different times
    (the seeds' borough still reported NI 59 and NI 60 for 2013-14), so an assessment says
    which it is and a timescales file times each kind.
    """

    SINGLE = "single"
    INITIAL = "initial"
    CORE = "core"


class PlacementType(StrEnum):
    """Where a looked-after child lives (the SSDA903 placement types, grouped)."""

    FOSTER = "foster"
    KINSHIP = "kinship"
    RESIDENTIAL = "residential"
    ADOPTION = "adoption"
    PARENTS = "parents"
    OTHER = "other"


class MissingFrom(StrEnum):
    HOME = "home"
    FOSTER = "foster"
    RESIDENTIAL = "residential"
    SUPPORTED = "supported"
    OTHER = "other"


class PoliceRisk(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class FoundBy(StrEnum):
    POLICE = "police"
    SELF = "self"
    CARER = "carer"
    OTHER = "other"


class TimescaleUnit(StrEnum):
    HOURS = "hours"
    WORKING_DAYS = "working_days"
    MONTHS = "months"


class DecidedBy(StrEnum):
    """Who made a screening decision: the thresholds file, a trainee, or a practitioner."""

    RULES = "rules"
    TRAINEE = "trainee"
    PRACTITIONER = "practitioner"
