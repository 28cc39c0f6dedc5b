"""The outbox drainer: delivers each request's notices to the channel, in order, once each.

Every change the channel must hear of is a `Notice` written in the same compare-and-set as the
change itself (`bot.requests`), so nothing is lost when Slack is down or the process dies between
the two. The drainer takes a request's undelivered notices with a lease (one drainer per request
at a time, across replicas), hands them one by one to a `Courier` (the Slack adapter), and records
each as delivered before the next. A failed delivery is retried with backoff (honouring Slack's
Retry-After); later notices of that request wait behind it, other requests go on.

Once, not twice: a courier told to `look_first` checks Slack for the notice before posting it.
The drainer asks that whenever a post may have reached Slack without its delivery being recorded:
after a failed attempt (a timeout or a 5xx may follow a post that went through), and when it takes
over notices whose previous drainer's lease lapsed (it may have died between post and record).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Protocol

from bot.foreground import Foreground
from bot.logs import log_context
from bot.requests import (
    Notice,
    NoticeKind,
    OutcomeCode,
    RequestService,
    RequestStatus,
    RevocationRequest,
)

log = logging.getLogger(__name__)

BACKOFF_SECONDS = (1.0, 2.0, 4.0, 8.0, 15.0, 30.0, 60.0)


class Courier(Protocol):
    async def deliver(
        self, request: RevocationRequest, notice: Notice, *, look_first: bool
    ) -> str | None:
        """Show `notice` in the request's channel. Returns the request message's ts when this
        delivery posted it (a first REQUEST notice), else None. Raises when it could not."""
        ...


class DeliveryDeferred(Exception):
    """The courier could not deliver now; `retry_after` (seconds) when the other side said."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


class OutboxDrainer:
    def __init__(
        self,
        requests: RequestService,
        courier: Courier,
        *,
        owner: str,
        lease: timedelta,
        poll: float,
        backoff: tuple[float, ...] = BACKOFF_SECONDS,
        foreground: Foreground | None = None,
    ) -> None:
        self.requests = requests
        self.courier = courier
        self.foreground = foreground or Foreground()
        self.owner = owner
        self.lease = lease
        self.poll = poll
        self.backoff = backoff
        self._draining: dict[str, asyncio.Task[None]] = {}
        self._again: set[str] = set()  # written to while its drain ran: drain once more
        self._failures: dict[str, int] = {}  # request id -> failed attempts in a row
        self._retry_at: dict[str, float] = {}  # request id -> loop time of its next attempt
        requests.watch(self._heard)

    def _heard(self, req: RevocationRequest) -> None:
        # A request just approved is about to be claimed by a runner: that write is the way to
        # containment, so it goes first (a delivery's write would race it for the same row).
        # The claim's own write brings the drainer back; a poll covers a claim made elsewhere.
        if req.undelivered and req.status is not RequestStatus.APPROVED:
            self.drain(req.id)

    def drain(self, request_id: str) -> None:
        """Deliver `request_id`'s notices now, unless they are already being delivered or are
        waiting out a backoff."""
        if request_id in self._draining:
            self._again.add(request_id)
            return
        loop = asyncio.get_running_loop()
        if self._retry_at.get(request_id, 0.0) > loop.time():
            return
        task = asyncio.create_task(self._drain(request_id), name=f"outbox {request_id}")
        self._draining[request_id] = task
        task.add_done_callback(lambda _: self._done(request_id))

    def _done(self, request_id: str) -> None:
        self._draining.pop(request_id, None)
        if request_id in self._again:
            self._again.discard(request_id)
            self.drain(request_id)

    @property
    def backlog(self) -> int:
        """Requests whose delivery failed and waits for a retry."""
        return len(self._retry_at)

    async def look_for_work(self) -> int:
        """Start delivering every request with undelivered notices that no live drainer holds."""
        now = self.requests.now()
        found = [
            r.id
            for r in await self.requests.list_active()
            if r.undelivered and (r.courier is None or not r.courier.held_by_other(self.owner, now))
        ]
        for request_id in found:
            self.drain(request_id)
        return len(found)

    async def run(self) -> None:
        while True:
            try:
                await self.look_for_work()
            except Exception:
                log.exception("outbox drainer could not look for work")
            await asyncio.sleep(self.poll)

    async def flush(self, within: float) -> bool:
        """Wait up to `within` seconds for deliveries in progress; True when none is left."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while self._draining and (left := deadline - loop.time()) > 0:
            await asyncio.wait(set(self._draining.values()), timeout=left)
        return not self._draining

    async def stop(self) -> None:
        for task in list(self._draining.values()):
            task.cancel()
        if self._draining:
            await asyncio.wait(set(self._draining.values()), timeout=1.0)

    async def _drain(self, request_id: str) -> None:
        with log_context(request_id=request_id, action="deliver"):
            try:
                await self._deliver_all(request_id)
            except DeliveryDeferred as exc:
                self._retry_later(request_id, exc.retry_after, str(exc))
            except Exception as exc:
                self._retry_later(request_id, None, f"{type(exc).__name__}: {exc}")
            else:
                self._failures.pop(request_id, None)
                self._retry_at.pop(request_id, None)

    async def _deliver_all(self, request_id: str) -> None:
        claim = await self.requests.claim_outbox(request_id, self.owner, self.lease)
        if claim.code is not OutcomeCode.CLAIMED or claim.request is None:
            return
        req = claim.request
        # A post may be in Slack without its delivery recorded: look before posting again.
        look_first = claim.taken_from is not None or request_id in self._failures
        while req.undelivered:
            notice = req.undelivered[0]
            ts = None
            if not _superseded(req, notice):
                await self.foreground.quiet()
                ts = await self.courier.deliver(req, notice, look_first=look_first)
            look_first = False
            done = await self.requests.delivered(
                req.id, self.owner, notice.seq, self.lease, message_ts=ts
            )
            if done.code is not OutcomeCode.DELIVERED or done.request is None:
                return  # another drainer took over
            req = done.request

    def _retry_later(self, request_id: str, retry_after: float | None, why: str) -> None:
        failures = self._failures.get(request_id, 0) + 1
        self._failures[request_id] = failures
        delay = self.backoff[min(failures, len(self.backoff)) - 1]
        if retry_after is not None:
            delay = max(delay, retry_after)
        log.warning(
            "could not deliver to Slack (%s); attempt %d, retrying in %.0f s", why, failures, delay
        )
        loop = asyncio.get_running_loop()
        self._retry_at[request_id] = loop.time() + delay
        loop.call_later(delay, self._retry, request_id)

    def _retry(self, request_id: str) -> None:
        self._retry_at.pop(request_id, None)
        self.drain(request_id)


def _superseded(req: RevocationRequest, notice: Notice) -> bool:
    """A redraw of a posted request message that a later redraw in the queue replaces: the
    message only ever shows the request as it is now, so one update covers both."""
    if notice.kind is not NoticeKind.REQUEST or req.message_ts is None:
        return False
    return any(n.kind is NoticeKind.REQUEST for n in req.undelivered[1:])
