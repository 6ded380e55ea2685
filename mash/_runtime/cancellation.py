"""Whether the running task was asked to stop, even when a library lost the request."""

from __future__ import annotations

import asyncio


def raise_if_cancelled() -> None:
    """Raise the CancelledError of a cancel the current task received and did not see.

    Python 3.11's `asyncio.wait_for`, which redis-py awaits around every write, returns its
    result when the awaited future finishes in the same loop turn as the cancel, and the
    CancelledError is lost (python/cpython#86296, fixed in 3.12 by rewriting `wait_for`).
    The task's count of cancel requests survives, so a loop that publishes or waits for
    minutes asks it at each turn: Ctrl-C then stops a replay at its next chunk, instead of
    one time in a few letting it run to the end and exit 0.
    """
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError
