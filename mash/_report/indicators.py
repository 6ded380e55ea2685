"""The seeds' performance indicators (NI 59 to NI 67), re-referrals and repeat plans.

Why one module and a pure function over the board's figures: a board's performance table
(the LSCB report's Figure 1, §4.6) is a handful of ratios of counts the reporter already
keeps, and several readers need the same ratios (the generated year's `expect` entries, the
report's performance table, the calibration tests). Each indicator is
`{"value", "numerator", "denominator"}`: the value a percentage rounded to one place, `None`
when the denominator is 0 (nothing to measure is not 0% and not 100%); numerator and
denominator `None` only when there is no count at all (never, for the indicators here).

Definitions, as the seeds' borough counted them (domain-reference §6.3):

- NI 59: initial assessments completed in the period within 10 working days of the referral,
  of those completed (clock `initial_assessment`: met / (met + stopped late)).
- NI 60: core assessments completed within 35 working days of their start, of those
  completed (clock `core_assessment`).
- NI 61: children adopted who were placed for adoption within 12 months of the decision that
  they should be, of those adopted (`looked_after.adoptions_in_time` / `.adoptions`).
- NI 62: children looked after now with three or more placements begun in this census year,
  of those looked after now (`looked_after.three_or_more_placements` / `.now`).
- NI 63: children looked after for 2.5 years or more, under 16, in the same placement for two
  years or placed for adoption, of those looked after 2.5 years or more and under 16.
- NI 64: CP plans ended in the period that had lasted two years or more, of plans ended.
- NI 65: children becoming the subject of a CP plan in the period for a second or later time,
  of all children becoming subject of a plan in the period.
- NI 66: looked-after children's reviews held in time (clocks `lac_first_review`, within 20
  working days of entering care, and `lac_later_review`, at most six months apart: met, of met
  and breached in the period).
- NI 67: CP review conferences held in time in the period (clocks `first_review` and
  `later_review`: met, of met and breached), the seeds' "CP cases reviewed in time".
- `re_referrals`: referrals within 12 months of the child's previous referral, of referrals
  (England 2013-14: 23%).
- `repeat_plans`: the same count as NI 65, under the name England's statistics use.

Where a framework is not in use (a year timed with the single 45-day assessment has no
initial or core assessments), its indicators have no denominator and their value is `None`.
The report's performance table reads `report["indicators"]`: `figures` puts `indicators` there
(the national set above), and `fill_indicators` adds what else the figures give (rates per
10,000, local priorities: CSE, domestic abuse, neglect, timeliness of the front door) only
where a name is absent, so the national definitions above win.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypedDict

INDICATORS = (
    "NI 59",
    "NI 60",
    "NI 61",
    "NI 62",
    "NI 63",
    "NI 64",
    "NI 65",
    "NI 66",
    "NI 67",
    "re_referrals",
    "repeat_plans",
)


class Indicator(TypedDict):
    value: float | None
    numerator: int | None
    denominator: int | None


def ratio(numerator: int | None, denominator: int | None) -> Indicator:
    """A percentage of two counts, `None` when there is nothing to divide by."""
    value = (
        round(100 * numerator / denominator, 1) if numerator is not None and denominator else None
    )
    return {"value": value, "numerator": numerator, "denominator": denominator}


def _completed_in_time(clocks: Mapping[str, Any], name: str) -> Indicator:
    clock = clocks.get(name)
    if clock is None:
        return ratio(0, 0)
    met = int(clock["met"])
    return ratio(met, met + int(clock["stopped_late"]))


def _held_in_time(clocks: Mapping[str, Any], *names: str) -> Indicator:
    met = sum(int(clocks[n]["met"]) for n in names if n in clocks)
    breached = sum(int(clocks[n]["breached"]) for n in names if n in clocks)
    return ratio(met, met + breached)


def indicators(figures: Mapping[str, Any]) -> dict[str, Indicator]:
    """Every indicator of `INDICATORS` from the board's figures (`figures.figures`)."""
    clocks = figures["clocks"]["by_clock"]
    in_period = figures["clocks"]["in_period"]
    cp = figures["child_protection"]
    referrals = figures["referrals"]
    lac = figures["looked_after"]

    def lac_ratio(numerator: str, denominator: str) -> Indicator:
        return ratio(int(lac[numerator]), int(lac[denominator]))

    repeat = ratio(int(cp["plans_started_repeat_in_period"]), int(cp["plans_started_in_period"]))
    return {
        "NI 59": _completed_in_time(clocks, "initial_assessment"),
        "NI 60": _completed_in_time(clocks, "core_assessment"),
        "NI 61": lac_ratio("adoptions_in_time", "adoptions"),
        "NI 62": lac_ratio("three_or_more_placements", "now"),
        "NI 63": lac_ratio("long_term_stable", "long_term"),
        "NI 64": ratio(int(cp["plans_ended_2y_or_more"]), int(cp["plans_ended"])),
        "NI 65": repeat,
        "NI 66": _held_in_time(in_period, "lac_first_review", "lac_later_review"),
        "NI 67": _held_in_time(in_period, "first_review", "later_review"),
        "re_referrals": ratio(int(referrals["re_referrals_12m"]), int(referrals["total"])),
        "repeat_plans": ratio(repeat["numerator"], repeat["denominator"]),
    }


PER = 10_000
REVIEW_CLOCKS = ("first_review", "later_review")  # NI 67: CP cases reviewed in time


def _share(part: int, whole: int) -> Indicator:
    value = round(100 * part / whole, 1) if whole else None
    return {"value": value, "numerator": part, "denominator": whole}


def _rate(count: int, population: int | None) -> Indicator:
    value = round(PER * count / population, 1) if population else None
    return {"value": value, "numerator": count, "denominator": population}


def _clocks_met(clocks: dict[str, Any], names: tuple[str, ...]) -> Indicator | None:
    """Met of met-or-breached, over the clocks named; absent when the run has none of them."""
    rows = [clocks[n] for n in names if n in clocks]
    if not rows:
        return None
    met = sum(r["met"] for r in rows)
    return _share(met, met + sum(r["breached"] for r in rows))


def computed(report: dict[str, Any]) -> dict[str, Indicator]:
    """Every indicator this report's figures can give by themselves, by name: the seeds'
    local priorities beside the national ones `indicators` computes."""
    cp, now = report["child_protection"], report["cp_plans_now"]
    referrals, missing = report["referrals"], report["missing"]
    clocks = report["clocks"]["by_clock"]
    population = report.get("population")
    repeat = _share(
        cp.get("plans_started_repeat_in_period", 0), cp.get("plans_started_in_period", 0)
    )
    out: dict[str, Indicator] = {
        # NI 64: plans ended in the period that had lasted two years or more.
        "NI 64": _share(
            cp.get("plans_ended_2y_plus_in_period", 0), cp.get("plans_ended_in_period", 0)
        ),
        # NI 65: children becoming the subject of a plan for a second or later time.
        "NI 65": repeat,
        "repeat_plans": repeat.copy(),
        "re_referrals": _share(referrals["re_referrals_12m"], referrals["total"]),
        "cp_rate_per_10k": _rate(now["total"], population),
        "s47_rate_per_10k": _rate(cp["s47_started"], population),
        # Local priorities of the seeds' board (§4.6): CSE, domestic abuse and neglect.
        "da_children_per_10k": _rate(report["contacts"]["domestic_abuse"]["children"], population),
        "neglect_plans_percent": _share(now["by_category"].get("NEG", 0), now["total"]),
        "rhi_within_72h": _share(missing["interviews_within_72h"], missing["returns"]),
        "missing_3_or_more_percent": _share(missing["children_3_or_more"], missing["children"]),
    }
    for name, clock_names in (
        ("NI 67", REVIEW_CLOCKS),
        ("decisions_1wd", ("referral_decision",)),
        ("assessments_45wd", ("assessment",)),
        ("icpc_15wd", ("icpc",)),
        ("cse_screening_1wd", ("cse_screening",)),
    ):
        found = _clocks_met(clocks, clock_names)
        if found is not None:
            out[name] = found
    return out


def fill_indicators(report: dict[str, Any]) -> dict[str, Any]:
    """The report with `indicators` holding every computable one that is not there yet."""
    given: dict[str, Any] = dict(report.get("indicators") or {})
    for name, indicator in computed(report).items():
        given.setdefault(name, indicator)
    report["indicators"] = dict(sorted(given.items()))
    return report
