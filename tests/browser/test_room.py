"""The training room in a real browser: Chromium driven by Playwright, against the real
`mash room` on the session's Redis. A facilitator and three trainees, each in a browser
context of their own (their own storage, as on their own machines), through setup, join,
decisions, a change of mind, pause, a reload (rejoin), skip ahead, the end and the
debriefs; no console errors anywhere; screenshots of each step."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.room_kit import mash_room

TIMEOUT = 30_000  # ms


class Person:
    """One browser context and its page, with the console errors it saw."""

    def __init__(self, browser: Any, name: str) -> None:
        self.name = name
        self.context = browser.new_context(viewport={"width": 1280, "height": 900})
        self.context.set_default_timeout(TIMEOUT)
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.expected: list[str] = []  # console lines this person is meant to cause
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))

    def unexpected(self) -> list[str]:
        return [e for e in self.errors if not any(x in e for x in self.expected)]


@pytest.fixture
def people(browser: Any) -> Iterator[dict[str, Person]]:
    made = {n: Person(browser, n) for n in ("facilitator", "ann", "ben", "cat")}
    try:
        yield made
    finally:
        for p in made.values():
            p.context.close()


def shot(person: Person, screenshots: Path, step: str) -> None:
    person.page.screenshot(path=str(screenshots / f"room-{step}-{person.name}.png"), full_page=True)


def test_a_facilitator_and_three_trainees_in_the_browser(
    people: dict[str, Person], screenshots: Path, redis_url: str, cli_env: dict[str, str]
) -> None:
    with mash_room(redis_url, "--max-wait", "900", env=cli_env, wait_code=False) as room:
        f = people["facilitator"]
        f.page.goto(room.facilitator)
        f.page.select_option("#open select[name=scenario]", "gemma")
        f.page.fill("#open input[name=speed]", "60")
        f.page.click("#open button[type=submit]")
        f.page.wait_for_selector("#live:not([hidden])")
        code = f.page.text_content("#code") or ""
        assert re.fullmatch(r"[A-Z2-9]{5}", code), code
        shot(f, screenshots, "1-opened")

        # A wrong code first: the page says so, and the refusal is the only console line.
        ann = people["ann"]
        ann.expected.append("status of 404")
        ann.page.goto(room.base + "/")
        ann.page.fill("input[name=code]", "WRONG")
        ann.page.fill("input[name=name]", "ann")
        ann.page.click("#join button")
        ann.page.wait_for_selector("#said:has-text('no room has the code')")
        shot(ann, screenshots, "2-wrong-code")
        for name in ("ann", "ben", "cat"):
            p = people[name].page
            if name != "ann":
                p.goto(room.base + "/")
            p.fill("input[name=code]", code.lower())
            p.fill("input[name=name]", name)
            p.click("#join button")
            p.wait_for_url(re.compile(r"/t/"))
            p.wait_for_selector("#note:has-text('Waiting for the facilitator')")
        f.page.wait_for_function("document.querySelectorAll('#trainees tr').length === 3")
        shot(f, screenshots, "3-joined")

        f.page.click("#start")
        for name in ("ann", "ben", "cat"):
            p = people[name].page
            p.wait_for_selector("section.contact[data-key='c1/G']")
        page = ann.page
        card = page.locator("section.contact[data-key='c1/G']")
        text = card.inner_text()
        assert "the police" in text
        assert "going or being missing" in text
        assert "Missing episodes in the last 12 months: 5" in text
        assert "GMT (London)" in text
        assert "4 specialist" in text and "within 4 hours" in text  # choices in words
        red = card.locator(".windows span[data-rag=red]")
        first = red.inner_text()
        page.wait_for_function(
            't => document.querySelector(".windows span[data-rag=red]").textContent !== t',
            arg=first,
        )  # the countdown moves
        assert "of yours" in red.inner_text()
        shot(ann, screenshots, "4-contact")

        def decide(p: Any, level: str, rag: str, outcome: str, why: str) -> None:
            form = p.locator("section.contact form").first
            form.locator(f"input[name=level][value='{level}']").check()
            form.locator(f"input[name=rag][value='{rag}']").check()
            form.locator("select[name=outcome]").select_option(outcome)
            form.locator("textarea[name=rationale]").fill(why)
            form.locator("button[type=submit]").click()
            p.wait_for_selector(".saved.ok")

        decide(page, "4", "red", "strategy_discussion", "on a plan, CSE risk")
        decide(people["ben"].page, "2", "green", "early_help", "missing from home")
        decide(people["cat"].page, "2", "green", "nfa", "police have it")
        # Cat changes her mind before the next contact.
        decide(people["cat"].page, "4", "red", "strategy_discussion", "second thoughts")
        people["cat"].page.wait_for_selector(".saved.ok:has-text('level 4')")
        f.page.wait_for_function(
            "[...document.querySelectorAll('#trainees tr')].every(r => r.children[3].textContent === '1 of 1')"
        )
        f.page.wait_for_selector("#trainees tr[data-name=cat] td:has-text('level 4 (specialist)')")
        shot(f, screenshots, "5-answered")

        f.page.click("#pause")
        people["ben"].page.wait_for_selector("#state:has-text('PAUSED')")
        shot(people["ben"], screenshots, "6-paused")
        # Ben's browser reloads: he is back in, his answer still there.
        people["ben"].page.reload()
        people["ben"].page.wait_for_selector(".saved.ok:has-text('early help')")
        assert people["ben"].page.locator("input[name=level][value='2']").is_checked()
        f.page.click("#resume")
        f.page.wait_for_selector("#state:has-text('running')")

        f.page.click("#skip")
        for name in ("ann", "ben", "cat"):
            people[name].page.wait_for_selector("section.contact[data-key='c2/G']")
            assert people[name].page.locator("section.contact[data-key='c1/G']").count() == 0
        assert "Your earlier decisions" in page.locator("section.contact").inner_text()
        decide(page, "4", "red", "pass_to_allocated_worker", "open case")
        decide(people["ben"].page, "3", "amber", "nfa", "school has it")
        shot(ann, screenshots, "7-second-contact")

        f.page.click("#end")
        f.page.wait_for_selector("#room-debrief a#debrief")
        shot(f, screenshots, "8-ended")
        for name in ("ann", "ben", "cat"):
            people[name].page.wait_for_selector("a#debrief")
        people["ben"].page.click("a#debrief")
        people["ben"].page.wait_for_selector("h1:has-text('Debrief: gemma, trainee ben')")
        body = people["ben"].page.inner_text("body")
        assert "a level 4 contact screened as level 2" in body
        assert "an open case screened as no further action" in body
        shot(people["ben"], screenshots, "9-debrief")
        f.page.click("#room-debrief a#debrief")
        f.page.wait_for_selector("h1:has-text('Room debrief: gemma')")
        assert "split" in f.page.inner_text("body")
        shot(f, screenshots, "10-room-debrief")

    for person in people.values():
        assert person.unexpected() == [], (person.name, person.errors)
