"""A training exercise's debrief: the trainee's decisions beside the thresholds' own, and the
room's: where a room of trainees agreed and where it split.

Pure: the contacts decided, the reference decision for each (what the thresholds file says,
with its reasons), the clocks and CSE flags that ran on the trainee's decisions in, a debrief
out. Safety-critical misses come first: a contact the thresholds put at level 4 screened
lower, a red contact rated green, an open case closed with no further action, a red window
that ran out before the decision, and a contact left undecided. A trainer can argue with a
level-2 versus level-3 call; a missed child protection concern is what the exercise is for.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from html import escape
from typing import Any

from mash._training import words
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
SCORE_RULE = (
    "Each child of each contact scores up to 4 points against the thresholds file's own "
    "decision: 2 for the same level of need, 1 for the same RAG rating, 1 for the same "
    "outcome; a contact left undecided scores 0. The score does not weigh safety: the "
    "safety-critical list does, and it comes first."
)


@dataclass(frozen=True)
class Answer:
    level: Level
    rag: Rag
    outcome: Outcome
    rationale: str = ""  # the trainee's reasons, in their words: debrief only, never logged

    def same_as(self, reference: ScreeningDecided) -> bool:
        return (self.level, self.rag, self.outcome) == (
            reference.level,
            reference.rag,
            reference.outcome,
        )


@dataclass(frozen=True)
class Decided:
    """One child of one contact: what the trainee chose (None: nothing before it was locked)
    and what the thresholds say."""

    contact: str  # the scenario's local id
    child: str
    received_at: datetime
    decided_at: datetime | None
    trainee: Answer | None
    reference: ScreeningDecided
    seconds: float  # real time the trainee took
    open_case: bool = False  # social care already held the child when the contact came

    @property
    def contact_event(self) -> str:
        return self.reference.contact_id


def safety_critical(d: Decided) -> list[str]:
    """Why a decision endangers a child, in words; empty when it does not."""
    ref, trainee = d.reference, d.trainee
    if trainee is None:
        return ["not decided: no decision was made before the next contact arrived"]
    why = []
    if ref.level == Level.SPECIALIST and trainee.level < Level.SPECIALIST:
        why.append(f"a level 4 contact screened as level {int(trainee.level)}")
    if ref.rag == Rag.RED and trainee.rag == Rag.GREEN:
        why.append("a red contact rated green")
    if d.open_case and trainee.outcome == Outcome.NFA:
        why.append("an open case screened as no further action")
    if ref.rag == Rag.RED and d.decided_at is not None and d.decided_at > ref.decision_due:
        late = words.span((d.decided_at - ref.decision_due).total_seconds())
        why.append(f"the red window was breached: decided {late} after it closed")
    return why


def _score(d: Decided) -> int:
    trainee, reference = d.trainee, d.reference
    if trainee is None:
        return 0
    return (
        POINTS["level"] * (trainee.level == reference.level)
        + POINTS["rag"] * (trainee.rag == reference.rag)
        + POINTS["outcome"] * (trainee.outcome == reference.outcome)
    )


def _answer(a: Answer | None) -> dict[str, Any] | None:
    if a is None:
        return None
    return {
        "level": int(a.level),
        "rag": a.rag.value,
        "outcome": a.outcome.value,
        "rationale": a.rationale,
    }


def build_debrief(
    *,
    scenario: str,
    trainee: str,
    thresholds: str,
    decided: Sequence[Decided],
    clocks: Sequence[TimescaleMet | TimescaleBreached | TimescaleStoppedLate],
    flags: Sequence[CSEFlag],
    clock_names: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    names = dict(clock_names or {})
    rows: list[dict[str, Any]] = []
    for d in decided:
        ref = d.reference
        critical = safety_critical(d)
        rows.append(
            {
                "contact": d.contact,
                "child": d.child,
                "received_at": d.received_at.isoformat(),
                "decided_at": d.decided_at.isoformat() if d.decided_at else None,
                "seconds_taken": round(d.seconds, 1),
                "open_case": d.open_case,
                "trainee": _answer(d.trainee),
                "reference": {
                    "level": int(ref.level),
                    "rag": ref.rag.value,
                    "outcome": ref.outcome.value,
                    "due": ref.decision_due.isoformat(),
                    "reasons": [
                        {"id": r.id, "level": int(r.level), "text": r.text} for r in ref.reasons
                    ],
                },
                "agrees": d.trainee is not None and d.trainee.same_as(ref),
                "safety_critical": critical,
                "points": _score(d),
            }
        )
    rows.sort(key=lambda r: (not r["safety_critical"], r["received_at"], r["contact"], r["child"]))
    most = sum(POINTS.values()) * len(rows)
    got = sum(r["points"] for r in rows)
    # The clocks the trainee's decisions started or stopped carry the contact's id in their
    # instance id (a decision clock is keyed by contact, an assessment by the decision).
    by_event = {d.contact_event: d for d in decided}

    def contact_of(instance: str) -> Decided | None:
        return next((d for cid, d in by_event.items() if cid in instance), None)

    theirs = [c for c in clocks if contact_of(c.clock_id) is not None]
    per_clock: dict[str, dict[str, Any]] = {}
    for event in theirs:
        row = per_clock.setdefault(
            event.clock,
            {"name": names.get(event.clock, event.clock), "met": 0, "breached": 0,
             "stopped_late": 0},
        )  # fmt: skip
        if isinstance(event, TimescaleMet):
            row["met"] += 1
        elif isinstance(event, TimescaleBreached):
            row["breached"] += 1
        else:
            row["stopped_late"] += 1
    breaches = []
    for e in sorted(
        (c for c in theirs if isinstance(c, TimescaleBreached)),
        key=lambda e: (e.occurred_at, e.clock_id),
    ):
        of = contact_of(e.clock_id)
        assert of is not None
        breaches.append(
            {
                "clock": e.clock,
                "name": names.get(e.clock, e.clock),
                "contact": of.contact,
                "child": e.child_id,
                "at": e.occurred_at.isoformat(),
            }
        )
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
            "undecided": sum(r["trainee"] is None for r in rows),
            "safety_critical": sum(bool(r["safety_critical"]) for r in rows),
            "rule": SCORE_RULE,
        },
        "decisions": rows,
        "clocks": dict(sorted(per_clock.items())),
        "other_clocks_breached": sum(
            isinstance(c, TimescaleBreached) for c in clocks if c not in theirs
        ),
        "breaches": breaches,
        "cse_flags": [
            {
                "child": f.child_id,
                "at": f.occurred_at.isoformat(),
                "from": f.previous_level.value,
                "to": f.level.value,
                "indicators": [i.value for i in f.indicators],
            }
            for f in sorted(flags, key=lambda f: (f.occurred_at, f.event_id))
            # Raised during the exercise: the history before its first contact is context.
            if not decided or f.occurred_at >= min(d.received_at for d in decided)
        ],
    }


def to_json(debrief: dict[str, Any]) -> str:
    return json.dumps(debrief, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def decision_words(d: Mapping[str, Any] | None) -> str:
    """`level 2, green, early help`; `not decided`."""
    if d is None:
        return "not decided"
    return f"level {d['level']}, {d['rag']}, {words.outcome(Outcome(d['outcome']))}"


def _london(iso: str | None) -> str:
    return words.london(datetime.fromisoformat(iso)) if iso else "never"


def _indicators(flag: Mapping[str, Any]) -> str:
    from mash.schemas.codes import CSEIndicator  # noqa: PLC0415 - words for the codes

    return ", ".join(words.cse_indicator(CSEIndicator(i)) for i in flag["indicators"])


def team_words(debrief: Mapping[str, Any]) -> str:
    """The queue's part in an exercise with a team, in a sentence; empty without one."""
    team = debrief.get("team")
    if not team:
        return ""
    waits = team["mean_wait_minutes"]

    def wait(minutes: float | None) -> str:
        return "none" if minutes is None else words.span(minutes * 60)

    return (
        f"You were {team['practitioner']} of the team {team['team']}: you decided "
        f"{team['you_decided']} of the children's contacts and your colleagues "
        f"{team['colleagues_decided']}. Mean wait in the queue before you picked one up: "
        f"{wait(waits['yours'])}; before a colleague did: {wait(waits['colleagues'])}."
    )


def to_markdown(debrief: dict[str, Any]) -> str:
    score = debrief["score"]
    lines = [
        f"# Debrief: {debrief['scenario']}, trainee {debrief['trainee']}",
        "",
        f"Score {score['points']} of {score['out_of']} ({score['percent']}%): "
        f"{score['agreed']} of {score['decisions']} decisions as the thresholds "
        f"(`{debrief['thresholds']}`) would make them; "
        f"**{score['safety_critical']} safety-critical**"
        + (f"; {score['undecided']} not decided" if score["undecided"] else "")
        + ".",
        "",
        f"What the score counts: {score['rule']}",
        "",
        *([team_words(debrief), ""] if debrief.get("team") else []),
        "Times are London time.",
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
        ref = row["reference"]
        lines += [
            f"### {row['contact']} / {row['child']} ({mark}) {flag}".rstrip(),
            "",
            f"- received {_london(row['received_at'])}, decided {_london(row['decided_at'])}"
            + (f" ({row['seconds_taken']} s of yours)" if row["trainee"] else ""),
            f"- trainee: {decision_words(row['trainee'])}"
            + (" (an open case)" if row["open_case"] else ""),
        ]
        if row["trainee"] and row["trainee"]["rationale"]:
            lines.append(f"  - rationale: {row['trainee']['rationale']}")
        lines += [
            f"- thresholds: {decision_words(ref)}, due {_london(ref['due'])}, "
            f"{row['points']} of 4 points",
        ]
        lines += [f"  - {r['text']} (level {r['level']})" for r in ref["reasons"]]
        lines.append("")
    lines += ["## Clocks run on the trainee's decisions", ""]
    lines += ["| clock | met | breached | stopped late |", "|---|---:|---:|---:|"]
    lines += [
        f"| {c['name']} | {c['met']} | {c['breached']} | {c['stopped_late']} |"
        for c in debrief["clocks"].values()
    ]
    lines += [""]
    lines += [
        f"- breached: {b['name']}, contact {b['contact']} for {b['child']}, at {_london(b['at'])}"
        for b in debrief["breaches"]
    ]
    lines += [
        "",
        f"Other clocks (casework, return interviews) breached meanwhile: "
        f"{debrief['other_clocks_breached']}.",
    ]
    lines += ["", "## CSE flags raised during the exercise", ""]
    lines += [
        f"- {_london(f['at'])}: {f['child']} {f['from']} to {f['to']} ({_indicators(f)})"
        for f in debrief["cse_flags"]
    ] or ["- none"]
    return "\n".join(lines).rstrip() + "\n"


def _page(title: str, body: str) -> str:
    from mash._report.report import STYLE  # noqa: PLC0415 - one look for every page mash writes

    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<title>{escape(title)}</title><style>{STYLE}</style></head><body>"
        f"<h1>{escape(title)}</h1>{body}</body></html>\n"
    )


def html_body(debrief: dict[str, Any]) -> str:
    """The debrief as an HTML fragment: a page of its own, or a panel of the room's page."""
    score = debrief["score"]
    rows = []
    for row in debrief["decisions"]:
        critical = "; ".join(row["safety_critical"])
        reasons = "<br>".join(
            escape(f"{r['text']} (level {r['level']})") for r in row["reference"]["reasons"]
        )
        rationale = (row["trainee"] or {}).get("rationale") or ""
        rows.append(
            f'<tr class="{"fail" if critical else ""}"><td>{escape(row["contact"])}</td>'
            f"<td>{escape(row['child'])}</td><td>{escape(_london(row['received_at']))}</td>"
            f"<td>{escape(_london(row['decided_at']))}</td>"
            f"<td>{escape(decision_words(row['trainee']))}"
            + (f"<br><em>{escape(rationale)}</em>" if rationale else "")
            + f"</td><td>{escape(decision_words(row['reference']))}</td><td>{reasons}</td>"
            f"<td class='n'>{row['points']}</td>"
            f"<td>{escape(critical or ('agrees' if row['agrees'] else 'differs'))}</td></tr>"
        )
    clocks = "".join(
        f"<tr><td>{escape(c['name'])}</td><td class='n'>{c['met']}</td><td class='n'>"
        f"{c['breached']}</td><td class='n'>{c['stopped_late']}</td></tr>"
        for c in debrief["clocks"].values()
    )
    breaches = "".join(
        f"<li>{escape(b['name'])}, contact {escape(b['contact'])} for {escape(b['child'])}, "
        f"at {escape(_london(b['at']))}</li>"
        for b in debrief["breaches"]
    )
    flags = (
        "".join(
            f"<li>{escape(_london(f['at']))}: {escape(str(f['child']))} {escape(f['from'])} to "
            f"{escape(f['to'])} ({escape(_indicators(f))})</li>"
            for f in debrief["cse_flags"]
        )
        or "<li>none</li>"
    )
    undecided = f"; {score['undecided']} not decided" if score["undecided"] else ""
    return (
        f"<p class='score'>Score {score['points']} of {score['out_of']} "
        f"({score['percent']}%): {score['agreed']} of {score['decisions']} as the thresholds "
        f"({escape(debrief['thresholds'])}); <strong>{score['safety_critical']} "
        f"safety-critical</strong>{undecided}.</p><p><small>What the score counts: "
        f"{escape(score['rule'])} Times are London time.</small></p>"
        + (f"<p class='team'>{escape(team_words(debrief))}</p>" if debrief.get("team") else "")
        + "<h2>Decisions, safety-critical first</h2>"
        "<table><tr><th>contact</th><th>child</th><th>received</th><th>decided</th>"
        "<th>trainee</th><th>thresholds</th><th>reasons</th><th>points</th><th>verdict</th></tr>"
        f"{''.join(rows)}</table>"
        "<h2>Clocks run on the trainee's decisions</h2><table><tr><th>clock</th><th>met</th>"
        f"<th>breached</th><th>stopped late</th></tr>{clocks}</table>"
        f"<ul>{breaches}</ul>"
        f"<h2>CSE flags raised during the exercise</h2><ul>{flags}</ul>"
    )


def to_html(debrief: dict[str, Any]) -> str:
    return _page(
        f"Debrief: {debrief['scenario']}, trainee {debrief['trainee']}", html_body(debrief)
    )


# ---- the room ----------------------------------------------------------------------------


def room_debrief(scenario: str, debriefs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Contact by contact, what each trainee decided beside the thresholds: where the room
    agreed (everyone the same answer) and where it split, and how many were safety-critical.
    Pure: the trainees' debriefs in, the room's out."""
    by_key: dict[tuple[str, str], dict[str, Any]] = {}
    for debrief in debriefs:
        for row in debrief["decisions"]:
            key = (row["contact"], row["child"])
            entry = by_key.setdefault(
                key,
                {
                    "contact": row["contact"],
                    "child": row["child"],
                    "received_at": row["received_at"],
                    "reference": row["reference"],
                    "answers": [],
                },
            )
            entry["answers"].append(
                {
                    "trainee": debrief["trainee"],
                    "answer": row["trainee"],
                    "agrees": row["agrees"],
                    "safety_critical": row["safety_critical"],
                }
            )
    contacts = []
    for entry in sorted(
        by_key.values(), key=lambda e: (e["received_at"], e["contact"], e["child"])
    ):
        counted = Counter(decision_words(a["answer"]) for a in entry["answers"])
        entry["split"] = [{"answer": a, "trainees": n} for a, n in counted.most_common()]
        entry["agreed"] = len(counted) == 1
        entry["as_thresholds"] = sum(a["agrees"] for a in entry["answers"])
        entry["safety_critical"] = sum(bool(a["safety_critical"]) for a in entry["answers"])
        contacts.append(entry)
    return {
        "scenario": scenario,
        "trainees": [
            {"trainee": d["trainee"], "score": d["score"]}
            for d in sorted(debriefs, key=lambda d: d["trainee"])
        ],
        "contacts": contacts,
    }


def room_markdown(room: Mapping[str, Any]) -> str:
    lines = [f"# Room debrief: {room['scenario']}", "", "## Trainees", ""]
    lines += ["| trainee | score | as the thresholds | safety-critical |", "|---|---:|---:|---:|"]
    lines += [
        f"| {t['trainee']} | {t['score']['points']} of {t['score']['out_of']} | "
        f"{t['score']['agreed']} of {t['score']['decisions']} | {t['score']['safety_critical']} |"
        for t in room["trainees"]
    ]
    lines += ["", "## Contact by contact", ""]
    for c in room["contacts"]:
        verdict = "the room agreed" if c["agreed"] else "the room split"
        lines += [
            f"### {c['contact']} / {c['child']}: {verdict}",
            "",
            f"- received {_london(c['received_at'])}; thresholds: {decision_words(c['reference'])}",
            f"- {c['as_thresholds']} of {len(c['answers'])} as the thresholds; "
            f"{c['safety_critical']} safety-critical",
        ]
        lines += [f"  - {s['answer']}: {s['trainees']}" for s in c["split"]]
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def room_html(room: Mapping[str, Any]) -> str:
    trainees = "".join(
        f"<tr><td>{escape(t['trainee'])}</td><td class='n'>{t['score']['points']} of "
        f"{t['score']['out_of']}</td><td class='n'>{t['score']['agreed']} of "
        f"{t['score']['decisions']}</td><td class='n'>{t['score']['safety_critical']}</td></tr>"
        for t in room["trainees"]
    )
    contacts = []
    for c in room["contacts"]:
        split = "<br>".join(escape(f"{s['answer']}: {s['trainees']}") for s in c["split"])
        contacts.append(
            f"<tr class='{'' if c['agreed'] else 'split'}'><td>{escape(c['contact'])}</td>"
            f"<td>{escape(c['child'])}</td><td>{escape(_london(c['received_at']))}</td>"
            f"<td>{escape(decision_words(c['reference']))}</td>"
            f"<td>{'agreed' if c['agreed'] else 'split'}</td><td>{split}</td>"
            f"<td class='n'>{c['as_thresholds']} of {len(c['answers'])}</td>"
            f"<td class='n'>{c['safety_critical']}</td></tr>"
        )
    body = (
        "<h2>Trainees</h2><table><tr><th>trainee</th><th>score</th><th>as the thresholds</th>"
        f"<th>safety-critical</th></tr>{trainees}</table><h2>Contact by contact</h2>"
        "<table><tr><th>contact</th><th>child</th><th>received</th><th>thresholds</th>"
        "<th>room</th><th>answers</th><th>as thresholds</th><th>safety-critical</th></tr>"
        f"{''.join(contacts)}</table>"
    )
    return _page(f"Room debrief: {room['scenario']}", body)
