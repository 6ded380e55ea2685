"""Run the DfE CIN census rules (csc-validator-be-cin) over files; print one JSON line each.

Runs inside the validator's own virtual environment (it pins old pandas and numpy), so it
imports nothing of ours. It reads both child-level issues and return-level ones (the command
line prints only the first), and reports rules that crashed, which the tool counts as passed.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import sys
import warnings
import xml.etree.ElementTree as ET

warnings.filterwarnings("ignore")

from cin_validator import cin_validator as cv  # noqa: E402


def check(path: str, ruleset: str) -> dict[str, object]:
    tables = cv.process_data(cv.convert_data(ET.parse(path).getroot()))
    registry = importlib.import_module(f"cin_validator.rules.{ruleset}").registry
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        validator = cv.CinValidator(tables, registry)
    child = validator.full_issue_df
    issues = [
        {
            "rule": str(row["rule_code"]),
            "child": str(row["child_id"]),
            "table": str(row["tables_affected"]),
            "column": str(row["columns_affected"]),
            "type": str(row.get("rule_type", "")),
        }
        for _, row in child.iterrows()
    ]
    returns = [str(code) for code in validator.multichild_issues.get("rule_code", [])]
    crashed = [line for line in printed.getvalue().splitlines() if "Error with rule" in line]
    return {
        "file": path,
        "rules": len(registry),
        "child_level": issues,
        "return_level": sorted(set(returns)),
        "crashed": crashed,
    }


def main() -> None:
    ruleset, *paths = sys.argv[1:]
    for path in paths:
        print(json.dumps(check(path, ruleset)), flush=True)


if __name__ == "__main__":
    main()
