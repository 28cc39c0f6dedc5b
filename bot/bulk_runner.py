"""Carrying out a bulk request: many keys at IAM's speed, every result durable, nothing twice.

The runner (`bot.runner`) hands a claimed bulk request here. The calls of one phase (deny each
user, deactivate each key, delete each key) run on `REVOKER_BULK_CONCURRENCY` worker threads
with an IAM client of their own (botocore's adaptive retries: throttling slows the run instead
of failing keys). Results are recorded in batches, one compare-and-set at most every
`FLUSH_SECONDS`, never one rewrite of the request per key. A crash loses at most the batch in
flight; on resuming, those calls run again and, every call reading IAM before it writes, find
their change in place ("already") without a second write. The read before the writes is one
listing per phase (the user's keys, or the account's a thousand a page), not one per key, so a
run makes about one IAM call per key. A phase's results are recorded
before the next phase starts, so a key is Inactive before it is deleted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from functools import partial
from typing import TYPE_CHECKING

from bot.foreground import Foreground
from bot.requests import OutcomeCode, RequestService, RevocationRequest
from bot.revocation import bulk_verify, executor
from bot.revocation.bulk import KeyResult
from bot.revocation.model import Action, RevocationPlan, StepResult, Verification
from bot.revocation.service import Revoker

if TYPE_CHECKING:
    from mypy_boto3_iam import IAMClient

log = logging.getLogger(__name__)

FLUSH_SECONDS = 0.5  # results are recorded at most this often (and at each phase's end)
PROGRESS_EVERY = timedelta(seconds=3)  # the request message shows progress at most this often


class _Recorder:
    """Results waiting to be recorded, and the request as last written."""

    def __init__(
        self, requests: RequestService, req: RevocationRequest, owner: str, lease: timedelta
    ) -> None:
        self.requests = requests
        self.request = req
        self.owner = owner
        self.lease = lease
        self.known = {r.i for r in req.key_results}
        self.waiting: list[KeyResult] = []
        self.lost = False  # another runner holds the request now: stop calling IAM
        self._lock = asyncio.Lock()

    def add(self, result: KeyResult) -> None:
        self.waiting.append(result)
        self.known.add(result.i)

    async def flush(self) -> bool:
        """Record what is waiting in one write. False once the request is no longer ours."""
        async with self._lock:
            if self.lost:
                return False
            if not self.waiting:
                return True
            batch, self.waiting = tuple(self.waiting), []
            try:
                out = await self.requests.record_keys(
                    self.request.id, self.owner, batch, self.lease, PROGRESS_EVERY
                )
            except BaseException:
                self.waiting[:0] = batch  # kept for the next flush
                raise
            if out.code is not OutcomeCode.STEP_RECORDED or out.request is None:
                log.warning("stopping: %s", out.message)
                self.lost = True
                return False
            self.request = out.request
            return True

    async def flush_often(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_SECONDS)
            try:
                await self.flush()
            except Exception:  # the next flush retries; the results wait in memory
                log.exception("could not record a batch of results")


async def run(
    requests: RequestService,
    revoker: Revoker,
    req: RevocationRequest,
    *,
    owner: str,
    lease: timedelta,
    foreground: Foreground,
) -> RevocationRequest | None:
    """Every call without a recorded result, phase by phase; the request with them all recorded,
    or None when another runner took it over meanwhile."""
    plan = req.bulk
    assert plan is not None
    workers = revoker.settings.bulk_concurrency
    loop = asyncio.get_running_loop()
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"bulk {req.id}")
    workers_free = asyncio.Semaphore(workers)
    recorder = _Recorder(requests, req, owner, lease)
    flusher: asyncio.Task[None] | None = None
    try:
        iam = await loop.run_in_executor(
            pool,
            partial(
                revoker.clients.bulk_iam, plan.scope.account, request_id=req.id, workers=workers
            ),
        )
        flusher = asyncio.create_task(recorder.flush_often())
        for action, indexes in plan.phases():
            todo = [i for i in indexes if i not in recorder.known]
            if not todo:
                continue
            phase = plan.phase_plan(action, indexes)
            # The read before each write, for the whole phase in one listing: a key already
            # as wanted (also one changed by a runner that died before recording it) is found
            # so, with no call of its own.
            now: dict[str, str] | None = None
            if action is not Action.DENY_USER:
                now = await loop.run_in_executor(pool, bulk_verify.statuses, iam, plan)

            def call(
                index: int,
                phase: RevocationPlan = phase,
                start: int = indexes.start,
                now: dict[str, str] | None = now,
            ) -> StepResult | None:
                if recorder.lost:
                    return None
                known = None
                if now is not None:
                    key = plan.keys[index - start]
                    known = (True, now.get(key.credential_id))
                return executor.run_step(
                    revoker.clients, phase, index - start, request_id=req.id, iam=iam, known=known
                )

            async def one(index: int, call=call) -> None:  # type: ignore[no-untyped-def]
                # Each call waits for a worker here, not in the pool's queue, so acks in
                # flight hold back the calls not yet started.
                async with workers_free:
                    await foreground.quiet()
                    step: StepResult | None = await loop.run_in_executor(pool, call, index)
                if step is not None:
                    recorder.add(KeyResult.of(index, step))

            await asyncio.gather(*(one(i) for i in todo))
            if not await recorder.flush():
                return None
            log.info("bulk phase %s: %d calls recorded", action.value, len(todo))
        return recorder.request
    finally:
        if flusher is not None:
            flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await flusher
        pool.shutdown(wait=False, cancel_futures=True)


async def verify(revoker: Revoker, req: RevocationRequest) -> Verification:
    """IAM read back; again after each settle delay while a check does not hold (IAM is
    eventually consistent)."""
    plan = req.bulk
    assert plan is not None
    workers = revoker.settings.bulk_concurrency
    with ThreadPoolExecutor(max_workers=workers) as pool:
        loop = asyncio.get_running_loop()
        iam: IAMClient = await loop.run_in_executor(
            pool,
            partial(
                revoker.clients.bulk_iam, plan.scope.account, request_id=req.id, workers=workers
            ),
        )
        check = partial(bulk_verify.verify_sync, iam, plan, req.key_results, pool)
        verification = await loop.run_in_executor(None, check)
        for delay in revoker.settle_delays:
            if verification.holds:
                break
            await asyncio.sleep(delay)
            verification = await loop.run_in_executor(None, check)
    return verification
