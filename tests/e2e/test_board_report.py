"""The report a board would publish, a child's chronology and Annex A, through the CLI.

Every figure below is board-figures.yaml's, counted by hand in tests/e2e/test_report.py; here
the point is what a person reads: words beside codes, charts that rendered, a page per child,
the lists an inspector asks for, and one line for each mistake.
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest

from tests.conftest import SCENARIOS
from tests.e2e.test_cli import mash, one_line_error, replay_into

BOARD = SCENARIOS / "board-figures.yaml"


def replay_html(where: Path, env: dict[str, str], *extra: str) -> Path:
    report = where / "board.html"
    done = mash("replay", str(BOARD), "--report", str(report), "-f", "html", "-q", *extra, env=env)
    assert done.returncode == 0, done.stderr
    return report


@pytest.fixture
def hub(redis_url: str, namespace: str, cli_env: dict[str, str]) -> list[str]:
    """board-figures replayed into the test's Redis: the arguments that reach its namespace."""
    replay_into(BOARD, redis_url, namespace, cli_env)
    return ["--redis-url", redis_url, "--namespace", namespace]


def test_the_html_report_has_words_charts_the_framework_and_a_page_per_child(
    tmp_path: Path, cli_env: dict[str, str]
) -> None:
    page = replay_html(tmp_path, cli_env).read_text()
    assert "2A Schools" in page and "3E Health services: A&amp;E" in page
    assert "RC7 services ceased for any other reason" in page
    assert "18C physical abuse (by an adult)" in page
    assert ">none<" not in page
    # matplotlib's charts, inline: seven of them, each with its axis titles, nothing fetched.
    assert page.count("<svg ") == 7
    for title in ("month (London time)", "screening decisions", "met within timescale",
                  "children on a plan at month end", "referrals"):  # fmt: skip
        assert f">{title}<" in page, title
    assert not re.search(r"""(src|href)=["']https?:""", page)
    # The performance framework: NI 67 (reviews in time) is 1 of 1, above target and national.
    row = re.search(r"<tr><td>NI 67</td>.*?</tr>", page)
    assert row is not None
    assert "100% (1/1)" in row.group() and row.group().count("rag-Green") == 2
    # A page per child the report lists, linked from the decision list.
    for child in ("K1", "K2", "K4", "K5", "K6"):
        assert f'href="board-children/{child}.html"' in page
        chronology = (tmp_path / "board-children" / f"{child}.html").read_text()
        assert f"Chronology of child {child}" in chronology
        assert 'href="../board.html"' in chronology
    k2 = (tmp_path / "board-children" / "K2.html").read_text()
    for said in (
        "Contact from 3E Health services: A&amp;E",
        "Strategy discussion: section 47",
        "Child protection plan started: PHY Physical abuse",
        "Clock met: ICPC within",
    ):
        assert said in k2, said  # fmt: skip


def test_the_html_report_and_its_pages_are_the_same_bytes_with_workers(
    tmp_path: Path, cli_env: dict[str, str]
) -> None:
    for name in ("one", "two"):
        (tmp_path / name).mkdir()
    one = replay_html(tmp_path / "one", cli_env)
    two = replay_html(tmp_path / "two", cli_env, "--workers", "2")
    assert one.read_bytes() == two.read_bytes()
    for page in (one.parent / "board-children").iterdir():
        assert page.read_bytes() == (two.parent / "board-children" / page.name).read_bytes()


def test_mash_child_tells_one_childs_story(hub: list[str], cli_env: dict[str, str]) -> None:
    shown = mash("child", "K2", *hub, env=cli_env)
    assert shown.returncode == 0, shown.stderr
    text = shown.stdout
    assert text.startswith("Chronology of child K2")
    assert "2013-11-12 09:00 GMT  contact" in text
    assert "reason " in text  # the decision's descriptors
    assert "Initial child protection conference: plan required" in text
    assert "deadline " in text
    assert "K2" not in shown.stderr  # nothing about the child goes to the logs
    as_json = mash("child", "K2", *hub, "--json", env=cli_env)
    data = json.loads(as_json.stdout)
    assert data["child"] == "K2"
    kinds = [e["kind"] for e in data["entries"]]
    assert kinds[0] == "contact" and "plan" in kinds and "clock met" in kinds
    assert all(e["at_london"].endswith((" GMT", " BST")) for e in data["entries"])
    assert [e["at"] for e in data["entries"]] == sorted(e["at"] for e in data["entries"])


def test_mash_child_writes_a_page(hub: list[str], tmp_path: Path, cli_env: dict[str, str]) -> None:
    out = tmp_path / "k3.html"
    done = mash("child", "K3", *hub, "--out", str(out), env=cli_env)
    assert done.returncode == 0, done.stderr
    page = out.read_text()
    assert "Chronology of child K3" in page and "CSE flag: no risk → medium" in page


def test_mash_child_mistakes_are_one_line(
    hub: list[str], tmp_path: Path, cli_env: dict[str, str]
) -> None:
    unknown = one_line_error(mash("child", "K9", *hub, env=cli_env))
    assert "'K9'" in unknown and hub[3] in unknown
    unwritable = one_line_error(
        mash("child", "K2", *hub, "--out", str(tmp_path / "no" / "k2.html"), env=cli_env)
    )
    assert "cannot write" in unwritable and "no/k2.html" in unwritable
    no_redis = {k: v for k, v in cli_env.items() if k != "MASH_REDIS_URL"}
    assert "--redis-url" in one_line_error(mash("child", "K2", env=no_redis))


def test_annex_a_lists_as_csv_and_one_workbook(
    hub: list[str], tmp_path: Path, cli_env: dict[str, str]
) -> None:
    import openpyxl

    out = tmp_path / "annex"
    done = mash("report", *hub, "--format", "annex-a", "--out", str(out), env=cli_env)
    assert done.returncode == 0, done.stderr
    names = sorted(p.name for p in out.iterdir())
    assert names == [
        "annex-a.xlsx",
        "list-1-contacts.csv",
        "list-2-early-help.csv",
        "list-3-referrals.csv",
        "list-4-assessments.csv",
        "list-5-section-47.csv",
        "list-6-children-in-need.csv",
        "list-7-child-protection.csv",
    ]

    def rows(name: str) -> list[dict[str, str]]:
        with (out / name).open(newline="") as f:
            return list(csv.DictReader(f))

    contacts = rows("list-1-contacts.csv")
    assert len(contacts) == 7  # seven children named, one row per child per contact
    k2 = next(r for r in contacts if r["Child Unique ID"] == "K2")
    assert k2["Date of Contact"] == "12/11/2013"
    assert k2["Contact Source"] == "3E Health services: A&E"
    assert k2["Gender"] == "Male" and k2["Ethnicity"] == "MWBC" and k2["Date of Birth"]
    assert len(rows("list-2-early-help.csv")) == 1
    referrals = rows("list-3-referrals.csv")
    assert len(referrals) == 5
    k1 = [r for r in referrals if r["Child Unique ID"] == "K1"]
    assert [r["Number of Referrals in Last 12 Months"] for r in k1] == ["1", "2"]
    assert len(rows("list-4-assessments.csv")) == 2
    (s47,) = rows("list-5-section-47.csv")
    assert (
        s47["Did the Initial Child Protection Conference Result in a Child Protection Plan"]
        == "Yes"
    )
    (plan,) = rows("list-7-child-protection.csv")
    assert plan["Initial Category of Abuse"] == "PHY Physical abuse"
    assert plan["Child Protection Plan Start Date"] == "28/11/2013"
    assert plan["Date of latest review conference"] == "20/02/2014"
    book = openpyxl.load_workbook(out / "annex-a.xlsx")
    assert book.sheetnames[0] == "List 1 Contacts" and len(book.sheetnames) == 7
    header = [c.value for c in next(book["List 3 Referrals"].iter_rows(max_row=1))]
    assert header == list(referrals[0])
    again = tmp_path / "again"
    mash("report", *hub, "--format", "annex-a", "--out", str(again), env=cli_env)
    for name in names:  # the same run, the same bytes: the workbook included
        assert (again / name).read_bytes() == (out / name).read_bytes(), name


def test_report_mistakes_are_one_line_each(
    hub: list[str], tmp_path: Path, cli_env: dict[str, str]
) -> None:
    no_out = one_line_error(mash("report", *hub, "--format", "annex-a", env=cli_env))
    assert "--out" in no_out
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    not_a_folder = one_line_error(
        mash("report", *hub, "--format", "annex-a", "--out", str(a_file), env=cli_env)
    )
    assert str(a_file) in not_a_folder
    under_a_file = one_line_error(
        mash("report", *hub, "--format", "annex-a", "--out", str(a_file / "sub"), env=cli_env)
    )
    assert "cannot write the Annex A lists" in under_a_file
    bad_format = one_line_error(mash("report", *hub, "--format", "pdf", env=cli_env))
    assert "'pdf'" in bad_format and "annex-a" in bad_format
    bench = tmp_path / "bench.yaml"
    bench.write_text("name: ours\nindicators:\n  - id: NI 59\n    definition: x\n    good_is: hi\n")
    bad_bench = one_line_error(mash("report", *hub, "--benchmarks", str(bench), env=cli_env))
    assert bad_bench.startswith(f"error: {bench}:5: indicators[0].good_is:")
    missing = one_line_error(
        mash("replay", str(BOARD), "--benchmarks", str(tmp_path / "none.yaml"), env=cli_env)
    )
    assert "none.yaml" in missing
    replay_annex = one_line_error(mash("replay", str(BOARD), "--format", "annex-a", env=cli_env))
    assert "mash report --format annex-a --out DIR" in replay_annex


def test_a_council_swaps_the_benchmarks(
    hub: list[str], tmp_path: Path, cli_env: dict[str, str]
) -> None:
    bench = tmp_path / "ours.yaml"
    bench.write_text(
        "name: Our borough 2014-15\nperiod: 2014/15\nlast_period: 2013/14\nindicators:\n"
        "  - {id: NI 67, definition: CP cases reviewed in time, good_is: high,\n"
        "     statistical_neighbours: 95, national: 96, target: 100, last_year: 99.6}\n"
    )
    shown = mash("report", *hub, "--benchmarks", str(bench), env=cli_env)
    assert shown.returncode == 0, shown.stderr
    assert "Our borough 2014-15" in shown.stdout and "NI 59" not in shown.stdout
    row = next(line for line in shown.stdout.splitlines() if line.startswith("| NI 67 |"))
    assert "| 100% (1/1) |" in row and "↑ improving" in row and "| Green | Green |" in row
