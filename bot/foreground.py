"""Acks first: work someone is waiting on goes before work nobody is waiting on yet.

Slack waits at most 3 seconds for an app's ack, and a burst of them (twenty people clicking
during an incident) queues on one event loop and one GIL behind whatever else is ready: the
forms opened after earlier acks, thread replies, the IAM calls of a running plan. That work can
wait a moment without anyone noticing; a late ack is an error in Slack. So background work asks
`Foreground.quiet()` before each unit of it and waits while a burst of requests is being
answered: one is in hand, or one was answered less than `calm` seconds ago (the next one of a
burst is usually already in the socket, out of sight). Once it is quiet, waiting units start
one per turn of the event loop, not all at once: twenty forms rendered in one go would hold up
the next burst as much as before.

A unit waits `patience` seconds at most, and deferring is bounded: the forms behind a burst
must still reach Slack within 3 s of their clicks, and a form costs a few milliseconds to build
and send. So a request that arrives while background work is behind (more than `backlog` units
waiting, or one waiting longer than its patience) `give_way()`s first: waiting units start
before it is read, which slows a stream of requests down to what the app can finish instead of
letting the work behind it fall further behind with every ack.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator

CALM_SECONDS = 0.01  # acks of a burst come ~1-2 ms apart; a gap this long ends it
PATIENCE_SECONDS = 0.5  # views.open must come within 3 s of the click that asked for it
BACKLOG = 100  # units: a burst's forms, a bulk run's keys, with room to spare
GIVE_WAY_SECONDS = 0.25  # the most a request waits for the backlog (its ack has 3 s)


class Foreground:
    def __init__(
        self,
        calm: float = CALM_SECONDS,
        patience: float = PATIENCE_SECONDS,
        backlog: int = BACKLOG,
        give_way_at_most: float = GIVE_WAY_SECONDS,
    ) -> None:
        self.calm = calm
        self.patience = patience
        self.backlog = backlog
        self.give_way_at_most = give_way_at_most
        self._serving = 0
        self._answered_at = -float("inf")
        self._idle = asyncio.Event()
        self._idle.set()
        self._turnstile = asyncio.Lock()
        self._waiting: dict[object, float] = {}  # unit -> when it asked, oldest first
        self._unit_started = asyncio.Event()  # replaced each time a waiting unit starts

    @property
    def serving(self) -> int:
        """Requests being answered now."""
        return self._serving

    @contextlib.contextmanager
    def answering(self) -> Iterator[None]:
        """Around the handling of one request someone is waiting on."""
        self._serving += 1
        self._idle.clear()
        try:
            yield
        finally:
            self._serving -= 1
            self._answered_at = time.monotonic()
            if not self._serving:
                self._idle.set()

    def _unsettled(self) -> float:
        """Seconds until it is calm again (0 once it is); only meaningful while idle."""
        return max(0.0, self._answered_at + self.calm - time.monotonic())

    def behind(self) -> bool:
        """More units are waiting than `backlog`, or one has waited its whole patience."""
        if len(self._waiting) > self.backlog:
            return True
        oldest = next(iter(self._waiting.values()), None)
        return oldest is not None and time.monotonic() - oldest >= self.patience

    async def give_way(self) -> None:
        """Before a request is answered: while background work is behind, waiting units start
        first (for `give_way_at_most` seconds at most)."""
        if not self.behind():
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.give_way_at_most):
                while self.behind():
                    await self._unit_started.wait()

    async def quiet(self) -> None:
        """Once no burst of requests is being answered and the units waiting before this one
        have started, or `patience` seconds after asking: then after those units too, one
        turn of the event loop later than the last."""
        if self._idle.is_set() and not self._unsettled() and not self._turnstile.locked():
            return
        unit = object()
        asked = self._waiting[unit] = time.monotonic()
        try:
            async with self._turnstile:
                # Patience counts from asking: units that ran out of it still start one per
                # turn, not all in one long turn in which no ack is answered.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(max(0.0, asked + self.patience - time.monotonic())):
                        while True:
                            await self._idle.wait()
                            if not (wait := self._unsettled()):
                                break
                            await asyncio.sleep(wait)
                # The next unit looks again after the loop has read what arrived meanwhile.
                await asyncio.sleep(0)
        finally:
            del self._waiting[unit]
            self._unit_started.set()
            self._unit_started = asyncio.Event()
