"""The report's pure pieces: words beside codes, natural order, dashes for empty rates, the
performance framework's RAG and direction rules, and indicators filled only where absent."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mash._report.figures import (
    Tallies,
    _add_months,
    _group,
    _looked_after,
    _nested,
    age_band,
    figures,
)
from mash._report.indicators import fill_indicators
from mash._report.performance import (
    BenchmarksError,
    direction,
    load_benchmarks,
    performance,
    rag,
)
from mash._report.report import render, tables
from mash._report.words import EMPTY, label, natural

AT = datetime(2014, 3, 31, 22, 0, tzinfo=UTC)
SINCE = datetime(2013, 4, 1, tzinfo=UTC)


def report_of(tallies: dict[str, int], population: int | None = 1000) -> dict[str, Any]:
    return figures(tallies, at=AT, population=population, since=SINCE)


def test_codes_sort_naturally_and_carry_their_words() -> None:
    assert natural(["19C", "1B", "10A", "2A", "1A"]) == ["1A", "1B", "2A", "10A", "19C"]
    assert label("source", "2A") == "2A Schools"
    assert label("factor", "16A") == "16A neglect"
    assert label("factor", "3B") == "3B domestic abuse: parent or carer"
    assert label("closure", "RC7") == "RC7 services ceased for any other reason"
    assert label("category", "NEG") == "NEG Neglect"
    assert label("clock", "assessment").endswith("(assessment)")
    assert label("source", "XX") == "XX"  # a code with no words is shown bare, never refused


def test_every_table_shows_words_and_factors_in_natural_order() -> None:
    report = report_of(
        {
            "contacts.total": 3,
            "contacts.source|2A": 1,
            "contacts.source|10": 1,
            "contacts.source|1B": 1,
            "assessments.factor|19C": 1,
            "assessments.factor|1B": 2,
            "cases.closed": 1,
            "cases.closed|RC7": 1,
            "decisions.total": 1,
            "decisions.outcome|section17_assessment": 1,
        }
    )
    found = {t[0]: t[2] for _, section in tables(report) for t in section}
    assert [r[0] for r in found["Contacts by referral source (CIN code)"]] == [
        "1B Individual: acquaintance",
        "2A Schools",
        "10 Unknown",
    ]
    assert [r[0] for r in found["Factors at assessment (CIN code)"]] == [
        "1B alcohol misuse: parent or carer",
        "19C sexual abuse (by an adult)",
    ]
    assert found["By reason (CIN code)"] == [["RC7 services ceased for any other reason", 1]]
    assert found["By outcome"] == [["section17_assessment section 17 assessment", 1]]


def test_an_empty_clock_is_a_dash_not_100_and_an_empty_table_is_not_none() -> None:
    report = report_of({"clocks|later_review|started": 2})
    assert report["clocks"]["by_clock"]["later_review"]["percent_met"] is None
    md = render(report, "md")
    row = next(line for line in md.splitlines() if "(later_review)" in line)
    assert row.rstrip().endswith(f"| {EMPTY} |")
    assert "| 100 |" not in row
    html = render(report, "html")
    assert ">none<" not in html and "(none)" not in md
    assert "nothing recorded" in html and "nothing recorded" in md


def test_every_month_of_the_period_is_in_the_series() -> None:
    report = report_of({"contacts.month|2013-06": 1})
    assert report["series"]["months"][0] == "2013-04"
    assert report["series"]["months"][-1] == "2014-03"
    assert len(report["series"]["months"]) == 12
    assert report["series"]["contacts"][2] == 1


def test_plans_by_category_at_each_month_end_count_the_run_in() -> None:
    report = report_of(
        {"cpp.plans_delta|2013-02|NEG": 2, "cpp.plans_delta|2013-05|NEG": 1,
         "cpp.plans_delta|2013-07|NEG": -1}
    )  # fmt: skip
    neglect = report["series"]["cp_plans_open_by_category"]["NEG"]
    assert neglect[:5] == [2, 3, 3, 2, 2]


# ---- the performance framework (the seeds' §4.6, Figure 1) --------------------------------
@pytest.mark.parametrize(
    ("value", "target", "national", "good_is", "expected"),
    [
        (56.1, 86.0, 75.5, "high", "Red"),  # NI 59 in the seeds: Red against target
        (11.0, 13.3, 14.9, "low", "Green"),  # NI 65
        (99.6, 90.5, 96.2, "high", "Green"),  # NI 67
        (80.0, 86.0, 75.5, "high", "Amber"),  # below target, above national
        (86.0, 86.0, 75.5, "high", "Green"),  # on target counts as met
        (None, 86.0, 75.5, "high", None),  # nothing measured: no rating
    ],
)
def test_rag_follows_the_seeds_rule(
    value: float | None, target: float, national: float, good_is: str, expected: str | None
) -> None:
    assert rag(value, target, national, good_is) == expected


def test_direction_of_travel_is_judged_by_what_good_is() -> None:
    assert direction(56.1, 77.2, "high") == "↓ worsening"  # NI 59
    assert direction(11.0, 16.1, "low") == "↑ improving"  # NI 65: lower is better
    assert direction(67.6, 67.6, "high") == "→ steady"  # NI 61
    assert direction(None, 67.6, "high") is None


def test_indicators_are_filled_only_where_absent() -> None:
    report = report_of(
        {
            "clocks|first_review|started": 4,
            "clocks|first_review|met": 3,
            "clocks|first_review|breached": 1,
            "referrals.total": 4,
            "referrals.re_referrals_12m": 1,
        }
    )
    report["indicators"] = {"NI 59": {"value": 56.1, "numerator": 875, "denominator": 1560}}
    filled = fill_indicators(report)["indicators"]
    assert filled["NI 59"] == {"value": 56.1, "numerator": 875, "denominator": 1560}
    assert filled["NI 67"] == {"value": 75.0, "numerator": 3, "denominator": 4}
    assert filled["re_referrals"]["value"] == 25.0
    again = fill_indicators({**report, "indicators": {"NI 67": {"value": 1.0}}})
    assert again["indicators"]["NI 67"] == {"value": 1.0}  # another's computation stands


def test_the_shipped_benchmarks_are_the_seeds_figure_1() -> None:
    benchmarks = load_benchmarks()
    by_id = {b.id: b for b in benchmarks.indicators}
    assert [f"NI {n}" for n in range(59, 68)] == [b.id for b in benchmarks.indicators][:9]
    ni59 = by_id["NI 59"]
    assert (ni59.good_is, ni59.statistical_neighbours, ni59.national, ni59.target) == (
        "high",
        71.2,
        75.5,
        86.0,
    )
    assert ni59.last_year == 77.2
    assert by_id["NI 65"].good_is == "low"
    report = report_of({})
    report["indicators"] = {"NI 59": {"value": 56.1, "numerator": 875, "denominator": 1560}}
    row = next(r for r in performance(report, benchmarks) if r["id"] == "NI 59")
    assert (row["direction"], row["rag_target"], row["rag_national"]) == (
        "↓ worsening",
        "Red",
        "Red",
    )
    md = render(report, "md")
    assert "| NI 59 |" in md and "56.1% (875/1560)" in md


def test_a_bad_benchmarks_file_names_file_line_and_field(tmp_path: Path) -> None:
    bad = tmp_path / "bench.yaml"
    bad.write_text("name: x\nindicators:\n  - id: NI 59\n    definition: d\n    good_is: up\n")
    with pytest.raises(BenchmarksError) as caught:
        load_benchmarks(bad)
    assert str(caught.value).startswith(f"{bad}:5: indicators[0].good_is:")


# ---- charts -------------------------------------------------------------------------------
def test_charts_are_the_same_bytes_and_keep_one_colour_per_outcome() -> None:
    from mash._report.charts import COLOURS, decisions_by_month

    one = report_of({"decisions.month|2013-05|nfa": 2, "decisions.month|2013-06|early_help": 1})
    two = report_of({"decisions.month|2013-09|nfa": 1, "decisions.month|2013-09|police": 4})
    first = decisions_by_month(one["series"])
    assert first == decisions_by_month(one["series"])  # deterministic, byte for byte
    nfa = COLOURS["outcome"]["nfa"]
    assert f"fill: {nfa}" in first and f"fill: {nfa}" in decisions_by_month(two["series"])
    assert "<metadata>" not in first and "Date" not in first
    for month in ("Apr 13", "Aug 13", "Mar 14"):  # every month of the period, empty ones too
        assert f">{month}<" in first
    assert ">screening decisions<" in first and ">month (London time)<" in first


def test_clock_compliance_is_drawn_in_percentages() -> None:
    from mash._report.charts import clock_compliance

    report = report_of(
        {"clocks|referral_decision|started": 1337, "clocks|referral_decision|met": 1337,
         "clocks|icpc|started": 3, "clocks|icpc|met": 1, "clocks|icpc|breached": 2,
         "clocks|later_review|started": 1}
    )  # fmt: skip
    svg = clock_compliance(report["clocks"]["by_clock"])
    assert ">100%<" in svg and ">0%<" in svg
    assert "100% (1337 of 1337)" in svg and "33% (1 of 3)" in svg
    assert "— (none decided)" in svg


_NAME = st.lists(st.sampled_from(["a", "a.b", "ab", "b", "2014-04", "x|"]), min_size=1, max_size=4)


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(_NAME.map("|".join), st.integers(min_value=-2, max_value=3), max_size=40),
    _NAME.map("|".join),
)
def test_tables_found_by_bisection_are_the_tables_a_full_scan_finds(
    tallies: dict[str, int], prefix: str
) -> None:
    """The report finds each table's counters in the sorted names (a nation's year has
    hundreds of thousands): the same counters, in the same order, as scanning them all."""
    start = prefix + "|"
    scanned = {
        n[len(start) :]: c
        for n, c in sorted(tallies.items())
        if n.startswith(start) and "|" not in n[len(start) :] and c
    }
    nested: dict[str, dict[str, int]] = {}
    for n, c in sorted(tallies.items()):
        parts = n[len(start) :].split("|")
        if n.startswith(start) and c and len(parts) == 2:
            nested.setdefault(parts[0], {})[parts[1]] = c
    indexed = Tallies(tallies)
    assert list(_group(indexed, prefix).items()) == list(scanned.items())
    assert _nested(indexed, prefix) == nested
    assert list(_group(tallies, prefix).items()) == list(scanned.items())


def _looked_after_by_dates(t: dict[str, int], on: date) -> tuple[int, int]:
    """NI 63's two counts as first written: every date parsed, the age band asked."""
    long_term = stable = 0
    lived_since, placed_by = _add_months(on, -30), _add_months(on, -24)
    for name, count in t.items():
        began, dob, placed, adoption = name.split("|")[1:]
        if not count or dob == "unknown" or date.fromisoformat(began) > lived_since:
            continue
        if age_band(date.fromisoformat(dob), on) == "16 and over":
            continue
        long_term += count
        if adoption == "1" or (placed != "none" and date.fromisoformat(placed) <= placed_by):
            stable += count
    return long_term, stable


_days = st.dates(min_value=date(1990, 1, 1), max_value=date(2016, 12, 31))


@settings(max_examples=300, deadline=None)
@given(
    cares=st.lists(
        st.tuples(
            _days,
            st.one_of(st.just("unknown"), _days.map(date.isoformat)),
            st.one_of(st.just("none"), _days.map(date.isoformat)),
            st.sampled_from("01"),
            st.integers(0, 3),
        ),
        max_size=30,
    ),
    on=st.one_of(_days, st.sampled_from([date(2012, 2, 29), date(2016, 2, 29)])),
)
def test_long_term_care_compared_as_iso_strings_counts_as_the_dates_do(
    cares: list[tuple[date, str, str, str, int]], on: date
) -> None:
    """NI 63 compares the ISO dates in the counters' names as strings, and takes sixteen
    from the year of the day asked: the same counts as parsing them and asking the age."""
    t: dict[str, int] = {}
    for began, dob, placed, adoption, count in cares:
        name = f"lac.open|{began.isoformat()}|{dob}|{placed}|{adoption}"
        t[name] = t.get(name, 0) + count
    got = _looked_after(t, on, None)
    assert (got["long_term"], got["long_term_stable"]) == _looked_after_by_dates(t, on)


@pytest.mark.parametrize("on", [date(2014, 3, 31), date(2016, 2, 29), date(2013, 4, 1)])
@pytest.mark.parametrize("shift", [-1, 0, 1])
def test_long_term_care_at_each_boundary_counts_as_the_dates_do(on: date, shift: int) -> None:
    """A child sixteen that very day, care begun exactly 30 months back, placed exactly 24
    months back, and a day either side of each."""
    day = timedelta(days=shift)
    sixteen = date(on.year - 16, on.month, on.day) + day
    began, placed = _add_months(on, -30) + day, _add_months(on, -24) + day
    t = {
        f"lac.open|{began.isoformat()}|2005-01-01|none|0": 1,
        f"lac.open|2000-01-01|{sixteen.isoformat()}|none|0": 2,
        f"lac.open|2000-01-01|2005-01-01|{placed.isoformat()}|0": 4,
    }
    got = _looked_after(t, on, None)
    assert (got["long_term"], got["long_term_stable"]) == _looked_after_by_dates(t, on)
