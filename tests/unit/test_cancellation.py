"""A Ctrl-C that a library's `wait_for` lost is still seen by the next checkpoint."""

from __future__ import annotations

import asyncio

import pytest

from mash._runtime.cancellation import raise_if_cancelled


async def test_a_cancel_wait_for_swallowed_is_raised_at_the_next_checkpoint() -> None:
    reached: list[str] = []

    async def publishing() -> None:
        sent = asyncio.ensure_future(asyncio.sleep(0))
        await sent
        # The cancel arrives as the write it waits on has already finished: Python 3.11's
        # wait_for returns the result and drops the CancelledError (python/cpython#107547).
        current = asyncio.current_task()
        assert current is not None
        current.cancel()
        try:
            await asyncio.wait_for(sent, timeout=10)
        except asyncio.CancelledError:
            reached.append("raised by wait_for")  # Python 3.12 and later
            raise
        reached.append("swallowed")
        await asyncio.sleep(0)  # nothing pending any more: this await does not raise either
        raise_if_cancelled()
        reached.append("carried on")

    task = asyncio.create_task(publishing())
    with pytest.raises(asyncio.CancelledError):
        await task
    assert "carried on" not in reached
    assert reached in (["swallowed"], ["raised by wait_for"])


async def test_a_task_nobody_cancelled_passes_the_checkpoint() -> None:
    raise_if_cancelled()  # no cancel asked: nothing raised
    assert asyncio.current_task() is not None
