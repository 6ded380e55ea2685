"""The practitioner's view of one contact as plain data, in words: what the terminal prints
and what the training room sends to a browser.

Pure: a `ContactView` (and the thresholds and clock names for their words) in, a JSON-able
dict out. Codes become words, instants London time with the zone named, and the child's
record is the whole of the last 12 months (every contact and missing episode), not the few
the hub's rules keep.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from mash._training import words
from mash._training.debrief import Answer
from mash._training.exercise import ContactView
from mash.consumers.screening.thresholds import Thresholds
from mash.schemas.codes import Level, Outcome, Rag


def _when(at: datetime) -> dict[str, str]:
    return {"iso": at.isoformat(), "london": words.london(at)}


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def answer_words(answer: Answer | None, thresholds: Thresholds | None = None) -> str:
    """`level 2 (early help), green, early help`; `not decided` for no answer."""
    if answer is None:
        return "not decided"
    level = words.level_name(answer.level, thresholds)
    return (
        f"level {int(answer.level)} ({level}), {answer.rag.value}, {words.outcome(answer.outcome)}"
    )


def choices(thresholds: Thresholds) -> dict[str, Any]:
    """What the trainee chooses from, as the thresholds file sets it: the levels with their
    names and descriptions, each RAG rating with its window, and the outcomes."""
    return {
        "levels": [
            {
                "value": int(level),
                "name": words.level_name(level, thresholds),
                "description": words.level_description(level, thresholds),
            }
            for level in Level
        ],
        "rags": [
            {
                "value": rag.value,
                "name": rag.value,
                "description": words.rag_window(rag, thresholds),
            }
            for rag in (Rag.RED, Rag.AMBER, Rag.GREEN)
        ],
        "outcomes": [{"value": o.value, "name": words.outcome(o)} for o in Outcome],
    }


def view_data(
    view: ContactView, thresholds: Thresholds | None, clock_names: Mapping[str, str]
) -> dict[str, Any]:
    """The view of one child of one contact, in words (see the module's docstring)."""
    c, h = view.contact, view.history
    child = view.child
    return {
        "key": view.key,
        "number": view.number,
        "total": view.total,
        "contact": view.local_id,
        "received": _when(c.occurred_at),
        "from": f"{words.referral_source(c.referral_source)} ({c.agency.value.replace('_', ' ')})",
        "child": {
            "id": child.child_id,
            "sex": child.sex.value,
            "age": view.age,
            "non_mobile": child.non_mobile,
            "looked_after": child.looked_after or h.looked_after,
        },
        "also_named": [k.child_id for k in c.children if k.child_id != child.child_id],
        "concerns": [words.factor(f) for f in c.concerns],
        "cse_indicators": [words.cse_indicator(i) for i in c.cse_indicators],
        "marked": [name for name, on in (("injury", c.injury), ("urgent", c.urgent)) if on],
        "narrative": c.narrative,
        "holds": [
            ["CSE risk", h.cse_level.value],
            ["open referral", _yes(h.open_referral)],
            ["assessment open", _yes(h.open_assessment)],
            ["S47 enquiry open", _yes(h.open_s47)],
            ["child protection plan", _yes(h.cp_plan)],
            ["looked after", _yes(h.looked_after or child.looked_after)],
        ],
        "contacts": [
            {
                "at": _when(p.at),
                "from": words.referral_source(p.contact.referral_source),
                "concerns": [words.factor(f) for f in p.contact.concerns],
            }
            for p in view.contacts
        ],
        "episodes": [
            {
                "started": _when(e.started),
                "returned": _when(e.returned) if e.returned else None,
                "with_adults": e.with_adults,
            }
            for e in view.episodes
        ],
        "earlier": [
            {
                "contact": d.contact,
                "at": _when(d.decided_at) if d.decided_at else None,
                "answer": answer_words(d.trainee, thresholds),
            }
            for d in view.earlier
        ],
        "clocks": [
            {
                "name": clock_names.get(o.clock, o.clock.replace("_", " ")),
                "due": _when(o.deadline) if o.deadline else None,
                "breached": o.breached,
            }
            for o in view.clocks
        ],
        "windows": {
            rag.value: _when(view.windows[rag])
            | {"words": words.rag_window(rag, thresholds) if thresholds else ""}
            for rag in (Rag.RED, Rag.AMBER, Rag.GREEN)
        },
    }


def history_rows(data: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The hub's record of the child as (label, value) rows, for a terminal's table."""
    rows: list[tuple[str, str]] = [
        (f"contacts (12 months) {len(data['contacts'])}", ""),
    ]
    for p in data["contacts"]:
        rows.append((f"  {p['at']['london']}", f"{p['from']}: {', '.join(p['concerns']) or '-'}"))
    rows.append((f"missing episodes (12 months) {len(data['episodes'])}", ""))
    for e in data["episodes"]:
        back = f"returned {e['returned']['london']}" if e["returned"] else "NOT RETURNED"
        rows.append(
            (f"  {e['started']['london']}", back + (", with adults" if e["with_adults"] else ""))
        )
    rows += [(label, value) for label, value in data["holds"]]
    for d in data["earlier"]:
        when = d["at"]["london"] if d["at"] else "-"
        rows.append((f"your decision on {d['contact']} ({when})", d["answer"]))
    for k in data["clocks"]:
        state = (
            "OUT OF TIMESCALE"
            if k["breached"]
            else (f"due {k['due']['london']}" if k["due"] else "due when decided")
        )
        rows.append((f"clock: {k['name']}", state))
    return rows
