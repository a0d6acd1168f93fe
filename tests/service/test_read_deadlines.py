"""``ReadDeadlines`` times out body reads with one timer per loop, and ends
them all when the server shuts down."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest

from service.read_deadlines import ReadDeadlines, ServerStoppingError

MESSAGE = {"type": "http.request", "body": b"{}", "more_body": False}


async def stalled() -> dict[str, Any]:
    await asyncio.sleep(60)
    return MESSAGE


async def prompt() -> dict[str, Any]:
    await asyncio.sleep(0.01)
    return MESSAGE


async def ready() -> dict[str, Any]:
    """A read whose part has arrived: it returns without waiting."""
    return MESSAGE


def test_stalled_read_times_out_near_deadline() -> None:
    deadlines = ReadDeadlines(0.4)

    async def scenario() -> float:
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            await deadlines.receive(stalled)
        return time.monotonic() - started

    waited = asyncio.run(scenario())
    assert waited >= 0.4
    assert waited < 0.4 + deadlines.interval + 0.3


def test_prompt_reads_return_their_message() -> None:
    deadlines = ReadDeadlines(0.4)

    async def scenario() -> list[dict[str, Any]]:
        return [await deadlines.receive(prompt) for _ in range(3)]

    assert asyncio.run(scenario()) == [MESSAGE] * 3


def test_stalled_read_leaves_concurrent_reads_alone() -> None:
    deadlines = ReadDeadlines(0.3)

    async def slow_but_steady() -> list[dict[str, Any]]:
        # six parts 0.1 s apart: 0.6 s in all, each part within the timeout
        messages = []
        for _ in range(6):
            await asyncio.sleep(0.1)
            messages.append(await deadlines.receive(prompt))
        return messages

    async def scenario() -> tuple[object, object]:
        results = await asyncio.gather(
            deadlines.receive(stalled), slow_but_steady(), return_exceptions=True
        )
        return results[0], results[1]

    stalled_result, steady_result = asyncio.run(scenario())
    assert isinstance(stalled_result, TimeoutError)
    assert steady_result == [MESSAGE] * 6


@pytest.mark.parametrize("closed", [False, True])
def test_outside_cancel_stays_a_cancel(closed: bool) -> None:
    deadlines = ReadDeadlines(5.0)

    async def scenario() -> None:
        task = asyncio.create_task(deadlines.receive(stalled))
        await asyncio.sleep(0.05)
        if closed:
            # the end of the read and the outside cancel meet in one step
            deadlines.close()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(scenario())


def test_deadlines_work_on_a_second_loop() -> None:
    deadlines = ReadDeadlines(0.2)

    async def scenario() -> None:
        with pytest.raises(TimeoutError):
            await deadlines.receive(stalled)

    asyncio.run(scenario())
    asyncio.run(scenario())


def test_two_loops_at_once_keep_their_own_reads() -> None:
    """Reads on two event loops in two threads time out on their own."""
    deadlines = ReadDeadlines(0.3)
    outcomes: list[str] = []

    def run_loop() -> None:
        async def scenario() -> None:
            try:
                await deadlines.receive(stalled)
            except TimeoutError:
                outcomes.append("timed out")
            assert await deadlines.receive(prompt) == MESSAGE
            outcomes.append("read")

        asyncio.run(scenario())

    threads = [threading.Thread(target=run_loop) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)

    assert sorted(outcomes) == ["read", "read", "timed out", "timed out"]


def test_outside_cancel_at_the_deadline_stays_a_cancel() -> None:
    """A task cancelled from outside in the same loop step as its deadline
    ends cancelled, not with a time-out that swallows the cancel."""
    deadlines = ReadDeadlines(0.01)

    async def scenario() -> None:
        task = asyncio.create_task(deadlines.receive(stalled))
        await asyncio.sleep(0)
        # past the deadline, the check cancels the read, and an outside
        # cancel follows before the task runs again
        time.sleep(0.05)
        deadlines._check(deadlines._loops[asyncio.get_running_loop()])
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(scenario())


def test_close_ends_stalled_reads_at_once() -> None:
    deadlines = ReadDeadlines(30.0)

    async def scenario() -> tuple[list[object], float]:
        reads = [asyncio.create_task(deadlines.receive(stalled)) for _ in range(2)]
        await asyncio.sleep(0.05)
        started = time.monotonic()
        deadlines.close()
        results = await asyncio.gather(*reads, return_exceptions=True)
        return results, time.monotonic() - started

    results, waited = asyncio.run(scenario())
    assert all(isinstance(result, ServerStoppingError) for result in results)
    assert waited < 1.0


def test_reads_after_close_end_when_they_wait() -> None:
    deadlines = ReadDeadlines(30.0)
    deadlines.close()

    async def scenario() -> dict[str, Any]:
        arrived = await deadlines.receive(ready)
        with pytest.raises(ServerStoppingError):
            await asyncio.wait_for(deadlines.receive(stalled), 5)
        # the end scheduled for the read that did not wait must not hit
        # the task at a later await
        await asyncio.sleep(0.05)
        return arrived

    assert asyncio.run(scenario()) == MESSAGE
