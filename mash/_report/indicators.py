"""The performance indicators the board's figures already hold, as `report["indicators"]`.

Each indicator is `{"value": float | None, "numerator": int | None, "denominator": int | None}`
(a percentage, or a rate per 10,000), keyed by the name a performance framework gives it
("NI 65", "re_referrals", local ones). Another part of mash may compute some of them more
fully (from every child's record, say); `fill_indicators` only adds the ones that are absent,
so whichever computed an indicator first is the one reported, and the two merge cleanly.

Pure: a report in, the same report with its indicators out. Nothing reads Redis here.
"""

from __future__ import annotations

from typing import Any

Indicator = dict[str, float | int | None]
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
    """Every indicator this report's figures can give, by name."""
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
        "repeat_plans": dict(repeat),
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
