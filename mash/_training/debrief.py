"""A training exercise's debrief: the trainee's decisions beside the thresholds' own.

Pure: the contacts decided, the reference decision for each (what the thresholds file says,
with its reasons), the clocks and CSE flags that ran on the trainee's decisions in, a debrief
out. Safety-critical disagreements come first: a contact the thresholds put at level 4
screened lower, or a red contact rated green. A trainer can argue with a level-2 versus
level-3 call; a missed child protection concern is what the exercise is for.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from html import escape
from typing import Any

from mash.schemas.codes import Level, Outcome, Rag
from mash.schemas.events import (
    CSEFlag,
    ScreeningDecided,
    TimescaleBreached,
    TimescaleMet,
    TimescaleStoppedLate,
)

# Points per part of a decision; the level matters most.
POINTS = {"level": 2, "rag": 1, "outcome": 1}


@dataclass(frozen=True)
class Answer:
    level: Level
    rag: Rag
    outcome: Outcome


@dataclass(frozen=True)
class Decided:
    """One child of one contact: what the trainee chose and what the thresholds say."""

    contact: str  # the scenario's local id
    child: str
    received_at: datetime
    decided_at: datetime
    trainee: Answer
    reference: ScreeningDecided
    seconds: float  # real time the trainee took

    @property
    def contact_event(self) -> str:
        return self.reference.contact_id


def safety_critical(trainee: Answer, reference: ScreeningDecided) -> list[str]:
    why = []
    if reference.level == Level.SPECIALIST and trainee.level < Level.SPECIALIST:
        why.append(f"a level 4 contact screened as level {int(trainee.level)}")
    if reference.rag == Rag.RED and trainee.rag == Rag.GREEN:
        why.append("a red contact rated green")
    return why


def _score(trainee: Answer, reference: ScreeningDecided) -> int:
    return (
        POINTS["level"] * (trainee.level == reference.level)
        + POINTS["rag"] * (trainee.rag == reference.rag)
        + POINTS["outcome"] * (trainee.outcome == reference.outcome)
    )


def build_debrief(
    *,
    scenario: str,
    trainee: str,
    thresholds: str,
    decided: Sequence[Decided],
    clocks: Sequence[TimescaleMet | TimescaleBreached | TimescaleStoppedLate],
    flags: Sequence[CSEFlag],
) -> dict[str, Any]:
    rows: list[dict[str, Any]] = []
    for d in decided:
        ref = d.reference
        critical = safety_critical(d.trainee, ref)
        rows.append(
            {
                "contact": d.contact,
                "child": d.child,
                "received_at": d.received_at.isoformat(),
                "decided_at": d.decided_at.isoformat(),
                "seconds_taken": round(d.seconds, 1),
                "trainee": {
                    "level": int(d.trainee.level),
                    "rag": d.trainee.rag.value,
                    "outcome": d.trainee.outcome.value,
                },
                "reference": {
                    "level": int(ref.level),
                    "rag": ref.rag.value,
                    "outcome": ref.outcome.value,
                    "due": ref.decision_due.isoformat(),
                    "reasons": [
                        {"id": r.id, "level": int(r.level), "text": r.text} for r in ref.reasons
                    ],
                },
                "agrees": d.trainee == Answer(ref.level, ref.rag, ref.outcome),
                "safety_critical": critical,
                "points": _score(d.trainee, ref),
            }
        )
    rows.sort(key=lambda r: (not r["safety_critical"], r["received_at"], r["contact"], r["child"]))
    most = sum(POINTS.values()) * len(rows)
    got = sum(r["points"] for r in rows)
    # The clocks the trainee's decisions started or stopped carry the contact's id in their
    # instance id (a decision clock is keyed by contact, an assessment by the decision).
    contact_ids = {d.contact_event for d in decided}
    theirs = [c for c in clocks if any(cid in c.clock_id for cid in contact_ids)]
    per_clock: dict[str, dict[str, int]] = {}
    for event in theirs:
        row = per_clock.setdefault(event.clock, {"met": 0, "breached": 0, "stopped_late": 0})
        if isinstance(event, TimescaleMet):
            row["met"] += 1
        elif isinstance(event, TimescaleBreached):
            row["breached"] += 1
        else:
            row["stopped_late"] += 1
    return {
        "scenario": scenario,
        "trainee": trainee,
        "thresholds": thresholds,
        "score": {
            "points": got,
            "out_of": most,
            "percent": round(100 * got / most) if most else 100,
            "agreed": sum(r["agrees"] for r in rows),
            "decisions": len(rows),
            "safety_critical": sum(bool(r["safety_critical"]) for r in rows),
        },
        "decisions": rows,
        "clocks": dict(sorted(per_clock.items())),
        "other_clocks_breached": sum(
            isinstance(c, TimescaleBreached) for c in clocks if c not in theirs
        ),
        "breaches": [
            {"clock": e.clock, "instance": e.clock_id, "at": e.occurred_at.isoformat()}
            for e in sorted(
                (c for c in theirs if isinstance(c, TimescaleBreached)),
                key=lambda e: (e.occurred_at, e.clock_id),
            )
        ],
        "cse_flags": [
            {
                "child": f.child_id,
                "at": f.occurred_at.isoformat(),
                "from": f.previous_level.value,
                "to": f.level.value,
                "indicators": [i.value for i in f.indicators],
            }
            for f in sorted(flags, key=lambda f: (f.occurred_at, f.event_id))
        ],
    }


def to_json(debrief: dict[str, Any]) -> str:
    return json.dumps(debrief, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _decision(d: dict[str, Any]) -> str:
    return f"level {d['level']}, {d['rag']}, {d['outcome']}"


def to_markdown(debrief: dict[str, Any]) -> str:
    score = debrief["score"]
    lines = [
        f"# Debrief: {debrief['scenario']}, trainee {debrief['trainee']}",
        "",
        f"Score {score['points']} of {score['out_of']} ({score['percent']}%): "
        f"{score['agreed']} of {score['decisions']} decisions as the thresholds "
        f"(`{debrief['thresholds']}`) would make them; "
        f"**{score['safety_critical']} safety-critical**.",
        "",
        "## Decisions (safety-critical first)",
        "",
    ]
    for row in debrief["decisions"]:
        flag = (
            "SAFETY-CRITICAL: " + "; ".join(row["safety_critical"])
            if row["safety_critical"]
            else ""
        )
        mark = "agrees" if row["agrees"] else "differs"
        lines += [
            f"### {row['contact']} / {row['child']} ({mark}) {flag}".rstrip(),
            "",
            f"- received {row['received_at']}, decided {row['decided_at']} "
            f"({row['seconds_taken']} s)",
            f"- trainee: {_decision(row['trainee'])}",
            f"- thresholds: {_decision(row['reference'])}, due {row['reference']['due']}",
        ]
        lines += [
            f"  - {r['id']} (level {r['level']}): {r['text']}" for r in row["reference"]["reasons"]
        ]
        lines.append("")
    lines += ["## Clocks run on the trainee's decisions", ""]
    lines += ["| clock | met | breached | stopped late |", "|---|---:|---:|---:|"]
    lines += [
        f"| {name} | {c['met']} | {c['breached']} | {c['stopped_late']} |"
        for name, c in debrief["clocks"].items()
    ]
    lines += [""]
    lines += [f"- breached: {b['instance']} at {b['at']}" for b in debrief["breaches"]]
    lines += [
        "",
        f"Other clocks (casework, return interviews) breached meanwhile: "
        f"{debrief['other_clocks_breached']}.",
    ]
    lines += ["", "## CSE flags raised during the exercise", ""]
    lines += [
        f"- {f['at']}: {f['child']} {f['from']} to {f['to']} ({', '.join(f['indicators'])})"
        for f in debrief["cse_flags"]
    ] or ["- none"]
    return "\n".join(lines).rstrip() + "\n"


def to_html(debrief: dict[str, Any]) -> str:
    from mash._report.report import STYLE  # noqa: PLC0415 - one look for every page mash writes

    score = debrief["score"]
    title = escape(f"Debrief: {debrief['scenario']}, trainee {debrief['trainee']}")
    rows = []
    for row in debrief["decisions"]:
        critical = "; ".join(row["safety_critical"])
        reasons = "<br>".join(
            escape(f"{r['id']} (level {r['level']}): {r['text']}")
            for r in row["reference"]["reasons"]
        )
        rows.append(
            f'<tr class="{"fail" if critical else ""}"><td>{escape(row["contact"])}</td>'
            f"<td>{escape(row['child'])}</td><td>{escape(row['received_at'])}</td>"
            f"<td>{escape(_decision(row['trainee']))}</td>"
            f"<td>{escape(_decision(row['reference']))}</td><td>{reasons}</td>"
            f"<td>{escape(critical or ('agrees' if row['agrees'] else 'differs'))}</td></tr>"
        )
    clocks = "".join(
        f"<tr><td>{escape(n)}</td><td class='n'>{c['met']}</td><td class='n'>{c['breached']}"
        f"</td><td class='n'>{c['stopped_late']}</td></tr>"
        for n, c in debrief["clocks"].items()
    )
    flags = (
        "".join(
            f"<li>{escape(f['at'])}: {escape(str(f['child']))} {escape(f['from'])} to "
            f"{escape(f['to'])} ({escape(', '.join(f['indicators']))})</li>"
            for f in debrief["cse_flags"]
        )
        or "<li>none</li>"
    )
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<title>{title}</title><style>{STYLE}</style></head><body>"
        f"<h1>{title}</h1><p>Score {score['points']} of {score['out_of']} "
        f"({score['percent']}%): {score['agreed']} of {score['decisions']} as the thresholds "
        f"({escape(debrief['thresholds'])}); <strong>{score['safety_critical']} "
        "safety-critical</strong>.</p><h2>Decisions, safety-critical first</h2>"
        "<table><tr><th>contact</th><th>child</th><th>received</th><th>trainee</th>"
        f"<th>thresholds</th><th>reasons</th><th>verdict</th></tr>{''.join(rows)}</table>"
        "<h2>Clocks run on the trainee's decisions</h2><table><tr><th>clock</th><th>met</th>"
        f"<th>breached</th><th>stopped late</th></tr>{clocks}</table>"
        f"<h2>CSE flags raised during the exercise</h2><ul>{flags}</ul></body></html>\n"
    )
