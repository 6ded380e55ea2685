"""The exercise in a terminal: the practitioner's view, prompts with a live countdown, pauses.

Blocking terminal I/O runs in a worker thread so the hub's consumers keep running. Every
prompt lists its numbered choices up front, and takes a number, a name or any unambiguous
start of one (`a` is amber, `early help` early help). The countdown line under the prompt
moves every second, in event time and in the trainee's own seconds, until they answer.
`pause` at any prompt stops the clock until Enter; between events, Enter skips ahead in event
time and `p` pauses. Keys pressed while the exercise was busy are dropped before a new
contact is shown, so an Enter meant to skip ahead never lands in the next answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import select
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timedelta
from typing import TextIO

from rich.console import Console
from rich.table import Table

from mash._training import words
from mash._training.debrief import Answer
from mash._training.exercise import Ask, ContactView, Wait
from mash._training.panel import history_rows, view_data
from mash.consumers.screening.thresholds import Thresholds
from mash.schemas.codes import Level, Outcome, Rag

Choice = tuple[str, str]  # (value, words)


def _norm(text: str) -> str:
    return " ".join(text.lower().replace("_", " ").replace("-", " ").split())


def match_choice(raw: str, options: Sequence[Choice]) -> str | None:
    """The option a trainee's answer names: its number, its value, its words, or a start of
    one of those that fits only one option. None when it names none, or several."""
    said = _norm(raw)
    if not said:
        return None
    if said.isdigit() and 1 <= int(said) <= len(options):
        return options[int(said) - 1][0]
    for value, name in options:
        if said in (_norm(value), _norm(name)):
            return value
    fits = {
        value
        for value, name in options
        if _norm(value).startswith(said) or _norm(name).startswith(said)
    }
    return fits.pop() if len(fits) == 1 else None


def level_choices(thresholds: Thresholds | None) -> list[Choice]:
    return [(str(int(level)), words.level_name(level, thresholds)) for level in Level]


RAG_CHOICES: list[Choice] = [(r.value, r.value) for r in (Rag.RED, Rag.AMBER, Rag.GREEN)]
OUTCOME_CHOICES: list[Choice] = [(o.value, words.outcome(o)) for o in Outcome]


def _show(console: Console, view: ContactView, thresholds: Thresholds | None) -> None:
    data = view_data(view, thresholds, {})
    console.rule(f"Contact {view.number} of {view.total}: {view.local_id}")
    c = view.contact
    facts = Table(show_header=False, box=None)
    facts.add_row("received", f"{words.london(c.occurred_at)} (London time)")
    if view.picked_up is not None:
        waited = (view.picked_up - c.occurred_at).total_seconds()
        facts.add_row(
            "picked up",
            f"{words.london(view.picked_up)}, after {words.span(waited)} in the queue"
            if waited > 0
            else f"{words.london(view.picked_up)}, as it arrived",
        )
    facts.add_row(
        "from",
        f"{words.referral_source(c.referral_source)} ({c.agency.value.replace('_', ' ')})",
    )
    facts.add_row(
        "child",
        f"{view.child.child_id}, {view.child.sex.value}, {view.age}"
        + (", non-mobile" if view.child.non_mobile else ""),
    )
    if len(c.children) > 1:
        facts.add_row("also named", ", ".join(k.child_id for k in c.children if k != view.child))
    concerns = "; ".join(words.factor(f) for f in c.concerns)
    facts.add_row("concerns", concerns or "none named")
    if c.cse_indicators:
        facts.add_row("CSE indicators", "; ".join(words.cse_indicator(i) for i in c.cse_indicators))
    flags = [name for name, on in (("injury", c.injury), ("urgent", c.urgent)) if on]
    if flags:
        facts.add_row("marked", ", ".join(flags))
    if c.narrative:
        facts.add_row("referrer says", c.narrative)
    console.print(facts)
    history = Table(title="What the hub holds on this child", show_header=False)
    for label, value in history_rows(data):
        history.add_row(label, value)
    console.print(history)


def countdown(view: ContactView, used: float) -> str:
    """Event time left in each RAG window, and what that is in the trainee's own seconds."""
    now = view.contact.occurred_at + timedelta(seconds=used * view.speed)
    parts = []
    for rag in (Rag.RED, Rag.AMBER, Rag.GREEN):
        left = (view.windows[rag] - now).total_seconds()
        if left <= 0:
            parts.append(f"{rag.value} PASSED")
            continue
        real = f" ({words.span(left / view.speed)} of yours)" if view.speed else ""
        parts.append(f"{rag.value} {words.span(left)}{real}")
    return f"{words.london(now)} | time left: " + "; ".join(parts)


class _Clock:
    """Real seconds the trainee has used, less time paused."""

    def __init__(self) -> None:
        self.start = time.monotonic()
        self.paused = 0.0

    def used(self) -> float:
        return time.monotonic() - self.start - self.paused


@contextlib.contextmanager
def _keys(stream: TextIO) -> Iterator[bool]:
    """Character at a time input while a prompt is live (so the countdown can be redrawn
    around what is typed); yields False where stdin is not a terminal."""
    try:
        import termios  # noqa: PLC0415 - POSIX only
        import tty  # noqa: PLC0415

        fd = stream.fileno()
        saved = termios.tcgetattr(fd)
    except (ImportError, OSError, ValueError, AttributeError):
        yield False
        return
    try:
        tty.setcbreak(fd)
        yield True
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


def drop_typeahead(stream: TextIO = sys.stdin) -> None:
    """Forget keys pressed while the exercise was busy (an Enter meant to skip ahead)."""
    with contextlib.suppress(ImportError, OSError, ValueError, AttributeError):
        import termios  # noqa: PLC0415

        termios.tcflush(stream.fileno(), termios.TCIFLUSH)


# Set when the exercise is cancelled (Ctrl-C, SIGTERM) while a prompt waits in its thread:
# the prompt then gives up within a second and puts the terminal back as it was, instead of
# holding the process open in character-at-a-time mode.
_CANCELLED = threading.Event()


def _read_live(console: Console, prompt: str, status: Callable[[], str]) -> str:
    """A line typed at `prompt` while `status()` (the countdown) is redrawn every second."""
    typed = ""
    fd = sys.stdin.fileno()
    while True:
        if _CANCELLED.is_set():
            raise KeyboardInterrupt
        console.file.write(f"\r\x1b[K{status()}  {prompt}{typed}")
        console.file.flush()
        ready, _, _ = select.select([fd], [], [], 1.0)
        if not ready:
            continue
        char = os.read(fd, 1).decode("utf-8", "replace")
        if char in ("\n", "\r"):
            console.file.write("\n")
            return typed
        if char in ("\x7f", "\b"):
            typed = typed[:-1]
        elif char == "\x03":
            raise KeyboardInterrupt
        elif char.isprintable():
            typed += char


def _choose(
    console: Console,
    view: ContactView,
    clock: _Clock,
    label: str,
    options: Sequence[Choice],
) -> str:
    listed = "  ".join(f"{n}) {name}" for n, (_, name) in enumerate(options, 1))
    console.print(f"[bold]{label}[/]: {listed}", highlight=False)
    while True:
        with _keys(sys.stdin) as live:
            if live:
                raw = _read_live(console, f"{label} > ", lambda: countdown(view, clock.used()))
            else:
                console.print(f"[dim]{countdown(view, clock.used())}[/]", highlight=False)
                raw = console.input(f"[bold]{label}[/] > ")
        if raw.strip().lower() == "pause":
            clock.paused += _pause(console)
            continue
        found = match_choice(raw, options)
        if found is not None:
            return found
        if raw.strip():
            console.print(
                f"[red]{raw.strip()!r} is not one of the choices: a number, a name, or its "
                "start (or 'pause')[/]",
                highlight=False,
            )


def _pause(console: Console) -> float:
    """The facilitator's pause: until Enter. Returns how long it lasted."""
    began = time.monotonic()
    console.input("[yellow]paused[/]: press Enter to resume ")
    return time.monotonic() - began


def _ask_sync(
    console: Console, view: ContactView, thresholds: Thresholds | None
) -> tuple[Answer, float]:
    drop_typeahead()
    _show(console, view, thresholds)
    clock = _Clock()
    level = _choose(console, view, clock, "Level of need", level_choices(thresholds))
    rag = _choose(console, view, clock, "RAG rating", RAG_CHOICES)
    outcome = _choose(console, view, clock, "Outcome", OUTCOME_CHOICES)
    used = clock.used()
    console.print(f"decided in {used:.0f} s")
    return Answer(Level(int(level)), Rag(rag), Outcome(outcome)), used


def terminal_ask(console: Console, thresholds: Thresholds | None = None) -> Ask:
    async def ask(view: ContactView) -> tuple[Answer, float]:
        _CANCELLED.clear()
        try:
            return await asyncio.to_thread(_ask_sync, console, view, thresholds)
        except asyncio.CancelledError:
            _CANCELLED.set()
            raise

    return ask


def _wait_sync(console: Console, seconds: float, until: datetime) -> None:
    console.print(
        f"[dim]next event at {words.london(until)} in {seconds:.0f} s: "
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
