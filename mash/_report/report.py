"""Rendering the board's report: markdown, JSON and one self-contained HTML file.

The figures come from `figures.py` (the reporter's tallies at an instant); a replay adds its
own sections (the decision on each contact, the breaches, the expectations). Deterministic by
construction: sorted keys, no wall-clock times, no Redis entry ids.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from mash._report.indicators import fill_indicators
from mash._report.performance import Benchmarks, load_benchmarks, performance
from mash._report.words import EMPTY, label, natural, plain
from mash._time.calendar import LONDON
from mash.schemas.events import Event, TimescaleBreached

if TYPE_CHECKING:  # a scenario's checks: not read by a live hub's report
    from mash._scenarios.expectations import Check, Outputs

FORMATS = ("md", "json", "html", "cin-xml", "annex-a")


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
@dataclass(frozen=True)
class Link:
    """A cell that is a link in HTML (a child's chronology page) and plain text elsewhere."""

    text: str
    href: str

    def __str__(self) -> str:
        return self.text


Table = tuple[str, list[str], list[list[Any]]]  # title, header, rows
NOTHING = "nothing recorded"  # an empty table's one row: never "none", a CSE level


def _pairs(title: str, key: str, counts: dict[str, Any], kind: str | None = None) -> Table:
    """A count per code, codes in natural order (1B before 19C), words beside each code."""
    codes = natural(counts) if kind in NATURAL else list(counts)
    return (
        title,
        [key, "count"],
        [[label(kind, k) if kind else k, counts[k]] for k in codes],
    )


NATURAL = frozenset({"source", "factor", "closure"})


def _na(value: Any) -> Any:
    return EMPTY if value is None else value


def _amount(value: float | None, unit: str) -> str:
    if value is None:
        return EMPTY
    return f"{value:g}%" if unit == "%" else f"{value:g}"


def performance_table(report: dict[str, Any], benchmarks: Benchmarks) -> Table:
    """The seeds' Figure 1: each indicator beside its benchmarks, target and last year."""
    rows = []
    for r in performance(report, benchmarks):
        note = f" ({r['benchmark_note']})" if r["benchmark_note"] else ""
        value = _amount(r["value"], r["unit"])
        if r["value"] is not None and r["denominator"]:
            value += f" ({r['numerator']}/{r['denominator']})"
        unit = "" if r["unit"] == "%" else " (per 10,000)"
        rows.append(
            [
                r["ref"],
                r["definition"] + unit,
                r["good_is"].upper() if r["good_is"] != "neither" else EMPTY,
                _amount(r["statistical_neighbours"], r["unit"]) + note,
                _amount(r["national"], r["unit"]) + note,
                _amount(r["target"], r["unit"]),
                _amount(r["last_year"], r["unit"]),
                value,
                r["direction"] or EMPTY,
                r["rag_target"] or EMPTY,
                r["rag_national"] or EMPTY,
            ]
        )
    return (
        f"{benchmarks.name}: performance indicators ({benchmarks.source or 'benchmarks file'})",
        [
            "ref",
            "definition",
            "good is",
            "statistical neighbours",
            "national average",
            "local target",
            f"{benchmarks.last_period} performance",
            f"{benchmarks.period} performance (this run)",
            "direction of travel",
            "RAG against target",
            "RAG against national",
        ],
        rows,
    )


def _clock_rows(clocks: dict[str, Any]) -> list[list[Any]]:
    return [
        [
            label("clock", name),
            c["started"],
            c["met"],
            c["breached"],
            c["stopped_late"],
            c["cancelled"],
            c["open"],
            c["out_of_timescale"],
            _na(c["percent_met"]),
        ]
        for name, c in clocks.items()
    ]


def tables(
    report: dict[str, Any],
    benchmarks: Benchmarks | None = None,
    child_pages: str | None = None,
) -> list[tuple[str, list[Table]]]:
    """The report as sections of tables, in the order a board reads them.

    `child_pages` is the folder (relative to the report) holding a chronology page per child
    the report lists; the decision list then links each child to theirs.
    """
    benchmarks = benchmarks or load_benchmarks()
    report = fill_indicators(dict(report))
    contacts, decisions = report["contacts"], report["decisions"]
    referrals, cp, now = report["referrals"], report["child_protection"], report["cp_plans_now"]
    clocks, missing, cse = report["clocks"]["by_clock"], report["missing"], report["cse"]
    sections: list[tuple[str, list[Table]]] = [
        ("Performance framework", [performance_table(report, benchmarks)]),
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
                _pairs(
                    "Contacts by referral source (CIN code)",
                    "source",
                    contacts["by_source"],
                    "source",
                ),
            ],
        ),
        (
            f"Screening decisions ({decisions['total']})",
            [
                _pairs("By outcome", "outcome", decisions["by_outcome"], "outcome"),
                _pairs("By level of need", "level", decisions["by_level"], "level"),
                _pairs("By RAG rating", "RAG", decisions["by_rag"], "rag"),
                _pairs("By who decided", "decided by", decisions["by_decided_by"], "decided_by"),
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
                    _clock_rows(clocks),
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
                _pairs(
                    "Outcome of assessment",
                    "outcome",
                    report["assessments"]["by_outcome"],
                    "assessment_outcome",
                ),
                _pairs(
                    "Factors at assessment (CIN code)",
                    "factor",
                    report["assessments"]["by_factor"],
                    "factor",
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
                        [label("category", cat), n, _na(now["by_category_percent"][cat])]
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
                _pairs("Flags raised, by level", "level", cse["flags_by_level"], "cse_level"),
                _pairs("Children by level now", "level", cse["children_by_level_now"], "cse_level"),
                (
                    "Indicators behind the flags",
                    ["level", "indicator", "count"],
                    [
                        [label("cse_level", level), label("cse_indicator", indicator), n]
                        for level, row in cse["indicators_by_level"].items()
                        for indicator, n in row.items()
                    ],
                ),
            ],
        ),
        (
            "Case closures",
            [_pairs("By reason (CIN code)", "reason", report["closures"]["by_reason"], "closure")],
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

        def child(ident: str) -> Any:
            if child_pages is None:
                return ident
            return Link(ident, f"{child_pages}/{quote(ident, safe='')}.html")

        sections.insert(
            3,
            (
                "Decision on each contact",
                [
                    (
                        "Decisions",
                        [
                            "contact",
                            "child",
                            "at (London)",
                            "level",
                            "RAG",
                            "outcome",
                            "by",
                            "reasons",
                        ],
                        [
                            [
                                d["contact"],
                                child(d["child"]),
                                d["at"],
                                label("level", d["level"]),
                                d["rag"],
                                plain("outcome", d["outcome"]),
                                plain("decided_by", d["decided_by"]),
                                ", ".join(d["reasons"]) or EMPTY,
                            ]
                            for d in decisions["list"]
                        ],
                    )
                ],
            ),
        )
    if report.get("queue"):
        sections.insert(3, ("Front door queue", _queue_tables(report["queue"])))
    caseloads = report.get("caseloads")
    if caseloads and "mean_wait_days" in caseloads:
        at = 4 if report.get("queue") else 3
        team = (report.get("generated") or {}).get("team")
        sections.insert(at, ("Social workers' caseloads", _caseload_tables(caseloads, team)))
    return sections


def _caseload_tables(caseloads: dict[str, Any], team: dict[str, Any] | None) -> list[Table]:
    """Assessments waiting for, and held by, social workers (a year generated with a team)."""
    months = caseloads["by_month"]
    whose = [["team", f"{team['name']}: {team['places']} assessments held at once"]] if team else []
    return [
        (
            "Assessments on caseloads",
            ["figure", "value"],
            [
                *whose,
                ["assessments opened", caseloads["opened"]],
                ["assessments authorised", caseloads["authorised"]],
                ["mean wait for a social worker (days)", caseloads["mean_wait_days"]],
                ["open at the period's end", caseloads["open_at_end"]],
                ["most open at a month's end", caseloads["most_open"]],
            ],
        ),
        (
            "By month",
            ["month", "opened", "authorised", "open at the month's end", "mean wait (days)"],
            [
                [
                    m,
                    months["opened"][i],
                    months["authorised"][i],
                    months["open_at_end"][i],
                    months["mean_wait_days"][i],
                ]
                for i, m in enumerate(months["months"])
            ],
        ),
    ]


def _queue_tables(queue: dict[str, Any]) -> list[Table]:
    """How long contacts waited for a practitioner (a hub with a team)."""
    months = queue["by_month"]
    return [
        (
            "The queue",
            ["figure", "value"],
            [
                ["contacts handled", queue["handled"]],
                ["mean wait for a practitioner (hours)", _na(queue["mean_wait_hours"])],
                ["mean time to decision (hours)", _na(queue["mean_to_decision_hours"])],
                ["most contacts waiting at once", queue["most_waiting"]],
            ],
        ),
        (
            "Wait by RAG rating on receipt",
            ["RAG", "contacts", "mean wait (hours)"],
            [
                [rag, row["handled"], _na(row["mean_wait_hours"])]
                for rag, row in queue["by_rag"].items()
            ],
        ),
        (
            "How long contacts waited",
            ["wait", "contacts"],
            [[b, n] for b, n in queue["waited"].items()],
        ),
        (
            "By month",
            ["month", "handled", "mean wait (hours)", "most waiting"],
            [
                [
                    m,
                    months["handled"][i],
                    _na(months["mean_wait_hours"][i]),
                    months["most_waiting"][i],
                ]
                for i, m in enumerate(months["months"])
            ],
        ),
    ]


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
    if report.get("team"):
        lines.append(f"Team `{report['team']}`: contacts wait for its practitioners.")
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
        lines.append(f"| {NOTHING} |" + " |" * (len(header) - 1))
    return [*lines, ""]


def to_markdown(report: dict[str, Any], benchmarks: Benchmarks | None = None) -> str:
    lines = [f"# {_title(report)}", ""]
    if report.get("description"):
        lines += [report["description"], ""]
    lines += [*_preamble(report), ""]
    for heading, section in tables(report, benchmarks):
        lines += [f"## {heading}", ""]
        for table in section:
            lines += _md_table(table)
    breaches = report["clocks"].get("breaches", [])
    if breaches:
        lines += ["**Breaches**", ""]
        lines += [f"- {label('clock', b['clock'])}: {b['instance']} at {b['at']}" for b in breaches]
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
STYLE = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:2rem auto;max-width:80rem;
color:#1d1d1d;padding:0 1rem;line-height:1.4}
h1{font-size:1.6rem}h2{font-size:1.25rem;margin-top:2rem;border-bottom:2px solid #1b6ca8}
table{border-collapse:collapse;margin:.5rem 0 1.2rem;font-size:.92rem}
caption{text-align:left;font-weight:600;padding:.3rem 0}
th,td{border:1px solid #ccd;padding:.25rem .6rem;text-align:left;vertical-align:top}
td.n{text-align:right}th{background:#eef2f7}
.charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(34rem,1fr));gap:1.5rem}
figure{margin:0}figcaption{font-weight:600;margin-bottom:.3rem}
figure svg{max-width:100%;height:auto}
.fail{color:#c43c39}td.rag-Green{background:#d5ecd9}td.rag-Amber{background:#fbe5c8}
td.rag-Red{background:#f6d0cf}td ul{margin:.15rem 0;padding-left:1.2rem}
"""
RAGS = frozenset({"Green", "Amber", "Red"})


def _html_cell(c: Any) -> str:
    if isinstance(c, Link):
        return f'<td><a href="{escape(c.href)}">{escape(c.text)}</a></td>'
    if isinstance(c, int | float):
        return f'<td class="n">{c}</td>'
    if c in RAGS:
        return f'<td class="rag-{c}">{c}</td>'
    return f"<td>{escape(str(c))}</td>"


def _html_table(table: Table) -> str:
    title, header, rows = table
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = (
        "".join("<tr>" + "".join(_html_cell(c) for c in row) + "</tr>" for row in rows)
        or f'<tr><td colspan="{len(header)}">{NOTHING}</td></tr>'
    )
    return f"<table><caption>{escape(title)}</caption><tr>{head}</tr>{body}</table>"


def page(title: str, body: list[str]) -> str:
    """A whole HTML page, styles inline, nothing fetched: it opens offline, from anywhere."""
    return (
        "\n".join(
            [
                "<!DOCTYPE html>",
                '<html lang="en"><head><meta charset="utf-8">',
                '<meta name="viewport" content="width=device-width, initial-scale=1">',
                f"<title>{escape(title)}</title><style>{STYLE}</style></head><body>",
                *body,
                "</body></html>",
            ]
        )
        + "\n"
    )


def to_html(
    report: dict[str, Any], benchmarks: Benchmarks | None = None, child_pages: str | None = None
) -> str:
    from mash._report.charts import charts  # noqa: PLC0415 - matplotlib only when drawing

    benchmarks = benchmarks or load_benchmarks()
    title = _title(report)
    parts = [f"<h1>{escape(title)}</h1>"]
    if report.get("description"):
        parts.append(f"<p>{escape(report['description'])}</p>")
    parts += [f"<p>{escape(line.replace('`', ''))}</p>" for line in _preamble(report)]
    parts.append('<h2>Charts</h2><div class="charts">')
    parts += [
        f"<figure><figcaption>{escape(t)}</figcaption>{svg}</figure>"
        for t, svg in charts(report, benchmarks)
    ]
    parts.append("</div>")
    for heading, section in tables(report, benchmarks, child_pages):
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
    return page(title, parts)


def render(
    report: dict[str, Any],
    fmt: str,
    benchmarks: Benchmarks | None = None,
    child_pages: str | None = None,
) -> str:
    if fmt == "json":
        return to_json(fill_indicators(dict(report)))
    if fmt == "md":
        return to_markdown(report, benchmarks)
    if fmt == "html":
        return to_html(report, benchmarks, child_pages)
    raise ValueError(f"unknown report format {fmt!r} (md, json or html)")
