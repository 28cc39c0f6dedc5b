"""Every check's time limit, and the daemon threads that keep blocking calls off the event loop."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import threading
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


class CheckTimeout(Exception):
    """A check did not finish within its time limit."""


async def off_loop(fn: Callable[[], T], limit: float) -> T:
    """`fn()` in a daemon thread, awaited for at most `limit` seconds.

    Not `asyncio.to_thread`: its executor is joined when the loop shuts down, so one hung boto3
    call would hold the whole command long after its time-out had been reported.
    """
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def settle(outcome: Callable[[], None]) -> None:
        if not future.done():  # a timed-out wait has already given up on this future
            outcome()

    def work() -> None:
        deliver: Callable[[], None]
        try:
            deliver = functools.partial(future.set_result, fn())
        except BaseException as exc:
            deliver = functools.partial(future.set_exception, exc)
        # The loop is closed when the command finished without waiting for this thread.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(settle, deliver)

    context = contextvars.copy_context()
    threading.Thread(target=context.run, args=(work,), name="doctor-check", daemon=True).start()
    return await within(future, limit)


async def within(awaitable: Awaitable[T], limit: float) -> T:
    try:
        return await asyncio.wait_for(awaitable, limit)
    except TimeoutError:
        raise CheckTimeout from None
