"""The report's charts, drawn by matplotlib and inlined as SVG: one file that opens offline.

matplotlib draws what a hand-written SVG did badly: axis titles, ticks a reader can use, every
month of the period on the axis, percentages on a 0-100 scale. Three settings make the output
the same bytes for the same figures (the report's determinism tests hold it to that): no date
in the metadata, a fixed hash salt for the ids matplotlib gives clip paths (one salt per chart,
so two charts inlined in one page never share an id), and text kept as text (`svg.fonttype:
none`) rather than glyph outlines, so the words stay searchable and the file small.

Each category has one colour in every report (`COLOURS`): nfa is the same grey in a scenario's
report and in a generated year's, whichever outcomes the run happened to have.
"""

from __future__ import annotations

import io
import re
import zlib
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib as mpl
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator, PercentFormatter

from mash._report.performance import Benchmarks
from mash._report.words import plain
from mash.schemas.codes import CPCategory, Outcome

PALETTE = (
    "#1b6ca8",
    "#e07b39",
    "#3a9a5b",
    "#c43c39",
    "#8a5fb0",
    "#8c6d31",
    "#d9699e",
    "#7f7f7f",
    "#b8a31b",
    "#17a2b8",
)
COLOURS: dict[str, dict[str, str]] = {
    "outcome": {
        Outcome.NFA: "#9e9e9e",
        Outcome.INFORMATION_ADVICE: "#b8a31b",
        Outcome.EARLY_HELP: "#3a9a5b",
        Outcome.S17_ASSESSMENT: "#1b6ca8",
        Outcome.STRATEGY_DISCUSSION: "#c43c39",
        Outcome.ALLOCATED_WORKER: "#8a5fb0",
        Outcome.POLICE: "#2f3e4e",
    },
    "category": {
        CPCategory.NEGLECT: "#8c6d31",
        CPCategory.PHYSICAL: "#c43c39",
        CPCategory.EMOTIONAL: "#1b6ca8",
        CPCategory.SEXUAL: "#8a5fb0",
        CPCategory.MULTIPLE: "#7f7f7f",
    },
    "series": {"referrals": "#1b6ca8", "re_referrals": "#e07b39", "missing": "#8a5fb0"},
}
# Clocks shown month by month against their indicator's target: the indicator, and its clocks.
TIMELINESS = (
    ("decisions_1wd", "decision within 1 working day", ("referral_decision",)),
    ("assessments_45wd", "assessment within 45 working days", ("assessment",)),
    ("icpc_15wd", "ICPC within 15 working days", ("icpc",)),
    ("NI 67", "CP reviews in time (NI 67)", ("first_review", "later_review")),
)
TIMELINESS_COLOURS = ("#1b6ca8", "#3a9a5b", "#c43c39", "#8a5fb0")
WIDE, HEIGHT = 7.2, 3.3  # inches: one size for all, so a grid of charts lines up
_METADATA = re.compile(r"\s*<metadata>.*?</metadata>", re.DOTALL)
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def colour(kind: str, key: str) -> str:
    """The one colour of a category; an unlisted one gets a colour fixed by its name."""
    fixed = COLOURS.get(kind, {})
    if key in fixed:
        return fixed[key]
    return PALETTE[zlib.crc32(key.encode()) % len(PALETTE)]


def month_label(month: str) -> str:
    """`2013-04` as `Apr 13`: short enough that a year of months fits under one chart."""
    return f"{_MONTHS[int(month[5:7]) - 1]} {month[2:4]}"


def _render(fig: Figure, salt: str) -> str:
    buffer = io.StringIO()
    with mpl.rc_context({"svg.hashsalt": f"mash-{salt}", "svg.fonttype": "none"}):
        fig.savefig(buffer, format="svg", metadata={"Date": None, "Creator": "mash"})
    text = buffer.getvalue()
    # The RDF metadata block says only "made by mash" and names four namespaces by URL.
    svg = _METADATA.sub("", text[text.index("<svg") :])
    # The chart's own name, so a reader (and a browser test) can find it.
    return svg.replace("<svg ", f'<svg role="img" aria-label="{salt}" ', 1)


def _figure(width: float = WIDE) -> tuple[Figure, Any]:
    with mpl.rc_context({"font.size": 9, "font.family": "DejaVu Sans"}):
        fig = Figure(figsize=(width, HEIGHT), layout="constrained")
        ax = fig.add_subplot()
    ax.spines[["top", "right"]].set_visible(False)
    ax.grid(axis="y", color="#dde3ea", linewidth=0.6)
    ax.set_axisbelow(True)
    return fig, ax


def _month_axis(ax: Any, months: Sequence[str]) -> None:
    ax.set_xticks(range(len(months)), [month_label(m) for m in months])
    ax.tick_params(axis="x", labelrotation=45 if len(months) > 8 else 0, labelsize=8)
    ax.set_xlabel("month (London time)")
    if not months:
        ax.set_xticks([])


def _empty(ax: Any, what: str) -> None:
    ax.text(0.5, 0.5, f"no {what} in this period", ha="center", va="center", transform=ax.transAxes)


def _legend(ax: Any) -> None:
    if ax.get_legend_handles_labels()[0]:
        # Outside the axes, on the right: a legend must never hide a bar or an axis label.
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, fontsize=8)


def decisions_by_month(series: Mapping[str, Any]) -> str:
    months, by_outcome = series["months"], series["decisions_by_outcome"]
    fig, ax = _figure()
    bottom = [0] * len(months)
    order = [o.value for o in Outcome if o.value in by_outcome]
    order += sorted(set(by_outcome) - set(order))
    for outcome in order:
        values = by_outcome[outcome]
        ax.bar(
            range(len(months)),
            values,
            bottom=bottom,
            color=colour("outcome", outcome),
            label=plain("outcome", outcome),
            width=0.7,
        )
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    if not any(bottom):
        _empty(ax, "decisions")
    _month_axis(ax, months)
    ax.set_ylabel("screening decisions")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    _legend(ax)
    return _render(fig, "decisions-by-month")


def referrals_by_month(series: Mapping[str, Any]) -> str:
    months = series["months"]
    fig, ax = _figure()
    xs = list(range(len(months)))
    ax.bar(
        [x - 0.2 for x in xs],
        series["referrals"],
        width=0.4,
        color=colour("series", "referrals"),
        label="referrals",
    )
    ax.bar(
        [x + 0.2 for x in xs],
        series["re_referrals"],
        width=0.4,
        color=colour("series", "re_referrals"),
        label="re-referrals within 12 months",
    )
    if not any(series["referrals"]):
        _empty(ax, "referrals")
    _month_axis(ax, months)
    ax.set_ylabel("referrals")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    _legend(ax)
    return _render(fig, "referrals-by-month")


def clock_compliance(clocks: Mapping[str, Mapping[str, Any]]) -> str:
    """Each clock's share met, on one 0-100% scale: a clock of 1,337 and one of 3 side by side."""
    names = list(clocks)
    fig, ax = _figure()
    fig.set_size_inches(WIDE, max(HEIGHT, 0.32 * len(names) + 1.2))
    ys = list(range(len(names)))
    values = [clocks[n]["percent_met"] for n in names]
    ax.barh(ys, [v or 0 for v in values], color="#1b6ca8", height=0.6)
    for y, name, v in zip(ys, names, values, strict=True):
        c = clocks[name]
        text = (
            "— (none decided)" if v is None else f"{v}% ({c['met']} of {c['met'] + c['breached']})"
        )
        ax.text((v or 0) + 1, y, text, va="center", fontsize=8)
    ax.set_yticks(ys, [plain("clock", n) for n in names], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, 115)
    ax.set_xticks(range(0, 101, 20))
    ax.xaxis.set_major_formatter(PercentFormatter())
    ax.set_xlabel("met within timescale (% of clocks met or breached)")
    ax.set_ylabel("statutory clock")
    ax.grid(axis="x", color="#dde3ea", linewidth=0.6)
    ax.grid(axis="y", visible=False)
    if not names:
        _empty(ax, "clocks")
    return _render(fig, "clock-compliance")


def timeliness(series: Mapping[str, Any], benchmarks: Benchmarks) -> str:
    """Each month's share of clocks met, beside its indicator's local target (dashed)."""
    months = series["months"]
    met, breached = series["clocks_met"], series["clocks_breached"]
    targets = {b.id: b.target for b in benchmarks.indicators}
    fig, ax = _figure()
    drawn = False
    for (indicator, words, names), shade in zip(TIMELINESS, TIMELINESS_COLOURS, strict=True):
        ok = [sum(met.get(n, [0] * len(months))[i] for n in names) for i in range(len(months))]
        bad = [
            sum(breached.get(n, [0] * len(months))[i] for n in names) for i in range(len(months))
        ]
        if not any(ok) and not any(bad):
            continue
        drawn = True
        share = [100 * g / (g + b) if g + b else float("nan") for g, b in zip(ok, bad, strict=True)]
        ax.plot(range(len(months)), share, marker="o", color=shade, label=words, linewidth=1.5)
        target = targets.get(indicator)
        if target is not None:
            ax.axhline(target, color=shade, linestyle="--", linewidth=1)
            ax.text(
                len(months) - 0.5,
                target,
                f"target {target:g}%",
                color=shade,
                fontsize=7,
                va="bottom",
                ha="right",
            )
    if not drawn:
        _empty(ax, "clocks decided")
    _month_axis(ax, months)
    ax.set_ylim(0, 105)
    ax.yaxis.set_major_formatter(PercentFormatter())
    ax.set_ylabel("met within timescale")
    _legend(ax)
    return _render(fig, "timeliness-against-target")


def plans_by_category(series: Mapping[str, Any]) -> str:
    months, open_by = series["months"], series["cp_plans_open_by_category"]
    fig, ax = _figure()
    xs = list(range(len(months)))
    bottom = [0] * len(months)
    for category in CPCategory:
        values = open_by.get(category.value, [0] * len(months))
        ax.bar(
            xs,
            values,
            bottom=bottom,
            width=0.7,
            color=colour("category", category.value),
            label=plain("category", category.value),
        )
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    if not any(bottom):
        _empty(ax, "plans")
    _month_axis(ax, months)
    ax.set_ylabel("children on a plan at month end")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    _legend(ax)
    return _render(fig, "plans-by-category")


def missing_by_month(series: Mapping[str, Any]) -> str:
    months = series["months"]
    fig, ax = _figure()
    ax.bar(range(len(months)), series["missing_incidents"], color=colour("series", "missing"))
    if not any(series["missing_incidents"]):
        _empty(ax, "missing episodes")
    _month_axis(ax, months)
    ax.set_ylabel("missing incidents")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    return _render(fig, "missing-by-month")


def missing_per_child(per_child: Mapping[str, int]) -> str:
    """Children by their number of episodes, every count from 1 to the most (a heavy tail
    shows as one), on an axis of at least six so a single bar is not a wall."""
    fig, ax = _figure()
    most = max((int(k) for k in per_child), default=0)
    counts = list(range(1, most + 1))
    ax.bar(
        range(len(counts)),
        [per_child.get(str(c), 0) for c in counts],
        width=0.6,
        color=colour("series", "missing"),
    )
    ax.set_xticks(range(len(counts)), [str(c) for c in counts])
    ax.set_xlim(-0.6, max(len(counts), 6) - 0.4)
    ax.set_xlabel("missing episodes in the period")
    ax.set_ylabel("children")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    if not counts:
        _empty(ax, "missing children")
    return _render(fig, "missing-per-child")


def charts(report: Mapping[str, Any], benchmarks: Benchmarks) -> list[tuple[str, str]]:
    """Every chart of the report, titled, in the order a board reads them."""
    series = report["series"]
    return [
        ("Screening decisions by month and outcome", decisions_by_month(series)),
        ("Referrals and re-referrals by month", referrals_by_month(series)),
        (
            "Statutory clocks: share met within timescale",
            clock_compliance(report["clocks"]["by_clock"]),
        ),
        ("Timeliness against target, month by month", timeliness(series, benchmarks)),
        ("Children on a child protection plan by category", plans_by_category(series)),
        ("Missing incidents by month", missing_by_month(series)),
        (
            "Children by number of missing episodes",
            missing_per_child(report["missing"]["children_by_episodes"]),
        ),
    ]
