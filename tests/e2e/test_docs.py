"""The guide's worked example runs as the guide says it does (docs/testing-your-consumer.md)."""

from __future__ import annotations

import re

import pytest

from tests.conftest import ROOT

GUIDE = ROOT / "docs" / "testing-your-consumer.md"


def example() -> str:
    """The plugin's worked example (the driver's has a test of its own, in test_kit)."""
    section = GUIDE.read_text().split("## In Python: the pytest plugin", 1)[1]
    section = section.split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)
    (worked,) = [b for b in blocks if "def test_" in b]
    return worked


def _run(pytester: pytest.Pytester, ini: str, code: str, redis_url: str) -> pytest.RunResult:
    pytester.makeini(ini)
    pytester.makepyfile(test_example=code)
    # From a folder with no scenarios in it: the names come from the packaged library.
    return pytester.runpytest_subprocess("--mash-redis-url", redis_url, "-p", "no:cacheprovider")


def test_the_example_passes_with_asyncio_mode_auto(
    pytester: pytest.Pytester, redis_url: str
) -> None:
    result = _run(pytester, "[pytest]\nasyncio_mode = auto\n", example(), redis_url)
    result.assert_outcomes(passed=2)


def test_the_example_passes_in_strict_mode_with_the_marker(
    pytester: pytest.Pytester, redis_url: str
) -> None:
    marked = "import pytest\n" + example().replace("async def", "@pytest.mark.asyncio\nasync def")
    result = _run(pytester, "[pytest]\nasyncio_mode = strict\n", marked, redis_url)
    result.assert_outcomes(passed=2)


def test_without_either_the_async_test_does_not_run(
    pytester: pytest.Pytester, redis_url: str
) -> None:
    result = _run(pytester, "[pytest]\nasyncio_mode = strict\n", example(), redis_url)
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*async def functions are not natively supported*"])
