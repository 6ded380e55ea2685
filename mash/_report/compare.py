"""Two reports side by side: the same year with two team files (or two thresholds files),
and what changed between them.

Pure: two report dicts (`mash replay --format json`) in, rows out. A figure either report lacks
is shown as a dash, never as a zero: "no team" is not "no wait".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Row:
    section: str
    figure: str
    a: float | int | str | None
    b: float | int | str | None

    @property
    def change(self) -> float | None:
        if isinstance(self.a, int | float) and isinstance(self.b, int | float):
            return round(self.b - self.a, 2)
        return None


def _share_met(clock: Mapping[str, Any]) -> float | None:
    decided = clock.get("met", 0) + clock.get("breached", 0)
    return round(100 * clock.get("met", 0) / decided, 1) if decided else None


def _get(report: Mapping[str, Any], *path: str) -> Any:
    node: Any = report
    for part in path:
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def compare(a: Mapping[str, Any], b: Mapping[str, Any]) -> list[Row]:
    """The figures a service manager compares across two runs, in the report's order."""
    rows = [
        Row("run", "team", a.get("team") or "none", b.get("team") or "none"),
        Row(
            "run",
            "social workers' team",
            _get(a, "generated", "team", "name") or "none",
            _get(b, "generated", "team", "name") or "none",
        ),
        Row("run", "thresholds", a.get("thresholds"), b.get("thresholds")),
        Row("front door", "contacts", _get(a, "contacts", "total"), _get(b, "contacts", "total")),
        Row(
            "front door", "decisions", _get(a, "decisions", "total"), _get(b, "decisions", "total")
        ),
        Row(
            "front door", "referrals", _get(a, "referrals", "total"), _get(b, "referrals", "total")
        ),
    ]
    for figure, key in (
        ("mean wait for a practitioner (hours)", "mean_wait_hours"),
        ("mean time to decision (hours)", "mean_to_decision_hours"),
        ("most contacts waiting at once", "most_waiting"),
    ):
        rows.append(Row("queue", figure, _get(a, "queue", key), _get(b, "queue", key)))
    for figure, key in (
        ("mean wait for a social worker (days)", "mean_wait_days"),
        ("assessments authorised", "authorised"),
        ("assessments open at the end", "open_at_end"),
        ("most open at a month's end", "most_open"),
    ):
        rows.append(Row("caseloads", figure, _get(a, "caseloads", key), _get(b, "caseloads", key)))
    clocks_a = _get(a, "clocks", "by_clock") or {}
    clocks_b = _get(b, "clocks", "by_clock") or {}
    for clock in sorted({*clocks_a, *clocks_b}):
        ca, cb = clocks_a.get(clock), clocks_b.get(clock)
        name = clock  # the id: the words are the report's, too long for a column
        rows.append(
            Row(
                "met %",
                name,
                _share_met(ca) if ca else None,
                _share_met(cb) if cb else None,
            )
        )
        rows.append(
            Row(
                "breached",
                name,
                ca.get("breached") if ca else None,
                cb.get("breached") if cb else None,
            )
        )
    ind_a, ind_b = a.get("indicators") or {}, b.get("indicators") or {}
    for name in sorted({*ind_a, *ind_b}, key=_indicator_order):
        rows.append(
            Row(
                "indicators",
                name,
                _get(ind_a, name, "value"),
                _get(ind_b, name, "value"),
            )
        )
    return rows


def _indicator_order(name: str) -> tuple[int, str]:
    return (
        (0, f"{int(name[3:]):04d}") if name.startswith("NI ") and name[3:].isdigit() else (1, name)
    )


def to_json(rows: list[Row]) -> list[dict[str, Any]]:
    return [
        {"section": r.section, "figure": r.figure, "a": r.a, "b": r.b, "change": r.change}
        for r in rows
    ]
