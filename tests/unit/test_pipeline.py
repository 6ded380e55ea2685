"""The pipeline's event-time discipline, as properties of the pure round function.

Everything due at or before an instant, and everything it causes in any consumer, is applied
before anything later; so no answer may depend on another child's events or on where the
watermarks fall. These tests run the real consumers (the default thresholds, timescales and
scoring files) over an in-memory shard, hundreds of cases a second, no Redis.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st
from pydantic_core import to_json

from mash._bootstrap import build_consumers
from mash._config.settings import DEFAULT_THRESHOLDS
from mash._runtime.edge import decode_ledger, encode_ledger
from mash._runtime.pipeline import Item, Ledger, Pipeline, ShardStates, children_of, due_instant
from mash.consumers.screening.thresholds import load_thresholds
from mash.schemas.events import (
    Envelope,
    ScreeningDecided,
    parse_event,
    parse_event_data,
    state_json,
    wire_json,
)

START = datetime(2014, 1, 6, 9, tzinfo=UTC)
CONSUMERS = build_consumers(load_thresholds(DEFAULT_THRESHOLDS))


class MemoryShard:
    """One shard of a hub held in memory: what the edge does around each round, minus Redis."""

    def __init__(self) -> None:
        self.pipeline = Pipeline(CONSUMERS)
        self.states: dict[str, dict[str, Any]] = {c.name: {} for c in CONSUMERS}
        self.ledgers: dict[str, Ledger] = {}
        self.outputs: list[Envelope] = []

    def due(self, watermark: datetime) -> list[str]:
        children = {c for held in self.states.values() for c in held}
        due = []
        for child in sorted(children):
            states = {n: held[child] for n, held in self.states.items() if child in held}
            instant = due_instant(self.pipeline, states)
            if instant is not None and instant <= watermark:
                due.append(child)
        return due

    def round(self, events: Sequence[Envelope], watermark: datetime) -> None:
        due = self.due(watermark)
        owned = sorted({c for e in events for c in children_of(e)} | set(due))
        shard = ShardStates(
            CONSUMERS,
            {n: {c: held[c] for c in owned if c in held} for n, held in self.states.items()},
            {c: self.ledgers[c] for c in owned if c in self.ledgers},
            owned,
        )
        items = [
            Item(e, type(e).stream, type(e).stream, b"0-0", i)  # type: ignore[arg-type]
            for i, e in enumerate(events)
        ]
        result = self.pipeline.run_round(shard, items, watermark, due)
        for name, changed in shard.changed.items():
            for child in changed:
                self.states[name][child] = shard.states[name][child]
        self.ledgers.update(shard.ledgers)
        self.outputs.extend(result.outputs)

    def by_id(self, child: str | None = None) -> dict[str, str]:
        return {
            e.event_id: e.model_dump_json()
            for e in self.outputs
            if child is None or e.child_id == child
        }


def run(events: Sequence[Envelope], cuts: Sequence[datetime], end: datetime) -> MemoryShard:
    """Rounds closed by a watermark at each cut (and the end), as a replay publishes them."""
    shard = MemoryShard()
    pending = sorted(events, key=lambda e: e.occurred_at)
    for watermark in [*sorted(c for c in cuts if c < end), end]:
        ready = [e for e in pending if e.occurred_at <= watermark]
        pending = pending[len(ready) :]
        shard.round(ready, watermark)
    return shard


def event(kind: str, child: str, at: datetime, n: int, **fields: Any) -> Envelope:
    data: dict[str, Any] = {
        "event_id": f"{child}.{kind}.{n}",
        "type": kind,
        "occurred_at": at.isoformat(),
        "recorded_at": at.isoformat(),
        "child_id": child,
        "agency": "police",
    }
    if kind == "contact.received":
        data |= {
            "agency": "school",
            "referral_source": "2A",
            "children": [{"child_id": child, "dob": date(2001, 3, 3).isoformat(), "sex": "F"}],
            "correlation_id": data["event_id"],
        }
    return parse_event_data(data | fields)


CONCERNS = ["16A", "17A", "11A", "10A", "15A", "3B", "20"]
INDICATORS = ["missing_with_adults", "gifts_money_phone", "substances", "school_absence"]


@st.composite
def story(draw: st.DrawFn, child: str) -> list[Envelope]:
    """A child's year: contacts with concerns and CSE indicators, missing episodes (some with
    adults, some interviewed), assessments, a closure, at increasing instants."""
    out: list[Envelope] = []
    at = START + timedelta(hours=draw(st.integers(0, 24 * 60)))
    for n in range(draw(st.integers(1, 8))):
        at += timedelta(hours=draw(st.integers(1, 24 * 70)))
        kind = draw(st.sampled_from(["contact", "contact", "missing", "assessment", "closed"]))
        if kind == "contact":
            out.append(
                event(
                    "contact.received",
                    child,
                    at,
                    n,
                    concerns=draw(st.lists(st.sampled_from(CONCERNS), max_size=2, unique=True)),
                    cse_indicators=draw(
                        st.lists(st.sampled_from(INDICATORS), max_size=2, unique=True)
                    ),
                )
            )
        elif kind == "missing":
            mid = f"{child}-M{n}"
            out.append(event("missing.started", child, at, n, missing_id=mid))
            at += timedelta(hours=draw(st.integers(1, 96)))
            adults = draw(st.booleans())
            out.append(event("missing.returned", child, at, n, missing_id=mid, with_adults=adults))
            if draw(st.booleans()):
                at += timedelta(hours=draw(st.integers(1, 100)))
                out.append(event("rhi.completed", child, at, n, missing_id=mid))
        elif kind == "assessment":
            out.append(event("assessment.started", child, at, n, assessment_id=f"{child}-A{n}"))
            at += timedelta(days=draw(st.integers(1, 80)))
            out.append(
                event(
                    "assessment.completed",
                    child,
                    at,
                    n,
                    assessment_id=f"{child}-A{n}",
                    factors=["16A"],
                    outcome="nfa",
                )
            )
        else:
            out.append(event("case.closed", child, at, n, reason="RC8"))
    return out


def end_of(events: Sequence[Envelope]) -> datetime:
    return max(e.occurred_at for e in events) + timedelta(days=400)


@settings(max_examples=60, deadline=None)
@given(mine=story("A"), theirs=story("B"))
def test_another_childs_events_never_change_a_childs_answers(
    mine: list[Envelope], theirs: list[Envelope]
) -> None:
    end = end_of(mine + theirs)
    alone = run(mine, [], end)
    together = run(mine + theirs, [], end)
    assert together.by_id("A") == alone.by_id("A")
    assert together.states["screening"].get("A") == alone.states["screening"].get("A")


@settings(max_examples=60, deadline=None)
@given(
    events=st.tuples(story("A"), story("B")).map(lambda pair: pair[0] + pair[1]),
    data=st.data(),
)
def test_where_the_watermarks_fall_changes_nothing(events: list[Envelope], data: Any) -> None:
    end = end_of(events)
    instants = sorted({e.occurred_at for e in events})
    cuts = data.draw(st.lists(st.sampled_from(instants), unique=True))
    # And some watermarks between events, where only deadlines fall.
    cuts += [i + timedelta(hours=data.draw(st.integers(1, 2000))) for i in cuts[:3]]
    one_round = run(events, [], end)
    many = run(events, cuts, end)
    assert many.by_id() == one_round.by_id()
    assert many.states == one_round.states
    # The rules build their outputs without validating them again: each must still be an
    # event the wire contract accepts, unchanged; the outputs the edge writes are pydantic's
    # own JSON; and a state, written without its defaults, reads back equal.
    for out in many.outputs:
        assert wire_json(out) == out.model_dump_json().encode()
        assert parse_event(wire_json(out)).model_dump() == out.model_dump()
    for held in many.states.values():
        for state in held.values():
            written = state_json(state)
            assert written == state.model_dump_json(exclude_defaults=True).encode()
            assert type(state).model_validate_json(written) == state


def test_a_cse_window_that_closes_between_two_events_is_applied_between_them() -> None:
    """The girl's risk falls to none when her last indicator's window closes (180 days after
    she was found with adults); a school contact twelve days later is screened on that, not on
    the high risk she no longer has, with or without anyone else's event in between."""
    found = datetime(2014, 2, 21, 10, tzinfo=UTC)
    girl = [
        event("missing.started", "G", found - timedelta(hours=12), 1, missing_id="G-M1"),
        event("missing.returned", "G", found, 1, missing_id="G-M1", with_adults=True),
        event("contact.received", "G", datetime(2014, 9, 1, 9, tzinfo=UTC), 2, concerns=["15A"]),
    ]
    unrelated = event("contact.received", "U", datetime(2014, 8, 25, 9, tzinfo=UTC), 1)
    for events in (girl, [*girl, unrelated]):
        shard = run(events, [], datetime(2014, 10, 1, tzinfo=UTC))
        flags = [(e.level.value, e.occurred_at) for e in shard.outputs if e.type == "cse.flag"]
        assert flags == [("high", found), ("none", found + timedelta(days=180))]
        decision = next(
            e for e in shard.outputs if isinstance(e, ScreeningDecided) and e.child_id == "G"
        )
        assert int(decision.level) == 3
        assert "L4-CSE-HIGH" not in [r.id for r in decision.reasons]


# 2**30 seconds (2004-01-10): floats of instants after it are spaced twice as far apart as
# those before it, where subtracting a window's seconds from a float can miss by one (3 and
# 7 microseconds past a second round to different neighbours on the two spacings).
SPACING_CHANGES = datetime.fromtimestamp(2**30, UTC)


@settings(max_examples=150, deadline=None)
@given(
    start=st.sampled_from([START, SPACING_CHANGES - timedelta(days=20)]),
    adds=st.lists(
        st.tuples(
            st.text(min_size=1, max_size=12),
            st.integers(0, 400 * 24),  # hours after the start
            st.sampled_from([0, 3, 7, 999_999]),  # and microseconds (3 and 7: see above)
        ),
        max_size=30,
    ),
    window_days=st.integers(1, 60),
)
# An event exactly a window before the latest, the two either side of the spacing's change:
# at the edge, so kept (a float subtraction put the edge 0.1 microsecond after it).
@example(
    start=SPACING_CHANGES - timedelta(days=20),
    adds=[("later", 20 * 24 + 5, 3), ("earlier", 20 * 24 + 5 - 24, 3)],
    window_days=1,
)
def test_a_ledger_keeps_what_its_window_holds_and_reads_back_as_written(
    start: datetime, adds: list[tuple[str, int, int]], window_days: int
) -> None:
    """A ledger's ids are exactly those within `window` of its latest instant, and it calls
    an event too old exactly when the instants say so, whatever the order they came in (its
    kept oldest instant is only a shortcut; its arithmetic is on timestamps), and its stored
    form reads back equal, as does the older `json.dumps` form of the same ledger."""
    window = timedelta(days=window_days)
    window_us = window // timedelta(microseconds=1)
    ledger = Ledger()
    applied: dict[str, datetime] = {}
    for event_id, hours, micros in adds:
        at = start + timedelta(hours=hours, microseconds=micros)
        too_old = bool(applied) and at < max(applied.values()) - window
        assert ledger.too_old(at.timestamp(), window_us) == too_old
        if ledger.holds(event_id) or too_old:
            continue  # the pipeline applies neither: a duplicate, or beyond the window
        ledger.add(event_id, at.timestamp(), window_us)
        applied[event_id] = at
        latest = max(applied.values())
        assert ledger.latest == latest.timestamp()
        kept = {i: t for i, t in applied.items() if t >= latest - window}
        assert ledger.ids == {i: t.timestamp() for i, t in kept.items()}
    stored = encode_ledger(ledger)
    assert decode_ledger(stored) == ledger
    assert encode_ledger(decode_ledger(stored)) == stored  # the same bytes, however built
    stamp = ledger.latest
    older = json.dumps([stamp, [[i, t] for i, t in sorted(ledger.ids.items())]])
    assert decode_ledger(older) == ledger
    # The bytes an earlier mash wrote from datetimes, so a hub it left reads back the same.
    as_datetimes = sorted((i, datetime.fromtimestamp(t, UTC)) for i, t in ledger.ids.items())
    assert stored == to_json([stamp, [[i, t.timestamp()] for i, t in as_datetimes]])
