"""The replay report: figures computed from the hub's output streams, never typed in.

Deterministic by construction: sorted keys, no wall-clock times, no Redis entry ids.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from mash.expectations import Check, Outputs
from schemas.codes import CSELevel
from schemas.events import (
    CSEFlag,
    Event,
    MissingReturned,
    MissingStarted,
    ReturnInterviewCompleted,
    TimescaleBreached,
    TimescaleMet,
    TimescaleStoppedLate,
)


def _counts(values: Sequence[str]) -> dict[str, int]:
    return dict(sorted(Counter(values).items()))


def build_report(
    *,
    scenario: str,
    description: str,
    thresholds: str,
    timescales: str,
    scoring: str,
    published: Sequence[Event],
    outputs: Outputs,
    checks: Sequence[Check],
) -> dict[str, Any]:
    decisions, dead_letters = outputs.decisions, outputs.dead_letters
    ordered = sorted(decisions, key=lambda d: (d.occurred_at, d.event_id))
    return {
        "scenario": scenario,
        "description": description,
        "thresholds": thresholds,
        "timescales": timescales,
        "scoring": scoring,
        "clocks": _clocks(outputs),
        "missing": _missing(published, outputs),
        "cse": _cse(outputs),
        "events_published": _counts([e.type for e in published]),
        "decisions": {
            "total": len(decisions),
            "by_outcome": _counts([d.outcome.value for d in decisions]),
            "by_level": _counts([str(int(d.level)) for d in decisions]),
            "by_rag": _counts([d.rag.value for d in decisions]),
            "list": [
                {
                    "contact": d.contact_id,
                    "child": d.child_id,
                    "at": d.occurred_at.isoformat(),
                    "level": int(d.level),
                    "rag": d.rag.value,
                    "outcome": d.outcome.value,
                    "due": d.decision_due.isoformat(),
                    "reasons": [r.id for r in d.reasons],
                }
                for d in ordered
            ],
        },
        "dead_letters": {
            "total": len(dead_letters),
            "by_reason": _counts([d.reason for d in dead_letters]),
        },
        "expectations": summarise(checks),
    }


def summarise(checks: Sequence[Check]) -> dict[str, Any]:
    return {
        "total": len(checks),
        "passed": sum(c.passed for c in checks),
        "failed": [
            {"expectation": c.expectation, "detail": c.detail} for c in checks if not c.passed
        ],
    }


def _clocks(outputs: Outputs) -> dict[str, Any]:
    """Per clock: met, breached, stopped late, open now and out of timescale now."""
    per: dict[str, dict[str, int]] = {}

    def row(name: str) -> dict[str, int]:
        return per.setdefault(
            name, {"met": 0, "breached": 0, "stopped_late": 0, "open": 0, "out_of_timescale": 0}
        )

    for event in outputs.clock_events:
        if isinstance(event, TimescaleMet):
            row(event.clock)["met"] += 1
        elif isinstance(event, TimescaleBreached):
            row(event.clock)["breached"] += 1
        elif isinstance(event, TimescaleStoppedLate):
            row(event.clock)["stopped_late"] += 1
    for _child, clock, _instance, breached in outputs.open_clocks:
        row(clock)["open"] += 1
        row(clock)["out_of_timescale"] += int(breached)
    for counts in per.values():
        decided = counts["met"] + counts["breached"]
        counts["percent_met"] = round(100 * counts["met"] / decided) if decided else 100
    breaches = sorted(
        (e for e in outputs.clock_events if isinstance(e, TimescaleBreached)),
        key=lambda e: (e.occurred_at, e.clock_id),
    )
    return {
        "by_clock": dict(sorted(per.items())),
        "breaches": [
            {"clock": e.clock, "instance": e.clock_id, "at": e.occurred_at.isoformat()}
            for e in breaches
        ],
    }


def _missing(published: Sequence[Event], outputs: Outputs) -> dict[str, Any]:
    """The seeds' missing figures (5.2.4): incidents, children, repeats, return interviews."""
    starts = [e for e in published if isinstance(e, MissingStarted)]
    returns = {e.missing_id: e for e in published if isinstance(e, MissingReturned)}
    interviews = [e for e in published if isinstance(e, ReturnInterviewCompleted)]
    per_child = Counter(e.child_id for e in starts)
    done = [i for i in interviews if not i.declined]
    in_time = [
        i
        for i in done
        if i.missing_id in returns
        and i.occurred_at - returns[i.missing_id].occurred_at <= timedelta(hours=72)
    ]
    return {
        "incidents": len(starts),
        "children": len(per_child),
        "children_3_or_more": sum(1 for n in per_child.values() if n >= 3),
        "returns": len(returns),
        "interviews_offered": len(interviews),
        "interviews_done": len(done),
        "interviews_within_72h": len(in_time),
        "open_now": len(outputs.open_episodes),
    }


def _cse(outputs: Outputs) -> dict[str, Any]:
    latest: dict[str, CSEFlag] = {}
    for flag in sorted(outputs.flags, key=lambda f: (f.occurred_at, f.event_id)):
        latest[flag.child_id or ""] = flag
    behind_high = Counter(
        i.value for f in outputs.flags if f.level == CSELevel.HIGH for i in f.indicators
    )
    return {
        "flags_by_level": _counts([f.level.value for f in outputs.flags]),
        "children_by_level_now": _counts([f.level.value for f in latest.values()]),
        "indicators_behind_high_flags": dict(sorted(behind_high.items())),
    }


def to_json(report: dict[str, Any]) -> str:
    return json.dumps(report, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _table(title: str, counts: dict[str, int]) -> list[str]:
    lines = [f"| {title} | count |", "|---|---:|"]
    lines += [f"| {key} | {value} |" for key, value in counts.items()] or ["| (none) | 0 |"]
    return [*lines, ""]


def to_markdown(report: dict[str, Any]) -> str:
    decisions = report["decisions"]
    expectations = report["expectations"]
    lines = [
        f"# Replay report: {report['scenario']}",
        "",
        report["description"] or "",
        "",
        f"Thresholds: `{report['thresholds']}`; timescales: `{report['timescales']}`; "
        f"CSE scoring: `{report['scoring']}`",
        "",
        "## Events published",
        "",
        *_table("type", report["events_published"]),
        f"## Screening decisions ({decisions['total']})",
        "",
        *_table("outcome", decisions["by_outcome"]),
        *_table("level of need", decisions["by_level"]),
        *_table("RAG", decisions["by_rag"]),
        "| contact | child | at | level | RAG | outcome | due | reasons |",
        "|---|---|---|---:|---|---|---|---|",
    ]
    for d in decisions["list"]:
        lines.append(
            f"| {d['contact']} | {d['child']} | {d['at']} | {d['level']} | {d['rag']} "
            f"| {d['outcome']} | {d['due']} | {', '.join(d['reasons'])} |"
        )
    lines += [
        "",
        "## Missing from home or care",
        "",
        *_table("figure", report["missing"]),
        "## CSE risk",
        "",
        *_table("flags raised at level", report["cse"]["flags_by_level"]),
        *_table("children by level now", report["cse"]["children_by_level_now"]),
        *_table("indicators behind high flags", report["cse"]["indicators_behind_high_flags"]),
        "## Statutory clocks",
        "",
        "| clock | met | breached | stopped late | open | out of timescale now | % met |",
        "|---|---:|---:|---:|---:|---:|---:|",
        *[
            f"| {name} | {c['met']} | {c['breached']} | {c['stopped_late']} | {c['open']} "
            f"| {c['out_of_timescale']} | {c['percent_met']} |"
            for name, c in report["clocks"]["by_clock"].items()
        ],
        "",
        *[f"- breached: {b['instance']} at {b['at']}" for b in report["clocks"]["breaches"]],
        "",
        f"## Dead letters ({report['dead_letters']['total']})",
        "",
        *_table("reason", report["dead_letters"]["by_reason"]),
        f"## Expectations: {expectations['passed']} of {expectations['total']} hold",
        "",
    ]
    for failure in expectations["failed"]:
        lines.append(f"- FAILED {failure['expectation']}: {failure['detail']}")
    return "\n".join(lines).rstrip() + "\n"


def render(report: dict[str, Any], fmt: str) -> str:
    if fmt == "json":
        return to_json(report)
    if fmt == "md":
        return to_markdown(report)
    raise ValueError(f"unknown report format {fmt!r} (md or json)")
