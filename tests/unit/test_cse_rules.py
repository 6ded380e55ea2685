"""CSE scoring and the missing-episode lifecycle as pure rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mash._config.settings import DEFAULT_SCORING
from mash.consumers.cse.rules import ChildRisk, RiskRules, level_at, live, next_deadline, score
from mash.consumers.cse.scoring import load_scoring
from mash.errors import ConfigError
from mash.schemas import CSEFlag, CSEIndicator, CSELevel, DeadLetter, Envelope
from tests.factories import event, tick

SCORING = load_scoring(DEFAULT_SCORING)
ev = event
RULES = RiskRules(SCORING)
T = datetime(2014, 1, 6, 10, tzinfo=UTC)


def run(events: list[Any], state: ChildRisk | None = None) -> tuple[ChildRisk, list[Envelope]]:
    state = state or ChildRisk()
    out: list[Envelope] = []
    for item in events:
        changed, emitted = RULES({"C1": state}, item)
        state = changed.get("C1", state)
        out.extend(emitted)
    return state, out


def tool(at: datetime, indicators: list[str], level: str = "none") -> Any:
    return ev(
        "cse.screening.completed", at, indicators=indicators, level=level, agency="la_social_care"
    )


def episode(n: int, at: datetime) -> list[Any]:
    return [
        ev("missing.started", at, missing_id=f"M{n}"),
        ev("missing.returned", at + timedelta(hours=12), missing_id=f"M{n}"),
    ]


def test_three_episodes_spread_over_more_than_90_days_are_not_repeat_missing() -> None:
    events = [e for n in range(3) for e in episode(n, T + timedelta(days=50 * n))]
    state, out = run(events)
    assert out == []
    assert CSEIndicator.MISSING_REPEAT not in live(state, T + timedelta(days=100))


def test_repeat_missing_inside_the_window_raises_medium() -> None:
    events = [e for n in range(3) for e in episode(n, T + timedelta(days=30 * n))]
    state, out = run(events)
    assert [(type(f), f.level) for f in out] == [(CSEFlag, CSELevel.MEDIUM)]  # type: ignore[attr-defined]
    assert out[0].occurred_at == T + timedelta(days=60)
    assert out[0].indicators == [CSEIndicator.MISSING_REPEAT]  # type: ignore[attr-defined]
    # It counts while the last three starts stay within 90 days of each other: until T + 90d.
    assert next_deadline(state) == T + timedelta(days=90)


def test_found_with_adults_alone_means_high() -> None:
    _, out = run(
        [
            ev("missing.started", T, missing_id="M1"),
            ev("missing.returned", T + timedelta(hours=5), missing_id="M1", with_adults=True),
        ]
    )
    assert [f.level for f in out] == [CSELevel.HIGH]  # type: ignore[attr-defined]


def test_a_return_without_an_episode_is_a_dead_letter() -> None:
    state, out = run([ev("missing.returned", T, missing_id="NOPE")])
    assert state == ChildRisk()
    assert isinstance(out[0], DeadLetter)
    assert (out[0].reason, out[0].consumer) == ("unknown_episode", "cse")


def test_overlapping_episodes_are_an_error_for_that_event_only() -> None:
    state, out = run(
        [
            ev("missing.started", T, missing_id="M1"),
            ev("missing.started", T + timedelta(hours=1), missing_id="M2"),
            ev("missing.returned", T + timedelta(hours=2), missing_id="M1"),
        ]
    )
    assert [d.reason for d in out if isinstance(d, DeadLetter)] == ["overlapping_episode"]
    assert [(e.missing_id, e.ended_at is not None) for e in state.episodes] == [("M1", True)]


def test_indicators_age_out_in_order_at_their_instants() -> None:
    state, out = run(
        [
            ev(
                "contact.received",
                T,
                event_id="c1",
                referral_source="2A",
                children=[{"child_id": "C1", "dob": "2001-01-01", "sex": "F"}],
                cse_indicators=["gifts_money_phone", "substances"],
                agency="school",
            )
        ]
    )
    assert [f.level for f in out] == [CSELevel.MEDIUM]  # type: ignore[attr-defined]
    changed, flags = RULES({"C1": state}, tick(T + timedelta(days=200)))
    # Both expire at T + 90 days: one step down to none, at that instant.
    assert [(f.level, f.occurred_at) for f in flags] == [(CSELevel.NONE, T + timedelta(days=90))]  # type: ignore[attr-defined]
    assert changed["C1"].indicators == ()


def test_a_window_closes_at_its_instant_whether_a_tick_or_the_next_event_closes_it() -> None:
    seen = ev(
        "contact.received",
        T,
        event_id="c1",
        referral_source="2A",
        children=[{"child_id": "C1", "dob": "2001-01-01", "sex": "F"}],
        cse_indicators=["gifts_money_phone", "substances"],
        agency="school",
    )
    later = episode(1, T + timedelta(days=120))
    ticked = run([seen, tick(T + timedelta(days=100)), *later])[1]
    unticked = run([seen, *later])[1]
    assert [(f.event_id, f.level, f.occurred_at) for f in ticked] == [  # type: ignore[attr-defined]
        (f.event_id, f.level, f.occurred_at)
        for f in unticked  # type: ignore[attr-defined]
    ]
    assert [f.level for f in unticked] == [CSELevel.MEDIUM, CSELevel.NONE]  # type: ignore[attr-defined]


def test_a_screening_tool_level_counts_for_the_assessment_window() -> None:
    state, out = run([tool(T, [], level="high")])
    assert [f.level for f in out] == [CSELevel.HIGH]  # type: ignore[attr-defined]
    assert level_at(state, T + timedelta(days=89), SCORING) == CSELevel.HIGH
    assert level_at(state, T + timedelta(days=91), SCORING) == CSELevel.NONE


indicator_sets = st.frozensets(st.sampled_from(list(CSEIndicator)))


@given(indicator_sets, st.sampled_from(list(CSEIndicator)))
def test_adding_an_indicator_never_lowers_the_level(
    found: frozenset[CSEIndicator], extra: CSEIndicator
) -> None:
    before = score(sorted(found), SCORING)
    after = score(sorted(found | {extra}), SCORING)
    assert after.rank >= before.rank


@given(st.sampled_from(list(CSEIndicator)), st.integers(0, 2000))
def test_an_indicator_past_its_window_no_longer_counts(
    indicator: CSEIndicator, hours_after: int
) -> None:
    state, _ = run([tool(T, [indicator.value])])
    window = timedelta(days=SCORING.indicators[indicator].window_days)
    at = T + window + timedelta(hours=hours_after)
    assert indicator not in live(state, at)
    assert indicator in live(state, T + window - timedelta(seconds=1))


def test_a_scoring_file_typo_names_its_line(tmp_path: Any) -> None:
    text = DEFAULT_SCORING.read_text().replace(
        "  substances: {weight: 2", "  substance: {weight: 2"
    )
    path = tmp_path / "s.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_scoring(path)
    assert f"{path}:" in str(info.value)
    assert "substance" in str(info.value)
