"""Acks first: work someone is waiting on goes before work nobody is waiting on yet.

Slack waits at most 3 seconds for an app's ack, and a burst of them (twenty people clicking
during an incident) queues on one event loop and one GIL behind whatever else is ready: the
forms opened after earlier acks, thread replies, the IAM calls of a running plan. That work can
wait a moment without anyone noticing; a late ack is an error in Slack. So background work asks
`Foreground.quiet()` before each unit of it and waits while a burst of requests is being
answered: one is in hand, or one was answered less than `calm` seconds ago (the next one of a
burst is usually already in the socket, out of sight). It waits `patience` seconds at most, so
a steady stream of requests delays background work but never starves it. Once it is quiet,
waiting units start one per turn of the event loop, not all at once: twenty forms rendered in
one go would hold up the next burst as much as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator

CALM_SECONDS = 0.01  # acks of a burst come ~1-2 ms apart; a gap this long ends it
PATIENCE_SECONDS = 0.5  # views.open must come within 3 s of the click that asked for it


class Foreground:
    def __init__(self, calm: float = CALM_SECONDS, patience: float = PATIENCE_SECONDS) -> None:
        self.calm = calm
        self.patience = patience
        self._serving = 0
        self._answered_at = -float("inf")
        self._idle = asyncio.Event()
        self._idle.set()
        self._turnstile = asyncio.Lock()

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

    async def quiet(self) -> None:
        """Once no burst of requests is being answered and the units waiting before this one
        have started, or `patience` seconds from now."""
        if self._idle.is_set() and not self._unsettled() and not self._turnstile.locked():
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.patience), self._turnstile:
                while True:
                    await self._idle.wait()
                    if not (wait := self._unsettled()):
                        break
                    await asyncio.sleep(wait)
                # The next unit looks again after the loop has read what arrived meanwhile.
                await asyncio.sleep(0)
