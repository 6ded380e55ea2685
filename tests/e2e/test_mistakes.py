"""Mistakes that used to end in a traceback: each is one line naming file, line and field,
exit 2, through the real command."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import redis

from mash._runtime.keys import Keys
from tests.conftest import SCENARIOS
from tests.e2e.test_cli import mash, one_line_error
from tests.factories import contact

NFA = SCENARIOS / "decisions" / "nfa.yaml"


@pytest.mark.parametrize(
    ("old", "new", "line", "field", "why"),
    [
        ("at: 0h", "at: 2014-02-30T09:00:00Z", 8, "events[0].at", "day is out of range"),
        ("at: 0h", "at: 2014-02-03T25:00:00Z", 8, "events[0].at", "hour must be in 0..23"),
        ("at: 0h", "at: 2014-13-01T09:00:00Z", 8, "events[0].at", "month must be in 1..12"),
        ("dob: 2012-01-20", "dob: 1998-02-30", 6, "children[1].dob", "day is out of range"),
        ("start: 2014-02-03T09:00:00Z", "start: 2014-02-30", 3, "start", "day is out of range"),
    ],
    ids=["30-february", "25-oclock", "month-13", "dob", "start"],
)
def test_an_impossible_date_is_one_line_with_file_line_and_field(
    tmp_path: Path, cli_env: dict[str, str], old: str, new: str, line: int, field: str, why: str
) -> None:
    text = NFA.read_text()
    assert old in text
    path = tmp_path / "dates.yaml"
    path.write_text(text.replace(old, new, 1))
    error = one_line_error(mash("replay", str(path), env=cli_env))
    assert f"{path}:{line}: {field}: " in error
    assert "is not a real date or time" in error and why in error


def test_an_impossible_date_in_a_thresholds_file_is_one_line(
    tmp_path: Path, cli_env: dict[str, str]
) -> None:
    path = tmp_path / "thresholds.yaml"
    text = (SCENARIOS / "thresholds" / "strict-council.yaml").read_text()
    path.write_text(text.replace("name:", "adopted: 2014-02-30\nname:", 1))
    error = one_line_error(mash("replay", str(NFA), "--thresholds", str(path), env=cli_env))
    assert f"{path}:3: adopted: '2014-02-30' is not a real date" in error


BINARY = b"name: x\nstart: 0d\n\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe"


@pytest.mark.parametrize("option", [None, "--thresholds", "--scoring"])
def test_a_binary_file_is_one_line_with_the_line_of_its_first_bad_byte(
    tmp_path: Path, cli_env: dict[str, str], option: str | None
) -> None:
    path = tmp_path / "picture.yaml"
    path.write_bytes(BINARY)
    args = ("replay", str(path)) if option is None else ("replay", str(NFA), option, str(path))
    error = one_line_error(mash(*args, env=cli_env))
    assert f"{path}:3: not UTF-8 text (byte 0x89)" in error


def test_a_binary_timescales_file_is_one_line_at_worker_start(
    tmp_path: Path, redis_url: str, namespace: str, cli_env: dict[str, str]
) -> None:
    path = tmp_path / "timescales.yaml"
    path.write_bytes(BINARY)
    env = {**cli_env, "MASH_TIMESCALES": str(path)}
    args = ("worker", "--redis-url", redis_url, "--namespace", namespace, "--clock", "event")
    error = one_line_error(mash(*args, env=env))
    assert f"{path}:3: not UTF-8 text" in error


def test_publishing_a_binary_jsonl_file_is_one_line_with_its_line(
    tmp_path: Path, redis_url: str, namespace: str, cli_env: dict[str, str]
) -> None:
    path = tmp_path / "events.jsonl"
    good = contact(event_id="b1", children=("B1",)).model_dump_json()
    path.write_bytes(good.encode() + b"\n" + b"\x1f\x8b\x08\x00\xff\n")
    result = mash("publish", str(path), "--redis-url", redis_url, "-n", namespace, env=cli_env)
    error = one_line_error(result)
    assert f"{path}:2: not UTF-8 text (byte 0x8b)" in error


def test_tail_shows_entries_that_are_not_json_without_a_traceback(
    redis_url: str, namespace: str, cli_env: dict[str, str]
) -> None:
    client = redis.Redis.from_url(redis_url)
    key = Keys(namespace).stream("contacts")
    good = contact(event_id="t1", children=("T1",)).model_dump_json()
    for value in (b"not json {", b"\xff\xfe\x00", b"[1, 2]", good.encode()):
        client.xadd(key, {"event": value})
    base = ("tail", "contacts", "--redis-url", redis_url, "-n", namespace, "--from-start")
    shown = mash(*base, "--count", "4", env=cli_env, timeout=60)
    assert shown.returncode == 0, shown.stderr
    assert "Traceback" not in shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[0] == "<not JSON: b'not json {'>"
    assert lines[1] == "<not JSON: b'\\xff\\xfe\\x00'>"
    assert lines[2] == "<not JSON: b'[1, 2]'>"
    assert re.search(r"contact\.received\s+t1$", lines[3])
    as_json = mash(*base, "--count", "4", "--json", env=cli_env, timeout=60)
    assert as_json.returncode == 0, as_json.stderr
    rows = [json.loads(line) for line in as_json.stdout.splitlines()]  # every line is JSON
    assert rows[0] == {"not_json": "not json {"}
    assert rows[1] == {"not_json": "\\xff\\xfe\x00"}
    assert rows[2] == [1, 2]
    assert rows[3]["event_id"] == "t1"


# Every command, with an option value it refuses (or, with no options of its own to get
# wrong, an option it does not have).
BAD_OPTIONS = {
    "replay": ["gemma", "--format", "pdf"],
    "scenarios": ["--jsn"],
    "generate": ["--out", "x.jsonl", "--seed", "one"],
    "compare": ["a.json", "b.json", "--jsn"],
    "exercise": ["gemma", "--speed", "fast"],
    "room": ["--port", "http"],
    "worker": ["--metrics-port", "0"],
    "publish": ["-", "--speed", "quick"],
    "report": ["--format", "pdf"],
    "child": ["K1", "--jsn"],
    "status": ["--jsn"],
    "clocks": ["--breached", "yes"],
    "missing": ["--jsn"],
    "tail": ["contacts", "--count", "many"],
    "schemas": ["--out"],
    "bench": ["--rounds", "two"],
}


def test_every_command_is_covered() -> None:
    from mash._cli import ORDER

    assert set(BAD_OPTIONS) == set(ORDER)


@pytest.mark.parametrize("command", sorted(BAD_OPTIONS))
def test_a_bad_option_value_is_one_line_for_every_command(
    command: str, cli_env: dict[str, str]
) -> None:
    line = one_line_error(mash(command, *BAD_OPTIONS[command], env=cli_env))
    assert line.startswith("error: ")
    assert "--help)" in line
    assert "╭" not in line and "Usage:" not in line


def test_a_bad_format_names_the_choices(cli_env: dict[str, str]) -> None:
    line = one_line_error(mash("replay", "gemma", "--format", "pdf", env=cli_env))
    assert "'pdf' is not one of 'md', 'json', 'html', 'cin-xml', 'annex-a'" in line


def test_an_unknown_command_is_one_line(cli_env: dict[str, str]) -> None:
    line = one_line_error(mash("replya", env=cli_env))
    assert "No such command 'replya'" in line


HELP_COMMANDS = [None, *BAD_OPTIONS]


@pytest.mark.parametrize("command", HELP_COMMANDS, ids=[c or "mash" for c in HELP_COMMANDS])
def test_help_shows_no_type_after_flags(command: str | None, cli_env: dict[str, str]) -> None:
    args = ("--help",) if command is None else (command, "--help")
    shown = mash(*args, env=cli_env)
    assert shown.returncode == 0, shown.stderr
    assert "<bool>" not in shown.stdout
    if command == "replay":
        assert re.search(r"--quiet\s+-q\s+Print only failures", shown.stdout)
        assert "<path>" in shown.stdout  # options that take a value keep their type


@pytest.mark.parametrize(
    "command", ["publish", "worker", "status", "clocks", "report", "missing", "tail"]
)
def test_commands_that_need_a_url_do_not_offer_an_embedded_redis(
    command: str, cli_env: dict[str, str]
) -> None:
    shown = mash(command, "--help", env=cli_env)
    assert shown.returncode == 0, shown.stderr
    text = " ".join(shown.stdout.replace("│", " ").split())
    assert "embedded" not in text
    assert "required, here or in the environment" in text


@pytest.mark.parametrize("command", ["replay", "exercise", "room", "bench"])
def test_commands_that_start_their_own_hub_still_offer_one(
    command: str, cli_env: dict[str, str]
) -> None:
    shown = mash(command, "--help", env=cli_env)
    text = " ".join(shown.stdout.replace("│", " ").split())
    assert "Default: a private embedded one" in text
