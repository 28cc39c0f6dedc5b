"""The runner carries out approved requests from the store, and resumes what a dead runner left.

Real parts: the hub on a SQLite store, the real boto3 client against moto (in-process), the real
executor. A dead runner is one that claimed a request and then wrote nothing more: its lease
lapses on the test's clock. IAM calls are counted on the client's own event hooks.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from conftest import DEAD, LEASE, Approvers, Clock, LongTermKey, create_long_term_key

from bot.audit import EventType
from bot.requests import NoticeKind, OutcomeCode, RequestService, RequestStatus, RevocationRequest
from bot.revocation import executor
from bot.revocation.model import OUTCOME_UNKNOWN, StepOutcome
from bot.revocation.service import Revoker
from bot.runner import Runner


def calls_of(revoker: Revoker) -> list[str]:
    """The IAM operations the revoker's client sends from now on, in order."""
    sent: list[str] = []
    revoker.clients.iam().meta.events.register(
        "before-call.iam.*", lambda model, **_: sent.append(model.name)
    )
    return sent


def key_status(iam: Any, key: LongTermKey) -> str:
    listed = iam.list_service_specific_credentials(UserName=key.user_name)
    (cred,) = listed["ServiceSpecificCredentials"]
    return str(cred["Status"])


async def approved(
    hub: RequestService, revoker: Revoker, key: LongTermKey, actions: list[str]
) -> RevocationRequest:
    plan = revoker.plan(await revoker.resolve(key.key), actions)
    req = await hub.create(plan, "U_REQUESTER", "C1", "INC-1")
    out = await hub.approve(req.id, "U_APPROVER", Approvers())
    assert out.code is OutcomeCode.APPROVED and out.request is not None
    return out.request


def runner(hub: RequestService, revoker: Revoker, owner: str = "live-host:2:111111") -> Runner:
    return Runner(hub, revoker, owner=owner, lease=LEASE, poll=60)


async def finished(hub: RequestService, runner: Runner, request_id: str) -> RevocationRequest:
    await runner.stop(grace=30)
    req = await hub.get(request_id)
    assert req is not None
    return req


async def test_an_approval_is_carried_out_by_the_runner_that_heard_it(
    hub: RequestService, revoker: Revoker, iam: Any
) -> None:
    key = create_long_term_key(iam, "alice")
    live = runner(hub, revoker)
    req = await approved(hub, revoker, key, ["deactivate", "deny_user"])
    assert live.held == 1  # taken when the approval was written, no poll needed

    done = await finished(hub, live, req.id)
    assert done.status is RequestStatus.COMPLETED
    assert [r.outcome for r in done.results] == [StepOutcome.OK, StepOutcome.OK]
    assert key_status(iam, key) == "Inactive"
    assert done.lease is None
    kinds = [n.kind for n in done.notices]
    assert kinds[-5:] == [
        NoticeKind.STEP,
        NoticeKind.STEP,
        NoticeKind.VERIFICATION,
        NoticeKind.SUMMARY,
        NoticeKind.REQUEST,
    ]


async def test_an_approval_nobody_ran_is_found_in_the_store(
    hub: RequestService, revoker: Revoker, iam: Any
) -> None:
    key = create_long_term_key(iam, "alice")
    # Approved by a process that died before its runner claimed the request.
    req = await approved(hub, revoker, key, ["deactivate"])
    live = runner(hub, revoker)
    assert await live.look_for_work() == 1
    assert (await finished(hub, live, req.id)).status is RequestStatus.COMPLETED
    assert key_status(iam, key) == "Inactive"


async def test_each_step_is_recorded_before_the_next_starts(
    hub: RequestService, revoker: Revoker, iam: Any
) -> None:
    key = create_long_term_key(iam, "alice")
    seen: list[int] = []

    async def results_when_called(**_: Any) -> None:
        got = await hub.get(req.id)
        assert got is not None
        seen.append(len(got.results))

    loop = asyncio.get_running_loop()
    for op in ("UpdateServiceSpecificCredential", "PutUserPolicy"):
        # Runs in the executor's worker thread, and holds the IAM call until the store is read.
        revoker.clients.iam().meta.events.register(
            f"before-call.iam.{op}",
            lambda **kw: asyncio.run_coroutine_threadsafe(results_when_called(**kw), loop).result(
                timeout=10
            ),
        )
    live = runner(hub, revoker)
    req = await approved(hub, revoker, key, ["deny_user", "deactivate"])
    await finished(hub, live, req.id)
    assert seen == [0, 1]  # the second write began with the first one's result stored


async def test_two_runners_on_one_request_run_it_once(
    hub: RequestService, revoker: Revoker, iam: Any
) -> None:
    key = create_long_term_key(iam, "alice")
    sent = calls_of(revoker)
    a, b = runner(hub, revoker, "a:1:aaaaaa"), runner(hub, revoker, "b:2:bbbbbb")
    req = await approved(hub, revoker, key, ["reset"])
    await b.look_for_work()
    await a.stop(grace=30)
    done = await finished(hub, b, req.id)
    assert done.status is RequestStatus.COMPLETED
    assert sent.count("ResetServiceSpecificCredential") == 1
    history = [e.type for e in await hub.history(req.id)]
    assert history.count(EventType.EXECUTION_STARTED) == 1 and EventType.RESUMED not in history


async def test_a_dead_runners_request_is_resumed_from_its_recorded_steps(
    hub: RequestService, revoker: Revoker, iam: Any, clock: Clock
) -> None:
    key = create_long_term_key(iam, "alice")
    req = await approved(hub, revoker, key, ["deny_user", "deactivate"])
    # The dead runner attached the deny policy, recorded it, then died.
    await hub.claim(req.id, DEAD, LEASE)
    first = await asyncio.to_thread(executor.run_step, revoker.clients, req.plan, 0)
    await hub.record_step(req.id, DEAD, first, LEASE)

    live = runner(hub, revoker)
    sent = calls_of(revoker)
    assert await live.look_for_work() == 0  # its lease still runs
    clock.now += LEASE + timedelta(seconds=1)
    assert await live.look_for_work() == 1
    done = await finished(hub, live, req.id)

    assert done.status is RequestStatus.COMPLETED
    assert "PutUserPolicy" not in sent and sent.count("UpdateServiceSpecificCredential") == 1
    assert [r.outcome for r in done.results] == [StepOutcome.OK, StepOutcome.OK]
    assert [n.kind for n in done.notices].count(NoticeKind.INTERRUPTED) == 1
    assert key_status(iam, key) == "Inactive"


async def test_a_change_made_but_not_recorded_is_found_in_place_and_not_made_again(
    hub: RequestService, revoker: Revoker, iam: Any, clock: Clock
) -> None:
    key = create_long_term_key(iam, "alice")
    req = await approved(hub, revoker, key, ["deactivate"])
    # The dead runner's call reached IAM, but it died before recording the answer.
    await hub.claim(req.id, DEAD, LEASE)
    await asyncio.to_thread(executor.run_step, revoker.clients, req.plan, 0)

    clock.now += LEASE + timedelta(seconds=1)
    live = runner(hub, revoker)
    sent = calls_of(revoker)
    await live.look_for_work()
    done = await finished(hub, live, req.id)

    assert "UpdateServiceSpecificCredential" not in sent
    (step,) = done.results
    assert step.outcome is StepOutcome.SKIPPED
    assert step.message.startswith("Found in place on resuming: ")
    assert done.status is RequestStatus.COMPLETED


async def test_an_interrupted_reset_is_never_run_again(
    hub: RequestService, revoker: Revoker, iam: Any, clock: Clock
) -> None:
    key = create_long_term_key(iam, "alice")
    req = await approved(hub, revoker, key, ["deactivate", "reset"])
    await hub.claim(req.id, DEAD, LEASE)
    await hub.record_step(
        req.id,
        DEAD,
        await asyncio.to_thread(executor.run_step, revoker.clients, req.plan, 0),
        LEASE,
    )
    await hub.begin_step(req.id, DEAD, 1)  # then died: did IAM reset the key? Nobody knows.

    clock.now += LEASE + timedelta(seconds=1)
    live = runner(hub, revoker)
    sent = calls_of(revoker)
    await live.look_for_work()
    done = await finished(hub, live, req.id)

    assert "ResetServiceSpecificCredential" not in sent
    unknown = done.results[1]
    assert unknown.outcome is StepOutcome.ERROR and unknown.error_code == OUTCOME_UNKNOWN
    assert "check the key" in unknown.message
    assert done.status is RequestStatus.PARTIAL


async def test_a_runner_whose_lease_was_taken_stops_writing(
    hub: RequestService, revoker: Revoker, iam: Any, clock: Clock
) -> None:
    key = create_long_term_key(iam, "alice")
    req = await approved(hub, revoker, key, ["deny_user", "deactivate"])
    await hub.claim(req.id, DEAD, LEASE)
    clock.now += LEASE + timedelta(seconds=1)
    live = runner(hub, revoker)
    await live.look_for_work()
    done = await finished(hub, live, req.id)
    # The runner presumed dead wakes up and tries to record what it did: refused.
    late = await hub.record_step(req.id, DEAD, done.results[0], LEASE)
    assert late.code is OutcomeCode.NOT_EXECUTING and not late.changed
