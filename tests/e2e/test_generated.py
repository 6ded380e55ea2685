"""Generated years through the public interface: `mash generate`, `mash replay`, `mash publish`.

The calibration test is the issue's "done": the 2013-14 preset, replayed through real Redis and
all four consumers, reproduces the seeds' figures within 10%. The figures it checks are typed
here from the seeds (domain §6), not read from the file, so a generator that wrote its own
answers into the header could not pass.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mash._config.settings import Settings
from mash._generator.generate import BOROUGH_2013_14, Generator
from mash._replay.driver import replay_generated
from mash._scenarios.generated import open_generated
from tests.e2e.test_cli import mash, one_line_error

# The seeds' figures (LSCB annual report 2013-14, sections in brackets).
SEEDS: dict[str, float] = {
    "cp_plans_now.total": 388,  # 3.4
    "cp_plans_now.rate_per_10k": 70,  # 5.6
    "cp_plans_now.by_category.EMO": 73,  # 3.4
    "cp_plans_now.by_category.NEG": 143,
    "cp_plans_now.by_category.PHY": 20,
    "cp_plans_now.by_category.SAB": 28,
    "cp_plans_now.by_category.MUL": 124,
    "child_protection.s47_rate_per_10k": 110,  # 5.6
    "child_protection.plans_started_in_period": 406,  # NI 65
    "child_protection.plans_ended": 351,  # NI 64
    "missing.incidents": 416,  # 5.2.4
    "missing.children": 131,
    "missing.interviews_offered": 378,  # SAFE@LAST referrals
    "missing.interviews_done": 74,  # young people engaged in a return interview
    "contacts.domestic_abuse.contacts": 328,  # MARAC cases with children, 5.7
    "contacts.domestic_abuse.children": 518,
    # The performance table (§4.6, Figure 1) and England's re-referral rate (SFR43/2014).
    "indicators.NI 59.value": 56.1,
    "indicators.NI 60.value": 61.0,
    "indicators.NI 61.value": 67.6,
    "indicators.NI 62.value": 11.1,
    "indicators.NI 63.value": 67.9,
    "indicators.NI 66.value": 98.6,
    "indicators.NI 64.value": 6.8,
    "indicators.NI 65.value": 11.3,
    "indicators.NI 67.value": 99.6,
    "indicators.re_referrals.value": 23.4,
}


def at(report: dict[str, Any], path: str) -> Any:
    node: Any = report
    for part in path.split("."):
        node = node[part]
    return node


def test_the_2013_14_preset_replays_to_the_seeds_figures_within_10_percent(
    tmp_path: Path, redis_url: str, namespace: str, cli_env: dict[str, str]
) -> None:
    year = tmp_path / "borough.jsonl.gz"
    made = mash(
        "generate",
        "--preset",
        "borough-2013-14",
        "--seed",
        "11",
        "--out",
        str(year),
        "--json",
        env=cli_env,
    )
    assert made.returncode == 0, made.stderr
    assert json.loads(made.stdout)["events"] > 15_000
    report_path = tmp_path / "report.json"
    result = mash(
        "replay",
        str(year),
        "--report",
        str(report_path),
        "--format",
        "json",
        "--redis-url",
        redis_url,
        "--namespace",
        namespace,
        env=cli_env,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(report_path.read_text(encoding="utf-8"))
    off = {
        path: (at(report, path), want)
        for path, want in SEEDS.items()
        if abs(at(report, path) - want) > 0.10 * want
    }
    assert not off, off
    # The heavy tail: most children go missing once, a few a dozen times or more.
    by_episodes = {int(k): v for k, v in report["missing"]["children_by_episodes"].items()}
    assert by_episodes[1] > 131 / 3
    assert max(by_episodes) >= 10
    # Every referral source of the census appears, the police most of all.
    sources = report["contacts"]["by_source"]
    assert len(sources) >= 15
    assert max(sources, key=sources.get) == "6"
    # Nothing the generator wrote was refused, and the file's own checks all held.
    assert report["dead_letters"]["total"] == 0
    assert report["expectations"]["failed"] == []
    assert report["expectations"]["total"] >= len(SEEDS)


def test_publish_streams_a_generated_file_into_a_namespace(
    tmp_path: Path, redis_url: str, namespace: str, cli_env: dict[str, str]
) -> None:
    path = tmp_path / "year.jsonl"
    made = Generator(BOROUGH_2013_14, seed=2, scale=0.02).write(path)
    result = mash(
        "publish", str(path), "--redis-url", redis_url, "--namespace", namespace, env=cli_env
    )
    assert result.returncode == 0, result.stderr
    assert f"published {made.events} events" in result.stdout


def test_the_same_command_writes_the_same_bytes(tmp_path: Path, cli_env: dict[str, str]) -> None:
    one, two = tmp_path / "one.jsonl", tmp_path / "two.jsonl"
    for path in (one, two):
        args = ("generate", "--seed", "4", "--scale", "0.05", "--out", str(path))
        assert mash(*args, env=cli_env).returncode == 0
    assert one.read_bytes() == two.read_bytes()


def test_more_jobs_write_the_same_bytes(tmp_path: Path, cli_env: dict[str, str]) -> None:
    """`--jobs` tells the stories in several processes; the year does not change."""
    files = []
    for jobs in ("1", "2"):
        path = tmp_path / f"jobs{jobs}.jsonl.gz"
        args = ("generate", "--seed", "4", "--scale", "0.2", "--jobs", jobs, "--out", str(path))
        made = mash(*args, "--json", env=cli_env)
        assert made.returncode == 0, made.stderr
        assert json.loads(made.stdout)["events"] > 4_000
        files.append(path.read_bytes())
    assert files[0] == files[1]


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("--preset", "borough-1999"), "unknown preset 'borough-1999'"),
        (("--scale", "0"), "--scale must be above 0"),
        (("--jobs", "0"), "--jobs must be from 1 to 64, got 0"),
        (("--out", "year.csv"), "name it .jsonl or .jsonl.gz"),
        (("--out", "/no/such/dir/year.jsonl"), "no directory /no/such/dir"),
    ],
)
def test_generate_mistakes_are_one_line(
    args: tuple[str, ...], says: str, tmp_path: Path, cli_env: dict[str, str]
) -> None:
    full = ["generate", "--out", str(tmp_path / "y.jsonl"), *args]
    assert says in one_line_error(mash(*full, env=cli_env))


def test_a_broken_generated_file_is_one_line_naming_the_line(
    tmp_path: Path, redis_url: str, namespace: str, cli_env: dict[str, str]
) -> None:
    path = tmp_path / "year.jsonl"
    Generator(BOROUGH_2013_14, seed=2, scale=0.02).write(path)
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    lines[3] = lines[3].replace('"type":"', '"type":"x', 1)
    path.write_text("".join(lines), encoding="utf-8")
    result = mash(
        "replay", str(path), "--redis-url", redis_url, "--namespace", namespace, env=cli_env
    )
    line = one_line_error(result)
    assert f"{path}:4:" in line


def _year_with_returns(base: Path, out: Path) -> Path:
    """A generated year where children come back and CSE risk rises and falls: every tenth
    child with a contact is contacted again, found with adults while missing, and again."""
    from datetime import timedelta

    from mash.schemas.events import ContactReceived, parse_event_data

    with open_generated(base) as (header, events):
        read = list(events)
    extra: list[Any] = []
    contacts = [e for e in read if isinstance(e, ContactReceived)][::10]
    for n, first in enumerate(contacts[:60]):
        child = first.children[0]
        at = first.occurred_at + timedelta(days=20)
        if at > header.end - timedelta(days=5):
            continue
        details = child.model_dump(mode="json")
        common = {"recorded_at": at.isoformat(), "child_id": child.child_id}
        extra += [
            parse_event_data(
                {
                    **common,
                    "event_id": f"back.m{n}",
                    "type": "missing.started",
                    "occurred_at": at.isoformat(),
                    "agency": "police",
                    "missing_id": f"back-{n}",
                }
            ),
            parse_event_data(
                {
                    **common,
                    "event_id": f"back.r{n}",
                    "type": "missing.returned",
                    "occurred_at": (at + timedelta(hours=9)).isoformat(),
                    "agency": "police",
                    "missing_id": f"back-{n}",
                    "with_adults": True,
                }
            ),
            parse_event_data(
                {
                    **common,
                    "event_id": f"back.c{n}",
                    "type": "contact.received",
                    "occurred_at": (at + timedelta(days=2)).isoformat(),
                    "agency": "school",
                    "referral_source": "2A",
                    "children": [details],
                    "concerns": ["17A"],
                }
            ),
        ]
    merged = sorted([*read, *extra], key=lambda e: e.occurred_at)
    with base.open() as handle:
        head = json.loads(handle.readline())
    head["expect"] = []
    with out.open("w") as handle:
        handle.write(json.dumps(head) + "\n")
        for event in merged:
            handle.write(event.model_dump_json() + "\n")
    return out


async def test_a_year_replayed_one_instant_at_a_time_equals_it_in_big_steps(
    tmp_path: Path, settings: Settings
) -> None:
    from mash._report.report import to_json

    base = tmp_path / "base.jsonl"
    Generator(BOROUGH_2013_14, seed=11, scale=0.05).write(base)
    year = _year_with_returns(base, tmp_path / "returns.jsonl")
    big = await replay_generated(year, settings)
    one = await replay_generated(
        year, settings.model_copy(update={"namespace": settings.namespace + "-1"}), step_events=1
    )
    report = big.report
    # A year worth the comparison: flags rise and fall, and children come back.
    assert report["cse"]["flags_by_level"].get("high", 0) > 0
    assert report["cse"]["flags_by_level"].get("none", 0) > 0
    assert report["referrals"]["re_referrals_12m"] > 0
    assert to_json(one.report) == to_json(report)


def test_generate_explain_prints_each_target_with_its_source(
    tmp_path: Path, cli_env: dict[str, str]
) -> None:
    path = tmp_path / "year.jsonl"
    args = ("generate", "--scale", "0.05", "--out", str(path), "--explain")
    shown = mash(*args, env=cli_env)
    assert shown.returncode == 0, shown.stderr
    assert "initial_in_time" in shown.stdout and "NI 59" in shown.stdout
    summary = json.loads(mash(*args, "--json", env=cli_env).stdout)
    assert {"target", "value", "source"} == set(summary["targets"][0])
