"""The board's report and a child's chronology in a real browser: they open from disk with no
console error, every chart rendered with its axis titles, and the pages link to each other.
Screenshots go to the artefact folder for a person to look at."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import SCENARIOS
from tests.e2e.test_cli import mash

AXIS_TITLES = ("month (London time)", "screening decisions", "referrals", "statutory clock",
               "met within timescale", "children on a plan at month end", "missing incidents")  # fmt: skip


@pytest.fixture(scope="module")
def replayed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """board-figures' HTML report, with its chronology pages, on the embedded default Redis."""
    where = tmp_path_factory.mktemp("report") / "board.html"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MASH_")}
    done = mash(
        "replay", str(SCENARIOS / "board-figures.yaml"), "--report", str(where), "-f", "html",
        "-q", env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return where


def test_the_report_opens_with_every_chart_drawn(
    page: Any, replayed: Path, screenshots: Path
) -> None:
    page.goto(replayed.as_uri())
    page.wait_for_load_state("load")
    charts = page.locator("figure svg")
    assert charts.count() == 7
    for i in range(charts.count()):
        box = charts.nth(i).bounding_box()
        assert box is not None and box["width"] > 200 and box["height"] > 150, i
    texts = [t.strip() for t in page.locator("figure svg text").all_text_contents()]
    for title in AXIS_TITLES:
        assert title in texts, title
    # Ticks a reader can use: more than the 0 and the peak of the hand-written charts.
    assert {"Jul 13", "Aug 13", "Mar 14"} <= set(texts)
    assert {"0%", "50%", "100%"} & set(texts)
    assert page.locator("td.rag-Green").count() >= 2
    page.screenshot(path=str(screenshots / "board-report.png"), full_page=True)
    page.locator("figure").first.screenshot(path=str(screenshots / "board-report-chart.png"))
    assert page.errors == []


def test_a_child_s_chronology_opens_from_the_report_and_back(
    page: Any, replayed: Path, screenshots: Path
) -> None:
    page.goto(replayed.as_uri())
    page.click('a[href="board-children/K2.html"]')
    page.wait_for_load_state("load")
    assert page.locator("h1").inner_text() == "Chronology of child K2"
    rows = page.locator("table.chronology tr")
    assert rows.count() > 15
    body = page.locator("table.chronology").inner_text()
    assert "Child protection plan started: PHY Physical abuse" in body
    assert "GMT" in body
    page.screenshot(path=str(screenshots / "chronology-K2.png"), full_page=True)
    page.click("text=Back to the report")
    page.wait_for_load_state("load")
    assert page.title() == "Safeguarding board report: board-figures"
    assert page.errors == []
