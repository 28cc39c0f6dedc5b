"""The runner: carries out approved requests, whatever happens to the process that approved them.

Every replica runs one. It claims an approved request from the store with a lease (one
compare-and-set: exactly one runner wins), renews the lease while the plan runs, and records each
step's result as soon as IAM answers, before the next step starts. A request whose runner died
(its lease lapsed) is claimed by another runner and resumed:

- a step with a recorded result is not run again;
- any other step runs: every step reads IAM before it writes, so a change the dead runner made
  is found in place and recorded as such, with no second call;
- a reset (the one step IAM keeps no trace of) that was attempted is never re-run: its outcome
  is recorded as unknown, the request ends partially completed, and the thread says to check
  the key.

The runner hears of approvals made in this process at once (`RequestService.watch`) and looks
in the store every `poll` seconds for work others left behind (approved by a replica that then
died, or executing under a lapsed lease).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta

from bot import bulk_runner
from bot.foreground import Foreground
from bot.logs import log_context
from bot.requests import OutcomeCode, RequestService, RequestStatus, RevocationRequest
from bot.revocation import executor
from bot.revocation.model import OUTCOME_UNKNOWN, Action, StepOutcome, StepResult
from bot.revocation.service import Revoker

log = logging.getLogger(__name__)

# IAM keeps no trace of these: after a crash, whether the call was made cannot be read back.
IRREVERSIBLE_OPERATIONS = frozenset({"ResetServiceSpecificCredential"})


class Runner:
    def __init__(
        self,
        requests: RequestService,
        revoker: Revoker,
        *,
        owner: str,
        lease: timedelta,
        poll: float,
        foreground: Foreground | None = None,
    ) -> None:
        self.requests = requests
        self.foreground = foreground or Foreground()
        self.revoker = revoker
        self.owner = owner
        self.lease = lease
        self.poll = poll
        self._running: dict[str, asyncio.Task[None]] = {}
        requests.watch(self._heard)

    @property
    def held(self) -> int:
        """Requests this runner is carrying out now."""
        return len(self._running)

    def _heard(self, req: RevocationRequest) -> None:
        if req.status is RequestStatus.APPROVED:
            self.take(req.id)

    def take(self, request_id: str) -> None:
        """Carry out `request_id` if this runner can claim it (no-op if it already runs it)."""
        if request_id in self._running:
            return
        task = asyncio.create_task(self._carry_out(request_id), name=f"run {request_id}")
        self._running[request_id] = task
        task.add_done_callback(lambda _: self._running.pop(request_id, None))

    async def look_for_work(self) -> int:
        """Claim what the store holds for a runner: approved requests nobody runs, and
        executions whose runner's lease lapsed. Returns how many were taken up."""
        now = self.requests.now()
        found = [
            r.id
            for r in await self.requests.list_active()
            if r.id not in self._running and r.runnable(self.owner, now)
        ]
        for request_id in found:
            self.take(request_id)
        return len(found)

    async def run(self) -> None:
        """Look for left-behind work every `poll` seconds, until cancelled."""
        while True:
            try:
                await self.look_for_work()
            except Exception:  # the next look retries; a store hiccup must not stop the runner
                log.exception("runner could not look for work")
            await asyncio.sleep(self.poll)

    async def stop(self, grace: float) -> None:
        """Let running plans finish for up to `grace` seconds, then abandon them: their lease
        lapses and another runner (or this one after a restart) resumes them."""
        running = set(self._running.values())
        if running:
            _, late = await asyncio.wait(running, timeout=grace)
            for task in late:
                task.cancel()
            if late:
                await asyncio.wait(late, timeout=1.0)

    async def _carry_out(self, request_id: str) -> None:
        with log_context(request_id=request_id, action="execute"):
            try:
                await self._claimed_run(request_id)
            except Exception:
                # The lease lapses and the run is resumed; nothing recorded is lost.
                log.exception("execution stopped; it resumes once its lease lapses")

    async def _claimed_run(self, request_id: str) -> None:
        claim = await self.requests.claim(request_id, self.owner, self.lease)
        if claim.code not in (OutcomeCode.EXECUTION_STARTED, OutcomeCode.RESUMED):
            log.debug("not executing: %s", claim.message)
            return
        assert claim.request is not None
        resumed = claim.code is OutcomeCode.RESUMED
        if resumed:
            log.warning("resuming an execution interrupted (runner %s)", claim.taken_from)
        renewal = asyncio.create_task(self._keep_lease(request_id))
        try:
            if claim.request.bulk is not None:
                req = await bulk_runner.run(
                    self.requests,
                    self.revoker,
                    claim.request,
                    owner=self.owner,
                    lease=self.lease,
                    foreground=self.foreground,
                )
                if req is None:
                    return
                verification = await bulk_runner.verify(self.revoker, req)
            else:
                req = await self._run_steps(claim.request, resumed)
                if req is None:
                    return
                verification = await self.revoker.verify(
                    req.plan, results=req.results, request_id=req.id
                )
            done = await self.requests.finish(req.id, self.owner, verification)
            if done.ok and done.request is not None:
                log.info("request finished: %s", done.request.status)
        finally:
            renewal.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewal

    async def _run_steps(self, req: RevocationRequest, resumed: bool) -> RevocationRequest | None:
        """Each step not yet recorded, in order, each recorded before the next starts. None when
        another runner took the request over meanwhile (it goes on from what is recorded)."""
        for index, call in enumerate(req.plan.steps):
            if req.result_of(index) is not None:
                continue
            if call.operation in IRREVERSIBLE_OPERATIONS:
                if index in req.attempted:
                    result = _unknown(index, call.operation, call.action, call.summary)
                else:
                    began = await self.requests.begin_step(req.id, self.owner, index)
                    if began.request is None or began.code is not OutcomeCode.STEP_RECORDED:
                        return None
                    result = await self._run_step(req, index)
            else:
                result = await self._run_step(req, index)
                if resumed and result.outcome is StepOutcome.SKIPPED:
                    result = result.model_copy(
                        update={"message": f"Found in place on resuming: {result.message}"}
                    )
            recorded = await self.requests.record_step(req.id, self.owner, result, self.lease)
            if recorded.code is not OutcomeCode.STEP_RECORDED or recorded.request is None:
                log.warning("stopping: %s", recorded.message)
                return None
            req = recorded.request
        return req

    async def _run_step(self, req: RevocationRequest, index: int) -> StepResult:
        await self.foreground.quiet()
        return await asyncio.to_thread(
            executor.run_step, self.revoker.clients, req.plan, index, request_id=req.id
        )

    async def _keep_lease(self, request_id: str) -> None:
        """Renew the lease a few times per lease period while the plan runs (an IAM call may
        take longer than a lease: the process is alive, so the request stays its own)."""
        every = self.lease.total_seconds() / 3
        while True:
            await asyncio.sleep(every)
            try:
                renewed = await self.requests.renew(request_id, self.owner, self.lease)
            except Exception:
                log.exception("could not renew the lease")
                continue
            if renewed.code is not OutcomeCode.RENEWED:
                return


def _unknown(index: int, operation: str, action: Action | None, summary: str) -> StepResult:
    return StepResult(
        index=index,
        operation=operation,
        outcome=StepOutcome.ERROR,
        error_code=OUTCOME_UNKNOWN,
        message=(
            f"The run was interrupted during this step ({summary}), so whether IAM made the "
            "change is unknown. It was not run again, so that nothing happens twice: check the "
            "key in IAM, and reset it with a new request if it still needs it."
        ),
        action=action,
    )
