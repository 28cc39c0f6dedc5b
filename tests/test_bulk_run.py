"""Bulk requests carried out by the runner: every key, results recorded in batches, a failure
that does not stop the others, resume without a second call, retry of the failures only, and
undo of exactly what was deactivated.

Real parts: the hub on SQLite, the runner, the real boto3 client against moto (in-process) with
the sandbox's service-specific credentials, fault injection and call counts.
"""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from typing import Any

import pytest
from conftest import DEAD, LEASE, T0, Approvers, Clock, create_long_term_key, make_settings

from bot import policies
from bot.audit import EventType
from bot.aws import AwsClients
from bot.requests import (
    NoticeKind,
    OutcomeCode,
    RequestService,
    RequestStatus,
    RevocationRequest,
    bulk_parts,
)
from bot.revocation import bulk
from bot.revocation.bulk import BulkPlan, KeyOutcome, KeyResult, ScopedKey
from bot.revocation.model import Action, StepOutcome, StepResult
from bot.revocation.service import Revoker
from bot.runner import Runner
from bot.sandbox import iam as sandbox
from bot.views.bulk import bulk_plan_reply, key_table_reply


def make_keys(iam: Any, users: int, per_user: int = 2) -> list[tuple[str, str]]:
    made = []
    for n in range(users):
        user = f"ci-{n:02d}"
        for _ in range(per_user):
            made.append((user, create_long_term_key(iam, user).credential_id))
    return made


def statuses(iam: Any) -> dict[str, str]:
    listed = iam.list_service_specific_credentials(AllUsers=True, MaxItems=1000)
    return {
        c["ServiceSpecificCredentialId"]: c["Status"] for c in listed["ServiceSpecificCredentials"]
    }


async def approved_bulk(
    hub: RequestService, revoker: Revoker, plan: BulkPlan, undo_of: str | None = None
) -> RevocationRequest:
    req = await hub.create(
        plan.request_plan(),
        "U_REQUESTER",
        "C1",
        "INC-7 CI secrets leaked",
        bulk=plan,
        undo_of=undo_of,
    )
    out = await hub.approve(req.id, "U_APPROVER", Approvers())
    assert out.code is OutcomeCode.APPROVED and out.request is not None
    return out.request


def account_plan(revoker: Revoker, actions: list[str] | None = None) -> BulkPlan:
    return bulk.resolve_sync(revoker.clients, bulk.parse_scope("account"), actions)


class OneRunner:
    """This test's one runner (like a process's), made at its first use: a runner watches the
    hub and takes every approval it hears of from then on."""

    def __init__(self) -> None:
        self.runner: Runner | None = None

    async def __call__(
        self, hub: RequestService, revoker: Revoker, request_id: str
    ) -> RevocationRequest:
        if self.runner is None:
            self.runner = Runner(hub, revoker, owner="live:2:111111", lease=LEASE, poll=60)
        self.runner.take(request_id)
        await self.runner.stop(grace=60)
        req = await hub.get(request_id)
        assert req is not None
        return req


@pytest.fixture
def run_to_end() -> OneRunner:
    return OneRunner()


async def test_every_key_of_the_account_is_deactivated_results_recorded_in_batches(
    hub: RequestService, revoker: Revoker, iam: Any, run_to_end: OneRunner
) -> None:
    made = make_keys(iam, 15)  # 30 keys on 15 users
    req = await approved_bulk(hub, revoker, account_plan(revoker))
    listed = sandbox.seen("ListServiceSpecificCredentials")

    done = await run_to_end(hub, revoker, req.id)
    lists = sandbox.seen("ListServiceSpecificCredentials") - listed

    assert done.status is RequestStatus.COMPLETED
    assert set(statuses(iam).values()) == {"Inactive"}
    assert sorted(r.i for r in done.key_results) == list(range(30))
    assert {r.o for r in done.key_results} == {KeyOutcome.DONE}
    assert sandbox.seen("UpdateServiceSpecificCredential") == len(made)  # once each
    # Read before writing in one listing for the phase, and one more to verify: not per key.
    assert lists == 2
    # Recorded in batches: fewer writes than keys, each batch one audit event.
    batches = [e for e in await hub.history(req.id) if e.type is EventType.STEP]
    assert 1 <= len(batches) < len(made)
    assert sum(len(e.data["results"]) for e in batches) == len(made)
    assert done.report is not None and done.report.verification.holds
    # The thread gets the per-key table (one part for 30 keys) and no reply per key.
    kinds = [n.kind for n in done.notices]
    assert kinds.count(NoticeKind.KEY_TABLE) == 1
    assert NoticeKind.STEP not in kinds


async def test_a_failing_key_does_not_stop_the_others_and_only_failures_are_retried(
    hub: RequestService, revoker: Revoker, iam: Any, run_to_end: OneRunner
) -> None:
    make_keys(iam, 10)
    sandbox.inject_error(
        "UpdateServiceSpecificCredential", "AccessDenied", times=None, when={"UserName": "ci-03"}
    )
    plan = account_plan(revoker)
    req = await approved_bulk(hub, revoker, plan)

    done = await run_to_end(hub, revoker, req.id)

    assert done.status is RequestStatus.PARTIAL
    counts = done.bulk_counts()
    assert (counts[KeyOutcome.DONE], counts[KeyOutcome.ERROR]) == (18, 2)
    failed = [r for r in done.key_results if r.o is KeyOutcome.ERROR]
    assert {r.code for r in failed} == {"AccessDenied"}
    assert all(r.msg and "ci-03" in r.msg for r in failed)
    now = statuses(iam)
    assert {c for c, s in now.items() if s == "Active"} == {
        k.credential_id for k in plan.keys if k.user_name == "ci-03"
    }

    # A retry is a new request of the failed keys only, with its own approval.
    sandbox.clear_faults()
    retry = plan.failures(done.key_results)
    assert retry is not None
    assert {k.user_name for k in retry.keys} == {"ci-03"} and len(retry.keys) == 2
    again = await run_to_end(hub, revoker, (await approved_bulk(hub, revoker, retry)).id)
    assert again.status is RequestStatus.COMPLETED
    assert sandbox.seen("UpdateServiceSpecificCredential") == 2
    assert set(statuses(iam).values()) == {"Inactive"}


async def test_throttling_slows_the_run_instead_of_failing_keys(
    hub: RequestService, revoker: Revoker, iam: Any, run_to_end: OneRunner
) -> None:
    make_keys(iam, 4)
    sandbox.inject_error("UpdateServiceSpecificCredential", "Throttling", times=2)
    req = await approved_bulk(hub, revoker, account_plan(revoker))

    done = await run_to_end(hub, revoker, req.id)

    assert done.status is RequestStatus.COMPLETED
    assert sandbox.seen("UpdateServiceSpecificCredential") == 8 + 2  # retried, not failed
    assert set(statuses(iam).values()) == {"Inactive"}


async def test_a_key_created_after_the_approval_is_not_in_the_run(
    hub: RequestService, revoker: Revoker, iam: Any, run_to_end: OneRunner
) -> None:
    made = make_keys(iam, 3, per_user=1)
    req = await approved_bulk(hub, revoker, account_plan(revoker))
    later = create_long_term_key(iam, "ci-00").credential_id  # in scope, after the snapshot

    done = await run_to_end(hub, revoker, req.id)

    assert done.status is RequestStatus.COMPLETED
    now = statuses(iam)
    assert now.pop(later) == "Active"  # what was approved is what ran
    assert set(now.values()) == {"Inactive"} and len(now) == len(made)
    assert sandbox.seen("UpdateServiceSpecificCredential") == len(made)


def calls_reach(operation: str, count: int, wait: float = 30) -> bool:
    """Whether IAM receives `count` calls of `operation` within `wait` seconds."""
    deadline = time.monotonic() + wait
    while sandbox.seen(operation) < count:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


async def test_no_more_keys_are_in_flight_than_the_bulk_concurrency_setting(
    hub: RequestService, clients: AwsClients, iam: Any, run_to_end: OneRunner
) -> None:
    revoker = Revoker(make_settings(bulk_concurrency=3), clients, settle_delays=())
    make_keys(iam, 5)  # 10 keys
    req = await approved_bulk(hub, revoker, account_plan(revoker))
    held = sandbox.hold("UpdateServiceSpecificCredential")
    try:
        run = asyncio.create_task(run_to_end(hub, revoker, req.id))
        assert await asyncio.to_thread(calls_reach, "UpdateServiceSpecificCredential", 3)
        # Three calls are inside IAM and stay there; with a fourth worker it would come at once.
        await asyncio.sleep(0.3)
        assert sandbox.seen("UpdateServiceSpecificCredential") == 3
    finally:
        held.release()
    done = await run

    assert done.status is RequestStatus.COMPLETED
    assert sandbox.seen("UpdateServiceSpecificCredential") == 10
    assert set(statuses(iam).values()) == {"Inactive"}


async def test_a_resumed_run_calls_nothing_twice(
    hub: RequestService, revoker: Revoker, iam: Any, clock: Clock, run_to_end: OneRunner
) -> None:
    made = make_keys(iam, 10)
    plan = account_plan(revoker)
    req = await approved_bulk(hub, revoker, plan)
    # A runner claimed it, deactivated the first 8 keys, recorded 5 of them, and died.
    assert (await hub.claim(req.id, DEAD, LEASE)).code is OutcomeCode.EXECUTION_STARTED
    for key in plan.keys[:8]:
        iam.update_service_specific_credential(
            UserName=key.user_name, ServiceSpecificCredentialId=key.credential_id, Status="Inactive"
        )
    recorded = tuple(KeyResult(i=i, o=KeyOutcome.DONE) for i in range(5))
    out = await hub.record_keys(req.id, DEAD, recorded, LEASE, timedelta(seconds=3))
    assert out.code is OutcomeCode.STEP_RECORDED
    before = sandbox.seen("UpdateServiceSpecificCredential")
    clock.now += LEASE + timedelta(seconds=1)

    done = await run_to_end(hub, revoker, req.id)

    assert done.status is RequestStatus.COMPLETED
    # The 5 recorded keys were not touched; the 3 done but unrecorded were found in place.
    assert sandbox.seen("UpdateServiceSpecificCredential") - before == len(made) - 8
    by_index = {r.i: r.o for r in done.key_results}
    assert [by_index[i] for i in range(8)] == [KeyOutcome.DONE] * 5 + [KeyOutcome.ALREADY] * 3
    assert len(done.key_results) == len(made)
    assert NoticeKind.INTERRUPTED in [n.kind for n in done.notices]


async def test_undo_reactivates_exactly_the_keys_this_request_deactivated(
    hub: RequestService, revoker: Revoker, iam: Any, run_to_end: OneRunner
) -> None:
    make_keys(iam, 5)
    plan = account_plan(revoker)
    already = plan.keys[:3]  # someone deactivated these before the request ran
    for key in already:
        iam.update_service_specific_credential(
            UserName=key.user_name, ServiceSpecificCredentialId=key.credential_id, Status="Inactive"
        )
    done = await run_to_end(hub, revoker, (await approved_bulk(hub, revoker, plan)).id)
    assert done.bulk_counts()[KeyOutcome.ALREADY] == 3

    undo = plan.undo(done.key_results)
    assert undo is not None and undo.actions == (Action.REACTIVATE,)
    assert [k.credential_id for k in undo.keys] == [k.credential_id for k in plan.keys[3:]]
    undone = await run_to_end(hub, revoker, (await approved_bulk(hub, revoker, undo, done.id)).id)

    assert undone.status is RequestStatus.COMPLETED
    now = statuses(iam)
    assert {now[k.credential_id] for k in already} == {"Inactive"}
    assert {now[k.credential_id] for k in plan.keys[3:]} == {"Active"}


async def test_deny_each_user_once_then_deactivate_then_delete(
    hub: RequestService, revoker: Revoker, iam: Any, run_to_end: OneRunner
) -> None:
    make_keys(iam, 3)
    plan = account_plan(revoker, ["deny_user", "deactivate", "delete"])

    done = await run_to_end(hub, revoker, (await approved_bulk(hub, revoker, plan)).id)

    assert done.status is RequestStatus.COMPLETED
    assert sandbox.seen("PutUserPolicy") == 3
    assert sandbox.seen("DeleteServiceSpecificCredential") == 6
    assert statuses(iam) == {}
    for user in plan.users:
        # The request's own deny policy: undoing another request never lifts it.
        assert iam.list_user_policies(UserName=user)["PolicyNames"] == [plan.deny_policy_name]
    assert plan.deny_policy_name.startswith("BedrockKeyRevokerDenyBearerToken-")
    assert done.report is not None
    assert [c.action for c in done.report.verification.checks] == [
        Action.DENY_USER,
        Action.DEACTIVATE,
        Action.DELETE,
    ]
    assert plan.undo(done.key_results) is None  # deleted keys cannot be reactivated


def synthetic_plan(n_keys: int) -> BulkPlan:
    """A resolved scope as data (no IAM needed): `n_keys` keys on half as many users."""
    keys = tuple(
        ScopedKey(
            user_name=f"BedrockAPIKey-{i // 2:04d}",
            credential_id=f"ACCA{i:017d}",
            status="Active",
            created_at=T0,
        )
        for i in range(n_keys)
    )
    return BulkPlan(
        scope=bulk.parse_scope("account"),
        account_id="123456789012",
        resolved_at=T0,
        actions=(Action.DENY_USER, Action.DEACTIVATE),
        keys=keys,
        deny_document=policies.deny_bearer_token(),
    )


async def test_progress_is_redrawn_at_most_every_few_seconds(
    hub: RequestService, clock: Clock
) -> None:
    plan = synthetic_plan(250)
    req = await hub.create(plan.request_plan(), "U_REQUESTER", "C1", "INC-7", bulk=plan)
    # 250 keys: the plan is listed over three thread replies.
    assert [n.data for n in req.notices if n.kind is NoticeKind.PLAN] == [
        {"part": k, "of": 3} for k in (1, 2, 3)
    ]
    await hub.approve(req.id, "U_APPROVER", Approvers())
    await hub.claim(req.id, "live", LEASE)
    every = timedelta(seconds=3)

    async def record(indexes: range) -> int:
        out = await hub.record_keys(
            req.id, "live", tuple(KeyResult(i=i, o=KeyOutcome.DONE) for i in indexes), LEASE, every
        )
        assert out.request is not None
        return sum(1 for n in out.request.notices if n.kind is NoticeKind.REQUEST)

    first = await record(range(0, 50))
    assert await record(range(50, 100)) == first  # within 3 s: no redraw
    clock.now += every
    assert await record(range(100, 150)) == first + 1
    # A batch recorded again (a flush retried after a lost answer) adds nothing.
    stored = await hub.get(req.id)
    assert stored is not None and len(stored.key_results) == 150
    assert await record(range(100, 150)) == first + 1
    stored = await hub.get(req.id)
    assert stored is not None and len(stored.key_results) == 150


async def test_a_thousand_keys_fit_one_stored_request_and_slacks_limits(
    hub: RequestService,
) -> None:
    """DynamoDB holds a request in one item of at most 400 KB, and every reply must fit Slack's
    limits (50 blocks, 3,000 characters a section): even when every call failed with a long
    message, and with the key list and the per-key table in several replies."""
    plan = synthetic_plan(1000)
    req = await hub.create(plan.request_plan(), "U_REQUESTER", "C1", "INC-7", bulk=plan)
    await hub.approve(req.id, "U_APPROVER", Approvers())
    await hub.claim(req.id, "live", LEASE)
    long_message = "User: arn:aws:sts::123456789012:assumed-role/revoker/x is not authorized " * 5
    failed = StepResult(
        index=0,
        operation="UpdateServiceSpecificCredential",
        outcome=StepOutcome.ERROR,
        message=long_message,
        error_code="AccessDenied",
    )
    results = tuple(KeyResult.of(i, failed) for i in range(plan.call_count))
    for start in range(0, len(results), 300):
        out = await hub.record_keys(
            req.id, "live", results[start : start + 300], LEASE, timedelta(seconds=3)
        )
        assert out.code is OutcomeCode.STEP_RECORDED
    stored = await hub.get(req.id)
    assert stored is not None and len(stored.key_results) == 1500

    assert len(stored.model_dump_json().encode()) < 350_000
    batches = [e for e in await hub.history(req.id) if e.type is EventType.STEP]
    assert all(r["msg"] for e in batches for r in e.data["results"])  # the audit keeps them all
    parts = bulk_parts(len(plan.keys))
    listed = ""
    for part in range(1, parts + 1):
        blocks, text = bulk_plan_reply(plan, part, parts, request_id=req.id)
        dumped = [b.to_dict() for b in blocks]  # slack_sdk checks the limits here
        assert len(dumped) <= 50 and len(text) <= 3000
        listed += str(dumped)
    assert all(listed.count(k.credential_id) == 1 for k in plan.keys)
    table = ""
    parts = bulk_parts(len(stored.key_results))
    for part in range(1, parts + 1):
        blocks, _ = key_table_reply(plan, stored.key_results, part, parts, request_id=req.id)
        dumped = [b.to_dict() for b in blocks]
        assert len(dumped) <= 50
        table += str(dumped)
    assert table.count(":x: error") == 1500
    assert table.count("IAM's message is in the audit log") == 1500 - 200
