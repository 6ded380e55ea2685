"""A child's chronology: every event about one child, in event time, in words.

The first thing a practitioner, trainer or auditor asks of a case is its story: each contact
and who made it, each decision with the descriptors behind it, each CSE flag with its
indicators, each statutory clock with its deadline and how it ended. The streams hold all of
it (inputs and the consumers' outputs alike), so the chronology is read from them, not from
the reporter's summary records.

`chronology` is pure (events in, entries out); `read_child_events` is the I/O edge. Nothing
here logs: a chronology names a child and carries free text, which never go to the logs.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from html import escape
from typing import Any

import redis.asyncio as aioredis

from mash._report.words import label, plain
from mash._runtime.keys import Keys, shard_of
from mash._time.calendar import LONDON
from mash.schemas.events import (
    STREAMS,
    AssessmentCompleted,
    AssessmentStarted,
    CaseClosed,
    ContactReceived,
    CoreGroupHeld,
    CPPlanEnded,
    CPPlanStarted,
    CPReviewHeld,
    CSEFlag,
    CSEScreeningCompleted,
    DeadLetter,
    Event,
    ICPCHeld,
    MissingReturned,
    MissingStarted,
    ReturnInterviewCompleted,
    S47Completed,
    S47Started,
    ScreeningDecided,
    StrategyHeld,
    TimescaleBreached,
    TimescaleCancelled,
    TimescaleMet,
    TimescaleStarted,
    TimescaleStoppedLate,
    parse_event,
)

# Events of one instant read in the order the hub applies them (README, "Ties"), then outputs.
STREAM_ORDER = {name: rank for rank, name in enumerate(STREAMS)}
READ_BATCH = 5000


@dataclass(frozen=True)
class Entry:
    """One line of a chronology: when, what kind of thing, what happened, and its detail."""

    at: datetime
    kind: str
    what: str
    details: tuple[str, ...]
    event_id: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "at": self.at.astimezone(LONDON).isoformat(),
            "at_london": london(self.at),
            "kind": self.kind,
            "what": self.what,
            "details": list(self.details),
            "event_id": self.event_id,
        }


def london(at: datetime) -> str:
    """`2014-01-06 09:00 GMT`: London wall time, labelled GMT or BST, as a case file reads."""
    return at.astimezone(LONDON).strftime("%Y-%m-%d %H:%M %Z")


def _codes(kind: str, codes: Iterable[Any]) -> str:
    return "; ".join(label(kind, c) for c in codes)


def _contact(event: ContactReceived, child: str) -> Entry:
    others = [c.child_id for c in event.children if c.child_id != child]
    details = []
    if event.concerns:
        details.append(f"concerns: {_codes('factor', event.concerns)}")
    if event.cse_indicators:
        details.append(
            "CSE indicators: " + "; ".join(plain("cse_indicator", i) for i in event.cse_indicators)
        )
    if event.injury:
        details.append("injury reported")
    if event.urgent:
        details.append("marked urgent")
    if others:
        details.append("also names: " + ", ".join(others))
    if event.narrative:
        details.append(f"narrative: {event.narrative}")
    what = f"Contact from {label('source', event.referral_source)} ({event.agency.value})"
    return Entry(event.occurred_at, "contact", what, tuple(details), event.event_id)


def _decision(event: ScreeningDecided) -> Entry:
    what = (
        f"Screening decision on contact {event.contact_id}: "
        f"level {label('level', int(event.level))}, {event.rag.value}, "
        f"{plain('outcome', event.outcome)}"
        f" (by {plain('decided_by', event.decided_by)})"
    )
    details = [f"decision due by {london(event.decision_due)}"]
    details += [f"reason {r.id} (level {int(r.level)}): {r.text}" for r in event.reasons]
    return Entry(event.occurred_at, "decision", what, tuple(details), event.event_id)


def _clock(event: Event) -> Entry | None:
    details: Sequence[str]
    if isinstance(event, TimescaleStarted):
        due = f"deadline {london(event.deadline)}" if event.deadline else "deadline set on stop"
        return Entry(
            event.occurred_at,
            "clock started",
            f"Clock started: {plain('clock', event.clock)}",
            (due, f"clock {event.clock_id}"),
            event.event_id,
        )
    if isinstance(event, TimescaleMet):
        details = (f"deadline {london(event.deadline)}", f"stopped {london(event.stopped_at)}")
        what = f"Clock met: {plain('clock', event.clock)}"
        return Entry(event.occurred_at, "clock met", what, details, event.event_id)
    if isinstance(event, TimescaleBreached):
        what = f"Clock breached: {plain('clock', event.clock)}"
        details = (f"deadline {london(event.deadline)}", f"started {london(event.started_at)}")
        return Entry(event.occurred_at, "clock breached", what, details, event.event_id)
    if isinstance(event, TimescaleStoppedLate):
        what = f"Clock stopped late: {plain('clock', event.clock)}"
        details = (
            f"deadline {london(event.deadline)}",
            f"stopped {london(event.stopped_at)}",
            f"late by {event.lateness}",
        )
        return Entry(event.occurred_at, "clock late", what, details, event.event_id)
    if isinstance(event, TimescaleCancelled):
        what = f"Clock cancelled: {plain('clock', event.clock)}"
        details = ("it had run out of timescale",) if event.breached else ()
        return Entry(event.occurred_at, "clock cancelled", what, details, event.event_id)
    return None


def _casework(event: Event) -> tuple[str, str, Sequence[str]] | None:
    """Kind, what, details of a casework or missing event; None for another type."""
    details: Sequence[str]
    if isinstance(event, MissingStarted):
        what = f"Missing from {event.missing_from.value} (police risk {event.police_risk.value})"
        return "missing", what, (f"episode {event.missing_id}",)
    if isinstance(event, MissingReturned):
        found = [f"episode {event.missing_id}"]
        found += ["found with older adults"] if event.with_adults else []
        found += ["harm disclosed"] if event.harm_disclosed else []
        return "returned", f"Returned (found by {event.found_by.value})", found
    if isinstance(event, ReturnInterviewCompleted):
        what = "Return interview declined" if event.declined else "Return interview held"
        said = [f"episode {event.missing_id}"]
        if event.cse_indicators:
            said.append(
                "CSE indicators: "
                + "; ".join(plain("cse_indicator", i) for i in event.cse_indicators)
            )
        return "return interview", what, said
    if isinstance(event, AssessmentStarted):
        return "assessment", "Assessment started", (f"assessment {event.assessment_id}",)
    if isinstance(event, AssessmentCompleted):
        what = f"Assessment completed: {plain('assessment_outcome', event.outcome)}"
        return "assessment", what, (f"factors: {_codes('factor', event.factors)}",)
    if isinstance(event, StrategyHeld):
        details = ("attended: " + ", ".join(a.value for a in event.attendees),)
        what = f"Strategy discussion: {plain('strategy', event.decision)}"
        return "strategy", what, details if event.attendees else ()
    if isinstance(event, S47Started):
        return "section 47", "Section 47 enquiry started", (f"enquiry {event.s47_id}",)
    if isinstance(event, S47Completed):
        return "section 47", f"Section 47 enquiry completed: {plain('s47', event.outcome)}", ()
    if isinstance(event, ICPCHeld):
        what = "Initial child protection conference: " + (
            "plan required" if event.plan_required else "no plan"
        )
        details = (f"category {label('category', event.category)}",) if event.category else ()
        return "conference", what, details
    if isinstance(event, CPPlanStarted):
        what = f"Child protection plan started: {label('category', event.initial_category)}"
        return "plan", what, (f"previous plans: {event.previous_plans}",)
    if isinstance(event, CPPlanEnded):
        details = (
            (f"latest category {label('category', event.latest_category)}",)
            if event.latest_category
            else ()
        )
        return "plan", "Child protection plan ended", details
    if isinstance(event, CoreGroupHeld):
        return "core group", "Core group held", (f"plan {event.cpp_id}",)
    if isinstance(event, CPReviewHeld):
        what = "Review conference: " + ("plan continues" if event.continue_plan else "plan ends")
        return "review", what, ()
    if isinstance(event, CaseClosed):
        return "closed", f"Case closed: {label('closure', event.reason)}", ()
    if isinstance(event, CSEScreeningCompleted):
        details = tuple(plain("cse_indicator", i) for i in event.indicators)
        what = f"CSE screening ({event.tool}): {plain('cse_level', event.level)}"
        return "CSE screening", what, details
    return None


def entry(event: Event, child: str) -> Entry | None:
    """The chronology line an event makes for a child; None when it is not about them."""
    if isinstance(event, ContactReceived):
        named = any(c.child_id == child for c in event.children)
        return _contact(event, child) if named else None
    if event.child_id != child:
        return None
    if isinstance(event, ScreeningDecided):
        return _decision(event)
    if isinstance(event, CSEFlag):
        what = (
            f"CSE flag: {plain('cse_level', event.previous_level)} → "
            f"{plain('cse_level', event.level)}"
        )
        behind = tuple(plain("cse_indicator", i) for i in event.indicators)
        return Entry(event.occurred_at, "CSE flag", what, behind, event.event_id)
    if isinstance(event, DeadLetter):
        what = f"Dead letter ({event.reason}) from {event.consumer}"
        return Entry(event.occurred_at, "dead letter", what, (event.detail,), event.event_id)
    clock = _clock(event)
    if clock is not None:
        return clock
    found = _casework(event)
    if found is None:
        return None
    kind, what, details = found
    return Entry(event.occurred_at, kind, what, tuple(details), event.event_id)


def chronology(child: str, events: Iterable[Event]) -> list[Entry]:
    """Every entry about `child`, in event time; ties in the order the hub applies them."""
    ranked = [
        (event.occurred_at, STREAM_ORDER.get(type(event).stream, 99), index, found)
        for index, event in enumerate(events)
        if (found := entry(event, child)) is not None
    ]
    ranked.sort(key=lambda r: (r[0], r[1], r[2]))
    return [r[3] for r in ranked]


# ---- reading the streams -----------------------------------------------------------------
def _names(raw: bytes, children: Sequence[bytes]) -> bool:
    return any(c in raw for c in children)


async def read_child_events(
    redis: aioredis.Redis, keys: Keys, children: Iterable[str]
) -> dict[str, list[Event]]:
    """Every event on a hub's streams about each child, in stream order, read once.

    Only the children's shards are read, and an entry is parsed only when its bytes name one
    of them, so a chronology of one child of a generated year costs a scan, not a parse, of
    the rest.
    """
    wanted = sorted(set(children))
    needles = [json.dumps(c).encode() for c in wanted]
    shards = sorted({shard_of(c, keys.shards) for c in wanted})
    found: dict[str, list[Event]] = {c: [] for c in wanted}
    for name in STREAMS:
        if name == "clock":
            continue
        for key in sorted({keys.stream(name, s) for s in shards}):
            start = "-"
            while True:
                entries: Any = await redis.xrange(key, min=start, count=READ_BATCH)
                if not entries:
                    break
                for _id, fields in entries:
                    raw = fields.get(b"event", b"")
                    if not _names(raw, needles):
                        continue
                    event = parse_event(raw)
                    for child in _about(event, wanted):
                        found[child].append(event)
                start = "(" + entries[-1][0].decode()
    return found


def _about(event: Event, children: Sequence[str]) -> list[str]:
    if isinstance(event, ContactReceived):
        return [c.child_id for c in event.children if c.child_id in children]
    return [event.child_id] if event.child_id and event.child_id in children else []


# ---- rendering ---------------------------------------------------------------------------
def to_dict(child: str, entries: Sequence[Entry]) -> dict[str, Any]:
    return {"child": child, "entries": [e.as_dict() for e in entries]}


def to_text(child: str, entries: Sequence[Entry]) -> str:
    """For a terminal: one line per entry, its details indented beneath."""
    lines = [f"Chronology of child {child} ({len(entries)} entries; times are London time)", ""]
    for e in entries:
        lines.append(f"{london(e.at)}  {e.kind:<16} {e.what}")
        lines += [f"{'':<38}{d}" for d in e.details]
    return "\n".join(lines) + "\n"


def to_html(child: str, entries: Sequence[Entry], back: str | None = None) -> str:
    """A page of its own, self-contained like the report; `back` links to the report."""
    from mash._report.report import page  # noqa: PLC0415 - report imports charts lazily

    title = f"Chronology of child {child}"
    parts = [f"<h1>{escape(title)}</h1>"]
    if back:
        parts.append(f'<p><a href="{escape(back)}">Back to the report</a></p>')
    parts.append(f"<p>{len(entries)} entries, in event time; times are London time.</p>")
    rows: list[str] = []
    for e in entries:
        details = "".join(f"<li>{escape(d)}</li>" for d in e.details)
        rows.append(
            f'<tr class="kind-{escape(e.kind.replace(" ", "-"))}">'
            f"<td>{escape(london(e.at))}</td><td>{escape(e.kind)}</td>"
            f"<td>{escape(e.what)}" + (f"<ul>{details}</ul>" if details else "") + "</td></tr>"
        )
    body = "".join(rows) or '<tr><td colspan="3">nothing recorded</td></tr>'
    parts.append(
        '<table class="chronology"><caption>Chronology</caption>'
        "<tr><th>when (London)</th><th>kind</th><th>what happened</th></tr>" + body + "</table>"
    )
    return page(title, parts)


def pages(chronologies: Mapping[str, Sequence[Entry]], back: str | None = None) -> dict[str, str]:
    """File name -> HTML page, one per child."""
    return {
        f"{child}.html": to_html(child, entries, back) for child, entries in chronologies.items()
    }
