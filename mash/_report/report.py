"""Rendering the board's report: markdown, JSON and one self-contained HTML file.

The figures come from `figures.py` (the reporter's tallies at an instant); a replay adds its
own sections (the decision on each contact, the breaches, the expectations). Deterministic by
construction: sorted keys, no wall-clock times, no Redis entry ids.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from html import escape
from typing import Any

from mash._scenarios.expectations import Check, Outputs
from mash._time.calendar import LONDON
from mash.schemas.events import Event, TimescaleBreached

FORMATS = ("md", "json", "html", "cin-xml")


def _counts(values: Sequence[str]) -> dict[str, int]:
    return dict(sorted(Counter(values).items()))


def build_report(
    *,
    figures: dict[str, Any],
    scenario: str,
    description: str,
    thresholds: str,
    timescales: str,
    scoring: str,
    published: Sequence[Event],
    outputs: Outputs,
    checks: Sequence[Check],
) -> dict[str, Any]:
    """A replay's report: the board's figures plus what only a replay knows."""
    report = {
        "scenario": scenario,
        "description": description,
        "thresholds": thresholds,
        "timescales": timescales,
        "scoring": scoring,
        "events_published": _counts([e.type for e in published]),
        **figures,
    }
    ordered = sorted(outputs.decisions, key=lambda d: (d.occurred_at, d.event_id))
    report["decisions"]["list"] = [
        {
            "contact": d.contact_id,
            "child": d.child_id,
            "at": d.occurred_at.astimezone(LONDON).isoformat(),
            "level": int(d.level),
            "rag": d.rag.value,
            "outcome": d.outcome.value,
            "decided_by": d.decided_by.value,
            "due": d.decision_due.astimezone(LONDON).isoformat(),
            "reasons": [r.id for r in d.reasons],
        }
        for d in ordered
    ]
    breaches = sorted(
        (e for e in outputs.clock_events if isinstance(e, TimescaleBreached)),
        key=lambda e: (e.occurred_at, e.clock_id),
    )
    report["clocks"]["breaches"] = [
        {
            "clock": e.clock,
            "instance": e.clock_id,
            "at": e.occurred_at.astimezone(LONDON).isoformat(),
        }
        for e in breaches
    ]
    report["expectations"] = summarise(checks)
    return report


def summarise(checks: Sequence[Check]) -> dict[str, Any]:
    return {
        "total": len(checks),
        "passed": sum(c.passed for c in checks),
        "failed": [
            {"expectation": c.expectation, "detail": c.detail} for c in checks if not c.passed
        ],
    }


def to_json(report: dict[str, Any]) -> str:
    return json.dumps(report, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


# ---- the tables every format shares ------------------------------------------------------
Table = tuple[str, list[str], list[list[Any]]]  # title, header, rows


def _pairs(title: str, key: str, counts: dict[str, Any]) -> Table:
    return (title, [key, "count"], [[k, v] for k, v in counts.items()])


def _na(value: Any) -> Any:
    return "n/a" if value is None else value


def tables(report: dict[str, Any]) -> list[tuple[str, list[Table]]]:
    """The report as sections of tables, in the order a board reads them."""
    contacts, decisions = report["contacts"], report["decisions"]
    referrals, cp, now = report["referrals"], report["child_protection"], report["cp_plans_now"]
    clocks, missing, cse = report["clocks"]["by_clock"], report["missing"], report["cse"]
    sections: list[tuple[str, list[Table]]] = [
        (
            "Contacts",
            [
                (
                    "Contacts",
                    ["figure", "count"],
                    [
                        ["contacts", contacts["total"]],
                        ["children named", contacts["children_named"]],
                        ["contacts naming several children", contacts["multi_child"]],
                    ],
                ),
                _pairs("Contacts by referral source (CIN code)", "source", contacts["by_source"]),
            ],
        ),
        (
            f"Screening decisions ({decisions['total']})",
            [
                _pairs("By outcome", "outcome", decisions["by_outcome"]),
                _pairs("By level of need", "level", decisions["by_level"]),
                _pairs("By RAG rating", "RAG", decisions["by_rag"]),
                _pairs("By who decided", "decided by", decisions["by_decided_by"]),
                (
                    "Referrals",
                    ["figure", "value"],
                    [
                        ["referrals (assessment or strategy discussion)", referrals["total"]],
                        ["re-referrals within 12 months", referrals["re_referrals_12m"]],
                        ["re-referral rate %", _na(referrals["re_referral_percent"])],
                    ],
                ),
            ],
        ),
        (
            "Statutory clocks",
            [
                (
                    "Timescales",
                    [
                        "clock",
                        "started",
                        "met",
                        "breached",
                        "stopped late",
                        "cancelled",
                        "open now",
                        "out of timescale now",
                        "% met",
                    ],
                    [
                        [
                            name,
                            c["started"],
                            c["met"],
                            c["breached"],
                            c["stopped_late"],
                            c["cancelled"],
                            c["open"],
                            c["out_of_timescale"],
                            c["percent_met"],
                        ]
                        for name, c in clocks.items()
                    ],
                )
            ],
        ),
        (
            "Assessments",
            [
                (
                    "Assessments",
                    ["figure", "count"],
                    [
                        ["started", report["assessments"]["started"]],
                        ["completed", report["assessments"]["completed"]],
                    ],
                ),
                _pairs("Outcome of assessment", "outcome", report["assessments"]["by_outcome"]),
                _pairs(
                    "Factors at assessment (CIN code)", "factor", report["assessments"]["by_factor"]
                ),
            ],
        ),
        (
            "Child protection",
            [
                (
                    "Enquiries and conferences",
                    ["figure", "value"],
                    [
                        ["strategy discussions", cp["strategy_discussions"]],
                        ["section 47 enquiries started", cp["s47_started"]],
                        ["section 47 rate per 10,000 children", _na(cp["s47_rate_per_10k"])],
                        ["initial child protection conferences", cp["icpcs"]],
                        ["ICPCs leading to a plan", cp["icpcs_plan_required"]],
                        ["plans started", cp["plans_started"]],
                        ["plans ended", cp["plans_ended"]],
                        ["review conferences", cp["reviews"]],
                    ],
                ),
                (
                    f"Children on a CP plan at {report['as_of'][:10]} ({now['total']}; "
                    f"rate per 10,000: {_na(now['rate_per_10k'])})",
                    ["category", "children", "%"],
                    [
                        [cat, n, _na(now["by_category_percent"][cat])]
                        for cat, n in now["by_category"].items()
                    ],
                ),
                _pairs("By sex", "sex", now["by_sex"]),
                _pairs("By age band", "age", now["by_age_band"]),
            ],
        ),
        (
            "Missing from home or care",
            [
                (
                    "Missing episodes",
                    ["figure", "count"],
                    [
                        [k.replace("_", " "), v]
                        for k, v in missing.items()
                        if k != "children_by_episodes"
                    ],
                ),
                _pairs(
                    "Children by number of episodes", "episodes", missing["children_by_episodes"]
                ),
            ],
        ),
        (
            "CSE risk",
            [
                _pairs("Flags raised, by level", "level", cse["flags_by_level"]),
                _pairs("Children by level now", "level", cse["children_by_level_now"]),
                (
                    "Indicators behind the flags",
                    ["level", "indicator", "count"],
                    [
                        [level, indicator, n]
                        for level, row in cse["indicators_by_level"].items()
                        for indicator, n in row.items()
                    ],
                ),
            ],
        ),
        (
            "Case closures",
            [_pairs("By reason (CIN code)", "reason", report["closures"]["by_reason"])],
        ),
        (
            f"Dead letters ({report['dead_letters']['total']})",
            [
                _pairs("By reason", "reason", report["dead_letters"]["by_reason"]),
                _pairs("By consumer", "consumer", report["dead_letters"]["by_consumer"]),
            ],
        ),
    ]
    if "list" in decisions:
        sections.insert(
            2,
            (
                "Decision on each contact",
                [
                    (
                        "Decisions",
                        ["contact", "child", "at", "level", "RAG", "outcome", "by", "reasons"],
                        [
                            [
                                d["contact"],
                                d["child"],
                                d["at"],
                                d["level"],
                                d["rag"],
                                d["outcome"],
                                d["decided_by"],
                                ", ".join(d["reasons"]),
                            ]
                            for d in decisions["list"]
                        ],
                    )
                ],
            ),
        )
    return sections


def _title(report: dict[str, Any]) -> str:
    name = report.get("scenario") or "a live hub"
    return f"Safeguarding board report: {name}"


def _preamble(report: dict[str, Any]) -> list[str]:
    lines = [f"Figures as of {report['as_of']}."]
    if report.get("thresholds"):
        lines.append(
            f"Thresholds `{report['thresholds']}`; timescales `{report['timescales']}`; "
            f"CSE scoring `{report['scoring']}`."
        )
    if report.get("population"):
        lines.append(f"Child population: {report['population']:,}.")
    return lines


# ---- markdown ---------------------------------------------------------------------------
def _md_table(table: Table) -> list[str]:
    title, header, rows = table
    numeric = [
        all(isinstance(r[i], int | float) for r in rows) and rows for i in range(len(header))
    ]
    align = ["---:" if n else "---" for n in numeric]
    lines = [f"**{title}**", "", "| " + " | ".join(header) + " |", "|" + "|".join(align) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    if not rows:
        lines.append("| (none) |" + " |" * (len(header) - 1))
    return [*lines, ""]


def to_markdown(report: dict[str, Any]) -> str:
    lines = [f"# {_title(report)}", ""]
    if report.get("description"):
        lines += [report["description"], ""]
    lines += [*_preamble(report), ""]
    for heading, section in tables(report):
        lines += [f"## {heading}", ""]
        for table in section:
            lines += _md_table(table)
    breaches = report["clocks"].get("breaches", [])
    if breaches:
        lines += ["**Breaches**", ""]
        lines += [f"- {b['clock']}: {b['instance']} at {b['at']}" for b in breaches]
        lines.append("")
    expectations = report.get("expectations")
    if expectations is not None:
        lines += [
            f"## Expectations: {expectations['passed']} of {expectations['total']} hold",
            "",
        ]
        lines += [f"- FAILED {f['expectation']}: {f['detail']}" for f in expectations["failed"]]
    return "\n".join(lines).rstrip() + "\n"


# ---- HTML with inline SVG charts ---------------------------------------------------------
PALETTE = ("#1b6ca8", "#e07b39", "#3a9a5b", "#c43c39", "#8a5fb0", "#7f7f7f", "#b8a31b")
STYLE = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:2rem auto;max-width:70rem;
color:#1d1d1d;padding:0 1rem;line-height:1.4}
h1{font-size:1.6rem}h2{font-size:1.25rem;margin-top:2rem;border-bottom:2px solid #1b6ca8}
table{border-collapse:collapse;margin:.5rem 0 1.2rem;font-size:.92rem}
caption{text-align:left;font-weight:600;padding:.3rem 0}
th,td{border:1px solid #ccd;padding:.25rem .6rem;text-align:left}td.n{text-align:right}
th{background:#eef2f7}.charts{display:flex;flex-wrap:wrap;gap:1.5rem}
figure{margin:0}figcaption{font-weight:600;margin-bottom:.3rem}.fail{color:#c43c39}
"""


def _svg_bars(
    labels: Sequence[str], series: dict[str, Sequence[float]], *, width: int = 520
) -> str:
    """A stacked bar chart as inline SVG: no script, no network, prints as it shows."""
    height, left, bottom, top = 240, 40, 60, 10
    if not labels:
        return (
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="40" role="img">'
            '<text x="10" y="25" font-size="13">none in this period</text></svg>'
        )
    # A series shorter than the labels (no decisions in a month of missing episodes) is zero.
    series = {
        name: [*values, *[0] * (len(labels) - len(values))] for name, values in series.items()
    }
    totals = [sum(values[i] for values in series.values()) for i in range(len(labels))]
    peak = max(*totals, 1)
    step = (width - left - 10) / len(labels)
    bar = max(step * 0.7, 1)
    scale = (height - bottom - top) / peak
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}"'
        f' height="{height + 20 * len(series)}" role="img" font-size="11">',
        f'<line x1="{left}" y1="{height - bottom}" x2="{width - 5}" y2="{height - bottom}"'
        ' stroke="#444"/>',
        f'<text x="{left - 5}" y="{top + 8}" text-anchor="end">{peak:g}</text>',
        f'<text x="{left - 5}" y="{height - bottom}" text-anchor="end">0</text>',
    ]
    for i, label in enumerate(labels):
        x = left + i * step + (step - bar) / 2
        y = float(height - bottom)
        for s, values in enumerate(series.values()):
            h = values[i] * scale
            if h:
                y -= h
                parts.append(
                    f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{h:.1f}"'
                    f' fill="{PALETTE[s % len(PALETTE)]}"><title>{escape(label)}: '
                    f"{values[i]:g}</title></rect>"
                )
        lx, ly = x + bar / 2, height - bottom + 12
        parts.append(
            f'<text x="{lx:.1f}" y="{ly}" text-anchor="end" '
            f'transform="rotate(-45 {lx:.1f} {ly})">{escape(label)}</text>'
        )
    if len(series) > 1 or next(iter(series)) != "":
        for s, name in enumerate(series):
            y = height + 5 + 20 * s
            colour = PALETTE[s % len(PALETTE)]
            parts.append(
                f'<rect x="{left}" y="{y}" width="12" height="12" fill="{colour}"/>'
                f'<text x="{left + 18}" y="{y + 10}">{escape(name)}</text>'
            )
    parts.append("</svg>")
    return "".join(parts)


def charts(report: dict[str, Any]) -> list[tuple[str, str]]:
    series = report["series"]
    clocks = report["clocks"]["by_clock"]
    now = report["cp_plans_now"]["by_category"]
    per_child = report["missing"]["children_by_episodes"]
    return [
        (
            "Decisions by month and outcome",
            _svg_bars(series["months"], series["decisions_by_outcome"] or {"none": []}),
        ),
        (
            "Clock compliance: met and breached",
            _svg_bars(
                list(clocks),
                {
                    "met": [c["met"] for c in clocks.values()],
                    "breached": [c["breached"] for c in clocks.values()],
                },
            ),
        ),
        (
            "Children on a CP plan by category",
            _svg_bars(list(now), {"": list(now.values())}, width=320),
        ),
        (
            "Children by number of missing episodes",
            _svg_bars(list(per_child), {"": list(per_child.values())}, width=320),
        ),
    ]


def _html_table(table: Table) -> str:
    title, header, rows = table
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = (
        "".join(
            "<tr>"
            + "".join(
                f'<td class="n">{c}</td>'
                if isinstance(c, int | float)
                else f"<td>{escape(str(c))}</td>"
                for c in row
            )
            + "</tr>"
            for row in rows
        )
        or f'<tr><td colspan="{len(header)}">none</td></tr>'
    )
    return f"<table><caption>{escape(title)}</caption><tr>{head}</tr>{body}</table>"


def to_html(report: dict[str, Any]) -> str:
    title = escape(_title(report))
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{title}</title><style>{STYLE}</style></head><body>",
        f"<h1>{title}</h1>",
    ]
    if report.get("description"):
        parts.append(f"<p>{escape(report['description'])}</p>")
    parts += [f"<p>{escape(line.replace('`', ''))}</p>" for line in _preamble(report)]
    parts.append('<h2>Charts</h2><div class="charts">')
    parts += [
        f"<figure><figcaption>{escape(t)}</figcaption>{svg}</figure>" for t, svg in charts(report)
    ]
    parts.append("</div>")
    for heading, section in tables(report):
        parts.append(f"<h2>{escape(heading)}</h2>")
        parts += [_html_table(t) for t in section]
    expectations = report.get("expectations")
    if expectations is not None:
        parts.append(
            f"<h2>Expectations: {expectations['passed']} of {expectations['total']} hold</h2>"
        )
        parts += [
            f'<p class="fail">FAILED {escape(f["expectation"])}: {escape(f["detail"])}</p>'
            for f in expectations["failed"]
        ]
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def render(report: dict[str, Any], fmt: str) -> str:
    if fmt == "json":
        return to_json(report)
    if fmt == "md":
        return to_markdown(report)
    if fmt == "html":
        return to_html(report)
    raise ValueError(f"unknown report format {fmt!r} (md, json or html)")
