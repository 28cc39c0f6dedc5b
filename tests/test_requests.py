"""The request state machine, driven through the hub on a real SQLite store with a fake clock."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import pytest
from conftest import T0, Clock, make_plan
from pydantic import ValidationError

from bot.audit import EventType, verify_lines
from bot.errors import InvalidInput, NotFound
from bot.requests import (
    TERMINAL_STATUSES,
    TRANSITIONS,
    InvalidTransition,
    NoticeKind,
    OutcomeCode,
    RequestService,
    RequestStatus,
    RevocationRequest,
    advance,
    new_request_id,
    normalize_request_id,
)
from bot.revocation.model import (
    OUTCOME_UNKNOWN,
    Check,
    ExecutionReport,
    StepOutcome,
    StepResult,
    Verification,
)
from bot.store import RequestStore

REQUESTER, ALICE, BOB, CAROL, MALLORY = "U_REQ", "U_ALICE", "U_BOB", "U_CAROL", "U_MALLORY"
APPROVERS = {ALICE, BOB, CAROL}
UPDATE = "UpdateServiceSpecificCredential"


class Approvers:
    """is_approver that records who was asked about."""

    def __init__(self, members: set[str] = APPROVERS) -> None:
        self.members = members
        self.asked: list[str] = []

    async def __call__(self, user_id: str) -> bool:
        self.asked.append(user_id)
        return user_id in self.members


@pytest.fixture
def hub(store: RequestStore, clock: Clock) -> RequestService:
    return RequestService(
        store, clock=clock, ttl=timedelta(minutes=60), name_user=lambda u: f"<{u}>"
    )


async def new(hub: RequestService, required: int = 1) -> RevocationRequest:
    return await hub.create(make_plan(), REQUESTER, "C1", "INC-7: key in a gist", required)


async def unchanged(hub: RequestService, req: RevocationRequest, events: int) -> None:
    got = await hub.get(req.id)
    assert got is not None and got.version == req.version
    assert len(await hub.history(req.id)) == events


# --- the model ------------------------------------------------------------------------------------


def test_request_ids_are_crockford_and_valid() -> None:
    ids = {new_request_id() for _ in range(200)}
    assert len(ids) == 200
    for rid in ids:
        assert normalize_request_id(rid) == rid
        assert len(rid) == 10 and not set(rid[2:]) & set("ILOU")


def test_typed_request_ids_are_normalised() -> None:
    assert normalize_request_id(" r-7kq2m9ol ") == "R-7KQ2M901"
    with pytest.raises(InvalidInput):
        normalize_request_id("R-!!")


def test_every_status_is_open_decided_or_terminal_and_terminal_is_final() -> None:
    for status in RequestStatus:
        assert status in TRANSITIONS
    for status in TERMINAL_STATUSES:
        assert TRANSITIONS[status] == frozenset()


async def test_advance_refuses_illegal_transitions(hub: RequestService) -> None:
    req = await new(hub)
    with pytest.raises(InvalidTransition):
        advance(req, RequestStatus.COMPLETED)
    assert advance(req, RequestStatus.APPROVED).version == req.version + 1


async def test_advance_validates_what_it_changes(hub: RequestService) -> None:
    """A write re-validates only the fields it changes (not a bulk request's thousand keys),
    and those are still checked, nested models included."""
    req = await new(hub)
    with pytest.raises(ValidationError):
        advance(req, required_approvals=0)
    with pytest.raises(ValidationError):
        advance(req, lease={"owner": "runner", "expires_at": "2026-01-01T00:00:00"})  # naive
    leased = advance(req, lease={"owner": "runner", "expires_at": T0})
    assert leased.lease is not None and leased.lease.expires_at == T0
    assert leased.plan is req.plan  # untouched parts are carried over, not rebuilt


# --- create ---------------------------------------------------------------------------------------


async def test_create_opens_a_pending_request_with_a_ttl(hub: RequestService) -> None:
    req = await new(hub, required=2)
    assert req.status is RequestStatus.PENDING and req.is_open
    assert req.expires_at == T0 + timedelta(minutes=60)
    assert req.required_approvals == 2
    assert await hub.get(req.id) == req
    [event] = await hub.history(req.id)
    assert event.type is EventType.REQUESTED and event.actor == REQUESTER
    assert event.data["calls"][0]["operation"] == "UpdateServiceSpecificCredential"


async def test_create_keeps_a_pasted_key_out_of_the_store(hub: RequestService) -> None:
    leaked = "ABSK" + "QmVkcm9ja0FQSUtleS1hYmMtYXQtMTIzNDU2Nzg5MDEyOnNlY3JldA=="
    req = await hub.create(make_plan(), REQUESTER, "C1", f"found {leaked} in a gist")
    assert leaked not in req.reason and "[Bedrock API key " in req.reason
    assert all(leaked not in e.line() for e in await hub.history(req.id))


async def test_create_requires_a_reason(hub: RequestService) -> None:
    with pytest.raises(InvalidInput) as exc:
        await hub.create(make_plan(), REQUESTER, "C1", "   ")
    assert exc.value.field == "reason"


# --- approve: the order of checks -----------------------------------------------------------------


async def test_approve_unknown_request(hub: RequestService) -> None:
    out = await hub.approve("R-00000000", ALICE, Approvers())
    assert out.code is OutcomeCode.NOT_FOUND and not out.changed


async def test_a_malformed_request_id_is_refused_without_being_quoted(
    hub: RequestService,
) -> None:
    for bad in ("R-1 <@U0CAROL> <!channel>", "", "x" * 2000):
        for out in (
            await hub.approve(bad, ALICE, Approvers()),
            await hub.reject(bad, ALICE, Approvers()),
            await hub.cancel(bad, REQUESTER),
        ):
            assert out.code is OutcomeCode.NOT_FOUND and not out.changed
            assert out.message == "That is not a request id."


async def test_first_valid_approval_approves(hub: RequestService, clock: Clock) -> None:
    req = await new(hub)
    clock.now = T0 + timedelta(minutes=3)
    out = await hub.approve(req.id, ALICE, Approvers())
    assert out.code is OutcomeCode.APPROVED and out.ok and out.changed
    assert out.request is not None
    assert out.request.status is RequestStatus.APPROVED
    assert out.request.decided_by == ALICE and out.request.decided_at == clock.now
    assert "<U_ALICE>" in out.message and "12:03:00" in out.message
    assert await hub.get(req.id) == out.request


async def test_decided_request_is_refused_before_anything_else(hub: RequestService) -> None:
    req = await new(hub)
    await hub.approve(req.id, ALICE, Approvers())
    asked = Approvers()
    # Even the requester and a non-approver hear "already approved", not a lecture.
    for user in (REQUESTER, MALLORY, BOB, ALICE):
        out = await hub.approve(req.id, user, asked)
        assert out.code is OutcomeCode.NOT_PENDING and not out.changed
        assert "<U_ALICE> already approved" in out.message and "12:00:00" in out.message
    assert asked.asked == []


async def test_expiry_is_checked_before_who_clicks(hub: RequestService, clock: Clock) -> None:
    req = await new(hub)
    clock.now = req.expires_at
    asked = Approvers()
    out = await hub.approve(req.id, REQUESTER, asked)
    assert out.code is OutcomeCode.EXPIRED and not out.ok
    # The click found the TTL passed and recorded it: the message must be updated.
    assert out.changed and out.request is not None
    assert out.request.status is RequestStatus.EXPIRED
    assert asked.asked == []
    later = await hub.approve(req.id, ALICE, asked)
    assert later.code is OutcomeCode.NOT_PENDING and "expired" in later.message
    assert [e.type for e in await hub.history(req.id)] == [EventType.REQUESTED, EventType.EXPIRED]


async def test_self_approval_is_refused_before_asking_who_approves(hub: RequestService) -> None:
    req = await new(hub)
    asked = Approvers({REQUESTER, ALICE})  # the requester is an approver too
    out = await hub.approve(req.id, REQUESTER, asked)
    assert out.code is OutcomeCode.SELF_APPROVAL and not out.changed
    assert "second person" in out.message
    assert asked.asked == []
    await unchanged(hub, req, events=1)


async def test_non_approver_is_refused(hub: RequestService) -> None:
    req = await new(hub)
    out = await hub.approve(req.id, MALLORY, Approvers())
    assert out.code is OutcomeCode.NOT_APPROVER and not out.changed
    await unchanged(hub, req, events=1)


async def test_duplicate_approval_is_refused(hub: RequestService) -> None:
    req = await new(hub, required=2)
    first = await hub.approve(req.id, ALICE, Approvers())
    assert first.code is OutcomeCode.APPROVAL_RECORDED
    assert first.request is not None
    out = await hub.approve(req.id, ALICE, Approvers())
    assert out.code is OutcomeCode.DUPLICATE and not out.changed
    assert "2 approvals from different people" in out.message
    await unchanged(hub, first.request, events=2)


async def test_two_approvals_needed(hub: RequestService, clock: Clock) -> None:
    req = await new(hub, required=2)
    first = await hub.approve(req.id, ALICE, Approvers())
    assert first.code is OutcomeCode.APPROVAL_RECORDED and first.changed
    assert first.request is not None and first.request.status is RequestStatus.PENDING
    assert "1 of 2" in first.message
    clock.now = T0 + timedelta(minutes=1)
    second = await hub.approve(req.id, BOB, Approvers())
    assert second.code is OutcomeCode.APPROVED
    assert second.request is not None
    assert second.request.approved_by == (ALICE, BOB)
    assert second.request.decided_by == BOB
    types = [e.type for e in await hub.history(req.id)]
    assert types == [EventType.REQUESTED, EventType.APPROVAL, EventType.APPROVED]


# --- approve: races -------------------------------------------------------------------------------


class BarrierApprovers(Approvers):
    """Holds every clicker until all have read the request, so their writes truly collide."""

    def __init__(self, parties: int) -> None:
        super().__init__()
        self.barrier = asyncio.Barrier(parties)

    async def __call__(self, user_id: str) -> bool:
        await self.barrier.wait()
        return await super().__call__(user_id)


async def test_two_approvers_at_once_one_wins_and_the_other_is_told_who(
    hub: RequestService,
) -> None:
    req = await new(hub)
    check = BarrierApprovers(2)
    outs = await asyncio.gather(hub.approve(req.id, ALICE, check), hub.approve(req.id, BOB, check))
    codes = sorted(o.code for o in outs)
    assert codes == [OutcomeCode.APPROVED, OutcomeCode.NOT_PENDING]
    won = next(o for o in outs if o.code is OutcomeCode.APPROVED)
    lost = next(o for o in outs if o.code is OutcomeCode.NOT_PENDING)
    assert won.request is not None and won.request.decided_by is not None
    assert f"<{won.request.decided_by}> already approved" in lost.message
    assert not lost.changed
    events = await hub.history(req.id)
    assert [e.type for e in events] == [EventType.REQUESTED, EventType.APPROVED]


async def test_many_approvers_at_once_still_one_approval(hub: RequestService) -> None:
    req = await new(hub)
    users = [f"U_{i}" for i in range(10)]
    check = BarrierApprovers(len(users))
    check.members = set(users)
    outs = await asyncio.gather(*(hub.approve(req.id, u, check) for u in users))
    assert [o.code for o in outs].count(OutcomeCode.APPROVED) == 1
    assert {o.code for o in outs} == {OutcomeCode.APPROVED, OutcomeCode.NOT_PENDING}


async def test_concurrent_approvals_toward_n_both_count(hub: RequestService) -> None:
    """With N=2, two approvers at once are both needed: the loser re-reads and adds its own."""
    req = await new(hub, required=2)
    check = BarrierApprovers(2)
    outs = await asyncio.gather(hub.approve(req.id, ALICE, check), hub.approve(req.id, BOB, check))
    assert sorted(o.code for o in outs) == [OutcomeCode.APPROVAL_RECORDED, OutcomeCode.APPROVED]
    got = await hub.get(req.id)
    assert got is not None and got.status is RequestStatus.APPROVED
    assert set(got.approved_by) == {ALICE, BOB}


# --- reject, cancel, expire -----------------------------------------------------------------------


async def test_an_approver_rejects_with_a_note(hub: RequestService) -> None:
    req = await new(hub)
    out = await hub.reject(req.id, BOB, Approvers(), note="  wrong key, see thread  ")
    assert out.code is OutcomeCode.REJECTED and out.changed
    assert out.request is not None and out.request.status is RequestStatus.REJECTED
    assert out.request.decision_note == "wrong key, see thread"
    # The note is user text: it is kept for rendering (escaped) but never put in a message.
    assert "wrong key" not in out.message
    late = await hub.approve(req.id, ALICE, Approvers())
    assert late.code is OutcomeCode.NOT_PENDING and "<U_BOB> rejected" in late.message


async def test_only_approvers_reject_and_the_requester_is_pointed_to_cancel(
    hub: RequestService,
) -> None:
    req = await new(hub)
    out = await hub.reject(req.id, REQUESTER, Approvers())
    assert out.code is OutcomeCode.NOT_APPROVER and "cancel" in out.message
    assert (await hub.reject(req.id, MALLORY, Approvers())).code is OutcomeCode.NOT_APPROVER
    await unchanged(hub, req, events=1)


async def test_a_requester_who_is_an_approver_cannot_reject_their_own_request(
    hub: RequestService,
) -> None:
    req = await new(hub)
    out = await hub.reject(req.id, REQUESTER, Approvers({REQUESTER, ALICE}), note="never mind")
    assert out.code is OutcomeCode.SELF_APPROVAL and not out.changed
    assert "Cancel it instead" in out.message
    await unchanged(hub, req, events=1)
    assert (await hub.cancel(req.id, REQUESTER)).code is OutcomeCode.CANCELLED


async def test_only_the_requester_cancels(hub: RequestService) -> None:
    req = await new(hub)
    refused = await hub.cancel(req.id, ALICE)
    assert refused.code is OutcomeCode.NOT_REQUESTER and "<U_REQ>" in refused.message
    await unchanged(hub, req, events=1)
    out = await hub.cancel(req.id, REQUESTER, note="found it was a test key")
    assert out.code is OutcomeCode.CANCELLED
    assert out.request is not None and out.request.status is RequestStatus.CANCELLED
    again = await hub.cancel(req.id, REQUESTER)
    assert again.code is OutcomeCode.NOT_PENDING and "<U_REQ> cancelled" in again.message


async def test_a_click_from_another_channel_decides_nothing(
    hub: RequestService, clock: Clock
) -> None:
    # new() posts in C1. A payload naming another channel (copied, replayed) is refused by every
    # decision, before anything else, and writes nothing: not even the expiry it would find.
    req = await new(hub, required=2)
    asked = Approvers()
    for out in (
        await hub.approve(req.id, ALICE, asked, channel_id="C2"),
        await hub.reject(req.id, BOB, asked, "no", channel_id="C2"),
        await hub.cancel(req.id, REQUESTER, channel_id="C2"),
    ):
        assert out.code is OutcomeCode.WRONG_CHANNEL and not out.changed and not out.ok
    assert asked.asked == []
    await unchanged(hub, req, events=1)
    clock.now += timedelta(hours=2)
    late = await hub.approve(req.id, ALICE, asked, channel_id="C2")
    assert late.code is OutcomeCode.WRONG_CHANNEL
    await unchanged(hub, req, events=1)
    # In its own channel the same click counts.
    clock.now -= timedelta(hours=2)
    ok = await hub.approve(req.id, ALICE, asked, channel_id="C1")
    assert ok.code is OutcomeCode.APPROVAL_RECORDED


async def test_cancel_a_partly_approved_request(hub: RequestService) -> None:
    req = await new(hub, required=2)
    await hub.approve(req.id, ALICE, Approvers())
    assert (await hub.cancel(req.id, REQUESTER)).code is OutcomeCode.CANCELLED


async def test_expire_due_sweeps_only_pending_requests_past_their_ttl(
    hub: RequestService, clock: Clock
) -> None:
    old = await new(hub)
    approved = await new(hub)
    await hub.approve(approved.id, ALICE, Approvers())
    clock.now = T0 + timedelta(minutes=30)
    fresh = await new(hub)

    swept = await hub.expire_due(T0 + timedelta(minutes=60))
    assert [r.id for r in swept] == [old.id]
    assert swept[0].status is RequestStatus.EXPIRED
    assert swept[0].decided_at == old.expires_at
    fresh_now = await hub.get(fresh.id)
    assert fresh_now is not None and fresh_now.status is RequestStatus.PENDING
    approved_now = await hub.get(approved.id)
    assert approved_now is not None and approved_now.status is RequestStatus.APPROVED
    assert await hub.expire_due(T0 + timedelta(minutes=60)) == []
    history = await hub.history(old.id)
    assert history[-1].type is EventType.EXPIRED and history[-1].actor == "system"


async def test_expire_due_uses_the_clock_by_default(hub: RequestService, clock: Clock) -> None:
    req = await new(hub)
    assert await hub.expire_due() == []
    clock.now = req.expires_at + timedelta(seconds=1)
    assert [r.id for r in await hub.expire_due()] == [req.id]


async def test_concurrent_sweeps_expire_once(hub: RequestService, clock: Clock) -> None:
    req = await new(hub)
    clock.now = req.expires_at
    a, b = await asyncio.gather(hub.expire_due(), hub.expire_due())
    assert len(a) + len(b) == 1
    assert [e.type for e in await hub.history(req.id)].count(EventType.EXPIRED) == 1


# --- execution: the runner's writes ---------------------------------------------------------------

RUNNER, OTHER = "host:1:aaaaaa", "host:2:bbbbbb"
LEASE = timedelta(seconds=30)


def result(index: int, outcome: StepOutcome = StepOutcome.OK) -> StepResult:
    return StepResult(index=index, operation=UPDATE, outcome=outcome, message="IAM said OK")


def verification(holds: bool = True) -> Verification:
    return Verification(
        checks=(Check(description="key is Inactive", holds=holds, observed="Inactive"),)
    )


async def executed(
    hub: RequestService, req: RevocationRequest, *outcomes: StepOutcome, holds: bool = True
) -> RevocationRequest:
    """Approved, claimed, each step recorded, finished: what a runner does."""
    await hub.approve(req.id, ALICE, Approvers())
    assert (await hub.claim(req.id, RUNNER, LEASE)).code is OutcomeCode.EXECUTION_STARTED
    for i, outcome in enumerate(outcomes):
        assert (await hub.record_step(req.id, RUNNER, result(i, outcome), LEASE)).ok
    done = await hub.finish(req.id, RUNNER, verification(holds))
    assert done.code is OutcomeCode.FINISHED and done.request is not None
    return done.request


async def test_execution_is_claimed_once_and_finished_with_its_report(
    hub: RequestService, clock: Clock
) -> None:
    req = await new(hub)
    assert (await hub.claim(req.id, RUNNER, LEASE)).code is OutcomeCode.NOT_APPROVED
    await hub.approve(req.id, ALICE, Approvers())
    claims = await asyncio.gather(hub.claim(req.id, RUNNER, LEASE), hub.claim(req.id, OTHER, LEASE))
    assert sorted(c.code for c in claims) == [OutcomeCode.EXECUTION_STARTED, OutcomeCode.HELD]
    winner = next(c for c in claims if c.ok).request
    assert winner is not None and winner.lease is not None
    owner = winner.lease.owner
    assert winner.lease.expires_at == clock.now + LEASE

    clock.now += timedelta(seconds=2)
    assert (await hub.record_step(req.id, owner, result(0), LEASE)).ok
    done = await hub.finish(req.id, owner, verification())
    assert done.code is OutcomeCode.FINISHED
    assert done.request is not None and done.request.status is RequestStatus.COMPLETED
    assert done.request.report is not None
    assert done.request.report.results == (result(0),)
    assert done.request.lease is None and done.request.is_terminal
    again = await hub.finish(req.id, owner, verification())
    assert again.code is OutcomeCode.NOT_EXECUTING and not again.changed

    events = await hub.history(req.id)
    assert [e.type for e in events] == [
        EventType.REQUESTED,
        EventType.APPROVED,
        EventType.EXECUTION_STARTED,
        EventType.STEP,
        EventType.VERIFIED,
        EventType.COMPLETED,
    ]
    assert events[-1].data["elapsed_seconds"] == 2.0
    assert events[-2].data["holds"] is True
    assert verify_lines(e.line() for e in events) == []


async def test_a_step_is_recorded_once_and_only_by_the_lease_holder(hub: RequestService) -> None:
    req = await new(hub)
    await hub.approve(req.id, ALICE, Approvers())
    await hub.claim(req.id, RUNNER, LEASE)
    assert (await hub.record_step(req.id, OTHER, result(0), LEASE)).code is OutcomeCode.LEASE_LOST
    assert (await hub.finish(req.id, OTHER, verification())).code is OutcomeCode.LEASE_LOST
    first = await hub.record_step(req.id, RUNNER, result(0), LEASE)
    assert first.changed
    twice = await hub.record_step(req.id, RUNNER, result(0, StepOutcome.ERROR), LEASE)
    assert not twice.changed
    got = await hub.get(req.id)
    assert got is not None and got.results == (result(0),)


async def test_a_lapsed_lease_is_taken_over_and_the_old_runner_is_shut_out(
    hub: RequestService, clock: Clock
) -> None:
    req = await new(hub)
    await hub.approve(req.id, ALICE, Approvers())
    await hub.claim(req.id, RUNNER, LEASE)
    await hub.record_step(req.id, RUNNER, result(0), LEASE)
    assert (await hub.claim(req.id, OTHER, LEASE)).code is OutcomeCode.HELD
    renewed = await hub.renew(req.id, RUNNER, LEASE)
    assert renewed.changed
    lost_at = clock.now + LEASE

    clock.now += LEASE + timedelta(seconds=1)
    taken = await hub.claim(req.id, OTHER, LEASE)
    assert taken.code is OutcomeCode.RESUMED and taken.taken_from == RUNNER
    assert taken.request is not None and taken.request.results == (result(0),)
    assert (await hub.record_step(req.id, RUNNER, result(1), LEASE)).code is OutcomeCode.LEASE_LOST
    assert (await hub.renew(req.id, RUNNER, LEASE)).code is OutcomeCode.LEASE_LOST
    resumed = (await hub.history(req.id))[-1]
    assert resumed.type is EventType.RESUMED
    assert resumed.data["interrupted_runner"] == RUNNER
    assert resumed.data["lease_expired_at"] == lost_at.isoformat()
    assert resumed.data["steps_recorded"] == 1
    interrupted = taken.request.notices[-1]
    assert interrupted.kind is NoticeKind.INTERRUPTED
    assert interrupted.data == {"lost": lost_at.isoformat(), "at": clock.now.isoformat()}


async def test_an_attempted_step_is_remembered(hub: RequestService) -> None:
    req = await new(hub)
    await hub.approve(req.id, ALICE, Approvers())
    await hub.claim(req.id, RUNNER, LEASE)
    assert (await hub.begin_step(req.id, RUNNER, 0)).changed
    assert not (await hub.begin_step(req.id, RUNNER, 0)).changed
    got = await hub.get(req.id)
    assert got is not None and got.attempted == (0,)
    assert (await hub.history(req.id))[-1].type is EventType.STEP_ATTEMPTED


@pytest.mark.parametrize(
    ("outcomes", "holds", "status"),
    [
        ((StepOutcome.OK, StepOutcome.ERROR), True, RequestStatus.PARTIAL),
        ((StepOutcome.OK,), False, RequestStatus.PARTIAL),
        ((StepOutcome.ERROR,), False, RequestStatus.FAILED),
    ],
)
async def test_finish_takes_the_reports_status(
    hub: RequestService,
    outcomes: tuple[StepOutcome, ...],
    holds: bool,
    status: RequestStatus,
) -> None:
    done = await executed(hub, await new(hub), *outcomes, holds=holds)
    assert done.status is status
    assert (await hub.history(done.id))[-1].type == EventType(status.value)


def test_an_unknown_outcome_is_never_failed_nor_completed() -> None:
    unknown = StepResult(
        index=0,
        operation="ResetServiceSpecificCredential",
        outcome=StepOutcome.ERROR,
        error_code=OUTCOME_UNKNOWN,
        message="interrupted",
    )
    report = ExecutionReport(
        results=(unknown,),
        verification=verification(),
        started_at=T0,
        finished_at=T0,
    )
    assert report.status == "partial"


# --- the outbox: what the channel must be told, written with the change ---------------------------


async def test_every_change_writes_its_notices_in_order(hub: RequestService) -> None:
    done = await executed(hub, await new(hub), StepOutcome.OK)
    kinds = [n.kind for n in done.notices]
    assert kinds == [
        NoticeKind.REQUEST,
        NoticeKind.PLAN,
        NoticeKind.REQUEST,
        NoticeKind.APPROVAL,
        NoticeKind.STEP,
        NoticeKind.VERIFICATION,
        NoticeKind.SUMMARY,
        NoticeKind.REQUEST,
    ]
    assert [n.seq for n in done.notices] == list(range(1, 9))
    assert done.notices[3].data["user"] == ALICE
    assert done.is_active and done.undelivered == done.notices


async def test_notices_are_delivered_by_one_holder_and_the_ts_recorded_once(
    hub: RequestService, clock: Clock
) -> None:
    req = await new(hub)
    claims = await asyncio.gather(
        hub.claim_outbox(req.id, RUNNER, LEASE), hub.claim_outbox(req.id, OTHER, LEASE)
    )
    assert sorted(c.code for c in claims) == [OutcomeCode.CLAIMED, OutcomeCode.HELD]
    holder = RUNNER if claims[0].ok else OTHER
    other = OTHER if holder == RUNNER else RUNNER
    assert (await hub.delivered(req.id, other, 1, LEASE, "1.1")).code is OutcomeCode.LEASE_LOST
    first = await hub.delivered(req.id, holder, 1, LEASE, message_ts="1700000000.000100")
    assert first.request is not None and first.request.message_ts == "1700000000.000100"
    assert first.request.courier is not None  # the plan is still to go
    last = await hub.delivered(req.id, holder, 2, LEASE)
    assert last.request is not None and not last.request.undelivered
    assert last.request.courier is None and last.request.is_active  # pending, not delivered
    assert (await hub.claim_outbox(req.id, holder, LEASE)).code is OutcomeCode.NOT_FOUND
    assert [e.type for e in await hub.history(req.id)] == [EventType.REQUESTED, EventType.POSTED]


async def test_a_lapsed_delivery_lease_is_taken_over_naming_its_holder(
    hub: RequestService, clock: Clock
) -> None:
    req = await new(hub)
    await hub.claim_outbox(req.id, RUNNER, LEASE)
    assert (await hub.claim_outbox(req.id, RUNNER, LEASE)).taken_from is None  # its own
    clock.now += LEASE + timedelta(seconds=1)
    taken = await hub.claim_outbox(req.id, OTHER, LEASE)
    assert taken.code is OutcomeCode.CLAIMED and taken.taken_from == RUNNER


async def test_active_requests_are_listed_until_done_and_told(hub: RequestService) -> None:
    req = await new(hub)
    assert [r.id for r in await hub.list_active()] == [req.id]
    done = await executed(hub, req, StepOutcome.OK)
    assert [r.id for r in await hub.list_active()] == [req.id]  # notices left
    await hub.claim_outbox(req.id, RUNNER, LEASE)
    await hub.delivered(req.id, RUNNER, len(done.notices), LEASE, message_ts="1.000001")
    assert await hub.list_active() == []


async def test_undo_is_a_new_request_of_a_completed_one(hub: RequestService) -> None:
    req = await new(hub)
    with pytest.raises(InvalidInput):
        await hub.create(make_plan(), REQUESTER, "C1", "undo", undo_of=req.id)
    with pytest.raises(NotFound):
        await hub.create(make_plan(), REQUESTER, "C1", "undo", undo_of="R-00000000")
    await executed(hub, req, StepOutcome.OK)
    undo = await hub.create(make_plan(), REQUESTER, "C1", "false alarm", undo_of=req.id.lower())
    assert undo.undo_of == req.id and undo.status is RequestStatus.PENDING


async def test_the_clock_must_be_timezone_aware(store: RequestStore) -> None:
    hub = RequestService(store, clock=lambda: datetime(2025, 1, 1))
    with pytest.raises(ValueError, match="timezone"):
        await new(hub)


async def test_listing_for_status_and_list_commands(hub: RequestService) -> None:
    a = await new(hub)
    b = await hub.create(make_plan(user="bob"), REQUESTER, "C1", "INC-8")
    assert [r.id for r in await hub.list_pending()] == [a.id, b.id]
    assert [r.id for r in await hub.list_recent("Bob")] == [b.id]
    assert (await hub.get(a.id.lower())) == a
    assert a.target_name == "alice"
