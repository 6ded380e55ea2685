"""A real browser for the pages mash serves or writes: Debian's Chromium (`apt-get install
chromium`), driven by Playwright, which is told where that binary is and never downloads a
browser of its own.

Where no Chromium is installed the browser tests skip with one line saying so; CI sets
MASH_REQUIRE_BROWSER=1 (and installs Chromium), so there a missing browser fails instead.
Screenshots land in `MASH_SCREENSHOTS` (default `.artifacts/screenshots`), CI's artefacts.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT

CANDIDATES = ("chromium", "chromium-browser", "google-chrome")


def chromium_path() -> str | None:
    given = os.environ.get("MASH_CHROMIUM")
    if given:
        return given
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Playwright's sync API holds an asyncio loop running on the main thread while it is
    open, so every `asyncio.run` after it fails: the browser lives for one module, not the
    session, and the tests that run after the browser's get their loop back."""
    path = chromium_path()
    if path is None:
        why = "no Chromium found (apt-get install chromium, or set MASH_CHROMIUM)"
        if os.environ.get("MASH_REQUIRE_BROWSER"):
            pytest.fail(why, pytrace=False)
        pytest.skip(why)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        launched = pw.chromium.launch(executable_path=path, args=["--no-sandbox"])
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh page that records console errors and uncaught exceptions in `page.errors`."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    opened = context.new_page()
    errors: list[str] = []
    opened.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    opened.on("pageerror", lambda e: errors.append(str(e)))
    opened.errors = errors
    try:
        yield opened
    finally:
        context.close()


@pytest.fixture(scope="session")
def screenshots() -> Path:
    where = Path(os.environ.get("MASH_SCREENSHOTS", ROOT / ".artifacts" / "screenshots"))
    where.mkdir(parents=True, exist_ok=True)
    return where
