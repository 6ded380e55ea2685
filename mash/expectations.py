"""Checking a scenario's `expect` entries against what the hub actually emitted."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from mash.scenario import DecisionExpectation, Expectation, Scenario
from schemas.events import DeadLetter, ScreeningDecided


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


def check(
    scenario: Scenario,
    decisions: Sequence[ScreeningDecided],
    dead_letters: Sequence[DeadLetter],
) -> list[Check]:
    checks: list[Check] = []
    for expectation in scenario.spec.expect:
        checks.append(_one(expectation, scenario, decisions, dead_letters))
    return checks


def _one(
    expectation: Expectation,
    scenario: Scenario,
    decisions: Sequence[ScreeningDecided],
    dead_letters: Sequence[DeadLetter],
) -> Check:
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
