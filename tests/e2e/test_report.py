"""The reporter through its public faces: replay reports, `mash report`, every format.

The board-figures scenario's answers below were counted by hand from its events (see the
comments in scenarios/board-figures.yaml), not copied from a run.
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
import time
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import pytest
import redis.asyncio as aioredis

from mash._config.settings import Settings
from mash._replay.driver import ReplayResult, replay, replay_generated
from mash._report.board import board_figures
from mash._report.report import render
from mash._runtime.keys import Keys
from mash._scenarios.generated import open_generated
from mash._scenarios.scenario import load_scenario
from tests.conftest import SCENARIOS
from tests.e2e.test_cli import mash, one_line_error, replay_into
from tests.generated import generated_year

CLOCKS_ZERO = {"breached": 0, "cancelled": 0, "stopped_late": 0, "out_of_timescale": 0}


def clock(started: int, met: int, **rest: int) -> dict[str, int]:
    row = {**CLOCKS_ZERO, "started": started, "met": met, **rest}
    decided = row["met"] + row["breached"]
    row["open"] = started - met - row["stopped_late"] - row["cancelled"]
    row["percent_met"] = round(100 * met / decided) if decided else None  # a dash, not 100
    return row


HAND_COUNTED: dict[str, Any] = {
    "contacts": {
        "total": 6,
        "children_named": 7,
        "multi_child": 1,
        # k1-c1, k1-c2 (K1) and k45-c1 (K4, K5) name domestic abuse (3B).
        "domestic_abuse": {"contacts": 3, "children": 4},
        "by_source": {"2A": 1, "3A": 1, "3E": 1, "6": 2, "9": 1},
    },
    "decisions": {
        "total": 7,
        "by_outcome": {
            "early_help": 1,
            "nfa": 1,
            "section17_assessment": 4,
            "strategy_discussion": 1,
        },
        "by_level": {"1": 1, "2": 1, "3": 4, "4": 1},
        "by_rag": {"amber": 4, "green": 2, "red": 1},
        "by_decided_by": {"rules": 7},
    },
    "referrals": {"total": 5, "re_referrals_12m": 1, "re_referral_percent": 20.0},
    "clocks": {
        "by_clock": {
            "assessment": clock(4, 1, breached=1, out_of_timescale=1),
            "assessment_dfe": clock(2, 2),
            "core_group": clock(1, 1),
            "first_review": clock(1, 1),
            "icpc": clock(1, 1),
            "icpc_dfe": clock(1, 1),
            "later_review": clock(1, 0),
            "referral_decision": clock(7, 7),
            "referral_decision_rag": clock(7, 7),
            "return_home_interview": clock(3, 1, breached=2, stopped_late=1, out_of_timescale=1),
            "strategy_discussion": clock(1, 1),
        },
        # Met and breached by the month they happened in, from the scenario's start: here all.
        "in_period": {
            "assessment": {"met": 1, "breached": 1},
            "assessment_dfe": {"met": 2, "breached": 0},
            "core_group": {"met": 1, "breached": 0},
            "first_review": {"met": 1, "breached": 0},
            "icpc": {"met": 1, "breached": 0},
            "icpc_dfe": {"met": 1, "breached": 0},
            "referral_decision": {"met": 7, "breached": 0},
            "referral_decision_rag": {"met": 7, "breached": 0},
            "return_home_interview": {"met": 1, "breached": 2},
            "strategy_discussion": {"met": 1, "breached": 0},
        },
    },
    "assessments": {
        "started": 2,
        "completed": 2,
        "by_outcome": {"cin_plan": 1, "strategy": 1},
        "by_factor": {"16A": 1, "18C": 1, "3B": 1},
    },
    "child_protection": {
        "strategy_discussions": 1,
        "s47_started": 1,
        "s47_completed": 1,
        "s47_rate_per_10k": 10.0,
        "icpcs": 1,
        "icpcs_plan_required": 1,
        "plans_started": 1,
        "plans_started_in_period": 1,  # K2's, after the scenario's start
        "plans_started_repeat_in_period": 0,  # K2's first plan
        "plans_ended": 0,
        # For NI 64 and NI 65: K2's plan is its first and has not ended.
        "plans_ended_in_period": 0,
        "plans_ended_2y_plus_in_period": 0,
        "plans_ended_2y_or_more": 0,
        "plans_started_by_category": {"PHY": 1},
        "reviews": 1,
    },
    "cp_plans_now": {
        "total": 1,
        "rate_per_10k": 10.0,
        "by_category": {"NEG": 0, "PHY": 1, "EMO": 0, "SAB": 0, "MUL": 0},
        "by_category_percent": {"NEG": 0.0, "PHY": 100.0, "EMO": 0.0, "SAB": 0.0, "MUL": 0.0},
        "by_sex": {"M": 1},
        "by_age_band": {"under 1": 1},
    },
    "missing": {
        "incidents": 3,
        "children": 1,
        "children_3_or_more": 1,
        "returns": 3,
        "open_now": 0,
        "interviews_offered": 2,
        "interviews_done": 2,
        "interviews_within_72h": 1,
        "children_by_episodes": {"3": 1},
    },
    "cse": {
        "flags_by_level": {"medium": 1, "none": 1},
        "children_by_level_now": {},
        "indicators_by_level": {"medium": {"missing_repeat": 1}},
        "indicators_behind_high_flags": {},
    },
    "closures": {"total": 1, "by_reason": {"RC7": 1}},
    "dead_letters": {"total": 0, "by_reason": {}, "by_consumer": {}},
    # Every month of the period is on the axis, August and October (nothing in them) too.
    "series": {
        "months": [
            "2013-07",
            "2013-08",
            "2013-09",
            "2013-10",
            "2013-11",
            "2013-12",
            "2014-01",
            "2014-02",
            "2014-03",
        ],
        "contacts": [2, 0, 1, 0, 1, 0, 1, 0, 1],
        "decisions_by_outcome": {
            "early_help": [1, 0, 0, 0, 0, 0, 0, 0, 0],
            "nfa": [1, 0, 0, 0, 0, 0, 0, 0, 0],
            "section17_assessment": [0, 0, 1, 0, 0, 0, 1, 0, 2],
            "strategy_discussion": [0, 0, 0, 0, 1, 0, 0, 0, 0],
        },
        # K1's referrals in September and January (the re-referral), K2's strategy discussion
        # in November, K4's and K5's household contact in March.
        "referrals": [0, 0, 1, 0, 1, 0, 1, 0, 2],
        "re_referrals": [0, 0, 0, 0, 0, 0, 1, 0, 0],
        "s47_started": [0, 0, 0, 0, 1, 0, 0, 0, 0],
        "missing_incidents": [0, 0, 0, 0, 0, 1, 1, 1, 0],
        "clock_breaches": [0, 0, 0, 0, 0, 0, 1, 1, 1],
        # K2's physical-abuse plan from November to the end.
        "cp_plans_open_by_category": {
            "NEG": [0] * 9,
            "PHY": [0, 0, 0, 0, 1, 1, 1, 1, 1],
            "EMO": [0] * 9,
            "SAB": [0] * 9,
            "MUL": [0] * 9,
        },
    },
}


@pytest.fixture
def board(settings: Settings) -> ReplayResult:
    return asyncio.run(replay(load_scenario(SCENARIOS / "board-figures.yaml"), settings))


def test_every_table_matches_the_hand_count(board: ReplayResult) -> None:
    assert board.ok, [c for c in board.checks if not c.passed]
    report = board.report
    assert report["as_of"] == "2014-03-31T22:00:00+00:00"
    assert report["population"] == 1000
    for section, expected in HAND_COUNTED.items():
        got = dict(report[section])
        if section == "decisions":
            got.pop("list")
        if section == "clocks":
            got.pop("breaches")
        if section == "series":
            # Met and breached by month: each clock's months add up to its totals.
            met, breached = got.pop("clocks_met"), got.pop("clocks_breached")
            for name, row in report["clocks"]["by_clock"].items():
                assert sum(met.get(name, [])) == row["met"], name
                assert sum(breached.get(name, [])) == row["breached"], name
        assert got == expected, section


def test_the_census_return_of_the_hand_counted_year(board: ReplayResult) -> None:
    root = ET.fromstring(board.census.xml.split("\n", 1)[1])
    assert root.findtext("Header/CollectionDetails/ReferenceDate") == "2014-03-31"
    children = {c.findtext("ChildIdentifiers/LAchildID"): c for c in root.iter("Child")}
    # K3 only went missing and K6 never became a referral: neither is a child in need.
    assert sorted(children) == ["K1", "K2", "K4", "K5"]
    k1 = children["K1"].findall("CINdetails")
    assert [e.findtext("CINreferralDate") for e in k1] == ["2013-09-02", "2014-01-06"]
    assert [e.findtext("ReferralSource") for e in k1] == ["2A", "6"]
    assert k1[0].findtext("ReasonForClosure") == "RC7"
    assert k1[0].findtext("CINPlanDates/CINPlanEndDate") == "2013-11-04"
    factors = [f.text for f in k1[0].iter("AssessmentFactors")]
    assert factors == ["3B", "16A"]
    k2 = children["K2"].find("CINdetails")
    assert k2 is not None
    # The plan starts at its conference (DfE rule 2885), and 18A is reported as 18C.
    assert k2.findtext("Section47/DateOfInitialCPC") == "2013-11-28"
    assert k2.findtext("Section47/InitialCPCtarget") == "2013-12-03"
    assert k2.findtext("ChildProtectionPlans/CPPstartDate") == "2013-11-28"
    assert [r.text for r in k2.iter("CPPreviewDate")] == ["2014-02-20"]
    assert [f.text for f in k2.iter("AssessmentFactors")] == ["18C"]
    assert children["K2"].findtext("ChildIdentifiers/UPNunknown") == "UN1"
    assert re.fullmatch(r"[A-Z]372\d{9}", children["K1"].findtext("ChildIdentifiers/UPN") or "")
    assert children["K1"].findtext("ChildCharacteristics/Ethnicity") == "WBRI"
    assert children["K4"].findtext("ChildCharacteristics/Ethnicity") == "NOBT"
    assert board.census.children == 4
    assert board.census.episodes == 5


class _Html(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        for name, value in attrs:
            if name in {"src", "href"} and value:
                self.urls.append(value)


def test_the_html_report_opens_offline_with_its_charts(board: ReplayResult) -> None:
    page = render(board.report, "html")
    parser = _Html()
    parser.feed(page)
    assert parser.tags.count("svg") == 7  # matplotlib's, inline
    assert parser.tags.count("path") > 50  # bars, axes and ticks were drawn
    assert "script" not in parser.tags and "link" not in parser.tags and "img" not in parser.tags
    assert parser.urls == []  # nothing to fetch: no network needed to open it
    namespaces = ("www.w3.org/2000/svg", "www.w3.org/1999/xlink")  # names, never fetched
    external = [u for u in re.findall(r"https?://[^\"' ]+", page) if not u.endswith(namespaces)]
    assert external == []
    assert "Children on a CP plan at 2014-03-31" in page


def test_markdown_and_json_carry_the_same_figures(board: ReplayResult) -> None:
    md = render(board.report, "md")
    data = json.loads(render(board.report, "json"))
    assert data["missing"] == HAND_COUNTED["missing"]
    assert (
        "| return home interview within 72 hours (return_home_interview) | 3 | 1 | 2 | 1 | 0 "
        "| 1 | 1 | 33 |"
    ) in md
    assert "| under 1 | 1 |" in md


def test_a_report_mid_replay_comes_from_the_live_tallies(
    settings: Settings, tmp_path: Path
) -> None:
    """Ask for the board's figures over and over while a generated year is replaying (in
    small steps, so that there is a middle to catch)."""
    year = generated_year(tmp_path, scale=0.3, seed=3)
    with open_generated(year) as (header, _events):
        end = header.end

    async def run() -> tuple[list[tuple[float, dict[str, Any]]], ReplayResult]:
        task = asyncio.create_task(replay_generated(year, settings, step_events=100))
        client = aioredis.Redis.from_url(settings.redis_url.get_secret_value())
        keys = Keys(settings.namespace)
        seen: list[tuple[float, dict[str, Any]]] = []
        try:
            while not task.done():
                began = time.perf_counter()
                figures = await board_figures(client, keys, end)
                seen.append((time.perf_counter() - began, figures))
                await asyncio.sleep(0.01)
            return seen, await task
        finally:
            await client.aclose()

    seen, result = asyncio.run(run())
    final = result.report["contacts"]["total"]
    partial = [f["contacts"]["total"] for _, f in seen if 0 < f["contacts"]["total"] < final]
    assert partial, "no report was taken while the replay was half way"
    assert partial == sorted(partial)  # the figures only grow as the year is replayed
    assert all(latency < 1.0 for latency, _ in seen)


def test_mash_report_reads_a_finished_run_and_matches_its_replay(
    tmp_path: Path, redis_url: str, namespace: str, cli_env: dict[str, str]
) -> None:
    replay_file = tmp_path / "replay.json"
    result = mash(
        "replay",
        str(SCENARIOS / "board-figures.yaml"),
        "--redis-url",
        redis_url,
        "--namespace",
        namespace,
        "--report",
        str(replay_file),
        "-f",
        "json",
        "-q",
        env=cli_env,
    )
    assert result.returncode == 0, result.stderr
    replayed = json.loads(replay_file.read_text())
    live = mash(
        "report", "--redis-url", redis_url, "--namespace", namespace, "-f", "json", env=cli_env
    )
    assert live.returncode == 0, live.stderr
    report = json.loads(live.stdout)
    for section in ("contacts", "referrals", "cp_plans_now", "missing", "cse", "series"):
        assert report[section] == replayed[section], section
    assert report["scenario"] == "board-figures"
    # Earlier instants are asked for by --at: ages are taken on that date.
    earlier = mash(
        "report",
        "--redis-url",
        redis_url,
        "--namespace",
        namespace,
        "-f",
        "json",
        "--at",
        "2013-12-01T00:00:00+00:00",
        env=cli_env,
    )
    assert json.loads(earlier.stdout)["as_of"] == "2013-12-01T00:00:00+00:00"
    # Asked from another shell while a run goes, the report starts no more than it needs:
    # not the holiday tables, a progress bar, another format's writer or a scenario's checks.
    unneeded = (
        "holidays",
        "rich.progress",
        "mash._report.annex_a",
        "mash._report.cin",
        "mash._report.chronology",
        "mash._scenarios.expectations",
        "mash._scenarios.scenario",
    )
    # And what it imported is frozen, out of the cyclic collector's sight, with the
    # collector back on for the command itself.
    probe = (
        "import atexit, gc, json, sys\n"
        f"unneeded = {unneeded!r}\n"
        "atexit.register(lambda: print(json.dumps({'unneeded': sorted(m for m in unneeded "
        "if m in sys.modules), 'frozen': gc.get_freeze_count(), 'collecting': gc.isenabled()}),"
        " file=sys.stderr))\n"
        f"sys.argv = ['mash', 'report', '--redis-url', {redis_url!r}, '-n', {namespace!r}]\n"
        "from mash._entry import main\n"
        "main()\n"
    )
    started = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, env=cli_env, timeout=120
    )
    assert started.returncode == 0, started.stderr
    assert "## Child protection" in started.stdout
    at_exit = json.loads(started.stderr.strip().splitlines()[-1])
    assert at_exit["unneeded"] == []
    assert at_exit["frozen"] > 50_000  # the CLI's modules: about 95,000 objects
    assert at_exit["collecting"]
    for fmt, marker in (("md", "## Child protection"), ("html", "<svg"), ("cin-xml", "<Message>")):
        out = tmp_path / f"live.{fmt}"
        shown = mash(
            "report",
            "--redis-url",
            redis_url,
            "--namespace",
            namespace,
            "-f",
            fmt,
            "--out",
            str(out),
            env=cli_env,
        )
        assert shown.returncode == 0, shown.stderr
        assert marker in out.read_text()


def test_report_mistakes_are_one_line(
    redis_url: str, namespace: str, cli_env: dict[str, str]
) -> None:
    assert "--redis-url" in one_line_error(mash("report", env=cli_env))
    empty = one_line_error(mash("report", "--redis-url", redis_url, "-n", namespace, env=cli_env))
    assert "nothing to report" in empty
    replay_into(SCENARIOS / "domestic-abuse-household.yaml", redis_url, namespace, cli_env)
    bad_at = mash("report", "--redis-url", redis_url, "-n", namespace, "--at", "soon", env=cli_env)
    assert "--at 'soon'" in one_line_error(bad_at)
    naive = mash(
        "report", "--redis-url", redis_url, "-n", namespace, "--at", "2014-01-01T00:00", env=cli_env
    )
    assert "UTC offset" in one_line_error(naive)
    bad_lea = mash("report", "--redis-url", redis_url, "-n", namespace, "--lea", "X1", env=cli_env)
    assert "three digits" in one_line_error(bad_lea)


def test_replay_writes_html_and_the_census_on_the_embedded_default(
    tmp_path: Path, cli_env: dict[str, str]
) -> None:
    for fmt, marker in (("html", "<svg"), ("cin-xml", "<LAchildID>G</LAchildID>")):
        out = tmp_path / f"gemma.{fmt}"
        result = mash(
            "replay",
            str(SCENARIOS / "gemma.yaml"),
            "--report",
            str(out),
            "-f",
            fmt,
            "-q",
            env=cli_env,
        )
        assert result.returncode == 0, result.stderr
        assert marker in out.read_text()
    # Another census year on request: her plan, still open, carries her into 2014-15's return.
    out = tmp_path / "gemma-2015.xml"
    result = mash(
        "replay",
        str(SCENARIOS / "gemma.yaml"),
        "--report",
        str(out),
        "-f",
        "cin-xml",
        "--census-year",
        "2015",
        "-q",
        env=cli_env,
    )
    assert result.returncode == 0, result.stderr
    text = out.read_text()
    assert "<ReferenceDate>2015-03-31</ReferenceDate>" in text
    assert "<LAchildID>G</LAchildID>" in text


def _without_replay_sections(report: dict[str, Any]) -> dict[str, Any]:
    """A replay's report less what only a replay knows (each decision and breach listed, the
    expectations, what it published)."""
    trimmed = json.loads(json.dumps(report))
    trimmed["decisions"].pop("list", None)
    trimmed["clocks"].pop("breaches", None)
    for name in ("expectations", "events_published"):
        trimmed.pop(name, None)
    return trimmed


@pytest.mark.parametrize("scenario", ["board-figures.yaml", "gemma.yaml"])
def test_a_scenario_published_into_a_running_worker_reports_as_its_replay(
    tmp_path: Path, redis_url: str, cli_env: dict[str, str], scenario: str
) -> None:
    """Live mode on event time: `mash publish` sends the file's watermarks with its events, so
    a worker's clocks run on the file's time, and the report is the replay's, figure for
    figure."""
    import subprocess
    import sys
    import uuid

    from tests.conftest import ROOT

    namespace = f"live{uuid.uuid4().hex[:8]}"
    env = {**cli_env, "MASH_REDIS_URL": redis_url}
    worker = subprocess.Popen(
        [sys.executable, "-m", "mash", "worker", "-n", namespace, "--clock", "event"],
        env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    end = load_scenario(SCENARIOS / scenario).end
    try:
        published = mash("publish", str(SCENARIOS / scenario), "-n", namespace, env=env)
        assert published.returncode == 0, published.stderr
        deadline = time.monotonic() + 60
        while True:
            live = mash("report", "-n", namespace, "-f", "json", env=env)
            assert live.returncode == 0, live.stderr
            report = json.loads(live.stdout)
            if report["as_of"] == end.isoformat():
                break
            assert time.monotonic() < deadline, report["as_of"]
            time.sleep(0.2)
    finally:
        worker.terminate()
        _, err = worker.communicate(timeout=30)
    assert "Traceback" not in err
    out = tmp_path / "replay.json"
    replayed = mash(
        "replay", str(SCENARIOS / scenario), "-f", "json", "--report", str(out), "-q", env=cli_env
    )
    assert replayed.returncode == 0, replayed.stderr
    assert report == _without_replay_sections(json.loads(out.read_text()))
