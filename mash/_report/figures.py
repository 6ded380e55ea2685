"""The board's figures at an instant, from the reporter's tallies.

Pure: a flat mapping of counters and an instant in, the nested tables of a safeguarding board's
annual report out (domain §6; the seeds' sections 3.4, 5.2.4, 5.6). Nothing here reads Redis
or the clock, so the same tallies and instant give the same figures byte for byte, and a report
asked for halfway through a live run costs one HGETALL and this fold.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from mash._report.indicators import indicators as performance
from mash._time.calendar import LONDON
from mash.consumers.reporter.rules import WAIT_BANDS
from mash.schemas.codes import CPCategory, CSELevel

# DfE "Characteristics of children in need" age bands for children on a CP plan.
AGE_BANDS = ("unborn", "under 1", "1-4", "5-9", "10-15", "16 and over", "unknown")
PER = 10_000


class Tallies(dict[str, int]):
    """The reporter's counters with their names sorted once, so every table's counters are
    found by bisection. Each table used to sort and scan the whole hash; a nation's year has
    tens of thousands of counters (open plans and care by their dates: 67,399 at the end of
    England's year, 130,592 before counters back at 0 were dropped), and a report of it
    took seconds of that alone."""

    def __init__(self, tallies: Mapping[str, int]) -> None:
        super().__init__(tallies)
        self.names = sorted(self)

    def starting(self, start: str) -> list[str]:
        """The counters' names that begin with `start`, in order: those from `start` up to
        the first name past every one it begins (its last character's successor)."""
        if not start:
            return list(self.names)
        return self.between(start, start[:-1] + chr(ord(start[-1]) + 1))

    def between(self, low: str, high: str) -> list[str]:
        """The counters' names from `low` up to, and not including, `high`, in order: two
        bisections, where a scan that asked each name whether it still began with the
        prefix was a tenth of a nation's report."""
        names = self.names
        return names[bisect_left(names, low) : bisect_left(names, high)]


def _indexed(tallies: Mapping[str, int]) -> Tallies:
    return tallies if isinstance(tallies, Tallies) else Tallies(tallies)


def _group(tallies: Mapping[str, int], prefix: str) -> dict[str, int]:
    """Counters named `prefix|key`, as {key: count}, sorted, zeros dropped."""
    start = prefix + "|"
    index = _indexed(tallies)
    return {
        name[len(start) :]: index[name]
        for name in index.starting(start)
        if "|" not in name[len(start) :] and index[name]
    }


def _nested(tallies: Mapping[str, int], prefix: str) -> dict[str, dict[str, int]]:
    """Counters named `prefix|outer|inner`, as {outer: {inner: count}}."""
    start = prefix + "|"
    index = _indexed(tallies)
    out: dict[str, dict[str, int]] = {}
    for name in index.starting(start):
        count = index[name]
        if not count:
            continue
        parts = name[len(start) :].split("|")
        if len(parts) == 2:
            out.setdefault(parts[0], {})[parts[1]] = count
    return out


def _percent(part: int, whole: int) -> float | None:
    return round(100 * part / whole, 1) if whole else None


def _rate(count: int, population: int | None) -> float | None:
    return round(PER * count / population, 1) if population else None


def age_band(dob: date, on: date) -> str:
    if dob > on:
        return "unborn"
    years = on.year - dob.year - ((on.month, on.day) < (dob.month, dob.day))
    if years < 1:
        return "under 1"
    if years < 5:
        return "1-4"
    if years < 10:
        return "5-9"
    if years < 16:
        return "10-15"
    return "16 and over"


def _age_bands(by_dob: Mapping[str, int], on: date) -> dict[str, int]:
    bands = dict.fromkeys(AGE_BANDS, 0)
    for dob, count in by_dob.items():
        band = "unknown" if dob == "unknown" else age_band(date.fromisoformat(dob), on)
        bands[band] += count
    return {band: n for band, n in bands.items() if n}


def _clocks(tallies: Mapping[str, int]) -> dict[str, Any]:
    per: dict[str, dict[str, Any]] = {}
    for clock, counts in _nested(tallies, "clocks").items():
        started = counts.get("started", 0)
        met, breached = counts.get("met", 0), counts.get("breached", 0)
        late, cancelled = counts.get("stopped_late", 0), counts.get("cancelled", 0)
        decided = met + breached
        per[clock] = {
            "started": started,
            "met": met,
            "breached": breached,
            "stopped_late": late,
            "cancelled": cancelled,
            "open": started - met - late - cancelled,
            "out_of_timescale": breached - late - counts.get("cancelled_breached", 0),
            # Nothing decided is no rate at all (a dash), not 100% met.
            "percent_met": round(100 * met / decided) if decided else None,
        }
    return dict(sorted(per.items()))


def _months_between(first: str, last: str) -> list[str]:
    """Every month from `first` to `last` ("YYYY-MM"), so a month with nothing in it still
    has its place on a chart's axis."""
    if not first or not last or first > last:
        return []
    year, mon = int(first[:4]), int(first[5:7])
    out: list[str] = []
    while (label := f"{year:04d}-{mon:02d}") <= last:
        out.append(label)
        year, mon = (year + 1, 1) if mon == 12 else (year, mon + 1)
    return out


def _open_by_category(
    deltas: Mapping[str, Mapping[str, int]], months: list[str]
) -> dict[str, list[int]]:
    """Children on a plan at each month's end, by category: the running sum of the starts and
    ends, counted from the first delta (the run-in before the period included)."""
    out: dict[str, list[int]] = {}
    earlier = [m for m in deltas if not months or m < months[0]]
    for category in CPCategory:
        running = sum(deltas[m].get(category.value, 0) for m in earlier)
        values: list[int] = []
        for m in months:
            running += deltas.get(m, {}).get(category.value, 0)
            values.append(running)
        out[category.value] = values
    return out


def _clocks_in_period(tallies: Mapping[str, int], since: datetime | None) -> dict[str, Any]:
    """Each clock's met and breached in the reporting period (from `since`'s month): what a
    run-in's clocks did before the year is not the year's."""
    first = since.astimezone(LONDON).strftime("%Y-%m") if since else ""
    out: dict[str, dict[str, int]] = {}
    for kind, prefix in (("met", "clocks.met_month"), ("breached", "clocks.breached_month")):
        for when, row in _nested(tallies, prefix).items():
            if when < first:
                continue
            for clock, n in row.items():
                counts = out.setdefault(clock, {"met": 0, "breached": 0})
                counts[kind] += n
    return dict(sorted(out.items()))


def _series(tallies: Mapping[str, int], at: datetime, since: datetime | None) -> dict[str, Any]:
    decisions = _nested(tallies, "decisions.month")
    breaches = _nested(tallies, "clocks.breached_month")
    met = _nested(tallies, "clocks.met_month")
    contacts = _group(tallies, "contacts.month")
    missing = _group(tallies, "missing.month")
    s47 = _group(tallies, "s47.month")
    referrals = _group(tallies, "referrals.month")
    re_referrals = _group(tallies, "referrals.re_referrals_month")
    open_delta = _nested(tallies, "cpp.plans_delta")
    seen = sorted({*decisions, *breaches, *met, *contacts, *missing, *s47})
    first = since.astimezone(LONDON).strftime("%Y-%m") if since else (seen[0] if seen else "")
    months = _months_between(first, at.astimezone(LONDON).strftime("%Y-%m"))
    clocks = sorted({c for row in (*met.values(), *breaches.values()) for c in row})
    return {
        "months": months,
        "contacts": [contacts.get(m, 0) for m in months],
        "decisions_by_outcome": {
            outcome: [decisions.get(m, {}).get(outcome, 0) for m in months]
            for outcome in sorted({o for row in decisions.values() for o in row})
        },
        "referrals": [referrals.get(m, 0) for m in months],
        "re_referrals": [re_referrals.get(m, 0) for m in months],
        "s47_started": [s47.get(m, 0) for m in months],
        "missing_incidents": [missing.get(m, 0) for m in months],
        "clock_breaches": [sum(breaches.get(m, {}).values()) for m in months],
        # Met and breached by the month each was decided in: timeliness month by month.
        "clocks_met": {c: [met.get(m, {}).get(c, 0) for m in months] for c in clocks},
        "clocks_breached": {c: [breaches.get(m, {}).get(c, 0) for m in months] for c in clocks},
        "cp_plans_open_by_category": _open_by_category(open_delta, months),
    }


def _hours(minutes: int, count: int) -> float | None:
    return round(minutes / count / 60, 2) if count else None


def _days(hours: int, count: int) -> float:
    return round(hours / 24 / count, 1) if count else 0.0


def _queue(t: Mapping[str, int], months: list[str]) -> dict[str, Any] | None:
    """The front door's queue (a hub with a team; None without one): contacts handled, how
    long they waited for a practitioner and until their decision, by month and rating."""
    handled = _group(t, "queue.handled_month")
    if not handled:
        return None
    by_rag = _nested(t, "queue.handled_month")
    waits = _group(t, "queue.wait_minutes_month")
    waits_by_rag = _nested(t, "queue.wait_minutes_month")
    decide = _group(t, "queue.decide_minutes_month")
    peaks = _group(t, "queue.peak_month")
    total = sum(handled.values())
    rag_count: dict[str, int] = {}
    rag_wait: dict[str, int] = {}
    for month, row in by_rag.items():
        for rag, n in row.items():
            rag_count[rag] = rag_count.get(rag, 0) + n
            rag_wait[rag] = rag_wait.get(rag, 0) + waits_by_rag.get(month, {}).get(rag, 0)
    bands = _group(t, "queue.waited")
    return {
        "handled": total,
        "mean_wait_hours": _hours(sum(waits.values()), total),
        "mean_to_decision_hours": _hours(sum(decide.values()), total),
        "most_waiting": max(peaks.values(), default=0),
        "by_rag": {
            rag: {
                "handled": rag_count[rag],
                "mean_wait_hours": _hours(rag_wait[rag], rag_count[rag]),
            }
            for rag in ("red", "amber", "green")
            if rag in rag_count
        },
        "waited": {band: bands.get(band, 0) for _, band in WAIT_BANDS},
        "by_month": {
            "months": months,
            "handled": [handled.get(m, 0) for m in months],
            "mean_wait_hours": [_hours(waits.get(m, 0), handled.get(m, 0)) for m in months],
            "most_waiting": [peaks.get(m, 0) for m in months],
        },
    }


def _caseloads(t: Mapping[str, int], months: list[str]) -> dict[str, Any] | None:
    """Assessments on social workers' caseloads: opened and authorised each month, open at
    each month's end (all opened so far, run-in included, less all authorised), and, in a
    year whose social workers' caseloads timed them, how long they waited for a worker."""
    opened = _group(t, "assessments.opened_month")
    if not opened:
        return None
    authorised = _group(t, "assessments.authorised_month")
    worked = _group(t, "assessments.worked_month")
    waits = _group(t, "assessments.wait_hours_month")
    open_at_end: list[int] = []
    for m in months:
        started = sum(n for k, n in opened.items() if k <= m)
        done = sum(n for k, n in authorised.items() if k <= m)
        open_at_end.append(started - done)
    out: dict[str, Any] = {
        "opened": sum(opened.get(m, 0) for m in months),
        "authorised": sum(authorised.get(m, 0) for m in months),
        "open_at_end": open_at_end[-1] if open_at_end else 0,
        "most_open": max(open_at_end, default=0),
        "by_month": {
            "months": months,
            "opened": [opened.get(m, 0) for m in months],
            "authorised": [authorised.get(m, 0) for m in months],
            "open_at_end": open_at_end,
        },
    }
    if worked:
        total = sum(worked.get(m, 0) for m in months)
        out["mean_wait_days"] = _days(sum(waits.get(m, 0) for m in months), total)
        out["by_month"]["mean_wait_days"] = [
            _days(waits.get(m, 0), worked.get(m, 0)) for m in months
        ]
    return out


def _add_months(day: date, months: int) -> date:
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    last = [31, 29 if year % 4 == 0 and (year % 100 or year % 400 == 0) else 28, 31, 30, 31, 30]
    last += [31, 31, 30, 31, 30, 31]
    return date(year, month, min(day.day, last[month - 1]))


def _looked_after(t: Mapping[str, int], on: date, since: datetime | None) -> dict[str, Any]:
    """Children looked after now, and the counts NI 61, 62 and 63 are ratios of.

    NI 63's children (looked after two and a half years or more and under 16) and its stable
    ones (in the same placement two years, or placed for adoption) depend on the day asked,
    so open care is tallied by its dates and resolved here."""
    long_term = stable = 0
    # The dates in the names are ISO's, which compare as the dates do: a nation's year has
    # tens of thousands of these counters, and parsing three dates each was a fifth of a
    # report. Sixteen or over on `on` is born on or before the day sixteen years before it
    # (compared as (year, month, day), so 29 February needs no day of its own).
    lived_since = _add_months(on, -30).isoformat()
    placed_by = _add_months(on, -24).isoformat()
    sixteen = f"{on.year - 16:04d}-{on.month:02d}-{on.day:02d}"
    index = _indexed(t)
    # Only care begun on or before `lived_since`: the names sort by that date, and "}" is
    # the character after the "|" that ends it (most of a nation's open care is younger).
    for name in index.between("lac.open|", f"lac.open|{lived_since}}}"):
        count = index[name]
        if not count:
            continue
        _, dob, placed, adoption = name.split("|")[1:]
        if dob == "unknown" or dob <= sixteen:
            continue
        long_term += count
        if adoption == "1" or (placed != "none" and placed <= placed_by):
            stable += count
    year = on.year + 1 if (on.month, on.day) >= (4, 1) else on.year
    return {
        "now": t.get("lac.now", 0),
        "started": _since(_group(t, "lac.started_month"), since),
        "ended": _since(_group(t, "lac.ended_month"), since),
        "ended_by_reason": _group(t, "lac.ended"),
        "three_or_more_placements": t.get(f"lac.three_placements|{year}", 0),
        "long_term": long_term,
        "long_term_stable": stable,
        "adoptions": _since(_group(t, "lac.adopted_month"), since),
        "adoptions_in_time": _since(_group(t, "lac.adopted_in_time_month"), since),
        "reviews": t.get("lac.reviews", 0),
    }


def _since(by_month: Mapping[str, int], since: datetime | None) -> int:
    first = since.strftime("%Y-%m") if since else ""
    return sum(n for m, n in by_month.items() if m >= first)


def figures(
    tallies: Mapping[str, int],
    *,
    at: datetime,
    population: int | None = None,
    since: datetime | None = None,
) -> dict[str, Any]:
    """Every table of the report, as of instant `at` (ages are taken on its date).

    `since` is where the reporting period starts: a generated year carries a run-in of plans
    begun before it, which are open plans now but not the year's starts.
    """
    t = _indexed(tallies)
    on = at.astimezone(LONDON).date()
    open_plans = t.get("cpp.open", 0)
    by_category = _group(t, "cpp.open|category")
    decisions_total = t.get("decisions.total", 0)
    referrals = t.get("referrals.total", 0)
    indicators = _nested(t, "cse.indicators")
    board: dict[str, Any] = {
        "as_of": at.isoformat(),
        "population": population,
        "contacts": {
            "total": t.get("contacts.total", 0),
            "children_named": t.get("contacts.children_named", 0),
            "multi_child": t.get("contacts.multi_child", 0),
            "domestic_abuse": {
                "contacts": t.get("contacts.domestic_abuse", 0),
                "children": t.get("contacts.domestic_abuse_children", 0),
            },
            "by_source": _group(t, "contacts.source"),
        },
        "decisions": {
            "total": decisions_total,
            "by_outcome": _group(t, "decisions.outcome"),
            "by_level": _group(t, "decisions.level"),
            "by_rag": _group(t, "decisions.rag"),
            "by_decided_by": _group(t, "decisions.decided_by"),
        },
        "referrals": {
            "total": referrals,
            "re_referrals_12m": t.get("referrals.re_referrals_12m", 0),
            "re_referral_percent": _percent(t.get("referrals.re_referrals_12m", 0), referrals),
        },
        "clocks": {"by_clock": _clocks(t), "in_period": _clocks_in_period(t, since)},
        "assessments": {
            "started": t.get("assessments.started", 0),
            "completed": t.get("assessments.completed", 0),
            "by_outcome": _group(t, "assessments.outcome"),
            "by_factor": _group(t, "assessments.factor"),
        },
        "child_protection": {
            "strategy_discussions": t.get("strategy.held", 0),
            "s47_started": t.get("s47.started", 0),
            "s47_completed": t.get("s47.completed", 0),
            "s47_rate_per_10k": _rate(t.get("s47.started", 0), population),
            "icpcs": t.get("icpc.held", 0),
            "icpcs_plan_required": t.get("icpc.plan_required", 0),
            "plans_started": t.get("cpp.started", 0),
            "plans_started_in_period": _since(_group(t, "cpp.started_month"), since),
            "plans_started_repeat_in_period": _since(_group(t, "cpp.started_repeat_month"), since),
            "plans_ended": t.get("cpp.ended", 0),
            "plans_ended_in_period": _since(_group(t, "cpp.ended_month"), since),
            "plans_ended_2y_plus_in_period": _since(_group(t, "cpp.ended_2y_month"), since),
            "plans_ended_2y_or_more": t.get("cpp.ended_2y_or_more", 0),
            "plans_started_by_category": _group(t, "cpp.started|category"),
            "reviews": t.get("cpp.reviews", 0),
        },
        "cp_plans_now": {
            "total": open_plans,
            "rate_per_10k": _rate(open_plans, population),
            "by_category": {c.value: by_category.get(c.value, 0) for c in CPCategory},
            "by_category_percent": {
                c.value: _percent(by_category.get(c.value, 0), open_plans) for c in CPCategory
            },
            "by_sex": _group(t, "cpp.open|sex"),
            "by_age_band": _age_bands(_group(t, "cpp.open|dob"), on),
        },
        "missing": {
            "incidents": t.get("missing.incidents", 0),
            "children": t.get("missing.children", 0),
            "children_3_or_more": t.get("missing.children_3_or_more", 0),
            "returns": t.get("missing.returns", 0),
            "open_now": t.get("missing.open_now", 0),
            "interviews_offered": t.get("missing.interviews_offered", 0),
            "interviews_done": t.get("missing.interviews_done", 0),
            "interviews_within_72h": t.get("missing.interviews_within_72h", 0),
            "children_by_episodes": dict(
                sorted(_group(t, "missing.per_child").items(), key=lambda kv: int(kv[0]))
            ),
        },
        "cse": {
            "flags_by_level": _group(t, "cse.flags"),
            "children_by_level_now": {
                level.value: n for level in CSELevel if (n := t.get(f"cse.now|{level.value}", 0))
            },
            "indicators_by_level": indicators,
            "indicators_behind_high_flags": indicators.get(CSELevel.HIGH.value, {}),
        },
        "closures": {"total": t.get("cases.closed", 0), "by_reason": _group(t, "cases.closed")},
        "looked_after": _looked_after(t, on, since),
        "dead_letters": {
            "total": t.get("dlq.total", 0),
            "by_reason": _group(t, "dlq.reason"),
            "by_consumer": _group(t, "dlq.consumer"),
        },
        "series": _series(t, at, since),
    }
    board["queue"] = _queue(t, board["series"]["months"])
    board["caseloads"] = _caseloads(t, board["series"]["months"])
    # The performance table's ratios, from the figures above (mash/_report/indicators.py).
    board["indicators"] = performance(board)
    return board
