"""The browser fixture itself: a page renders, and a script error is caught."""

from __future__ import annotations

from typing import Any


def test_a_page_renders_and_its_errors_are_recorded(page: Any) -> None:
    page.set_content("<h1 id=t>mash</h1><script>throw new Error('boom')</script>")
    assert page.inner_text("#t") == "mash"
    assert any("boom" in e for e in page.errors)
