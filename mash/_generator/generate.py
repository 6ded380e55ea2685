"""Calibrated synthetic years: a borough's casework, or a nation's, written to one JSONL file.

Why quotas, not dice: the seeds publish totals (388 children on a plan at year end, 416 missing
incidents over 131 children...). Rolling each child's path independently would only hit those
totals on average, and a 10% band is narrow for a category of 20 plans. So a preset turns every
published total into an exact quota at the chosen scale, deals the quotas out as shuffled
decks (which child's plan ends, which category a plan has, how many times a child goes missing),
and leaves the dice only what the seeds do not fix: dates, ages, sex, ethnicity, which concern.
Every rate and its source is in `BOROUGH_2013_14` and in `scenarios/README.md`.

Why buckets on disk: events must leave in event-time order, but a child's story runs over a
year, so the generator cannot write them as it makes them. Each event goes to the bucket file
of its week; the buckets are then sorted one at a time and concatenated. Memory holds one week
of events a process and the decks (a few integers per child), never the year, so `--scale
150` fits.

Why a plan: every deck is dealt before any story is told (`Generator.plan`), so a unit's
story needs only its line of the plan. A big year is told by a pool of processes, a chunk of
units each, every chunk filing its events in bucket files of its own, and the pool sorts the
weeks too; the sort key (instant, then event id) is a total order, so the file is the same
bytes however the units were shared out. England's year goes from one core to all of them.

Determinism: each unit (a child, or a household named in one contact) draws from its own
`random.Random` seeded by the preset, seed, scale and the unit's index, and ties in time break
on event ids. The same preset, seed and scale give the same file, byte for byte.
"""

from __future__ import annotations

import bisect
import contextlib
import gzip
import heapq
import io
import itertools
import json
import math
import multiprocessing
import os
import random
import shutil
import signal
import sys
import tempfile
import time as timer
from collections.abc import Callable, Iterable, Iterator
from collections.abc import Generator as Coroutine
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import IO, Any, TypeVar, cast

from mash._generator.caseloads import Caseloads, Opened, Worked
from mash._runtime.embedded_redis import die_with_parent, pid_running
from mash._runtime.fleet import usable_cores
from mash._scenarios.scenario import AGENCY_BY_SOURCE
from mash._time.calendar import LONDON, WorkingDayCalendar
from mash.consumers.team.config import AssessmentKind, SocialWorkers
from mash.consumers.timescales.rules import add_months
from mash.schemas.codes import ReferralSource

FORMAT = "mash-generated-year"
FORMAT_VERSION = 1
TOLERANCE = 0.10
CATEGORY_ORDER = ("EMO", "NEG", "PHY", "SAB", "MUL")
DA_CONCERNS = frozenset({"3A", "3B", "3C"})


@dataclass(frozen=True)
class Preset:
    """A year's published totals (at scale 1) and the shares a generator needs around them."""

    name: str
    description: str
    census_year: int
    population: int  # children under 18: the denominator of every rate per 10,000
    plans_at_start: int
    plans_started: int
    plans_ended: int
    ended_from_start_share: float  # of the plans that end in the year, those begun before it
    year_end_categories: dict[str, int]
    s47_per_10k: float
    referrals_per_10k: float
    contacts_per_referral: float
    missing_incidents: int
    missing_children: int
    missing_max_per_child: int
    rhi_offered: int
    rhi_done: int
    da_contacts: int
    da_children: int
    da_three_child_share: float
    male_share: float
    plan_female_share: float
    sources: tuple[tuple[str, float], ...]
    ethnicities: tuple[tuple[str, float], ...]
    plan_ages: tuple[tuple[tuple[int, int], float], ...]  # (age in days from, to), weight
    light_outcomes: tuple[tuple[str, float], ...]
    origins: dict[str, str] = field(default_factory=dict)
    # The year's own clocks file (mash/timescales/NAME.yaml), None for the hub's default.
    timescales: str | None = None
    # Initial and core assessments (before Working Together 2013): their totals and the share
    # completed in time (NI 59, NI 60). Zero totals: the single 45-day assessment.
    initial_assessments: int = 0
    core_assessments: int = 0
    initial_in_time: float = 0.0
    core_in_time: float = 0.0
    # Rates the journeys are drawn from.
    nfa_before_assessment: float = 0.0  # referrals closed with no assessment (ReferralNFA)
    re_referral_rate: float = 0.0  # referrals within 12 months of the child's previous one
    repeat_plan_rate: float = 0.0  # plans started for a second or later time (NI 65)
    icpc_plan_rate: float = 1.0  # ICPCs that make a plan
    long_plan_rate: float = 0.0  # plans ended that had lasted two years or more (NI 64)
    plan_review_in_time: float = 1.0  # CP review conferences held in time (NI 67)
    unborn_at_end: int = 0  # children on a plan at the year's end not yet born
    plan_core_assessment: float = 0.0  # children on a plan given a core assessment in the year
    cse_high_rate: float = 0.0  # missing children found with adults while missing
    cse_disclosure_rate: float = 0.0  # engaged children who disclose indicators at interview
    # Looked-after children: at the year's start, entering in it, at its end, and the counts
    # behind NI 61 (adoptions in time), NI 62 (3+ placements), NI 63 (long-term stability).
    lac_at_start: int = 0
    lac_entries: int = 0
    lac_at_end: int = 0
    lac_long_term: int = 0
    lac_long_stable: int = 0
    lac_three_placements: int = 0
    adoptions: int = 0
    adoptions_in_time: int = 0
    lac_review_in_time: float = 1.0  # NI 66
    lac_leaving: tuple[tuple[str, float], ...] = ()  # reasons for leaving other than adoption


BOROUGH_2013_14 = Preset(
    name="borough-2013-14",
    description=(
        "A metropolitan borough's year to 31 March 2014, calibrated to the LSCB annual report "
        "2013-14 (domain §6) and, where it is silent, to England's figures for the same year."
    ),
    census_year=2014,
    population=55_400,
    plans_at_start=333,
    plans_started=406,
    plans_ended=351,
    ended_from_start_share=0.72,
    year_end_categories={"EMO": 73, "NEG": 143, "PHY": 20, "SAB": 28, "MUL": 124},
    s47_per_10k=110.0,
    referrals_per_10k=573.0,
    contacts_per_referral=2.0,
    missing_incidents=416,
    missing_children=131,
    missing_max_per_child=40,
    rhi_offered=378,
    rhi_done=74,
    da_contacts=328,
    da_children=518,
    da_three_child_share=0.12,
    male_share=0.51,
    plan_female_share=205 / 386,
    sources=(
        (ReferralSource.POLICE.value, 0.23),
        (ReferralSource.SCHOOLS.value, 0.15),
        (ReferralSource.EDUCATION_SERVICES.value, 0.02),
        (ReferralSource.GP.value, 0.03),
        (ReferralSource.HEALTH_VISITOR.value, 0.03),
        (ReferralSource.SCHOOL_NURSE.value, 0.01),
        (ReferralSource.OTHER_PRIMARY_HEALTH.value, 0.02),
        (ReferralSource.A_AND_E.value, 0.03),
        (ReferralSource.OTHER_HEALTH.value, 0.03),
        (ReferralSource.HOUSING.value, 0.02),
        (ReferralSource.LA_SOCIAL_CARE.value, 0.08),
        (ReferralSource.LA_OTHER_INTERNAL.value, 0.03),
        (ReferralSource.LA_EARLY_HELP.value, 0.03),
        (ReferralSource.FAMILY_MEMBER.value, 0.06),
        (ReferralSource.SELF.value, 0.02),
        (ReferralSource.OTHER_INDIVIDUAL.value, 0.03),
        (ReferralSource.OTHER_LEGAL.value, 0.03),
        (ReferralSource.OTHER.value, 0.07),
        (ReferralSource.ANONYMOUS.value, 0.04),
    ),
    ethnicities=(
        ("WBRI", 265),
        ("NOBT", 36),
        ("OOTH", 25),
        ("WROM", 23),
        ("APKN", 12),
        ("WOTH", 9),
        ("MWBC", 8),
        ("MWAS", 5),
        ("BAFR", 2),
        ("MOTH", 2),
        ("AOTH", 1),
    ),
    plan_ages=(
        ((30, 364), 0.11),
        ((365, 5 * 365 - 1), 0.29),
        ((5 * 365, 10 * 365 - 1), 0.27),
        ((10 * 365, 16 * 365 - 1), 0.29),
        ((16 * 365, 17 * 365 + 300), 0.04),
    ),
    light_outcomes=(("nfa", 0.25), ("advice", 0.25), ("early_help", 0.40), ("police", 0.10)),
    origins={
        "population": "under-18s implied by the seeds: 388 plans / 70 per 10,000 (§3.4, §5.6)",
        "plans": "388 at 31 March 2014, 406 started, 351 ended: 333 at 1 April (§3.4, NI 64-65)",
        "ended_from_start_share": "ours: plans last about a year, most endings are older plans",
        "year_end_categories": "emotional 73, neglect 143, physical 20, sexual 28, multiple 124 "
        "(§3.4)",
        "s47_per_10k": "110 per 10,000 (§5.6): one enquiry per child in the year",
        "referrals_per_10k": "England 2013-14: 657,800 referrals, 573 per 10,000 (DfE SFR43/2014)",
        "contacts_per_referral": "ours: contacts were not collected nationally in 2013-14",
        "missing": "416 incidents, 131 children (§5.2.4); a power-law tail with the seeds' mean",
        "rhi": "378 SAFE@LAST referrals, 74 young people interviewed (§5.2.4), one interview each",
        "da": "MARAC: 328 cases with children, 518 children (§5.7), as police contacts",
        "sex": "51% male in the population (§3.1); plans female 205, male 181 (§3.4)",
        "sources": "England 2013-14: nearly a quarter from police (SFR43/2014); the rest ours",
        "ethnicities": "children on a plan at 31 March 2014 (§3.4), for every child",
        "plan_ages": "England 2014 children on a plan by age band, rounded (SFR43/2014)",
        "timescales": "the seeds' borough still reported NI 59 and NI 60 in 2013-14 (§4.6)",
        "initial_assessments": "NI 59: 875 of 1,560 initial assessments within 10 WD (§4.6)",
        "core_assessments": "NI 60: 1,468 of 2,405 core assessments within 35 WD (§4.6)",
        "initial_in_time": "NI 59: 56.1% (§4.6, Figure 1)",
        "core_in_time": "NI 60: 61.0% (§4.6, Figure 1)",
        "nfa_before_assessment": "ours: about one referral in ten closed before an assessment",
        "re_referral_rate": "England 2013-14: 23.4% of referrals within 12 months of the last "
        "(DfE SFR43/2014)",
        "repeat_plan_rate": "NI 65: 46 of 406 plans for a second or later time, 11.3% (§4.6)",
        "icpc_plan_rate": "England: about 96% of initial conferences make a plan (SFR43/2014)",
        "long_plan_rate": "NI 64: 24 of 351 plans ended had lasted two years or more (§4.6)",
        "plan_review_in_time": "NI 67: 276 of 277 CP cases reviewed in time, 99.6% (§4.6)",
        "unborn_at_end": "children on a plan at 31 March 2014: unborn 2 (§3.4)",
        "plan_core_assessment": "ours: core assessments beyond the referrals' own, so the year "
        "has the seeds' 2,405",
        "cse_high_rate": "ours: about a fifth of missing children found with older adults, so "
        "some 25 children a year are high risk (the 2015 risk panel saw about 10 cases in its "
        "first month; police: 41 interviews under caution, 23 arrests, §5.2.5)",
        "cse_disclosure_rate": "ours: half the children who engage in a return interview "
        "disclose an exploitation indicator (SAFE@LAST, §5.2.4)",
        "lac_at_end": "NI 62: 397 children looked after at 31 March 2014 (§4.6)",
        "lac_at_start": "ours: the stock a little lower a year earlier",
        "lac_entries": "ours: about a third of the stock enters care in a year (England 2013-14: "
        "30,430 started, 68,840 looked after, SFR36/2014)",
        "lac_long_term": "NI 63: 159 looked after 2.5 years or more and under 16 (§4.6)",
        "lac_long_stable": "NI 63: 108 of them in one placement two years, 67.9% (§4.6)",
        "lac_three_placements": "NI 62: 44 of 397 with three or more placements, 11.1% (§4.6)",
        "adoptions": "NI 61: 34 children adopted (§4.6)",
        "adoptions_in_time": "NI 61: 23 of 34 placed within 12 months of the decision, "
        "67.6% (§4.6; its table says 20)",
        "lac_review_in_time": "NI 66: 728 of 738 reviews in time, 98.6% (§4.6)",
        "lac_leaving": "ours: the other ways out of care (child arrangements, special "
        "guardianship, another authority, adult services, any other reason)",
    },
    timescales="2013-14",
    initial_assessments=1560,
    core_assessments=2405,
    initial_in_time=875 / 1560,
    core_in_time=1468 / 2405,
    nfa_before_assessment=0.10,
    re_referral_rate=0.234,
    repeat_plan_rate=46 / 406,
    icpc_plan_rate=0.96,
    long_plan_rate=24 / 351,
    plan_review_in_time=276 / 277,
    unborn_at_end=2,
    plan_core_assessment=1.0,
    cse_high_rate=0.2,
    cse_disclosure_rate=0.5,
    lac_at_start=390,
    lac_entries=140,
    lac_at_end=397,
    lac_long_term=159,
    lac_long_stable=108,
    lac_three_placements=44,
    adoptions=34,
    adoptions_in_time=23,
    lac_review_in_time=728 / 738,
    lac_leaving=(("RC3", 0.20), ("RC4", 0.15), ("RC5", 0.06), ("RC6", 0.05), ("RC7", 0.54)),
)

PRESETS = {BOROUGH_2013_14.name: BOROUGH_2013_14}


def quota(total: float, scale: float) -> int:
    return math.floor(total * scale + 0.5)


def largest_remainder(shares: dict[str, float], total: int) -> dict[str, int]:
    """Split `total` in proportion to `shares`, exactly, ties broken by name."""
    weight = sum(shares.values())
    exact = {k: total * v / weight for k, v in shares.items()}
    out = {k: math.floor(x) for k, x in exact.items()}
    left = total - sum(out.values())
    for k in sorted(exact, key=lambda k: (out[k] - exact[k], k))[:left]:
        out[k] += 1
    return out


def heavy_tail(children: int, incidents: int, most: int) -> list[int]:
    """Episodes per child: a discrete power law whose mean is the seeds', summing exactly.

    Counts are read off the distribution's quantiles (not sampled), so the shape is the same at
    every scale; the exponent is found by bisection on the mean.
    """
    if children <= 0:
        return []
    mean = incidents / children

    def pmf(alpha: float) -> list[float]:
        weights = [k**-alpha for k in range(1, most + 1)]
        total = sum(weights)
        return [w / total for w in weights]

    lo, hi = 0.1, 6.0
    for _ in range(60):
        mid = (lo + hi) / 2
        got = sum((k + 1) * p for k, p in enumerate(pmf(mid)))
        lo, hi = (mid, hi) if got > mean else (lo, mid)
    probabilities = pmf((lo + hi) / 2)
    counts: list[int] = []
    cumulative, k = 0.0, 0
    for i in range(children):
        q = (i + 0.5) / children
        while k < most - 1 and cumulative + probabilities[k] < q:
            cumulative += probabilities[k]
            k += 1
        counts.append(k + 1)
    # Quantiles round the mean a little: give or take episodes from the heaviest children.
    counts.sort(reverse=True)
    gap = incidents - sum(counts)
    i = 0
    while gap != 0 and children:
        step = 1 if gap > 0 else -1
        if 1 <= counts[i % children] + step <= most:
            counts[i % children] += step
            gap -= step
        i += 1
    return counts


def dealt(rng: random.Random, deck: list[Any]) -> list[Any]:
    rng.shuffle(deck)
    return deck


@dataclass(frozen=True)
class Quotas:
    """Every published total of a preset at one scale, as exact whole numbers."""

    population: int
    plans_at_start: int
    plans_started: int
    plans_ended: int
    ended_from_start: int
    s47: int
    referrals: int
    light_contacts: int
    missing_incidents: int
    missing_children: int
    rhi_offered: int
    rhi_done: int
    da_contacts: int
    da_children: int
    year_end_categories: dict[str, int]
    initial_assessments: int = 0
    core_assessments: int = 0
    # Rates over a few hundred plans are dealt, not drawn: at 406 plans a drawn 11.3% has a
    # standard deviation of 1.6 points, wider than the 10% band (1.1 points) it must meet.
    repeat_plans: int = 0
    long_plans: int = 0
    unborn_at_end: int = 0
    lac_at_start: int = 0
    lac_entries: int = 0
    lac_at_end: int = 0
    lac_long_term: int = 0
    lac_long_stable: int = 0
    lac_three_placements: int = 0
    adoptions: int = 0
    adoptions_in_time: int = 0

    @property
    def lac_leavers(self) -> int:
        return self.lac_at_start + self.lac_entries - self.lac_at_end

    @property
    def plans_at_end(self) -> int:
        return self.plans_at_start + self.plans_started - self.plans_ended

    @property
    def ended_new(self) -> int:
        return self.plans_ended - self.ended_from_start

    @classmethod
    def of(cls, preset: Preset, scale: float) -> Quotas:
        population = max(1, quota(preset.population, scale))
        at_start = quota(preset.plans_at_start, scale)
        started = quota(preset.plans_started, scale)
        ended = min(quota(preset.plans_ended, scale), at_start + started)
        from_start = min(at_start, quota(ended * preset.ended_from_start_share, 1))
        from_start = max(from_start, ended - started)
        at_end = at_start + started - ended
        s47 = max(started, quota(preset.s47_per_10k * population / 10_000, 1))
        referrals = quota(preset.referrals_per_10k * population / 10_000, 1)
        da_contacts = quota(preset.da_contacts, scale)
        da_children = max(da_contacts, quota(preset.da_children, scale))
        incidents = quota(preset.missing_incidents, scale)
        children = min(quota(preset.missing_children, scale), incidents)
        return cls(
            population=population,
            plans_at_start=at_start,
            plans_started=started,
            plans_ended=ended,
            ended_from_start=from_start,
            s47=s47,
            referrals=referrals,
            light_contacts=quota(referrals * (preset.contacts_per_referral - 1), 1),
            missing_incidents=incidents,
            missing_children=children,
            rhi_offered=min(quota(preset.rhi_offered, scale), incidents),
            rhi_done=min(quota(preset.rhi_done, scale), children),
            da_contacts=da_contacts,
            da_children=da_children,
            year_end_categories=largest_remainder(
                {k: float(v) for k, v in preset.year_end_categories.items()}, at_end
            ),
            initial_assessments=quota(preset.initial_assessments, scale),
            core_assessments=quota(preset.core_assessments, scale),
            repeat_plans=min(started, quota(started * preset.repeat_plan_rate, 1)),
            long_plans=min(from_start, quota(ended * preset.long_plan_rate, 1)),
            unborn_at_end=min(started - (ended - from_start), quota(preset.unborn_at_end, scale)),
            **_lac_quotas(preset, scale),
        )


def _lac_quotas(preset: Preset, scale: float) -> dict[str, int]:
    """The looked-after totals at a scale, kept consistent: leavers come from the children
    looked after at the start or entering, adoptions are leavers, the long-term children and
    those with three placements are among those looked after at the end."""
    start, entries = quota(preset.lac_at_start, scale), quota(preset.lac_entries, scale)
    end = min(quota(preset.lac_at_end, scale), start + entries)
    leavers = start + entries - end
    stayers = start - max(0, leavers - entries // 7)  # about a seventh of entrants leave
    long_term = min(quota(preset.lac_long_term, scale), max(0, stayers))
    stable = min(quota(preset.lac_long_stable, scale), long_term)
    adoptions = min(quota(preset.adoptions, scale), leavers)
    return {
        "lac_at_start": start,
        "lac_entries": entries,
        "lac_at_end": end,
        "lac_long_term": long_term,
        "lac_long_stable": stable,
        "lac_three_placements": min(quota(preset.lac_three_placements, scale), end - stable),
        "adoptions": adoptions,
        "adoptions_in_time": min(quota(preset.adoptions_in_time, scale), adoptions),
    }


def expectations(preset: Preset, quotas: Quotas) -> list[dict[str, Any]]:
    """The calibration figures a replay of the file must reproduce, within `TOLERANCE`."""

    def figure(path: str, value: float) -> dict[str, Any]:
        return {"figure": {"path": path, "equals": value, "within": TOLERANCE}}

    rate = 10_000 / quotas.population
    out = [
        figure("cp_plans_now.total", quotas.plans_at_end),
        figure("cp_plans_now.rate_per_10k", round(quotas.plans_at_end * rate, 1)),
        *(
            figure(f"cp_plans_now.by_category.{c}", n)
            for c, n in quotas.year_end_categories.items()
            if n
        ),
        figure("child_protection.s47_rate_per_10k", round(quotas.s47 * rate, 1)),
        figure("child_protection.plans_started_in_period", quotas.plans_started),
        figure("child_protection.plans_ended", quotas.plans_ended),
        figure("missing.incidents", quotas.missing_incidents),
        figure("missing.children", quotas.missing_children),
        figure("missing.interviews_offered", quotas.rhi_offered),
        figure("missing.interviews_done", quotas.rhi_done),
        figure("contacts.domestic_abuse.contacts", quotas.da_contacts),
        figure("contacts.domestic_abuse.children", quotas.da_children),
        figure("referrals.total", quotas.referrals),
        *indicator_expectations(preset, quotas),
    ]
    return [e for e in out if e["figure"]["equals"]]


def indicator_targets(preset: Preset, quotas: Quotas) -> dict[str, float]:
    """The seeds' indicators (and England's re-referral rate) a replay must reproduce, as
    percentages keyed as `report["indicators"]` keys them."""
    targets = {
        "NI 64": 100 * quotas.long_plans / quotas.plans_ended if quotas.plans_ended else 0.0,
        "NI 65": 100 * quotas.repeat_plans / quotas.plans_started if quotas.plans_started else 0,
        "NI 67": 100 * preset.plan_review_in_time,
        "re_referrals": 100 * preset.re_referral_rate,
    }
    if quotas.lac_at_end:
        targets["NI 61"] = 100 * quotas.adoptions_in_time / max(1, quotas.adoptions)
        targets["NI 62"] = 100 * quotas.lac_three_placements / quotas.lac_at_end
        targets["NI 63"] = 100 * quotas.lac_long_stable / max(1, quotas.lac_long_term)
        targets["NI 66"] = 100 * preset.lac_review_in_time
    if quotas.initial_assessments:
        targets["NI 59"] = 100 * preset.initial_in_time
    if quotas.core_assessments:
        targets["NI 60"] = 100 * preset.core_in_time
    return {k: round(v, 1) for k, v in sorted(targets.items()) if v}


def indicator_expectations(preset: Preset, quotas: Quotas) -> list[dict[str, Any]]:
    def figure(path: str, value: float) -> dict[str, Any]:
        return {"figure": {"path": path, "equals": value, "within": TOLERANCE}}

    out = [figure(f"indicators.{k}.value", v) for k, v in indicator_targets(preset, quotas).items()]
    if quotas.lac_at_end:
        out.append(figure("looked_after.now", quotas.lac_at_end))
        out.append(figure("indicators.NI 63.denominator", quotas.lac_long_term))
        out.append(figure("indicators.NI 61.denominator", quotas.adoptions))
    if quotas.initial_assessments:
        out.append(figure("indicators.NI 59.denominator", quotas.initial_assessments))
    if quotas.core_assessments:
        out.append(figure("indicators.NI 60.denominator", quotas.core_assessments))
    return out


T = TypeVar("T")
# A unit's story as it is told: it yields each assessment it opens and is sent back when a
# social worker took it on and authorised it (`caseloads`); it returns what it returns.
Work = Coroutine["Opened | Together", "Worked | None", T]


@dataclass(frozen=True)
class Together:
    """What a story yields to tell `journeys` side by side (a household's children, referred
    by one contact): each waits for its own assessments, so their openings reach the
    caseloads in event time, not one child's whole journey before the next child's first
    assessment. The story goes on when the last has ended."""

    journeys: list[Work[None]]


# A line of `Generator.plan`: the name of the unit's story and what it was dealt.
Unit = tuple[str, tuple[Any, ...]]
BEGUN = None  # in the plan: every story before it has begun


def _told(story: Work[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """A story with no social workers: nothing waits, so it is told at once."""
    try:
        next(story)
    except StopIteration as told:
        return cast("list[dict[str, Any]]", told.value)
    raise AssertionError("a story opened an assessment with no social workers")


class _Telling:
    """The stories being told while they wait: each journey (a unit's story, n = 0, or a
    journey it tells `Together`, n >= 1) by (unit's place, n), and their openings in a heap."""

    def __init__(self) -> None:
        self.works: dict[tuple[int, int], Work[Any]] = {}
        self.left: dict[int, int] = {}  # journeys told together still going, by unit's place
        self.waiting: list[tuple[datetime, int, int, Opened]] = []

    def next_at(self) -> datetime:
        return self.waiting[0][0]

    def pop(self) -> tuple[tuple[int, int], Opened]:
        _, place, n, opened = heapq.heappop(self.waiting)
        return (place, n), opened

    def begin(self, place: int, story: Work[list[dict[str, Any]]]) -> list[dict[str, Any]] | None:
        self.works[(place, 0)] = story
        return self._run((place, 0), None, start=True)

    def go_on(self, who: tuple[int, int], worked: Worked) -> list[dict[str, Any]] | None:
        return self._run(who, worked)

    def _run(
        self, who: tuple[int, int], answer: Worked | None, start: bool = False
    ) -> list[dict[str, Any]] | None:
        """Tell `who` on until it waits for an assessment or ends; the unit's events when
        its own story has ended."""
        place, n = who
        work = self.works[who]
        try:
            got = next(work) if start else work.send(answer)
        except StopIteration as told:
            del self.works[who]
            if n == 0:
                return cast("list[dict[str, Any]]", told.value)
            self.left[place] -= 1
            if self.left[place]:
                return None
            return self._run((place, 0), None)  # the last journey ended: the story goes on
        if isinstance(got, Opened):
            heapq.heappush(self.waiting, (got.at, place, n, got))
            return None
        # Together: every journey begins (to its first opening, or its end) before any waits.
        self.left[place] = len(got.journeys)
        if not got.journeys:
            return self._run((place, 0), None)
        ended: list[dict[str, Any]] | None = None
        for k, journey in enumerate(got.journeys, start=1):
            self.works[(place, k)] = journey
        for k in range(1, len(got.journeys) + 1):
            result = self._run((place, k), None, start=True)
            ended = result if result is not None else ended
        return ended


# ---- one unit's story ------------------------------------------------------------------------


Table = tuple[tuple[Any, float], ...]  # values and their weights
_TABLES_KEPT = 64  # the preset's tables and the constant ones in the stories, with room
_TABLES: dict[int, tuple[Table, list[Any], list[float], float]] = {}


def _pick(rng: random.Random, table: Table) -> Any:
    """One value drawn by weight: the draw `rng.choices(values, weights)` makes (one
    `random()` against the running totals), with the totals worked out once per table.

    Tables are kept by identity (the preset's, and the constant ones in the stories), with
    the table itself so its id cannot be reused, and only so many: a table built afresh at
    each call would be worked out each time, as before, not fill the memory."""
    known = _TABLES.get(id(table))
    if known is None or known[0] is not table:
        totals = list(itertools.accumulate(w for _, w in table))
        known = (table, [v for v, _ in table], totals, totals[-1] + 0.0)
        if len(_TABLES) < _TABLES_KEPT:
            _TABLES[id(table)] = known
    _, values, totals, total = known
    return values[bisect.bisect(totals, rng.random() * total, 0, len(values) - 1)]


class Story:
    """The events of one unit (a child, or the children of one household), in the making."""

    def __init__(self, gen: Generator, unit: str, rng: random.Random) -> None:
        self.gen = gen
        self.unit = unit
        self.rng = rng
        self.events: list[dict[str, Any]] = []
        self.assessments = 0

    # ---- time ---------------------------------------------------------------------------
    def office(self, day: date) -> datetime:
        """A working-day instant in office hours, on or after `day`."""
        cal = self.gen.calendar
        while not cal.is_working_day(day):
            day += timedelta(days=1)
        return datetime.combine(
            day, time(self.rng.randint(9, 16), self.rng.choice((0, 15, 30, 45))), tzinfo=LONDON
        )

    def wd(self, day: date, n: int) -> date:
        return self.gen.calendar.add_working_days(day, n)

    # ---- children and events ------------------------------------------------------------
    def child(
        self, suffix: str, on: date, ages: tuple[int, int], female_share: float | None = None
    ) -> dict[str, Any]:
        female = 1 - self.gen.preset.male_share if female_share is None else female_share
        return {
            "child_id": f"{self.unit}{suffix}",
            "dob": (on - timedelta(days=self.rng.randint(*ages))).isoformat(),
            "sex": "F" if self.rng.random() < female else "M",
            "ethnicity": _pick(self.rng, self.gen.preset.ethnicities),
        }

    def event(self, event_type: str, at: datetime, child: str, agency: str, **fields: Any) -> str:
        event_id = f"g.{self.unit}.{len(self.events) + 1:03d}"
        if at.date() > self.gen.end_day:
            return event_id  # after the year: not in this file
        stamp = at.isoformat()
        self.events.append(
            {
                "event_id": event_id,
                "type": event_type,
                "occurred_at": stamp,
                "recorded_at": stamp,
                "child_id": child,
                "agency": agency,
                **fields,
            }
        )
        return event_id

    def social(self, event_type: str, at: datetime, child: str, **fields: Any) -> None:
        self.event(event_type, at, child, "la_social_care", **fields)

    def contact(
        self,
        at: datetime,
        children: list[dict[str, Any]],
        concerns: list[str],
        source: str | None = None,
        **extra: Any,
    ) -> None:
        while source is None or (
            source == ReferralSource.POLICE.value and not self.police_ok(concerns)
        ):
            source = _pick(self.rng, self.gen.preset.sources)
        agency = AGENCY_BY_SOURCE[ReferralSource(source)].value
        event_id = f"g.{self.unit}.{len(self.events) + 1:03d}"
        self.event(
            "contact.received",
            at,
            children[0]["child_id"],
            agency,
            correlation_id=event_id,
            referral_source=source,
            concerns=concerns,
            children=children,
            **extra,
        )

    @staticmethod
    def police_ok(concerns: list[str]) -> bool:
        """Police contacts about these concerns would screen as police matters or DA."""
        return not ({"14A"} | DA_CONCERNS) & set(concerns)

    def assessment(
        self,
        child: str,
        after: datetime,
        outcome: str,
        factors: list[str],
        kind: str = "single",
        referral: date | None = None,
    ) -> Work[date]:
        """An assessment begun within two working days of `after`, returning the day it was
        authorised.

        With social workers (`mash generate --team`), it waits for one with room and takes
        the team's working days for its kind: its timeliness is the workload's. Without,
        its length is drawn from the year's own timeliness: a single assessment from the
        deck of lengths mash always used (about two in three within 45 working days); an
        initial assessment on time (within 10 working days of the `referral`) at NI 59's
        rate; a core assessment on time (35 working days from its start) at NI 60's."""
        self.assessments += 1
        ref = f"{child}-A{self.assessments}"
        gen, rng = self.gen, self.rng
        lag = rng.randint(0, 2)
        begun = self.office(self.wd(after.date(), lag))
        if begun <= after:
            begun = after + timedelta(hours=1)
        self.social("assessment.started", begun, child, assessment_id=ref, kind=kind)
        extra: dict[str, str] = {}
        if gen.social_workers is not None:
            low, high = gen.social_workers.working_days[AssessmentKind(kind)]
            at_time = time(rng.randint(9, 16), rng.choice((0, 15, 30, 45)))
            worked = yield Opened(begun, kind, rng.randint(low, high), at_time)
            assert worked is not None  # the caseloads answer every opening
            done, extra = worked.done, {"worked_from": worked.held.isoformat()}
        elif kind == "initial":
            # Working days from the referral (day 0), as the clock counts them.
            origin = referral or after.date()
            lag = gen.calendar.working_days_between(origin, begun.date())
            on_time = rng.random() < gen.initial_on_time
            took = rng.randint(lag + 1, max(lag + 1, 10)) if on_time else rng.randint(11, 35)
            done = self.office(self.wd(origin, took))
        elif kind == "core":
            on_time = rng.random() < gen.core_on_time
            took = rng.randint(8, 35) if on_time else rng.randint(36, 55)
            done = self.office(self.wd(begun.date(), took))
        else:
            took = rng.choice((12, 20, 28, 34, 40, 44, 44, 50, 58, 70))
            done = self.office(self.wd(begun.date(), took))
        if done <= begun:
            done = begun + timedelta(hours=2)
        self.social(
            "assessment.completed",
            done,
            child,
            assessment_id=ref,
            factors=factors,
            outcome=outcome,
            kind=kind,
            **extra,
        )
        return done.date()

    def close(self, child: str, day: date, reason: str) -> None:
        self.social("case.closed", self.office(day), child, reason=reason)

    def after_assessment(
        self,
        child: str,
        after: datetime,
        factors: list[str],
        details: dict[str, Any] | None = None,
        again: tuple[list[str], ...] = (),
    ) -> Work[None]:
        """A referral for assessment, as far as it goes: closed before any assessment, or
        assessed (in 2013-14: an initial assessment, a core assessment after it or instead
        of it), then closed or kept open on a child-in-need plan. A child whose case closed
        may come back: a new contact within 12 months of this referral, which screening
        makes a referral again (`details` names the child; `again`, the concerns it may
        carry, else the same ones)."""
        gen, rng, preset = self.gen, self.rng, self.gen.preset
        referral = after.date()
        closed: date | None = None
        if rng.random() < preset.nfa_before_assessment:
            # ReferralNFA: closed the day it came in, nothing done (the census's RC7).
            self.social("case.closed", after + timedelta(hours=3), child, reason="RC7")
            closed = referral
        else:
            outcome = _pick(rng, (("nfa", 0.25), ("early_help", 0.35), ("cin_plan", 0.40)))
            if not gen.two_stage:
                done = yield from self.assessment(child, after, outcome, factors)
            elif rng.random() < gen.initial_share:
                core = rng.random() < gen.core_after_initial
                first = "core_assessment" if core else outcome
                done = yield from self.assessment(child, after, first, factors, "initial", referral)
                if core:
                    # Begun after the initial one was authorised, never the same day (DfE
                    # rule 8863Q: no assessment starts while another is open).
                    start = datetime.combine(self.wd(done, 1), time(8, 0), tzinfo=LONDON)
                    done = yield from self.assessment(child, start, outcome, factors, "core")
            else:
                done = yield from self.assessment(child, after, outcome, factors, "core")
            if outcome == "nfa":
                closed = self.wd(done, 1)
                self.close(child, closed, "RC8")
            elif outcome == "early_help":
                closed = self.wd(done, 1)
                self.close(child, closed, "RC9")
            elif rng.random() < 0.5:
                closed = self.wd(done, rng.randint(40, 120))
                self.close(child, closed, "RC7")
        if details is None or closed is None or rng.random() >= gen.re_referral_chance:
            return
        # Back within 12 months of this referral, at least a fortnight after the closure,
        # and early enough in the year for the next referral to be worked.
        first = closed + timedelta(days=14)
        last = min(referral + timedelta(days=360), gen.end_day - timedelta(days=20))
        if first > last:
            return
        on = first + timedelta(days=rng.randint(0, (last - first).days))
        concerns = list(rng.choice(again)) if again else factors
        at = self.office(on)
        if at.date() > last:
            return
        self.contact(at, [details], concerns)
        yield from self.after_assessment(child, at, concerns, details, again)

    def reviews(self, child: str, cpp: str, plan_start: date, until: date) -> list[datetime]:
        """Review conferences: within three months of the plan, then within six of the
        review before, all but a few in time (NI 67: 99.6%)."""
        held: list[datetime] = []
        previous, months = plan_start, 3
        while True:
            due = add_months(previous, months)
            # The run-in's reviews were held in time: its breaches would be last year's.
            in_time = self.rng.random() < self.gen.preset.plan_review_in_time
            if in_time or due < self.gen.start_day:
                day = due - timedelta(days=self.rng.randint(1, 12))
                while not self.gen.calendar.is_working_day(day):
                    day -= timedelta(days=1)
            else:
                day = due + timedelta(days=self.rng.randint(1, 15))
                while not self.gen.calendar.is_working_day(day):
                    day += timedelta(days=1)
            if day > until:
                return held
            at = datetime.combine(day, time(10, 0), tzinfo=LONDON)
            self.social("cp_review.held", at, child, cpp_id=cpp)
            held.append(at)
            previous, months = day, 6

    def plan(
        self,
        child: str,
        started: datetime,
        category: str,
        ends: bool,
        ref: str = "CPP",
        previous: int = 0,
    ) -> None:
        """A plan from `started`: its core group, its reviews, and (if `ends`) its last day."""
        cpp = f"{child}-{ref}"
        self.social(
            "cp_plan.started",
            started,
            child,
            cpp_id=cpp,
            initial_category=category,
            previous_plans=previous,
        )
        core = self.wd(started.date(), self.rng.randint(4, 10))
        self.social("core_group.held", self.office(core), child, cpp_id=cpp)
        held = self.reviews(child, cpp, started.date(), self.gen.end_day)
        in_year = [r for r in held if r.date() >= self.gen.start_day]
        if not ends or not in_year:
            return
        # A plan ends at a review conference: the first of the year, or the second.
        last = in_year[0] if len(in_year) == 1 or self.rng.random() < 0.7 else in_year[1]
        self.events = [
            e
            for e in self.events
            if not (e["type"] == "cp_review.held" and e["occurred_at"] > last.isoformat())
        ]
        for e in self.events:
            if e["type"] == "cp_review.held" and e["occurred_at"] == last.isoformat():
                e["continue_plan"] = False  # the review that ends the plan
        ended = last + timedelta(minutes=30)
        self.social("cp_plan.ended", ended, child, cpp_id=cpp, latest_category=category)
        self.close(child, self.wd(ended.date(), self.rng.randint(5, 20)), "RC7")


# ---- the generator ---------------------------------------------------------------------------


CONCERNS_FOR = {
    # Routes to a strategy discussion: level 4 at the front door (default thresholds)...
    "PHY": (["18A"], True),
    "SAB": (["19B"], False),
    # ...or a referral for assessment (level 3), with the strategy discussion during it.
    "NEG": (["16A", "1B"], False),
    "EMO": (["17A"], False),
    "MUL": (["1B", "2B", "4B"], False),
}
FACTORS_FOR = {
    "PHY": ["18C"],
    "SAB": ["19C"],
    "NEG": ["16A", "1B"],
    "EMO": ["17A"],
    "MUL": ["1B", "2B", "4B"],
}
# What a child may disclose at a return interview, each enough for medium risk alone.
DISCLOSURES = (
    ["older_partner"],
    ["gifts_money_phone", "substances"],
    ["gifts_money_phone", "hotspot"],
    ["sexual_health", "self_harm"],
    ["online_images", "peer_exploited"],
)
ASSESSMENT_CONCERNS = (["17A"], ["15A"], ["18A"], ["1B", "2B"], ["11A"], ["2B", "4B"])
LIGHT_CONCERNS = {
    "nfa": ([],),
    "advice": (["21"], ["20"], ["5A"]),
    "early_help": (["16A"], ["1B"], ["2B"], ["4B"], ["7A"], ["2A"]),
    "police": (["14A"],),
}
CHILD_AGES = (30, 17 * 365 + 300)
# Of the journeys after a referral for assessment, the share that end with the case closed
# (one in ten before any assessment, then NFA 25%, early help 35%, half the CIN plans)...
CLOSES = 0.1 + 0.9 * (0.25 + 0.35 + 0.40 * 0.5)
# ...and of those, the share with room in the year for a return (ours, from replays).
RETURN_FIT = 0.63
# Of the core assessments begun, the share completed by the year's end (ours, from replays):
# those begun in its last weeks are still open at 31 March.
CORE_COMPLETES = 0.88
# A late assessment is likelier than one on time to be still open at the year's end, so the
# year's completions are on time a little more often than they were drawn. Relative to one on
# time, the chance a late one completes in the year (ours, from replays):
LATE_INITIALS_COMPLETED = 0.925
LATE_CORES_COMPLETED = 0.82


def drawn_share(target: float, late_completed: float) -> float:
    """The chance to draw "on time" with, so that the completions are on time at `target`:
    solves target = p / (p + (1 - p) * late_completed) for p."""
    return target * late_completed / (1 - target + target * late_completed)


MISSING_AGES = (11 * 365, 17 * 365)


@dataclass
class GenerateResult:
    path: Path
    events: int
    children: int
    seconds: float
    quotas: Quotas


class Generator:
    """One preset at one scale and seed: `Generator(...).write(path)`."""

    def __init__(
        self,
        preset: Preset,
        seed: int = 0,
        scale: float = 1.0,
        social_workers: SocialWorkers | None = None,
        team: str | None = None,
    ) -> None:
        if not (0 < scale <= 1000):
            raise ValueError(f"scale must be above 0 and at most 1000, got {scale}")
        self.preset = preset
        self.seed = seed
        self.scale = scale
        self.quotas = Quotas.of(preset, scale)
        self.calendar = WorkingDayCalendar()
        year = preset.census_year
        self.start_day = date(year - 1, 4, 1)
        self.end_day = date(year, 3, 31)
        self.start = datetime.combine(self.start_day, time(0, 0), tzinfo=LONDON)
        self.end = datetime.combine(self.end_day, time(23, 59), tzinfo=LONDON)
        self.children = 0
        self.missing_referrals = 0
        self.categories = tuple(preset.year_end_categories.items())  # one table to draw from
        self.social_workers = social_workers
        self.team = team
        self.caseloads: Caseloads[Any] | None = None
        self._journey_rates()

    def _journey_rates(self) -> None:
        """The chances each journey is drawn with, solved from the preset's rates and totals.

        A re-referral needs a closed case and room in the year, so the chance a closed case
        comes back is the target rate over the share of journeys that can (`RETURN_FIT`, ours,
        measured on replays); each return may return again, a geometric tail. Initial and core
        assessments split the year's assessed referrals so their totals are the seeds'."""
        q, p = self.quotas, self.preset
        self.lac_entry_leavers = min(q.lac_leavers, q.lac_entries // 7)
        self.cse_s47 = quota(q.missing_children * p.cse_high_rate, 1)
        no_plan = max(1, q.s47 - q.plans_started - self.cse_s47)
        extra_icpcs = q.plans_started * (1 / p.icpc_plan_rate - 1)
        self.icpc_no_plan_chance = min(1.0, extra_icpcs / no_plan)
        # Referrals for assessment, returns included (children entering care are assessed
        # by a core assessment of their own).
        s17 = max(1, q.referrals - q.s47 - q.lac_entries)
        self.re_referrals = quota(q.referrals * p.re_referral_rate, 1)
        first = max(1, s17 - self.re_referrals)
        back = self.re_referrals / (first + self.re_referrals)
        self.re_referral_chance = min(1.0, back / (CLOSES * RETURN_FIT))
        self.two_stage = q.initial_assessments > 0
        self.initial_on_time = drawn_share(p.initial_in_time, LATE_INITIALS_COMPLETED)
        self.core_on_time = drawn_share(p.core_in_time, LATE_CORES_COMPLETED)
        assessed = s17 * (1 - p.nfa_before_assessment)
        self.initial_share = min(1.0, q.initial_assessments / assessed) if assessed else 0.0
        straight = assessed * (1 - self.initial_share)
        on_plans = q.plans_at_start * p.plan_core_assessment
        rest = q.core_assessments / CORE_COMPLETES - q.s47 - straight - on_plans - q.lac_entries
        self.core_after_initial = (
            min(1.0, max(0.0, rest / q.initial_assessments)) if q.initial_assessments else 0.0
        )

    def rng(self, unit: str) -> random.Random:
        return random.Random(f"{self.preset.name}:{self.seed}:{self.scale}:{unit}")  # noqa: S311

    def day(self, rng: random.Random, first: int = 0, last: int = 364) -> date:
        return self.start_day + timedelta(days=rng.randint(first, max(first, last)))

    # ---- decks ----------------------------------------------------------------------------
    def _decks(self) -> dict[str, list[Any]]:
        q = self.quotas
        rng = self.rng("decks")
        at_end = [c for c in CATEGORY_ORDER for _ in range(q.year_end_categories.get(c, 0))]
        ended = largest_remainder(
            {k: float(v) for k, v in self.preset.year_end_categories.items()}, q.plans_ended
        )
        roles = (
            ["plan_open"] * (q.plans_started - q.ended_new)
            + ["plan_ended"] * q.ended_new
            + ["no_plan"] * max(0, q.s47 - q.plans_started - self.cse_s47)
        )
        opened = q.plans_started - q.ended_new
        threes = min(quota(q.da_contacts * self.preset.da_three_child_share, 1), q.da_contacts)
        twos = q.da_children - q.da_contacts - 2 * threes
        while twos < 0 and threes > 0:
            threes -= 1
            twos = q.da_children - q.da_contacts - 2 * threes
        twos = max(0, min(twos, q.da_contacts - threes))
        ones = q.da_contacts - twos - threes
        return {
            "at_end": dealt(rng, at_end),
            "ended": dealt(rng, [c for c in CATEGORY_ORDER for _ in range(ended.get(c, 0))]),
            "existing_ends": dealt(
                rng,
                [True] * q.ended_from_start + [False] * (q.plans_at_start - q.ended_from_start),
            ),
            "roles": dealt(rng, roles),
            # Which new plans are a second or later plan (NI 65), which run-in plans that end
            # had lasted two years (NI 64), which plans open at the end are pre-birth ones.
            "repeats": dealt(
                rng, [True] * q.repeat_plans + [False] * (q.plans_started - q.repeat_plans)
            ),
            "long": dealt(
                rng, [True] * q.long_plans + [False] * (q.ended_from_start - q.long_plans)
            ),
            "unborn": dealt(
                rng, [True] * q.unborn_at_end + [False] * max(0, opened - q.unborn_at_end)
            ),
            "households": dealt(rng, [1] * ones + [2] * twos + [3] * threes),
            **self._lac_decks(rng),
            "missing": dealt(
                rng,
                heavy_tail(
                    q.missing_children, q.missing_incidents, self.preset.missing_max_per_child
                ),
            ),
            "engaged": dealt(
                rng, [True] * q.rhi_done + [False] * (q.missing_children - q.rhi_done)
            ),
            # Interviews offered on the episodes other than the engaged children's first.
            "offers": dealt(
                rng,
                [True] * (q.rhi_offered - q.rhi_done)
                + [False] * (q.missing_incidents - q.rhi_offered),
            ),
        }

    def _lac_decks(self, rng: random.Random) -> dict[str, list[Any]]:
        """Who among the looked-after children plays which part: the totals of NI 61, 62 and
        63 are dealt (a few dozen children each: drawn, they would miss a 10% band)."""
        q = self.quotas
        entry_leavers = self.lac_entry_leavers
        run_in_leavers = q.lac_leavers - entry_leavers
        stayers = q.lac_at_start - run_in_leavers
        roles = (
            ["long_stable"] * q.lac_long_stable
            + ["long_moved"] * (q.lac_long_term - q.lac_long_stable)
            + ["short"] * max(0, stayers - q.lac_long_term)
            + ["adopted"] * q.adoptions
            + ["left"] * max(0, run_in_leavers - q.adoptions)
            + ["entry_stays"] * (q.lac_entries - entry_leavers)
            + ["entry_leaves"] * entry_leavers
        )
        movers = q.lac_at_end - q.lac_long_stable
        return {
            "lac": dealt(rng, roles),
            "lac_three": dealt(
                rng,
                [True] * q.lac_three_placements + [False] * (movers - q.lac_three_placements),
            ),
            "adopted_in_time": dealt(
                rng,
                [True] * q.adoptions_in_time + [False] * (q.adoptions - q.adoptions_in_time),
            ),
        }

    # ---- units ----------------------------------------------------------------------------
    def units(self) -> Iterator[Work[list[dict[str, Any]]] | list[dict[str, Any]]]:
        """Each unit's story, unit by unit: its events, or a story that may wait for its
        assessments to be worked (`stories` runs them). A story must begin before the next
        is asked for: the year's first referrals are dealt from what the missing children's
        stories have counted."""
        for unit in self.plan(shared_offers=True):
            if unit is not BEGUN:
                yield self.tell(unit)

    def tell(self, unit: Unit) -> Work[list[dict[str, Any]]] | list[dict[str, Any]]:
        """One unit's story from its line in the plan."""
        kind, args = unit
        teller: Callable[..., Work[list[dict[str, Any]]] | list[dict[str, Any]]] = getattr(
            self, kind
        )
        return teller(*args)

    def plan(self, shared_offers: bool) -> Iterator[Unit | None]:
        """Each unit in the year's order, as the name of its story and what it was dealt.

        The plan deals every deck, so without `shared_offers` a unit's story needs nothing
        but its line and a generator of the same preset, seed and scale: the lines before
        `BEGUN` can be told anywhere, in any order (`write` tells them in several processes).
        The lines after it are counted from the missing children's stories, so those must
        have been told, and their `missing_referrals` added to this generator, before the
        plan is asked for its next line. The return interviews offered are one deck over the
        missing children: with `shared_offers` each story draws from it as it goes (a story
        waiting for social workers draws later), so they must be told in the plan's order;
        without, each is dealt its own slice, which is what a story told at once draws."""
        q = self.quotas
        self.missing_referrals = 0
        decks = self._decks()
        at_end = iter(decks["at_end"])
        ended = iter(decks["ended"])
        long, repeats, unborn = iter(decks["long"]), iter(decks["repeats"]), iter(decks["unborn"])
        for i, ends in enumerate(decks["existing_ends"]):
            category = next(ended) if ends else next(at_end)
            yield "_existing_plan", (f"P{i:07d}", ends, category, ends and next(long))
        categories = self.categories
        for i, role in enumerate(decks["roles"]):
            category = (
                next(at_end)
                if role == "plan_open"
                else next(ended)
                if role == "plan_ended"
                else _pick(self.rng(f"S{i}c"), categories)
            )
            repeat = role != "no_plan" and next(repeats, False)
            before_birth = role == "plan_open" and next(unborn, False)
            yield "_protection", (f"S{i:07d}", role, category, repeat, before_birth)
        for i, size in enumerate(decks["households"]):
            yield "_household", (f"D{i:07d}", size)
        three, in_time = iter(decks["lac_three"]), iter(decks["adopted_in_time"])
        for i, role in enumerate(decks["lac"]):
            moves = role not in ("long_stable", "adopted", "left", "entry_leaves")
            yield (
                "_looked_after",
                (
                    f"C{i:07d}",
                    role,
                    moves and next(three, False),
                    role == "adopted" and next(in_time, False),
                ),
            )
        deck: list[bool] = decks["offers"]
        shared, taken = iter(deck), 0
        for i, (count, engaged) in enumerate(zip(decks["missing"], decks["engaged"], strict=True)):
            offers: Iterable[bool] = shared
            if not shared_offers:
                drawn = count - int(engaged)  # the engaged child's first interview is held
                offers, taken = tuple(deck[taken : taken + drawn]), taken + drawn
            yield "_missing", (f"M{i:07d}", count, engaged, offers)
        yield BEGUN
        # First referrals for assessment: the rest of the year's referrals are the returns the
        # journeys above and these draw, and the CSE strategy discussions.
        assessed = max(
            0,
            q.referrals
            - q.s47
            - q.da_children
            - self.missing_referrals
            - self.re_referrals
            - q.lac_entries,
        )
        for i in range(assessed):
            yield "_assessed", (f"A{i:07d}",)
        for i in range(q.light_contacts):
            yield "_light", (f"L{i:07d}",)

    def _existing_plan(
        self, unit: str, ends: bool, category: str, long: bool = False
    ) -> Work[list[dict[str, Any]]]:
        """A plan begun before the year (its run-in: the plan and its reviews), a contact
        during it, which screening passes to the allocated worker, and for some a core
        assessment. A plan that ends in the year lasted two years or more if `long` (NI 64),
        else less than one year before the year began."""
        rng = self.rng(unit)
        story = Story(self, unit, rng)
        if long:
            back = rng.randint(745, 1000)
        elif ends:
            back = rng.randint(20, 360)
        else:
            back = rng.randint(20, 700)
        began = self.start_day - timedelta(days=back)
        child = story.child("", began, (30, 15 * 365), self.preset.plan_female_share)
        self.children += 1
        story.plan(unit, story.office(began), category, ends)
        ended = [e["occurred_at"] for e in story.events if e["type"] == "cp_plan.ended"]
        until = datetime.fromisoformat(ended[0]).date() if ended else self.end_day
        # A contact during the plan, which gives every child demographics (for a plan that
        # ends in the year's first days, early on its first day: reviews are at 10:00).
        concerns, _ = CONCERNS_FOR[category]
        if until > self.start_day + timedelta(days=2):
            on = self.start_day + timedelta(days=rng.randint(0, (until - self.start_day).days - 2))
            story.contact(story.office(on), [child], concerns)
        else:
            story.contact(
                datetime.combine(self.start_day, time(8, 0), tzinfo=LONDON), [child], concerns
            )
        room = (until - self.start_day).days - 90  # authorised before the plan ends
        if self.two_stage and room > 0 and rng.random() < self.preset.plan_core_assessment:
            # Some begun in the run-in: the year's return counts those it completes.
            on = self.start_day + timedelta(days=rng.randint(-40, room))
            at = datetime.combine(on, time(9, 0), tzinfo=LONDON)
            yield from story.assessment(unit, at, "cin_plan", FACTORS_FOR[category], "core")
        return story.events

    def _protection(
        self,
        unit: str,
        role: str,
        category: str,
        repeat: bool = False,
        before_birth: bool = False,
    ) -> Work[list[dict[str, Any]]]:
        """A child through strategy discussion and S47; for most an ICPC, and a plan (a
        second or later one if `repeat`; a pre-birth one if `before_birth`)."""
        rng = self.rng(unit)
        story = Story(self, unit, rng)
        latest = {"plan_open": 330, "plan_ended": 190, "no_plan": 355}[role]
        ages = _pick(rng, self.preset.plan_ages)
        if before_birth:
            # Unborn at the year's end: a pre-birth conference in the last months.
            dob = self.end_day + timedelta(days=rng.randint(14, 120))
            first = max(0, (dob - timedelta(days=250) - self.start_day).days)
            on = self.day(rng, first, latest)
        else:
            on = self.day(rng, 0, latest)
        child = story.child("", on, ages, self.preset.plan_female_share)
        if before_birth:
            child["dob"], child["sex"] = dob.isoformat(), "U"
        elif ages == self.preset.plan_ages[0][0]:
            # Under 1 at the year's end, as the age bands are counted: born in the last year,
            # perhaps after the contact (a pre-birth referral, up to eight months ahead).
            born = min(self.end_day - timedelta(days=rng.randint(1, 364)), on + timedelta(240))
            child["dob"] = born.isoformat()
        self.children += 1
        concerns, injury = CONCERNS_FOR[category]
        direct = injury or category == "SAB"
        at = story.office(on)
        story.contact(at, [child], concerns, injury=injury)
        if direct:
            held = at + timedelta(hours=2)
            outcome = "strategy"
        else:
            held = story.office(story.wd(on, rng.randint(2, 10)))
            outcome = "cin_plan" if role == "no_plan" else "strategy"
        story.social("strategy.held", held, unit, strategy_id=f"{unit}-ST", decision="s47_joint")
        s47 = f"{unit}-S47"
        story.social(
            "s47.started",
            held + timedelta(minutes=30),
            unit,
            s47_id=s47,
            strategy_id=f"{unit}-ST",
        )
        kind = "core" if self.two_stage else "single"
        assessed = yield from story.assessment(unit, at, outcome, FACTORS_FOR[category], kind)
        completed = story.office(story.wd(held.date(), rng.randint(5, 10)))
        if role == "no_plan" and rng.random() < self.icpc_no_plan_chance:
            # A conference that makes no plan (England: about one in 25).
            story.social("s47.completed", completed, unit, s47_id=s47, outcome="icpc_required")
            icpc_day = max(story.wd(held.date(), rng.randint(8, 15)), story.wd(completed.date(), 1))
            icpc = datetime.combine(icpc_day, time(10, 0), tzinfo=LONDON)
            story.social(
                "icpc.held", icpc, unit, icpc_id=f"{unit}-IC", s47_id=s47, plan_required=False
            )
            closed = max(story.wd(icpc_day, rng.randint(10, 40)), story.wd(assessed, 1))
            story.close(unit, closed, "RC7")
            return story.events
        if role == "no_plan":
            result = "not_substantiated" if rng.random() < 0.7 else "substantiated_no_icpc"
            story.social("s47.completed", completed, unit, s47_id=s47, outcome=result)
            # RC8 and RC9 may not follow an S47 (DfE rule 2990); a case closes once its
            # assessment is authorised (rule 8867).
            closed = max(story.wd(completed.date(), 30), story.wd(assessed, 1))
            story.close(unit, closed, "RC7")
            return story.events
        story.social("s47.completed", completed, unit, s47_id=s47, outcome="icpc_required")
        # The ICPC within 15 working days of the strategy discussion, about one in ten late.
        icpc_day = story.wd(held.date(), rng.choice((8, 10, 12, 13, 14, 15, 15, 15, 17, 19)))
        icpc_day = max(icpc_day, story.wd(completed.date(), 1))
        icpc = datetime.combine(icpc_day, time(10, 0), tzinfo=LONDON)
        story.social(
            "icpc.held",
            icpc,
            unit,
            icpc_id=f"{unit}-IC",
            s47_id=s47,
            plan_required=True,
            category=category,
        )
        story.plan(
            unit, icpc + timedelta(hours=1), category, role == "plan_ended", previous=int(repeat)
        )
        return story.events

    def _household(self, unit: str, size: int) -> Work[list[dict[str, Any]]]:
        """A police domestic abuse notification naming the household's children (MARAC)."""
        rng = self.rng(unit)
        story = Story(self, unit, rng)
        on = self.day(rng, 0, 330)
        eldest = rng.randint(2 * 365, 16 * 365)
        children = [
            story.child(
                str(k + 1), on, (max(30, eldest - k * 900 - 400), max(30, eldest - k * 900))
            )
            for k in range(size)
        ]
        self.children += size
        concern = list(_pick(rng, ((("3B",), 0.7), (("3B", "2B"), 0.2), (("3C",), 0.1))))
        at = story.office(on)
        story.contact(at, children, concern, source=ReferralSource.POLICE.value)
        journeys = [
            story.after_assessment(
                child["child_id"], at, sorted(concern), child, again=ASSESSMENT_CONCERNS
            )
            for child in children
        ]
        if self.social_workers is None:
            for journey in journeys:  # nothing waits: each child's journey in turn
                yield from journey
        else:
            yield Together(journeys)
        return story.events

    def _missing(
        self, unit: str, count: int, engaged: bool, offers: Iterable[bool]
    ) -> Work[list[dict[str, Any]]]:
        """Episodes, return interviews offered (some held), and the child's path from them.

        Most children: after the third return a police contact that the child's history
        makes a referral. Some disclose exploitation at the interview they engage in
        (`cse_disclosure_rate`: the CSE consumer raises them to medium, as it does a child
        missing three times in 90 days). Some are found with older adults (`cse_high_rate`):
        high at once; the police contact that follows is level 4 by that history, and the
        CSE pathway runs: a strategy discussion the same day, a joint S47, the CSE screening
        tool the next working day, an assessment naming 10A and 11A."""
        rng, preset, offers = self.rng(unit), self.preset, iter(offers)
        story = Story(self, unit, rng)
        gaps = [rng.randint(2, max(3, 250 // count)) for _ in range(count)]
        away = [rng.randint(3, 60) for _ in range(count)]  # hours missing, each episode
        span = sum(gaps[:-1]) + sum(away) // 24 + count
        first = rng.randint(0, max(0, 358 - span))
        day = self.start_day + timedelta(days=first)
        child = story.child("", day, MISSING_AGES, 0.55)
        self.children += 1
        high_at = rng.randrange(count) if rng.random() < preset.cse_high_rate else None
        disclosed = (
            list(rng.choice(DISCLOSURES)) if rng.random() < preset.cse_disclosure_rate else []
        )
        # Counted now, before the story waits for any assessment: the year's other referrals
        # are dealt from what is left once every missing child's story has begun.
        self.missing_referrals += int(high_at is None and count > 2)
        for n in range(count):
            gone = datetime.combine(day, time(rng.randint(16, 23), 0), tzinfo=LONDON)
            back = gone + timedelta(hours=away[n])
            ref = f"{unit}-M{n + 1}"
            story.event("missing.started", gone, unit, "police", missing_id=ref)
            story.event(
                "missing.returned", back, unit, "police", missing_id=ref, with_adults=n == high_at
            )
            done = engaged and n == 0
            if done or next(offers, False):
                hours = rng.choice((20, 30, 44, 60, 70, 90)) if done else rng.randint(24, 70)
                story.event(
                    "rhi.completed",
                    back + timedelta(hours=hours),
                    unit,
                    "voluntary",
                    missing_id=ref,
                    declined=not done,
                    cse_indicators=disclosed if done else [],
                )
            if n == 0 and high_at != 0:
                # The police notify the MASH of every child who goes missing (seeds, scrutiny
                # minutes 2015): a first episode alone is early help (L2-MISSING).
                note = back + timedelta(hours=1)
                story.contact(note, [child], ["10A"], source=ReferralSource.POLICE.value)
            if n == high_at:
                yield from self._cse_pathway(story, child, back, disclosed)
            elif n == 2 and high_at is None:
                at = story.office(back.date() + timedelta(days=1))
                story.contact(at, [child], ["10A"], source=ReferralSource.POLICE.value)
                yield from story.after_assessment(unit, at, ["10A"], child, again=(["10A"],))
            day = back.date() + timedelta(days=gaps[n])
        return story.events

    def _cse_pathway(
        self, story: Story, child: dict[str, Any], back: datetime, disclosed: list[str]
    ) -> Work[None]:
        """What follows a child found with older adults while missing (seeds §5.2.5, Child A):
        the police contact, a strategy discussion that day, a joint S47 enquiry with the
        assessment beside it, the CSE screening tool within a working day (the `cse_screening`
        clock), and the case closed months later."""
        unit, rng = story.unit, story.rng
        at = back + timedelta(hours=2)
        story.contact(
            at,
            [child],
            ["10A", "11A"],
            source=ReferralSource.POLICE.value,
            cse_indicators=["missing_with_adults"],
        )
        held = at + timedelta(hours=3)
        strategy = f"{unit}-CST"
        story.social("strategy.held", held, unit, strategy_id=strategy, decision="s47_joint")
        s47 = f"{unit}-CS47"
        story.social(
            "s47.started", held + timedelta(minutes=30), unit, s47_id=s47, strategy_id=strategy
        )
        screened = story.office(story.wd(at.date(), 1))
        story.social(
            "cse.screening.completed",
            screened,
            unit,
            tool="cse-screening",
            indicators=sorted({"missing_with_adults", *disclosed}),
            level="high",
        )
        kind = "core" if self.two_stage else "single"
        assessed = yield from story.assessment(unit, at, "cin_plan", ["10A", "11A"], kind)
        completed = story.office(story.wd(held.date(), rng.randint(5, 10)))
        outcome = "substantiated_no_icpc" if rng.random() < 0.6 else "not_substantiated"
        story.social("s47.completed", completed, unit, s47_id=s47, outcome=outcome)
        closed = max(story.wd(completed.date(), rng.randint(40, 120)), story.wd(assessed, 1))
        story.close(unit, closed, "RC7")

    def _looked_after(
        self, unit: str, role: str, three: bool = False, in_time: bool = False
    ) -> Work[list[dict[str, Any]]]:
        """A looked-after child: in care on 1 April (its run-in: care, placements, reviews),
        or entering in the year after a referral and assessment; placements (three or more
        begun in the year if `three`: NI 62), reviews (NI 66), and for some the end of care
        (adopted, in time if `in_time`: NI 61; or another reason, RC3-RC7). `role` says
        which: long_stable and long_moved are NI 63's children (looked after 2.5 years or more
        and under 16 at the end; in one placement two years, or not)."""
        rng, p = self.rng(unit), self.preset
        story = Story(self, unit, rng)
        start, end = self.start_day, self.end_day
        care = f"{unit}-LAC"
        moves: list[date] = []
        leaves: tuple[date, str] | None = None
        adoption: tuple[date, date] | None = None  # decided on, placed
        entry = role.startswith("entry")
        if role in ("long_stable", "long_moved"):
            began = end - timedelta(days=rng.randint(945, 6 * 365))
            dob = end - timedelta(days=rng.randint((end - began).days + 30, 16 * 365 - 30))
            if role == "long_moved":
                moves.append(end - timedelta(days=rng.randint(30, 700)))
        elif role == "short":
            began = start - timedelta(days=rng.randint(10, 540))
            dob = began - timedelta(days=rng.randint(30, 15 * 365))
        elif role == "adopted":
            began = start - timedelta(days=rng.randint(200, 700))
            dob = began - timedelta(days=rng.randint(30, 3 * 365))
            decided = began + timedelta(days=rng.randint(60, 200))
            placed = decided + timedelta(days=rng.randint(30, 330) if in_time else 380)
            placed = min(placed, end - timedelta(days=60))
            if not in_time:
                decided = min(decided, placed - timedelta(days=380))
            order = max(placed + timedelta(days=rng.randint(40, 160)), start + timedelta(days=3))
            adoption = (decided, placed)
            leaves = (min(order, end - timedelta(days=5)), "RC1")
        elif role == "left":
            began = start - timedelta(days=rng.randint(30, 1500))
            reason = _pick(rng, p.lac_leaving)
            out = start + timedelta(days=rng.randint(5, 355))
            if reason == "RC6":  # to adult services at 18
                dob = out - timedelta(days=18 * 365 + rng.randint(0, 60))
            else:
                dob = began - timedelta(days=rng.randint(30, 14 * 365))
            leaves = (out, reason)
        else:
            on = self.day(rng, 0, 240)  # assessed, and in care, before the year ends
            began = on  # replaced by the assessment's end below
            dob = on - timedelta(days=rng.randint(30, 16 * 365))
        child = story.child("", began, (0, 0))
        child["dob"] = dob.isoformat()
        self.children += 1
        if entry:
            # The referral, and the assessment that decides the child must be looked after.
            concerns = list(rng.choice((["16A", "1B"], ["18A"], ["17A", "4B"], ["2B", "4B"])))
            at = story.office(began)
            story.contact(at, [child], concerns)
            kind = "core" if self.two_stage else "single"
            done = yield from story.assessment(unit, at, "looked_after", concerns, kind)
            began = done
            if role == "entry_leaves":
                out = began + timedelta(days=rng.randint(20, 100))
                leaves = (min(out, end - timedelta(days=2)), _pick(rng, p.lac_leaving))
        entered = datetime.combine(began, time(15, 0), tzinfo=LONDON)
        story.social("care.started", entered, unit, care_id=care)
        until = leaves[0] if leaves else end
        kinds = (("foster", 0.7), ("kinship", 0.15), ("residential", 0.1), ("other", 0.05))
        n = 0

        def place(day: date, placement: str, decided: date | None = None) -> None:
            nonlocal n
            n += 1
            at = datetime.combine(day, time(16, 0), tzinfo=LONDON)
            story.social(
                "placement.started",
                max(at, entered + timedelta(minutes=n)),
                unit,
                care_id=care,
                placement_id=f"{care}-P{n}",
                placement=placement,
                **({"adoption_decided_on": decided.isoformat()} if decided else {}),
            )

        place(began, _pick(rng, kinds))
        if three:
            since = max(start, began + timedelta(days=1))
            room = (min(until, end) - since).days - 3
            days = sorted(rng.sample(range(max(3, room)), 3 if began < start else 2))
            moves += [since + timedelta(days=d) for d in days]
        for day in sorted(m for m in moves if began < m < until):
            place(day, _pick(rng, kinds))
        if adoption:
            place(adoption[1], "adoption", adoption[0])
        # Reviews: within 20 working days, three months later, then every six months.
        due, first = story.wd(began, 20), True
        while True:
            late = due >= start and rng.random() >= p.lac_review_in_time
            if late:
                day = due + timedelta(days=rng.randint(1, 15))
            elif first:
                day = story.wd(began, rng.randint(5, 20))
            else:
                day = due - timedelta(days=rng.randint(0, 14))
            while not self.calendar.is_working_day(day):
                day = day + timedelta(days=1) if late else day - timedelta(days=1)
            if day >= until or day > end:
                break
            at = datetime.combine(day, time(11, 0), tzinfo=LONDON)
            story.social("lac_review.held", at, unit, care_id=care)
            due, first = add_months(day, 3 if first else 6), False
        if not entry:
            # A contact while looked after: every child has demographics, and screening sees
            # a looked-after child (passed to the allocated worker; a CSE indicator).
            child["looked_after"] = True
            last = min(until, end) - start
            if last.days > 2:
                on = start + timedelta(days=rng.randint(0, last.days - 2))
                story.contact(story.office(on), [child], [])
            else:
                story.contact(datetime.combine(start, time(8, 0), tzinfo=LONDON), [child], [])
        if leaves:
            left = datetime.combine(leaves[0], time(17, 0), tzinfo=LONDON)
            story.social("care.ended", left, unit, care_id=care, reason=leaves[1])
        return story.events

    def _assessed(self, unit: str) -> Work[list[dict[str, Any]]]:
        rng = self.rng(unit)
        story = Story(self, unit, rng)
        on = self.day(rng, 0, 350)
        child = story.child("", on, CHILD_AGES)
        self.children += 1
        concerns = list(rng.choice(ASSESSMENT_CONCERNS))
        at = story.office(on)
        story.contact(at, [child], concerns)
        yield from story.after_assessment(unit, at, concerns, child, again=ASSESSMENT_CONCERNS)
        return story.events

    def _light(self, unit: str) -> list[dict[str, Any]]:
        rng = self.rng(unit)
        story = Story(self, unit, rng)
        on = self.day(rng)
        child = story.child("", on, CHILD_AGES)
        self.children += 1
        kind = _pick(rng, self.preset.light_outcomes)
        concerns = list(rng.choice(LIGHT_CONCERNS[kind]))
        source = ReferralSource.POLICE.value if kind == "police" else None
        story.contact(story.office(on), [child], concerns, source=source)
        return story.events

    # ---- writing --------------------------------------------------------------------------
    def stories(self) -> Iterator[list[dict[str, Any]]]:
        """Each unit's events, once its story is told: at once without social workers.

        With them it is a discrete-event simulation: every opening waits in a heap by its
        instant (then the unit's place, then the journey's), and the caseloads are offered
        the openings and the places that come free in event time (an opening at the instant a
        place frees is offered first, so it competes), whatever order the units were written
        in; a story goes on from its assessment's end. A story that tells journeys
        `Together` (a household's children) has each of them in the heap on its own, and goes
        on when the last has ended."""
        workers = self.social_workers
        if workers is None:
            for story in self.units():
                yield story if isinstance(story, list) else _told(story)
            return
        pool: Caseloads[tuple[int, int]] = Caseloads(
            workers.places(self.scale),
            self.calendar,
            self.start - timedelta(days=120),
            [str(kind) for kind in workers.priority],
        )
        self.caseloads = pool
        telling = _Telling()
        for place, story in enumerate(self.units()):
            if isinstance(story, list):
                yield story
                continue
            told = telling.begin(place, story)
            if told is not None:
                yield told
        clock = self.start - timedelta(days=365)  # the simulation's own: it never goes back
        while telling.waiting or pool.queued:
            if pool.queued and (not telling.waiting or pool.next_free() < telling.next_at()):
                clock = max(clock, pool.next_free())
                who, worked = pool.serve()
            else:
                who, opened = telling.pop()
                if opened.at < clock:
                    raise AssertionError(f"unit {who[0]} opened an assessment in the past")
                clock = opened.at
                answer = pool.arrive(opened, who)
                if answer is None:
                    continue
                worked = answer
            told = telling.go_on(who, worked)
            if told is not None:
                yield told
        if telling.works:
            raise AssertionError(f"{len(telling.works)} stories were never told to their end")

    def header(self, events: int) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "name": f"{self.preset.name}-seed{self.seed}-scale{self.scale:g}",
            "description": self.preset.description,
            "preset": self.preset.name,
            "seed": self.seed,
            "scale": self.scale,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "census_year": self.preset.census_year,
            "population": self.quotas.population,
            "events": events,
            "children": self.children,
            **({"timescales": self.preset.timescales} if self.preset.timescales else {}),
            **({"team": self._team_header()} if self.social_workers else {}),
            "expect": [e for e in expectations(self.preset, self.quotas) if self._claims(e)],
        }

    # What the caseloads decide rather than the preset: with a team, how many assessments are
    # authorised in the year, how many on time, and how many cases close in time to come back.
    WORKLOAD_FIGURES = (
        "indicators.NI 59.",
        "indicators.NI 60.",
        "indicators.re_referrals.",
    )

    def _claims(self, expectation: dict[str, Any]) -> bool:
        """Whether the file claims a figure: a year whose social workers' caseloads timed its
        assessments makes no claim on their timeliness (a team too small for the year is a
        what-if, not a failed calibration); the default team is tested against it instead."""
        path = str(expectation["figure"]["path"])
        return self.social_workers is None or not path.startswith(self.WORKLOAD_FIGURES)

    def _team_header(self) -> dict[str, Any]:
        workers = self.social_workers
        assert workers is not None
        return {
            "name": self.team or "",
            "social_workers": workers.count,
            "places": workers.places(self.scale),
            "caseload": workers.caseload,
            "waited": self.caseloads.waited if self.caseloads else 0,
        }

    def write(
        self,
        path: Path,
        on_units: Callable[[int], None] | None = None,
        jobs: int | None = None,
    ) -> GenerateResult:
        """Write the year to `path`, telling its stories in `jobs` processes (by default one
        a core, once the year is big enough to pay for starting them); `on_units(n)` as
        stories are told. The file is the same, byte for byte, whatever the number of jobs:
        every event is filed by its instant and id. A year with social workers is one
        simulation of their caseloads, so it is told in this process."""
        began = timer.perf_counter()
        self.children = 0
        if jobs is None:
            jobs = min(usable_cores(), DEFAULT_JOBS) if self.unit_count() >= PARALLEL_UNITS else 1
        if not 1 <= jobs <= MAX_JOBS:
            raise ValueError(f"jobs must be from 1 to {MAX_JOBS}, got {jobs}")
        _sweep(path.parent)
        with (
            tempfile.TemporaryDirectory(prefix=f"{SPILL}{os.getpid()}-", dir=path.parent) as spill,
            _tellers(self, jobs if self.social_workers is None else 1) as pool,
        ):
            if pool is None:
                with _Spill(spill, "") as spilled:
                    for events in self.stories():
                        spilled.add(events)
                        if on_units is not None:
                            on_units(1)
                total = spilled.total
            else:
                total = self._tell_apart(spill, pool, jobs, on_units)
            # Written beside the buckets, then moved over `path`: a year stopped part way
            # leaves no file that claims its events, and a year written before stays whole.
            partial = Path(spill) / f"partial.{path.name}"  # its suffix says gzip or not
            with _writer(partial) as out:
                out.write(json.dumps(self.header(total), separators=(",", ":")) + "\n")
                _merge(spill, out, pool)
            os.replace(partial, path)
        return GenerateResult(path, total, self.children, timer.perf_counter() - began, self.quotas)

    def _tell_apart(
        self,
        spill: str,
        pool: ProcessPoolExecutor,
        jobs: int,
        on_units: Callable[[int], None] | None,
    ) -> int:
        """The plan's units told by `pool`, a chunk at a time, each chunk spilling to its own
        bucket files; the number of events. At `BEGUN` every chunk so far must be told (the
        first referrals are counted from the missing children's stories)."""
        size = max(CHUNK_UNITS[0], min(CHUNK_UNITS[1], self.unit_count() // (jobs * 4)))
        total = 0
        running: list[Future[Told]] = []
        numbers = itertools.count()

        def collect(keep: int) -> None:
            nonlocal total
            while len(running) > keep:
                told = running.pop(0).result()
                total += told.events
                self.children += told.children
                self.missing_referrals += told.missing_referrals
                if on_units is not None:
                    on_units(told.units)

        chunk: list[Unit] = []
        for unit in self.plan(shared_offers=False):
            if unit is not BEGUN:
                chunk.append(unit)
            if chunk and (unit is BEGUN or len(chunk) == size):
                running.append(pool.submit(_tell_chunk, spill, next(numbers), chunk))
                chunk = []
                collect(keep=2 * jobs)  # a few chunks ahead, not the year in a queue
            if unit is BEGUN:
                collect(keep=0)
        if chunk:
            running.append(pool.submit(_tell_chunk, spill, next(numbers), chunk))
        collect(keep=0)
        return total

    def unit_count(self) -> int:
        """About how many units `units` yields (for a progress bar, and the size of the
        chunks told apart). Over by the missing children's own referrals, which are known
        only once their stories are drawn (a few hundred in a borough's 6,000)."""
        q = self.quotas
        protection = q.plans_started + max(0, q.s47 - q.plans_started - self.cse_s47)
        return (
            q.plans_at_start
            + protection
            + q.da_contacts
            + q.lac_at_start  # in care on 1 April: those who stay, and those who leave
            + q.lac_entries
            + q.missing_children
            + max(0, q.referrals - q.s47 - q.da_children - self.re_referrals - q.lac_entries)
            + q.light_contacts
        )

    def explain(self) -> list[dict[str, str]]:
        """Each target of the year: its value at this scale and where it comes from (a seed
        section, England's 2013-14 statistics, or ours with the reason): `--explain`."""
        p, q = self.preset, self.quotas
        o = p.origins

        def pct(x: float) -> str:
            return f"{100 * x:.1f}%"

        rows: list[tuple[str, str, str]] = [
            ("population", f"{q.population:,} children under 18", o["population"]),
            (
                "plans",
                f"{q.plans_at_start} at 1 April, {q.plans_started} started, "
                f"{q.plans_ended} ended, {q.plans_at_end} at 31 March",
                o["plans"],
            ),
            ("ended_from_start_share", pct(p.ended_from_start_share), o["ended_from_start_share"]),
            (
                "year_end_categories",
                ", ".join(f"{c} {n}" for c, n in q.year_end_categories.items()),
                o["year_end_categories"],
            ),
            (
                "s47_per_10k",
                f"{q.s47} S47 enquiries ({p.s47_per_10k:g} per 10,000)",
                o["s47_per_10k"],
            ),
            (
                "referrals_per_10k",
                f"{q.referrals:,} referrals ({p.referrals_per_10k:g} per 10,000)",
                o["referrals_per_10k"],
            ),
            (
                "contacts_per_referral",
                f"{p.contacts_per_referral:g} ({q.light_contacts:,} contacts that stay contacts)",
                o["contacts_per_referral"],
            ),
            (
                "missing",
                f"{q.missing_incidents} incidents, {q.missing_children} children",
                o["missing"],
            ),
            ("rhi", f"{q.rhi_offered} offered, {q.rhi_done} held", o["rhi"]),
            ("da", f"{q.da_contacts} notifications naming {q.da_children} children", o["da"]),
            ("sex", f"{pct(p.male_share)} male; plans {pct(p.plan_female_share)} female", o["sex"]),
            (
                "sources",
                f"{len(p.sources)} referral sources, police {pct(p.sources[0][1])}",
                o["sources"],
            ),
            ("ethnicities", f"{len(p.ethnicities)} codes, WBRI the most", o["ethnicities"]),
            (
                "plan_ages",
                ", ".join(
                    f"{'under 1' if hi < 365 else f'{lo // 365}-{hi // 365}'} {pct(w)}"
                    for (lo, hi), w in p.plan_ages
                ),
                o["plan_ages"],
            ),
        ]
        if p.timescales:
            rows.append(("timescales", f"mash/timescales/{p.timescales}.yaml", o["timescales"]))
        if q.initial_assessments:
            rows += [
                (
                    "initial_assessments",
                    f"{q.initial_assessments:,} completed",
                    o["initial_assessments"],
                ),
                ("initial_in_time", f"NI 59 {pct(p.initial_in_time)}", o["initial_in_time"]),
                ("core_assessments", f"{q.core_assessments:,} completed", o["core_assessments"]),
                ("core_in_time", f"NI 60 {pct(p.core_in_time)}", o["core_in_time"]),
                ("plan_core_assessment", pct(p.plan_core_assessment), o["plan_core_assessment"]),
            ]
        rows += [
            ("nfa_before_assessment", pct(p.nfa_before_assessment), o["nfa_before_assessment"]),
            (
                "re_referral_rate",
                f"{pct(p.re_referral_rate)} (about {self.re_referrals:,} referrals)",
                o["re_referral_rate"],
            ),
            (
                "repeat_plan_rate",
                f"NI 65 {pct(p.repeat_plan_rate)}: {q.repeat_plans} of {q.plans_started} plans",
                o["repeat_plan_rate"],
            ),
            (
                "long_plan_rate",
                f"NI 64 {pct(p.long_plan_rate)}: {q.long_plans} of {q.plans_ended} ended",
                o["long_plan_rate"],
            ),
            ("icpc_plan_rate", pct(p.icpc_plan_rate), o["icpc_plan_rate"]),
            (
                "plan_review_in_time",
                f"NI 67 {pct(p.plan_review_in_time)}",
                o["plan_review_in_time"],
            ),
            ("unborn_at_end", f"{q.unborn_at_end} children", o["unborn_at_end"]),
            (
                "cse_high_rate",
                f"{pct(p.cse_high_rate)} of missing children (about {self.cse_s47})",
                o["cse_high_rate"],
            ),
            ("cse_disclosure_rate", pct(p.cse_disclosure_rate), o["cse_disclosure_rate"]),
        ]
        if q.lac_at_end:
            leaving = ", ".join(f"{r} {pct(w)}" for r, w in p.lac_leaving)
            rows += [
                ("lac_at_start", f"{q.lac_at_start} children", o["lac_at_start"]),
                ("lac_entries", f"{q.lac_entries} children", o["lac_entries"]),
                ("lac_at_end", f"{q.lac_at_end} children", o["lac_at_end"]),
                (
                    "lac_three_placements",
                    f"NI 62: {q.lac_three_placements} of {q.lac_at_end}",
                    o["lac_three_placements"],
                ),
                ("lac_long_term", f"{q.lac_long_term} children", o["lac_long_term"]),
                (
                    "lac_long_stable",
                    f"NI 63: {q.lac_long_stable} of {q.lac_long_term}",
                    o["lac_long_stable"],
                ),
                ("adoptions", f"{q.adoptions} children", o["adoptions"]),
                (
                    "adoptions_in_time",
                    f"NI 61: {q.adoptions_in_time} of {q.adoptions}",
                    o["adoptions_in_time"],
                ),
                (
                    "lac_review_in_time",
                    f"NI 66 {pct(p.lac_review_in_time)}",
                    o["lac_review_in_time"],
                ),
                (
                    "lac_leaving",
                    f"{q.lac_leavers - q.adoptions} others: {leaving}",
                    o["lac_leaving"],
                ),
            ]
        return [{"target": t, "value": v, "source": src} for t, v, src in rows]


MAX_JOBS = 64
DEFAULT_JOBS = 8  # at most, by default: each sorts a week in memory (tens of MB at England's)
PARALLEL_UNITS = 20_000  # units in a year worth starting processes for (scale 3 or so)
CHUNK_UNITS = (500, 20_000)  # fewest and most units a process is handed at once


@dataclass(frozen=True)
class Told:
    """What a chunk of units came to, for the header and the plan."""

    units: int
    events: int
    children: int
    missing_referrals: int


_TELLER: list[Generator] = []  # in a telling process: its generator


def _start_teller(parent: int, gen: Generator) -> None:
    """A process that tells chunks of the plan with `gen` (forked: the caller's own, not a
    copy made from its preset, seed and scale); it dies with the one that started it."""
    die_with_parent()
    if os.getppid() != parent:  # gone before the signal was asked for
        os._exit(1)
    # Forked, it would inherit the CLI's handlers, which turn SIGTERM and SIGINT into an
    # exception its pool loop catches and carries on from. Plain deaths instead: the parent
    # (told of a Ctrl-C to the group, or ending them itself) drops the year.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    # A thread of the parent's (a progress bar's) may have held the standard streams' locks
    # at the fork, and a process flushes them as it exits: it reports through the pool only.
    sys.stdout = sys.stderr = open(os.devnull, "w")  # noqa: SIM115 - until the process ends
    _TELLER[:] = [gen]


def _tell_chunk(spill: str, number: int, units: list[Unit]) -> Told:
    gen = _TELLER[0]
    gen.children = gen.missing_referrals = 0
    with _Spill(spill, f".{number:06d}") as spilled:
        for unit in units:
            story = gen.tell(unit)
            spilled.add(story if isinstance(story, list) else _told(story))
    return Told(len(units), spilled.total, gen.children, gen.missing_referrals)


_ENCODE = json.JSONEncoder(separators=(",", ":")).encode


class _Spill:
    """Events filed in bucket files by the week of their instant, each line led by its sort
    key (the UTC second, then the event id): `_merge` sorts and joins them."""

    def __init__(self, spill: str, suffix: str) -> None:
        self.spill = spill
        self.suffix = suffix
        self.buckets: dict[int, IO[str]] = {}
        self.total = 0

    def __enter__(self) -> _Spill:
        return self

    def __exit__(self, *exc: object) -> None:
        for bucket in self.buckets.values():
            bucket.close()

    def add(self, events: list[dict[str, Any]]) -> None:
        buckets = self.buckets
        for event in events:
            key = int(datetime.fromisoformat(event["occurred_at"]).timestamp())
            week = key // (7 * 86_400)
            bucket = buckets.get(week)
            if bucket is None:
                bucket = buckets[week] = open(  # noqa: SIM115 - closed on exit
                    os.path.join(self.spill, f"{week}{self.suffix}.part"), "w", encoding="utf-8"
                )
            bucket.write(f"{key:012d} {event['event_id']} {_ENCODE(event)}\n")
        self.total += len(events)


def _merge(spill: str, out: IO[str], pool: ProcessPoolExecutor | None) -> None:
    """Each week's buckets (one, or one a chunk) sorted into one and written in week order:
    here, or each week sorted by the pool into a file of its own that is copied in turn."""
    weeks: dict[int, list[str]] = {}
    for name in os.listdir(spill):
        if name.endswith(".part"):
            weeks.setdefault(int(name.split(".", 1)[0]), []).append(name)
    if pool is None:
        for week in sorted(weeks):
            out.writelines(_sorted(spill, weeks[week]))
        return
    for done in [pool.submit(_sort_week, spill, week, weeks[week]) for week in sorted(weeks)]:
        week_file = done.result()
        with open(week_file, encoding="utf-8") as part:
            shutil.copyfileobj(part, out)
        os.remove(week_file)


def _sorted(spill: str, names: list[str]) -> Iterator[str]:
    """The events of one week's buckets in event-time order (then by id), keys stripped."""
    lines: list[str] = []
    for name in names:
        with open(os.path.join(spill, name), encoding="utf-8") as part:
            lines.extend(part)
        os.remove(os.path.join(spill, name))  # the week is in memory: free the disk
    lines.sort(key=lambda line: line[: line.index(" ", 13)])
    return (line[line.index(" ", 13) + 1 :] for line in lines)


def _sort_week(spill: str, week: int, names: list[str]) -> str:
    """In a telling process: one week sorted into a file of its own; its path."""
    path = os.path.join(spill, f"{week}.sorted")
    with open(path, "w", encoding="utf-8") as out:
        out.writelines(_sorted(spill, names))
    return path


@contextmanager
def _tellers(gen: Generator, jobs: int) -> Iterator[ProcessPoolExecutor | None]:
    """`jobs` processes to tell the plan's units and sort the weeks, or None for one job.

    Forked on Linux: a spawned process would first run the caller's script again (its
    `__main__`), and a telling process touches nothing the parent's threads may hold (a
    progress bar's lock: its standard streams are its own). Each dies with the process
    that started it."""
    if jobs <= 1:
        yield None
        return
    context = multiprocessing.get_context("fork" if sys.platform == "linux" else "spawn")
    others = set(multiprocessing.active_children())
    pool = ProcessPoolExecutor(
        jobs,
        mp_context=context,
        initializer=_start_teller,
        initargs=(os.getpid(), gen),
    )
    try:
        yield pool
    except BaseException:  # interrupted, or a story failed: the year is dropped, now
        for teller in set(multiprocessing.active_children()) - others:
            teller.terminate()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


SPILL = ".mash-generate-"  # then the writing process's id: the buckets' directory


def _sweep(directory: Path) -> None:
    """Remove the bucket directories of years whose writer was killed outright (SIGKILL, the
    OOM killer: nothing could clean up), up to a year of events each."""
    for stale in directory.glob(f"{SPILL}*-*"):
        pid = stale.name[len(SPILL) :].split("-", 1)[0]
        if pid.isdigit() and not pid_running(int(pid)):
            shutil.rmtree(stale, ignore_errors=True)


@contextmanager
def _writer(path: Path) -> Iterator[IO[str]]:
    """Plain text, or gzip with no name or time in its header (so the bytes repeat)."""
    with open(path, "wb") as raw, contextlib.ExitStack() as stack:
        sink: IO[bytes] = raw
        if path.suffix == ".gz":
            packed = gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0)
            sink = cast(IO[bytes], stack.enter_context(packed))
        text = io.TextIOWrapper(sink, encoding="utf-8", newline="\n")
        yield text
        text.flush()
        text.detach()
