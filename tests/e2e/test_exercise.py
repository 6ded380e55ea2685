"""`mash exercise` as a trainee meets it: a real terminal (a pseudo-terminal driven by
pexpect), real prompts, the real hub on an embedded Redis, and the debrief files."""

from __future__ import annotations

import sys
from pathlib import Path

import pexpect

from tests.conftest import ROOT, SCENARIOS
from tests.e2e.test_cli import mash, one_line_error

GEMMA = str(SCENARIOS / "gemma.yaml")
ANSWERS = str(SCENARIOS / "exercises" / "gemma-answers.yaml")


def spawn(*args: str, env: dict[str, str]) -> pexpect.spawn:
    return pexpect.spawn(
        sys.executable,
        ["-m", "mash", "exercise", *args],
        cwd=str(ROOT),
        env={**env, "TERM": "dumb", "COLUMNS": "160"},
        encoding="utf-8",
        timeout=60,
        dimensions=(50, 160),
    )


def until(child: pexpect.spawn, pattern: str) -> None:
    """Read on to `pattern`, skipping ahead in event time whenever the exercise waits."""
    while child.expect([pattern, "Enter skips ahead"]) == 1:
        child.sendline("")


def answer(child: pexpect.spawn, prompt: str, text: str) -> None:
    until(child, prompt)
    child.sendline(text)


def test_a_trainee_screens_gemma_in_the_terminal_and_the_debrief_flags_the_miss(
    tmp_path: Path, cli_env: dict[str, str]
) -> None:
    child = spawn(
        GEMMA, "--trainee", "pat", "--speed", "86400", "--out", str(tmp_path), env=cli_env
    )
    # The first contact: what the hub holds the instant it arrives.
    until(child, "Contact 1 of 2: c1")
    child.expect("Sat 11 Jan 2014 09:30 GMT")  # London time, labelled
    child.expect("the police")  # the referral source in words
    child.expect("going or being missing")  # 10A, in words
    # Her whole year, not the last three episodes the hub keeps for its rules.
    child.expect("missing episodes \\(12 months\\) 5")
    child.expect("CSE risk[^a-z]+medium")
    child.expect("child protection plan[^a-z]+yes")
    # The choices are listed before anything is typed.
    child.expect("1\\) universal  2\\) early help  3\\) targeted  4\\) specialist")
    child.expect("time left: red 3 h")
    # The countdown moves while the prompt waits (a day of event time per second here).
    child.expect("red PASSED")
    answer(child, "Level of need >", "7")
    child.expect("is not one of the choices")
    answer(child, "Level of need >", "pause")  # the facilitator stops the clock
    child.expect("paused")
    child.sendline("")
    answer(child, "Level of need >", "early help")  # the deliberate mistake: a level 4 child
    answer(child, "RAG rating >", "g")
    answer(child, "Outcome >", "early")
    # Two Enters meant to skip ahead: the second never becomes an answer to the next contact.
    child.expect("Enter skips ahead")
    child.sendline("")
    child.sendline("")
    until(child, "Contact 2 of 2: c2")
    child.expect("CSE risk[^a-z]+high")
    # Her earlier decision, in words.
    child.expect("your decision on c1")
    child.expect("level 2 \\(early")
    child.expect("red PASSED")  # she takes her time over c2: past its red window
    answer(child, "Level of need >", "4")
    answer(child, "RAG rating >", "r")
    answer(child, "Outcome >", "pass")
    until(child, "debrief saved")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0, child.before
    md = (tmp_path / "gemma-pat-debrief.md").read_text()
    html = (tmp_path / "gemma-pat-debrief.html").read_text()
    first = md.index("### c1 / G")
    assert md.index("SAFETY-CRITICAL: a level 4 contact screened as level 2") > first
    assert first < md.index("### c2 / G (agrees)")  # in event time among the safety-critical
    # A day of event time per real second: c2's right answer came after its red window shut.
    assert "2 safety-critical" in md
    assert "### c2 / G (agrees) SAFETY-CRITICAL: the red window was breached" in md
    assert "a level 4 contact screened as level 2" in html


def test_an_answers_file_runs_the_exercise_unattended(
    tmp_path: Path, cli_env: dict[str, str]
) -> None:
    result = mash(
        "exercise",
        GEMMA,
        "--answers",
        ANSWERS,
        "--trainee",
        "sam",
        "--out",
        str(tmp_path),
        env=cli_env,
    )
    assert result.returncode == 0, result.stderr
    md = (tmp_path / "gemma-sam-debrief.md").read_text()
    assert "Score 4 of 8 (50%)" in md
    assert "2 for the same level of need, 1 for the same RAG rating" in md  # what it counts
    assert md.index("SAFETY-CRITICAL") < md.index("### c2 / G (agrees)")
    # The trainee's decisions ran the clocks: c2 at level 4 wanted a strategy discussion.
    assert "| Strategy discussion the same day as a level-4 decision | 0 | 1 | 0 |" in md
    assert "G medium to high" in md  # the CSE flag raised while the trainee was deciding
    assert "referral_decision" not in md  # clocks by name, never by key


def test_time_taken_runs_in_event_time_and_a_slow_red_decision_is_late(
    tmp_path: Path, cli_env: dict[str, str]
) -> None:
    slow = tmp_path / "slow.yaml"
    slow.write_text(
        "answers:\n"
        "  - {contact: c1, level: 4, rag: red, outcome: pass_to_allocated_worker, seconds: 20000}\n"
        "  - {contact: c2, level: 4, rag: red, outcome: pass_to_allocated_worker}\n"
    )
    result = mash(
        "exercise",
        GEMMA,
        "--answers",
        str(slow),
        "--speed",
        "1",
        "--trainee",
        "slow",
        "--out",
        str(tmp_path),
        env=cli_env,
    )
    assert result.returncode == 0, result.stderr
    md = (tmp_path / "gemma-slow-debrief.md").read_text()
    # 20,000 s at one second of event time per second: 5 h 33 m after 09:30, past red's 4 h.
    assert "decided Sat 11 Jan 2014 15:03 GMT" in md
    assert (
        "| Decision within the contact's RAG window (red 4 h, amber 1 WD, green 3 WD) | 1 | 1 | 1 |"
        in md
    )
    # The answer agrees with the thresholds, but the red window ran out: safety-critical.
    assert "SAFETY-CRITICAL: the red window was breached: decided 1 h 33 min after it closed" in md


def test_answer_file_mistakes_are_one_line(tmp_path: Path, cli_env: dict[str, str]) -> None:
    wrong = tmp_path / "answers.yaml"
    wrong.write_text(
        "answers:\n"
        "  - {contact: c1, level: 4, rag: red, outcome: strategy_discussion}\n"
        "  - {contact: c9, level: 4, rag: red, outcome: strategy_discussion}\n"
    )
    line = one_line_error(mash("exercise", GEMMA, "--answers", str(wrong), env=cli_env))
    assert f"{wrong}:3: answers[1].contact: 'c9' is not a contact of gemma" in line
    missing = tmp_path / "short.yaml"
    missing.write_text("answers:\n  - {contact: c1, level: 4, rag: red, outcome: nfa}\n")
    line = one_line_error(mash("exercise", GEMMA, "--answers", str(missing), env=cli_env))
    assert "no answer for contact 'c2'" in line
    typo = tmp_path / "typo.yaml"
    typo.write_text("answers:\n  - {contact: c1, levle: 4, rag: red, outcome: nfa}\n")
    assert "levle" in one_line_error(mash("exercise", GEMMA, "--answers", str(typo), env=cli_env))


def test_an_exercise_will_not_run_into_a_namespace_already_used(
    tmp_path: Path, redis_url: str, namespace: str, cli_env: dict[str, str]
) -> None:
    args = ("exercise", GEMMA, "--answers", ANSWERS, "--out", str(tmp_path))
    where = ("--redis-url", redis_url, "--namespace", namespace)
    first = mash(*args, *where, env=cli_env)
    assert first.returncode == 0, first.stderr
    assert "already holds a run" in one_line_error(mash(*args, *where, env=cli_env))


def test_ctrl_c_at_a_live_prompt_exits_and_gives_the_terminal_back(
    tmp_path: Path, cli_env: dict[str, str]
) -> None:
    child = spawn(GEMMA, "--speed", "60", "--out", str(tmp_path), env=cli_env)
    until(child, "Level of need >")
    child.sendcontrol("c")
    child.expect("interrupted")
    child.expect(pexpect.EOF, timeout=20)
    child.close()
    assert child.exitstatus == 130 or child.signalstatus is not None
