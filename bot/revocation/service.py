"""The revocation facade the Slack handlers, the CLI and the demo call.

revoker = Revoker(settings)                       # or Revoker(settings, AwsClients(settings))
target = await revoker.resolve("ABSK...", request_id="R-7KQ2M9")
plan = revoker.plan(target, ["deactivate", "deny_user"])
report = await revoker.run(plan, request_id="R-7KQ2M9")   # execute, then verify
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime

from bot.aws import AwsClients
from bot.config import Settings
from bot.revocation import blast_radius, executor, planner, signer, targets, verifier
from bot.revocation.model import (
    Action,
    DecodedKey,
    ExecutionReport,
    IdentifierType,
    KeyKind,
    RevocationPlan,
    Signer,
    StepResult,
    Target,
    Verification,
)


def _utc_now() -> datetime:
    return datetime.now(UTC)


class Revoker:
    def __init__(
        self,
        settings: Settings,
        clients: AwsClients | None = None,
        *,
        clock: Callable[[], datetime] = _utc_now,
        settle_delays: Sequence[float] = verifier.DEFAULT_SETTLE_DELAYS,
    ) -> None:
        self.settings = settings
        self.clients = clients or AwsClients(settings)
        self.clock = clock
        self.settle_delays = tuple(settle_delays)

    async def resolve(
        self,
        identifier: str | DecodedKey,
        *,
        kind: KeyKind | None = None,
        id_type: IdentifierType | None = None,
        role: str | None = None,
        account: str | None = None,
        request_id: str | None = None,
    ) -> Target:
        return await targets.resolve(
            self.clients,
            identifier,
            kind=kind,
            id_type=id_type,
            role=role,
            account=account,
            request_id=request_id,
            now=self.clock(),
        )

    async def find_signer(
        self, key: DecodedKey, *, account: str | None = None, request_id: str | None = None
    ) -> tuple[str | None, Signer]:
        """Who signed a short-term key, from CloudTrail (read-only; never raises for AWS)."""
        return await asyncio.to_thread(
            signer.locate,
            self.clients,
            key,
            account=account,
            request_id=request_id,
            now=self.clock(),
        )

    async def blast_radius(
        self, target: Target, *, request_id: str | None = None
    ) -> blast_radius.BlastRadius:
        """What the key did and what its principal holds (read-only; AWS errors are reported
        in it, never raised)."""
        return await asyncio.to_thread(
            blast_radius.investigate,
            self.clients,
            target,
            request_id=request_id,
            now=self.clock(),
        )

    def plan(
        self,
        target: Target,
        actions: Iterable[Action | str],
        *,
        revoke_before: datetime | None = None,
        now: datetime | None = None,
        undoing: RevocationPlan | None = None,
    ) -> RevocationPlan:
        """`undoing`: the plan of the request a reversal undoes (it names what to remove)."""
        return planner.plan(
            target,
            actions,
            settings=self.settings,
            now=now or self.clock(),
            revoke_before=revoke_before,
            undoing=undoing,
        )

    def undo_actions(
        self, plan: RevocationPlan, results: Sequence[StepResult] | None = None
    ) -> tuple[Action, ...]:
        return planner.undo_actions(plan, results)

    async def execute(
        self, plan: RevocationPlan, *, request_id: str | None = None
    ) -> tuple[StepResult, ...]:
        return await executor.execute(self.clients, plan, request_id=request_id)

    async def verify(
        self,
        plan: RevocationPlan,
        *,
        results: Sequence[StepResult] | None = None,
        request_id: str | None = None,
    ) -> Verification:
        return await verifier.verify(
            self.clients,
            plan,
            results=results,
            request_id=request_id,
            settle_delays=self.settle_delays,
        )

    async def run(self, plan: RevocationPlan, *, request_id: str | None = None) -> ExecutionReport:
        """Execute every step, then verify the end state against IAM."""
        started = self.clock()
        results = await self.execute(plan, request_id=request_id)
        verification = await self.verify(plan, results=results, request_id=request_id)
        return ExecutionReport(
            results=results,
            verification=verification,
            started_at=started,
            finished_at=self.clock(),
        )


__all__ = ["Revoker"]
