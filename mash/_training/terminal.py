"""The exercise in a terminal: the practitioner's view, prompts with a countdown, pauses.

Blocking terminal I/O runs in a worker thread so the hub's consumers keep running. Anything a
trainee types is one of the offered answers or a facilitator command: `pause` at any prompt
stops the clock until Enter; between events, Enter skips ahead in event time and `p` pauses.
"""

from __future__ import annotations

import asyncio
import select
import sys
import time
from datetime import datetime, timedelta

from rich.console import Console
from rich.table import Table

from mash._training.debrief import Answer
from mash._training.exercise import Ask, ContactView, Wait, describe_history
from mash.schemas.codes import Factor, Level, Outcome, Rag

LEVELS = {"1": Level.UNIVERSAL, "2": Level.EARLY_HELP, "3": Level.TARGETED, "4": Level.SPECIALIST}


def _show(console: Console, view: ContactView) -> None:
    c = view.contact
    console.rule(f"Contact {view.number} of {view.total}: {view.local_id}")
    facts = Table(show_header=False, box=None)
    facts.add_row("received", f"{c.occurred_at:%a %d %b %Y %H:%M} (event time)")
    facts.add_row("from", f"{c.agency.value} (referral source {c.referral_source.value})")
    facts.add_row(
        "child",
        f"{view.child.child_id}, {view.child.sex.value}, {view.age}"
        + (", non-mobile" if view.child.non_mobile else ""),
    )
    if len(c.children) > 1:
        facts.add_row("also named", ", ".join(k.child_id for k in c.children if k != view.child))
    concerns = ", ".join(
        f"{f.value} {Factor(f).name.lower().replace('_', ' ')}" for f in c.concerns
    )
    facts.add_row("concerns", concerns or "none named")
    if c.cse_indicators:
        facts.add_row("CSE indicators", ", ".join(i.value for i in c.cse_indicators))
    flags = [name for name, on in (("injury", c.injury), ("urgent", c.urgent)) if on]
    if flags:
        facts.add_row("marked", ", ".join(flags))
    if c.narrative:
        facts.add_row("referrer says", c.narrative)
    console.print(facts)
    history = Table(title="What the hub holds on this child", show_header=False)
    for label, value in describe_history(view):
        history.add_row(label, value)
    console.print(history)


def _countdown(view: ContactView, used: float) -> str:
    """Event time the trainee has used, against each RAG rating's deadline."""
    now = view.contact.occurred_at + timedelta(seconds=used * view.speed)
    parts = []
    for rag in (Rag.RED, Rag.AMBER, Rag.GREEN):
        left = (view.windows[rag] - now).total_seconds()
        real = f" = {left / view.speed:.0f} s of yours" if view.speed else ""
        parts.append(f"{rag.value} {_span(left)}{real}" if left > 0 else f"{rag.value} PASSED")
    return "time left: " + "; ".join(parts)


def _span(seconds: float) -> str:
    hours = seconds / 3600
    return f"{hours:.1f} h" if hours < 48 else f"{hours / 24:.1f} days"


def _pause(console: Console) -> float:
    """The facilitator's pause: until Enter. Returns how long it lasted."""
    began = time.monotonic()
    console.input("[yellow]paused[/]: press Enter to resume ")
    return time.monotonic() - began


class _Clock:
    """Real seconds the trainee has used, less time paused."""

    def __init__(self) -> None:
        self.start = time.monotonic()
        self.paused = 0.0

    def used(self) -> float:
        return time.monotonic() - self.start - self.paused

    def pause(self, console: Console) -> None:
        self.paused += _pause(console)


def _choose(
    console: Console, view: ContactView, clock: _Clock, label: str, options: list[str]
) -> str:
    while True:
        console.print(f"[dim]{_countdown(view, clock.used())}[/]")
        raw = console.input(f"[bold]{label}[/] [{'/'.join(options)}]: ").strip().lower()
        if raw == "pause":
            clock.pause(console)
            continue
        if raw in options:
            return raw
        console.print(f"[red]choose one of {', '.join(options)} (or 'pause')[/]")


def _ask_sync(console: Console, view: ContactView) -> tuple[Answer, float]:
    _show(console, view)
    clock = _Clock()
    level = _choose(console, view, clock, "Level of need", list(LEVELS))
    rag = _choose(console, view, clock, "RAG rating", [r.value for r in Rag])
    outcome = _choose(console, view, clock, "Outcome", [o.value for o in Outcome])
    used = clock.used()
    console.print(f"decided in {used:.0f} s")
    return Answer(LEVELS[level], Rag(rag), Outcome(outcome)), used


def terminal_ask(console: Console) -> Ask:
    async def ask(view: ContactView) -> tuple[Answer, float]:
        return await asyncio.to_thread(_ask_sync, console, view)

    return ask


def _wait_sync(console: Console, seconds: float, until: datetime) -> None:
    console.print(
        f"[dim]next event at {until:%a %d %b %Y %H:%M} in {seconds:.0f} s: "
        "Enter skips ahead, p + Enter pauses[/]"
    )
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        ready, _, _ = select.select([sys.stdin], [], [], left)
        if not ready:
            return
        line = sys.stdin.readline()
        if line.strip().lower() == "p":
            deadline += _pause(console)
        else:
            return  # skip ahead


def terminal_wait(console: Console) -> Wait:
    async def wait(seconds: float, until: datetime) -> None:
        await asyncio.to_thread(_wait_sync, console, seconds, until)

    return wait
