"""Ofsted's Annex A lists, as the run has them: what inspectors ask a council for first.

Annex A (the ILACS inspection data) is a workbook with one sheet per list, one row per child
per episode. The lists are cut from the reporter's records (the same dated facts the CIN
census return is cut from), for the run's period up to the report's instant. A run models the
front door and child protection, so lists 1 to 7 are here; list 8 onwards (children in care,
care leavers, adoption) are not, because the simulator has no placements.

Column names are Annex A's (the 2023 template as best known: domain-reference §5.6 read lists
1-7 through the D2I Standard Safeguarding Dataset; the headings of lists 2, 5 and 6 are the
published template's as remembered, not checked against it). Columns the simulator has no data
for (allocated team and worker, a child seen alone) are present and empty, as a council leaves
a cell it cannot fill.

`annex_a` is pure (records in, lists out); `write_annex_a` is the I/O edge: one CSV per list
and one xlsx workbook, both the same bytes for the same lists.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from mash._report.words import label
from mash._time.calendar import LONDON
from mash.consumers.reporter.rules import ChildRecord, Fact
from mash.errors import MashError

PERSON = (
    "Child Unique ID",
    "Gender",
    "Ethnicity",
    "Date of Birth",
    "Age of Child (Years)",
)
TEAM = ("Allocated Team", "Allocated Worker")
TWELVE_MONTHS = timedelta(days=365)
NEEDS_SUPPORT = frozenset({"cin_plan", "strategy", "looked_after"})
GENDER = {"M": "Male", "F": "Female", "U": "Unknown"}
Cell = str | int | date | None


class AnnexAError(MashError):
    """The lists cannot be written where asked."""


@dataclass(frozen=True)
class AnnexList:
    number: int
    name: str
    header: tuple[str, ...]
    rows: list[tuple[Cell, ...]]

    @property
    def sheet(self) -> str:
        return f"List {self.number} {self.name}"[:31]

    @property
    def file(self) -> str:
        return f"list-{self.number}-{self.name.lower().replace(' ', '-')}.csv"


def _day(at: datetime) -> date:
    return at.astimezone(LONDON).date()


def _age(dob: date | None, on: date) -> int | None:
    if dob is None or dob > on:
        return None
    return on.year - dob.year - ((on.month, on.day) < (dob.month, dob.day))


def _person(child: str, record: ChildRecord, on: date) -> tuple[Cell, ...]:
    return (
        child,
        GENDER.get(record.sex.value, "") if record.sex else "",
        record.ethnicity.value if record.ethnicity else "",
        record.dob,
        _age(record.dob, on),
    )


def _in(fact: Fact, since: datetime | None, until: datetime) -> bool:
    return (since is None or fact.at >= since) and fact.at <= until


def annex_a(
    records: Mapping[str, ChildRecord], *, at: datetime, since: datetime | None = None
) -> list[AnnexList]:
    """Lists 1 to 7 for the period from `since` to `at`; rows by date, then child."""
    contacts: list[tuple[Cell, ...]] = []
    early_help: list[tuple[Cell, ...]] = []
    referrals: list[tuple[Cell, ...]] = []
    assessments: list[tuple[Cell, ...]] = []
    s47s: list[tuple[Cell, ...]] = []
    cin: list[tuple[Cell, ...]] = []
    cp: list[tuple[Cell, ...]] = []
    today = _day(at)
    for child in sorted(records):
        record = records[child]
        facts = sorted((f for f in record.facts if f.at <= at), key=lambda f: f.at)
        by_ref = {(f.kind, f.ref): f for f in facts}
        for f in facts:
            if not _in(f, since, at):
                continue
            day = _day(f.at)
            person = _person(child, record, day)
            if f.kind == "contact":
                contacts.append((*person, day, label("source", f.codes[0]) if f.codes else ""))
            elif f.kind == "early_help":
                count = sum(
                    1
                    for g in facts
                    if g.kind == "early_help" and f.at - TWELVE_MONTHS < g.at <= f.at
                )
                early_help.append((*person, count, day, None, "early help (MASH decision)"))
            elif f.kind == "referral":
                source = by_ref.get(("contact", f.ref))
                count = sum(
                    1 for g in facts if g.kind == "referral" and f.at - TWELVE_MONTHS < g.at <= f.at
                )
                referrals.append(
                    (
                        *person,
                        day,
                        label("source", source.codes[0]) if source and source.codes else "",
                        "No",  # a referral is a contact social care took on (reporter rules)
                        count,
                        None,
                        None,
                    )
                )
            elif f.kind == "assessment_started":
                done = by_ref.get(("assessment_completed", f.ref))
                finished = done is not None and done.at <= at
                assessments.append(
                    (
                        *person,
                        day,
                        None,
                        _day(done.at) if done is not None and finished else None,
                        ("Yes" if done.note in NEEDS_SUPPORT else "No")
                        if done is not None and finished
                        else None,
                        None,
                        None,
                    )
                )
            elif f.kind == "s47_started":
                ended = by_ref.get(("s47_completed", f.ref))
                icpc = next((g for g in facts if g.kind == "icpc" and g.note == f.ref), None)
                unnecessary = (
                    None if ended is None else ("No" if ended.note == "icpc_required" else "Yes")
                )
                s47s.append(
                    (
                        *person,
                        day,
                        unnecessary,
                        _day(icpc.at) if icpc else None,
                        ("Yes" if icpc.flag else "No") if icpc else None,
                        None,
                        None,
                    )
                )
        cin_row = _child_in_need(child, record, facts, today)
        if cin_row is not None:
            cin.append(cin_row)
        cp += _plans(child, record, facts, since, at)
    key = _by_date
    return [
        AnnexList(1, "Contacts", (*PERSON, "Date of Contact", "Contact Source"), key(contacts)),
        AnnexList(
            2,
            "Early Help",
            (
                *PERSON,
                "Number of early help assessments in the last 12 months",
                "Date the early help assessment started",
                "Date the early help assessment was completed",
                "Organisation completing the early help assessment",
            ),
            key(early_help),
        ),
        AnnexList(
            3,
            "Referrals",
            (
                *PERSON,
                "Date of Referral",
                "Referral Source",
                "Referral NFA?",
                "Number of Referrals in Last 12 Months",
                *TEAM,
            ),
            key(referrals),
        ),
        AnnexList(
            4,
            "Assessments",
            (
                *PERSON,
                "Continuous Assessment Start Date",
                "Child Seen During Continuous Assessment",
                "Continuous Assessment Date of Completion",
                "Was the child assessed as requiring LA children's social care support?",
                *TEAM,
            ),
            key(assessments),
        ),
        AnnexList(
            5,
            "Section 47",
            (
                *PERSON,
                "Strategy discussion initiating Section 47 Enquiry Start Date",
                "Was an Initial Child Protection Conference deemed unnecessary?",
                "Date of Initial Child Protection Conference",
                "Did the Initial Child Protection Conference Result in a Child Protection Plan",
                *TEAM,
            ),
            key(s47s),
        ),
        AnnexList(
            6,
            "Children in Need",
            (*PERSON, "Disability", "Case Status", "Date child was last seen", *TEAM),
            sorted(cin, key=lambda r: str(r[0])),
        ),
        AnnexList(
            7,
            "Child Protection",
            (
                *PERSON,
                "Child Protection Plan Start Date",
                "Initial Category of Abuse",
                "Latest Category of Abuse",
                "Date of latest review conference",
                "Child Protection Plan End Date",
                "Number of Previous Child Protection Plans",
                *TEAM,
            ),
            key(cp),
        ),
    ]


def _by_date(rows: list[tuple[Cell, ...]]) -> list[tuple[Cell, ...]]:
    """Rows by the list's own date (the column after the person's), then child id."""
    return sorted(rows, key=lambda r: (str(r[len(PERSON)] or ""), str(r[0])))


def _child_in_need(
    child: str, record: ChildRecord, facts: Sequence[Fact], today: date
) -> tuple[Cell, ...] | None:
    """A child whose latest referral has no closure after it is a child in need today."""
    last = max((f.at for f in facts if f.kind == "referral"), default=None)
    if last is None or any(f.kind == "closed" and f.at >= last for f in facts):
        return None
    status = "Child Protection Plan" if record.open_plan is not None else "Child in Need"
    return (*_person(child, record, today), None, status, None, None, None)


def _plans(
    child: str,
    record: ChildRecord,
    facts: Sequence[Fact],
    since: datetime | None,
    at: datetime,
) -> list[tuple[Cell, ...]]:
    """Plans open at `at`, and plans that ended in the period."""
    rows: list[tuple[Cell, ...]] = []
    for start in (f for f in facts if f.kind == "cpp_started"):
        end = next((f for f in facts if f.kind == "cpp_ended" and f.ref == start.ref), None)
        if end is not None and since is not None and end.at < since:
            continue
        reviews = [f.at for f in facts if f.kind == "review" and f.ref == start.ref]
        latest = end.codes[0] if end is not None and end.codes else start.codes[0]
        rows.append(
            (
                *_person(child, record, _day(start.at)),
                _day(start.at),
                label("category", start.codes[0]),
                label("category", latest),
                _day(max(reviews)) if reviews else None,
                _day(end.at) if end is not None else None,
                int(start.note) if start.note.isdigit() else None,
                None,
                None,
            )
        )
    return rows


# ---- writing -----------------------------------------------------------------------------
def _text(cell: Cell) -> str:
    if cell is None:
        return ""
    if isinstance(cell, date):
        return cell.strftime("%d/%m/%Y")  # Annex A's dates are day/month/year
    return str(cell)


def to_csv(annex: AnnexList) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(annex.header)
    writer.writerows([_text(c) for c in row] for row in annex.rows)
    return buffer.getvalue()


def to_xlsx(lists: Sequence[AnnexList], created: datetime) -> bytes:
    """One workbook, a sheet per list; `created` (the report's instant) is its only date, so
    the same lists give the same bytes."""
    import xlsxwriter  # noqa: PLC0415 - only when a workbook is asked for

    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True})
    book.set_properties(
        {"title": "Annex A", "author": "mash", "created": created.replace(tzinfo=None)}
    )
    bold = book.add_format({"bold": True, "text_wrap": True, "valign": "top"})
    day = book.add_format({"num_format": "dd/mm/yyyy"})
    for annex in lists:
        sheet = book.add_worksheet(annex.sheet)
        for col, name in enumerate(annex.header):
            sheet.write_string(0, col, name, bold)
            sheet.set_column(col, col, max(12, min(40, len(name))))
        for r, row in enumerate(annex.rows, start=1):
            for col, cell in enumerate(row):
                if isinstance(cell, date):
                    sheet.write_datetime(r, col, datetime(cell.year, cell.month, cell.day), day)
                elif isinstance(cell, int):
                    sheet.write_number(r, col, cell)
                elif cell:
                    sheet.write_string(r, col, cell)
        sheet.freeze_panes(1, 0)
    book.close()
    return buffer.getvalue()


WORKBOOK = "annex-a.xlsx"


def write_annex_a(lists: Sequence[AnnexList], out: Path, created: datetime) -> list[Path]:
    """Every list as CSV plus the workbook, into folder `out` (made if missing)."""
    files = {a.file: to_csv(a).encode() for a in lists}
    files[WORKBOOK] = to_xlsx(lists, created)
    written: list[Path] = []
    try:
        out.mkdir(parents=True, exist_ok=True)
        for name, data in files.items():
            path = out / name
            path.write_bytes(data)
            written.append(path)
    except OSError as exc:
        raise AnnexAError(f"cannot write the Annex A lists to {out}: {exc.strerror}") from exc
    return written


def summary(lists: Sequence[AnnexList]) -> dict[str, Any]:
    return {a.sheet: len(a.rows) for a in lists}
