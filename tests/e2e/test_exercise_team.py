"""`mash exercise --team`: the trainee is one of the front door's practitioners. Contacts
queue for the team; the trainee decides those the queue hands them, when it hands them, and
colleagues decide the rest as the thresholds do. Through the CLI, on the embedded Redis."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import SCENARIOS
from tests.e2e.test_cli import mash, one_line_error
from tests.e2e.test_exercise import answer, spawn, until

SURGE = str(SCENARIOS / "team-monday-surge.yaml")
CONTACTS = ["q1", "q2", "q3", *(f"s{i:02d}" for i in range(1, 21))]

TWO = """\
name: two-practitioners
practitioners:
  - {group: day, count: 2, days: working, start: "09:00", end: "17:00"}
minutes: {red: 60, amber: 60, green: 60}
"""


def _answers(tmp_path: Path, seconds: int) -> Path:
    path = tmp_path / "answers.yaml"
    rows = [
        f"  - {{contact: {c}, level: 2, rag: green, outcome: early_help, seconds: {seconds}}}"
        for c in CONTACTS
    ]
    rows.append("  - {contact: r1, level: 4, rag: red, outcome: strategy_discussion, seconds: 60}")
    path.write_text("answers:\n" + "\n".join(rows) + "\n")
    return path


def _decided(md: str) -> dict[str, str]:
    """Each contact the trainee decided, and when (London time, as the debrief gives it)."""
    found = re.findall(r"### (\w+) / \w+ .*\n\n- received .*?, decided (.*?) \(", md)
    return dict(found)


@pytest.fixture
def two(tmp_path: Path) -> Path:
    path = tmp_path / "two.yaml"
    path.write_text(TWO)
    return path


def test_alone_on_the_rota_the_trainee_works_the_surge_and_its_clocks_breach(
    tmp_path: Path, cli_env: dict[str, str]
) -> None:
    # The scenario's own team is one practitioner: the trainee, an hour a contact unpaced.
    done = mash(
        "exercise", SURGE, "--answers", str(_answers(tmp_path, 30)), "--trainee", "ana",
        "--out", str(tmp_path), env=cli_env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    md = (tmp_path / "team-monday-surge-ana-debrief.md").read_text()
    assert "You were day-1 of the team one-practitioner: you decided 24" in md
    assert "your colleagues 0" in md
    decided = _decided(md)
    assert len(decided) == 24
    # Eight an hour each from 09:00; the red contact at 11:00 is the next picked up.
    assert decided["s01"] == "Mon 10 Feb 2014 10:00 GMT"
    assert decided["r1"] == "Mon 10 Feb 2014 12:00 GMT"
    assert decided["s20"].startswith("Wed 12 Feb 2014")
    assert "| Decision on a contact within one working day | 19 | 5 | 5 |" in md


def test_a_quick_trainee_takes_more_of_the_queue_than_a_slower_colleague(
    tmp_path: Path, two: Path, cli_env: dict[str, str]
) -> None:
    # 30 s an answer at 60 s of event time a second: half an hour a contact, against the
    # colleague's hour.
    done = mash(
        "exercise", SURGE, "--answers", str(_answers(tmp_path, 30)), "--team", str(two),
        "--practitioner", "day-2", "--speed", "60", "--trainee", "ben",
        "--out", str(tmp_path), env=cli_env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    md = (tmp_path / "team-monday-surge-ben-debrief.md").read_text()
    match = re.search(r"you decided (\d+) .* your colleagues (\d+)\.", md)
    assert match, md[:2000]
    mine, theirs = int(match[1]), int(match[2])
    assert mine + theirs == 24
    assert mine > theirs > 0
    decided = _decided(md)
    assert len(decided) == mine
    # q1 went to day-1 (the first free); q2, ten minutes later, to the trainee, 30 min on.
    assert "q1" not in decided
    assert decided["q2"] == "Mon 03 Feb 2014 10:40 GMT"
    # Two pairs of hands: nothing the trainee worked waited past a working day.
    assert f"| Decision on a contact within one working day | {mine} | 0 | 0 |" in md
    html = (tmp_path / "team-monday-surge-ben-debrief.html").read_text()
    assert "You were day-2 of the team two-practitioners" in html


def test_the_trainee_sees_how_long_a_contact_waited_in_the_queue(
    tmp_path: Path, cli_env: dict[str, str]
) -> None:
    child = spawn(SURGE, "--speed", "0", "--out", str(tmp_path), env=cli_env)
    try:
        # The quiet Monday: q1 is picked up as it arrives, q2 after q1's hour.
        until(child, "q1")
        child.expect("as it arrived")
        answer(child, "Level of need >", "2")
        answer(child, "RAG rating >", "g")
        answer(child, "Outcome >", "early")
        until(child, "q2")
        child.expect(r"after 50 min 00 s in the queue")
    finally:
        child.terminate(force=True)


def test_practitioner_mistakes_are_one_line(
    tmp_path: Path, two: Path, cli_env: dict[str, str]
) -> None:
    answers = str(_answers(tmp_path, 30))
    args = ["--answers", answers, "--team", str(two), "--practitioner", "duty-1"]
    line = one_line_error(mash("exercise", SURGE, *args, "--out", str(tmp_path), env=cli_env))
    assert "duty-1" in line and "day-1, day-2" in line
    gemma = str(SCENARIOS / "gemma.yaml")
    gemma_answers = str(SCENARIOS / "exercises" / "gemma-answers.yaml")
    args = ["--answers", gemma_answers, "--practitioner", "day-1", "--out", str(tmp_path)]
    line = one_line_error(mash("exercise", gemma, *args, env=cli_env))
    assert "no team" in line


def test_the_trainee_keeps_their_shift_work_left_at_its_end_waits_for_the_morning(
    tmp_path: Path, cli_env: dict[str, str]
) -> None:
    # 90 s an answer at 60 s a second: an hour and a half a contact. From 09:00 Monday: s01,
    # s02, r1 (its own 60 s: an hour, picked up at 12:00), s03, s04, then s05 at 16:00 with
    # an hour of the shift left: half an hour more on Tuesday at 09:00.
    done = mash(
        "exercise", SURGE, "--answers", str(_answers(tmp_path, 90)), "--speed", "60",
        "--trainee", "cy", "--out", str(tmp_path), env=cli_env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    decided = _decided((tmp_path / "team-monday-surge-cy-debrief.md").read_text())
    assert decided["r1"] == "Mon 10 Feb 2014 13:00 GMT"
    assert decided["s04"] == "Mon 10 Feb 2014 16:00 GMT"
    assert decided["s05"] == "Tue 11 Feb 2014 09:30 GMT"
