"""A typo in a thresholds or scenario file names the file, the line and the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from mash._config.settings import DEFAULT_THRESHOLDS
from mash._scenarios.scenario import load_scenario
from mash.consumers.screening.thresholds import load_thresholds
from mash.errors import ConfigError, ScenarioError

GOOD_SCENARIO = """\
name: t
start: 2014-01-06T09:00:00Z
children:
  - {id: C1, dob: 2008-01-01, sex: F}
events:
  - id: c1
    at: 1d
    type: contact.received
    children: [C1]
    referral_source: "2A"
    concerns: ["16A"]
expect:
  - decision: {contact: c1, level: 2}
"""


def write(tmp_path: Path, text: str, name: str = "f.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_the_default_thresholds_file_loads() -> None:
    assert load_thresholds(DEFAULT_THRESHOLDS).name == "mash-default"


@pytest.mark.parametrize(
    ("old", "new", "line", "field", "why"),
    [
        (
            '    when: {concerns_any: ["19A", "19B", "19C"]}',
            '    wen: {concerns_any: ["19A"]}',
            36,
            "descriptors[0].wen",
            "unknown field",
        ),
        (
            "  - id: L4-SEXUAL-ABUSE\n    level: 4\n",
            "  - id: L4-SEXUAL-ABUSE\n    level: 4\n    outcome: nfa\n",
            33,
            "descriptors[0]",
            "level-4 descriptor cannot lead to nfa",
        ),
        (
            "  green: {working_days: 3}",
            "  green: {working_days: three}",
            18,
            "rag_deadlines.green.working_days",
            "valid integer",
        ),
        (
            '    when: {concerns_any: ["22A"]}',
            '    when: {concerns_any: ["22Z"]}',
            64,
            "descriptors[7].when.concerns_any[0]",
            "'22Z'",
        ),
    ],
)
def test_thresholds_errors_name_line_and_field(
    tmp_path: Path, old: str, new: str, line: int, field: str, why: str
) -> None:
    text = DEFAULT_THRESHOLDS.read_text()
    assert old in text
    path = write(tmp_path, text.replace(old, new, 1), "council.yaml")
    with pytest.raises(ConfigError) as info:
        load_thresholds(path)
    message = str(info.value)
    assert message.startswith(f"{path}:{line}: {field}: "), message
    assert why in message


def test_thresholds_file_that_is_not_yaml(tmp_path: Path) -> None:
    path = write(tmp_path, "name: x\ndescriptors: [\n", "bad.yaml")
    with pytest.raises(ConfigError, match=r"bad\.yaml:3: not valid YAML"):
        load_thresholds(path)


def test_missing_thresholds_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read thresholds file"):
        load_thresholds(tmp_path / "nope.yaml")


def test_good_scenario_loads(tmp_path: Path) -> None:
    scenario = load_scenario(write(tmp_path, GOOD_SCENARIO))
    assert [e.event_id for e in scenario.events] == ["t.c1"]
    assert scenario.local_ids == {"c1": "t.c1"}


@pytest.mark.parametrize(
    ("old", "new", "line", "field", "why"),
    [
        ('    concerns: ["16A"]', '    concens: ["16A"]', 11, "events[0].concens", "unknown field"),
        ('    concerns: ["16A"]', '    concerns: ["16Z"]', 11, "events[0].concerns[0]", "'16Z'"),
        (
            "    children: [C1]",
            "    children: [C9]",
            9,
            "events[0].children[0]",
            "unknown child 'C9'",
        ),
        ("    at: 1d", "    at: tomorrow", 7, "events[0].at", "neither an offset"),
        (
            "    type: contact.received",
            "    type: contact.recieved",
            6,
            "events[0]",
            "does not match",
        ),
        (
            "  - decision: {contact: c1, level: 2}",
            "  - decision: {contact: c2, level: 2}",
            13,
            "expect[0].decision.contact",
            "no event with id 'c2'",
        ),
        (
            "  - decision: {contact: c1, level: 2}",
            "  - decision: {contact: c1, levle: 2}",
            13,
            "expect[0].decision.levle",
            "unknown field",
        ),
        ("start: 2014-01-06T09:00:00Z", "strat: 2014-01-06T09:00:00Z", 2, "strat", "unknown field"),
        (
            "  - decision: {contact: c1, level: 2}",
            "  - clock: {name: asessment, child: C1, status: met}",
            13,
            "expect[0].clock.name",
            "no clock 'asessment' in timescales file 'mash-default': one of assessment,",
        ),
        (
            "  - decision: {contact: c1, level: 2}",
            "  - clock: {name: assessment, child: C1, status: late, lateness: {weeks: 1}}",
            13,
            "expect[0].clock.lateness.weeks",
            "unknown field",
        ),
    ],
)
def test_scenario_errors_name_line_and_field(
    tmp_path: Path, old: str, new: str, line: int, field: str, why: str
) -> None:
    assert old in GOOD_SCENARIO
    path = write(tmp_path, GOOD_SCENARIO.replace(old, new, 1))
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    message = str(info.value)
    assert message.startswith(f"{path}:{line}: {field}: "), message
    assert why in message


def test_every_shipped_scenario_loads() -> None:
    root = Path(__file__).resolve().parents[2] / "scenarios"
    files = sorted(root.glob("*.yaml"))
    assert len(files) >= 4
    for path in files:
        assert load_scenario(path).events
