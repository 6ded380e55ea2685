"""Checking a scenario's `expect` entries against what the hub actually emitted."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mash._scenarios.scenario import (
    ClockExpectation,
    CSEExpectation,
    DecisionExpectation,
    Expectation,
    FigureExpectation,
    FlagsExpectation,
    Lateness,
    Scenario,
)
from mash.consumers.cse.rules import Episode
from mash.schemas.codes import CSELevel
from mash.schemas.events import (
    CSEFlag,
    DeadLetter,
    ScreeningDecided,
    TimescaleBreached,
    TimescaleMet,
    TimescaleStoppedLate,
)


@dataclass(frozen=True)
class Check:
    expectation: str
    passed: bool
    detail: str


def _decision(
    want: DecisionExpectation, scenario: Scenario, decisions: Sequence[ScreeningDecided]
) -> Check:
    contact_id = scenario.local_ids[want.contact]
    label = f"decision {want.contact}" + (f"/{want.child}" if want.child else "")
    found = [
        d
        for d in decisions
        if d.contact_id == contact_id and (want.child is None or d.child_id == want.child)
    ]
    if not found:
        return Check(label, False, "expected a decision, got none")
    if len(found) > 1 and want.child is None:
        return Check(label, False, f"expected one decision, got {len(found)}: name the child")
    got = found[-1]
    problems: list[str] = []
    if want.level is not None and got.level != want.level:
        problems.append(f"level: expected {int(want.level)}, got {int(got.level)}")
    if want.level_at_least is not None and got.level < want.level_at_least:
        problems.append(
            f"level: expected at least {int(want.level_at_least)}, got {int(got.level)}"
        )
    if want.rag is not None and got.rag != want.rag:
        problems.append(f"rag: expected {want.rag.value}, got {got.rag.value}")
    if want.outcome is not None and got.outcome != want.outcome:
        problems.append(f"outcome: expected {want.outcome.value}, got {got.outcome.value}")
    if want.decided_by is not None and got.decided_by.value != want.decided_by:
        problems.append(f"decided_by: expected {want.decided_by}, got {got.decided_by.value}")
    reason_ids = [r.id for r in got.reasons]
    for reason in want.reasons or ():
        if reason not in reason_ids:
            problems.append(f"reasons: expected {reason}, got {reason_ids}")
    for reason in want.not_reasons or ():
        if reason in reason_ids:
            problems.append(f"reasons: did not expect {reason}, got {reason_ids}")
    return Check(label, not problems, "; ".join(problems) or "as expected")


@dataclass(frozen=True)
class Outputs:
    """What the hub emitted during a replay, and the clocks still open at its end."""

    decisions: Sequence[ScreeningDecided]
    dead_letters: Sequence[DeadLetter]
    clock_events: Sequence[TimescaleMet | TimescaleBreached | TimescaleStoppedLate] = ()
    open_clocks: Sequence[tuple[str, str, str, bool]] = ()  # (child, clock, instance, breached)
    flags: Sequence[CSEFlag] = ()
    open_episodes: Sequence[tuple[str, Episode]] = ()


def _instance_matches(instance: str, want: ClockExpectation, scenario: Scenario) -> bool:
    base = f"{want.name}.{want.child}."
    if want.key is None:
        return instance.startswith(base)
    key = scenario.local_ids.get(want.key, want.key)  # a start event's local id, or a key
    return instance in {base + key, base + want.key}


def _clock(want: ClockExpectation, scenario: Scenario, outputs: Outputs) -> Check:
    label = f"clock {want.name}/{want.child}" + (f"/{want.key}" if want.key else "")
    events = [e for e in outputs.clock_events if _instance_matches(e.clock_id, want, scenario)]
    still_open = [o for o in outputs.open_clocks if _instance_matches(o[2], want, scenario)]
    instances = {e.clock_id for e in events} | {o[2] for o in still_open}
    if want.status == "absent":
        found = ", ".join(sorted(instances))
        return Check(label, not instances, "no such clock" if not instances else f"got {found}")
    if not instances:
        return Check(label, False, f"expected {want.status}, got no such clock")
    if len(instances) > 1:
        return Check(label, False, f"{len(instances)} instances match: name the key")
    met = [e for e in events if isinstance(e, TimescaleMet)]
    breached = [e for e in events if isinstance(e, TimescaleBreached)]
    late = [e for e in events if isinstance(e, TimescaleStoppedLate)]
    if met:
        got = "met"
    elif late:
        got = "late"
    elif breached:
        got = "breached"
    else:
        got = "open"
    problems: list[str] = []
    # "breached" holds for a clock breached and later stopped late, as well as one still open.
    if want.status != got and not (want.status == "breached" and breached):
        problems.append(f"status: expected {want.status}, got {got}")
    if want.breached_at is not None:
        at = breached[0].occurred_at if breached else None
        if at != want.breached_at:
            shown = at.isoformat() if at else "no breach"
            problems.append(f"breached_at: expected {want.breached_at.isoformat()}, got {shown}")
    if want.deadline is not None:
        deadlines = {e.deadline for e in met} | {e.deadline for e in breached}
        deadlines |= {e.deadline for e in late}
        if want.deadline not in deadlines:
            shown = ", ".join(sorted(d.isoformat() for d in deadlines)) or "none"
            problems.append(f"deadline: expected {want.deadline.isoformat()}, got {shown}")
    if want.lateness is not None:
        got_late = late[0].lateness if late else "not late"
        if not _same_lateness(want.lateness, got_late):
            problems.append(f"lateness: expected {_shown(want.lateness)}, got {got_late}")
    return Check(label, not problems, "; ".join(problems) or "as expected")


_UNITS = {"working day": "working_days", "day": "days", "hour": "hours"}


def _same_lateness(want: Lateness | str, got: str) -> bool:
    """By value: '4 working days' is {working_days: 4}, '26.00 hours' is {hours: 26}."""
    if isinstance(want, str):
        return want == got
    number, _, unit = got.partition(" ")
    field = _UNITS.get(unit.rstrip("s"))
    if field is None:
        return False
    wanted = getattr(want, field)
    return wanted is not None and abs(float(number) - float(wanted)) < 0.005


def _shown(want: Lateness | str) -> str:
    if isinstance(want, str):
        return want
    (field, value), *_ = want.model_dump(exclude_none=True).items()
    return f"{value:g} {field.replace('_', ' ')}"


def _flags(want: FlagsExpectation, outputs: Outputs) -> Check:
    label = f"flags {want.child}" + (f" {want.level.value}" if want.level else "")
    got = [
        f
        for f in outputs.flags
        if f.child_id == want.child and (want.level is None or f.level == want.level)
    ]
    history = ", ".join(f"{f.level.value}@{f.occurred_at.isoformat()}" for f in got) or "none"
    return Check(
        label, len(got) == want.count, f"count: expected {want.count}, got {len(got)} ({history})"
    )


def _cse(want: CSEExpectation, outputs: Outputs) -> Check:
    label = f"cse {want.child}" + (" final" if want.final else "")
    flags = sorted(
        (f for f in outputs.flags if f.child_id == want.child),
        key=lambda f: (f.occurred_at, f.event_id),
    )
    if want.final:
        got = flags[-1].level if flags else CSELevel.NONE
        ok = got == want.level
        return Check(label, ok, f"final level: expected {want.level.value}, got {got.value}")
    reached = [f for f in flags if f.level == want.level]
    history = ", ".join(f"{f.level.value}@{f.occurred_at.isoformat()}" for f in flags) or "none"
    if not reached:
        return Check(label, False, f"expected a {want.level.value} flag, got {history}")
    if want.at is not None:
        reached = [f for f in reached if f.occurred_at == want.at]
        if not reached:
            return Check(
                label, False, f"expected {want.level.value} at {want.at.isoformat()}, got {history}"
            )
    problems = [
        f"indicators: expected {i.value}, got {[x.value for x in reached[0].indicators]}"
        for i in want.indicators or ()
        if i not in reached[0].indicators
    ]
    return Check(label, not problems, "; ".join(problems) or "as expected")


def _figure(want: FigureExpectation, report: Mapping[str, Any]) -> Check:
    label = f"figure {want.path}"
    node: Any = report
    for part in want.path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return Check(label, False, f"the report has no {want.path!r}")
        node = node[part]
    if want.within is None:
        return Check(label, node == want.equals, f"expected {want.equals!r}, got {node!r}")
    target = want.equals
    if not isinstance(node, int | float) or not isinstance(target, int | float):
        return Check(label, False, f"expected a number near {target!r}, got {node!r}")
    off = abs(node - target) / abs(target) if target else abs(node)
    detail = f"expected {target!r} within {want.within:.0%}, got {node!r} ({off:.1%} off)"
    return Check(label, off <= want.within, detail)


def check_figures(wanted: Sequence[Expectation], report: Mapping[str, Any]) -> list[Check]:
    """The figure expectations of a generated file (it carries no other kind)."""
    return [_figure(e.figure, report) for e in wanted if e.figure is not None]


def check(scenario: Scenario, outputs: Outputs, report: Mapping[str, Any]) -> list[Check]:
    return [_one(expectation, scenario, outputs, report) for expectation in scenario.spec.expect]


def _one(
    expectation: Expectation, scenario: Scenario, outputs: Outputs, report: Mapping[str, Any]
) -> Check:
    if expectation.figure is not None:
        return _figure(expectation.figure, report)
    decisions, dead_letters = outputs.decisions, outputs.dead_letters
    if expectation.clock is not None:
        return _clock(expectation.clock, scenario, outputs)
    if expectation.cse is not None:
        return _cse(expectation.cse, outputs)
    if expectation.flags is not None:
        return _flags(expectation.flags, outputs)
    if expectation.decision is not None:
        return _decision(expectation.decision, scenario, decisions)
    if expectation.decisions is not None:
        want = expectation.decisions
        if want.contact is not None:
            contact_id = scenario.local_ids[want.contact]
            chosen = [d for d in decisions if d.contact_id == contact_id]
            label = f"decisions for {want.contact}"
            shared = {d.correlation_id for d in chosen}
            if len(shared) > 1:
                return Check(label, False, f"decisions do not share a correlation id: {shared}")
        else:
            chosen, label = list(decisions), "decisions"
        ok = len(chosen) == want.count
        return Check(label, ok, f"count: expected {want.count}, got {len(chosen)}")
    assert expectation.dead_letters is not None
    wanted = expectation.dead_letters
    letters = [d for d in dead_letters if wanted.reason in (None, d.reason)]
    label = "dead letters" + (f" ({wanted.reason})" if wanted.reason else "")
    ok = len(letters) == wanted.count
    return Check(label, ok, f"count: expected {wanted.count}, got {len(letters)}")
