"""One suite for every request store: SQLite (a temp file) and DynamoDB (moto)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from conftest import T0, Clock, clean_aws_env, make_plan, make_request
from moto import mock_aws

from bot.audit import EventType, new_event, verify_lines
from bot.errors import InvalidInput
from bot.requests import (
    Approval,
    Lease,
    Notice,
    NoticeKind,
    OutcomeCode,
    RequestService,
    RequestStatus,
    RevocationRequest,
    advance,
    new_request_id,
)
from bot.revocation import bulk
from bot.revocation.bulk import BulkPlan, KeyOutcome, KeyResult, ScopedKey
from bot.revocation.model import Action, StepOutcome, StepResult, Verification
from bot.revocation.planner import undo_actions
from bot.sandbox import dynamodb
from bot.store import RequestStore, open_store
from bot.store.dynamodb import DynamoDbStore
from bot.store.dynamodb_schema import TableMissing
from bot.store.sqlite import SqliteStore


@pytest.fixture
def dynamodb_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    clean_aws_env(monkeypatch)
    with atomic_moto():
        yield


@contextlib.contextmanager
def atomic_moto() -> Iterator[None]:
    # Real DynamoDB applies a conditional write atomically; moto needs the sandbox's lock for it.
    dynamodb.install()
    with mock_aws():
        yield


@pytest.fixture(params=["sqlite", "dynamodb"])
async def store(
    request: pytest.FixtureRequest, tmp_path: object, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[RequestStore]:
    if request.param == "sqlite":
        s: RequestStore = open_store(f"sqlite:///{tmp_path}/revoker.db")
        yield s
        await s.close()
        return
    clean_aws_env(monkeypatch)
    with atomic_moto():
        s = open_store("dynamodb://revoker-test")
        assert isinstance(s, DynamoDbStore)
        await asyncio.to_thread(s.create_table)  # `store init`, as an operator runs it once
        yield s
        await s.close()


# --- the shared suite -----------------------------------------------------------------------------


async def test_create_and_get_round_trip(store: RequestStore) -> None:
    req = make_request()
    assert await store.create(req)
    assert await store.get(req.id) == req
    assert await store.get("R-NOTTHERE") is None


async def test_create_refuses_a_taken_id(store: RequestStore) -> None:
    req = make_request()
    assert await store.create(req)
    assert not await store.create(req.model_copy(update={"reason": "other"}))
    got = await store.get(req.id)
    assert got is not None and got.reason == req.reason


async def test_compare_and_set_succeeds_on_current_version(store: RequestStore) -> None:
    req = make_request()
    await store.create(req)
    new = advance(req, approvals=(Approval(user_id="U_A", at=T0),))
    assert await store.compare_and_set(req, new)
    got = await store.get(req.id)
    assert got is not None
    assert got.version == req.version + 1
    assert got.approved_by == ("U_A",)


async def test_compare_and_set_sets_version_whatever_new_says(store: RequestStore) -> None:
    req = make_request()
    await store.create(req)
    assert await store.compare_and_set(req, req.model_copy(update={"version": 99}))
    got = await store.get(req.id)
    assert got is not None and got.version == req.version + 1


async def test_compare_and_set_fails_on_stale_version(store: RequestStore) -> None:
    req = make_request()
    await store.create(req)
    first = advance(req, RequestStatus.APPROVED, decided_by="U_A", decided_at=T0)
    assert await store.compare_and_set(req, first)
    stale = advance(req, RequestStatus.REJECTED, decided_by="U_B", decided_at=T0)
    assert not await store.compare_and_set(req, stale)
    got = await store.get(req.id)
    assert got is not None
    assert got.status is RequestStatus.APPROVED and got.decided_by == "U_A"


async def test_compare_and_set_on_missing_request_fails(store: RequestStore) -> None:
    req = make_request()
    assert not await store.compare_and_set(req, advance(req, RequestStatus.CANCELLED))
    assert await store.get(req.id) is None


async def test_concurrent_compare_and_set_has_exactly_one_winner(store: RequestStore) -> None:
    req = make_request()
    await store.create(req)
    attempts = [
        advance(
            req,
            RequestStatus.APPROVED,
            approvals=(Approval(user_id=f"U_{i}", at=T0),),
            decided_by=f"U_{i}",
            decided_at=T0,
        )
        for i in range(10)
    ]
    results = await asyncio.gather(*(store.compare_and_set(req, a) for a in attempts))
    assert sum(results) == 1
    winner = attempts[results.index(True)]
    got = await store.get(req.id)
    assert got is not None and got.decided_by == winner.decided_by


async def test_events_are_written_with_the_state_change_and_only_then(store: RequestStore) -> None:
    req = make_request()
    first = new_event(None, req.id, EventType.REQUESTED, "U_REQ", T0, {"reason": "x"})
    assert await store.create(req, [first])
    assert await store.last_event(req.id) == first

    approved = advance(req, RequestStatus.APPROVED, decided_by="U_A", decided_at=T0)
    second = new_event(first, req.id, EventType.APPROVED, "U_A", T0)
    assert await store.compare_and_set(req, approved, [second])

    # A loser's event must not land: the write is all or nothing.
    rejected = advance(req, RequestStatus.REJECTED)
    loser = new_event(first, req.id, EventType.REJECTED, "U_B", T0)
    assert not await store.compare_and_set(req, rejected, [loser])

    assert await store.events(req.id) == [first, second]
    assert await store.last_event(req.id) == second
    assert await store.last_event("R-NOTTHERE") is None


async def test_events_of_all_requests(store: RequestStore) -> None:
    a, b = make_request(), make_request()
    ea = new_event(None, a.id, EventType.REQUESTED, "U_REQ", T0)
    eb = new_event(None, b.id, EventType.REQUESTED, "U_REQ", T0)
    await store.create(a, [ea])
    await store.create(b, [eb])
    assert sorted(await store.events(), key=lambda e: e.request_id) == sorted(
        [ea, eb], key=lambda e: e.request_id
    )


async def test_list_pending_holds_only_pending_requests_oldest_first(store: RequestStore) -> None:
    newer = make_request(created_at=T0 + timedelta(minutes=5))
    older = make_request(created_at=T0)
    done = make_request(created_at=T0 + timedelta(minutes=1))
    for r in (newer, older, done):
        await store.create(r)
    await store.compare_and_set(done, advance(done, RequestStatus.CANCELLED))
    assert [r.id for r in await store.list_pending()] == [older.id, newer.id]


async def test_list_recent_by_target_user_or_role_any_case(store: RequestStore) -> None:
    a1 = make_request(user="Alice", created_at=T0)
    a2 = make_request(user="alice", created_at=T0 + timedelta(minutes=1))
    bob = make_request(user="bob", created_at=T0 + timedelta(minutes=2))
    role = make_request(role="BuildRole", created_at=T0 + timedelta(minutes=3))
    for r in (a1, a2, bob, role):
        await store.create(r)
    # Matching survives a state change too.
    await store.compare_and_set(a1, advance(a1, RequestStatus.CANCELLED))

    assert [r.id for r in await store.list_recent("ALICE")] == [a2.id, a1.id]
    assert [r.id for r in await store.list_recent("buildrole")] == [role.id]
    assert await store.list_recent("nobody") == []
    assert [r.id for r in await store.list_recent()] == [role.id, bob.id, a2.id, a1.id]
    assert [r.id for r in await store.list_recent(limit=2)] == [role.id, bob.id]


# --- backend specifics ----------------------------------------------------------------------------


def test_open_store_picks_the_backend(tmp_path: object, dynamodb_env: None) -> None:
    assert isinstance(open_store(f"sqlite:///{tmp_path}/x.db"), SqliteStore)
    assert isinstance(open_store("dynamodb://revoker-requests"), DynamoDbStore)


@pytest.mark.parametrize(
    "url",
    ["postgres://user:hunter2@db/x", "sqlite:///", "dynamodb://", "dynamodb://a/b", "", "sqlite:x"],
)
def test_open_store_rejects_bad_urls_naming_the_setting(url: str) -> None:
    with pytest.raises(InvalidInput) as exc:
        open_store(url)
    assert "REVOKER_DATABASE_URL" in exc.value.message
    assert "hunter2" not in exc.value.message


def test_open_store_rejects_an_unopenable_sqlite_path(tmp_path: object) -> None:
    with pytest.raises(InvalidInput, match="REVOKER_DATABASE_URL"):
        open_store(f"sqlite:///{tmp_path}/no/such/dir/x.db")


async def test_sqlite_memory_store_works_across_threads() -> None:
    store = open_store("sqlite:///:memory:")
    req = make_request()
    assert await store.create(req)
    results = await asyncio.gather(
        *(store.compare_and_set(req, advance(req, RequestStatus.CANCELLED)) for _ in range(5))
    )
    assert sum(results) == 1
    await store.close()


async def test_sqlite_file_persists_and_uses_wal(tmp_path: object) -> None:
    path = f"{tmp_path}/revoker.db"
    req = make_request()
    first = open_store(f"sqlite:///{path}")
    await first.create(req)
    await first.close()
    second = SqliteStore(path)
    assert await second.get(req.id) == req
    mode = await second._run(lambda db: db.execute("PRAGMA journal_mode").fetchone()[0])
    assert mode == "wal"
    await second.close()


async def test_two_sqlite_connections_to_one_file_still_have_one_winner(tmp_path: object) -> None:
    """Two replicas on one host share the file; the version check still decides."""
    path = f"{tmp_path}/revoker.db"
    a, b = SqliteStore(path), SqliteStore(path)
    req = make_request()
    await a.create(req)
    results = await asyncio.gather(
        a.compare_and_set(req, advance(req, RequestStatus.APPROVED)),
        b.compare_and_set(req, advance(req, RequestStatus.REJECTED)),
    )
    assert sorted(results) == [False, True]
    await a.close()
    await b.close()


async def test_dynamodb_never_creates_its_table_and_says_to_run_store_init(
    dynamodb_env: None,
) -> None:
    import boto3

    store = DynamoDbStore("revoker-new", region="us-east-1")
    with pytest.raises(TableMissing) as missing:
        await store.create(make_request())
    assert missing.value.message == (
        "DynamoDB table 'revoker-new' does not exist in us-east-1. Create it once with "
        "`bedrock-revoker store init` (same REVOKER_DATABASE_URL and AWS settings), or deploy "
        "deploy/cloudformation/bot.yaml, which creates it."
    )
    assert boto3.client("dynamodb").list_tables()["TableNames"] == []


async def test_store_init_creates_the_table_once_even_when_two_run_at_once(
    dynamodb_env: None,
) -> None:
    import boto3

    first = DynamoDbStore("revoker-new")
    second = DynamoDbStore("revoker-new")  # another operator (or a retry) at the same time
    created = await asyncio.gather(
        asyncio.to_thread(first.create_table), asyncio.to_thread(second.create_table)
    )
    assert sorted(created) == [False, True]
    table = boto3.client("dynamodb").describe_table(TableName="revoker-new")["Table"]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert {i["IndexName"] for i in table["GlobalSecondaryIndexes"]} == {
        "pending",
        "active",
        "by_target",
        "recent",
    }
    req = make_request()
    assert await first.create(req)
    assert await second.get(req.id) == req


# --- what the compare-and-set must check, whatever else changes -----------------------------------


async def test_a_stale_write_is_refused_even_when_the_status_is_the_same(
    store: RequestStore,
) -> None:
    """Approvals 1 of 2, lease renewals and step records keep the status: only the version
    tells a stale write from a current one."""
    req = make_request()
    await store.create(req)
    one = advance(req, approvals=(Approval(user_id="U_A", at=T0),))
    assert await store.compare_and_set(req, one)
    other = advance(req, approvals=(Approval(user_id="U_B", at=T0),))
    assert other.status is req.status
    assert not await store.compare_and_set(req, other)
    got = await store.get(req.id)
    assert got is not None and got.approved_by == ("U_A",) and got.version == one.version


async def test_the_lease_and_the_outbox_ride_in_one_conditional_write(store: RequestStore) -> None:
    req = make_request()
    await store.create(req)
    approved = advance(req, RequestStatus.APPROVED, decided_by="U_A", decided_at=T0)
    assert await store.compare_and_set(req, approved)
    lease = Lease(owner="runner-a", expires_at=T0 + timedelta(seconds=30))
    claimed = advance(
        approved,
        RequestStatus.EXECUTING,
        lease=lease,
        notices=(Notice(seq=1, kind=NoticeKind.REQUEST),),
    )
    started = new_event(None, req.id, EventType.EXECUTION_STARTED, "system", T0, {})
    assert await store.compare_and_set(approved, claimed, [started])
    # A second runner read `approved` too, and loses: nothing of its claim is written.
    theirs = lease.model_copy(update={"owner": "b"})
    rival = advance(approved, RequestStatus.EXECUTING, lease=theirs)
    assert not await store.compare_and_set(approved, rival, [started])
    # Same status, another holder's renewal from a stale read: refused by the version alone.
    renewed = advance(claimed, lease=lease.model_copy(update={"expires_at": T0 + timedelta(1)}))
    stale = advance(claimed, lease=theirs)
    assert await store.compare_and_set(claimed, renewed)
    assert not await store.compare_and_set(claimed, stale)
    got = await store.get(req.id)
    assert got is not None and got.lease == renewed.lease and got.notices == claimed.notices
    assert [e.type for e in await store.events(req.id)] == [EventType.EXECUTION_STARTED]


async def test_requests_with_work_left_are_listed_active(store: RequestStore) -> None:
    pending = make_request(created_at=T0)
    running = make_request(user="bob", created_at=T0 + timedelta(seconds=1))
    untold = make_request(user="carol", created_at=T0 + timedelta(seconds=2))
    settled = make_request(user="dave", created_at=T0 + timedelta(seconds=3))
    for r in (pending, running, untold, settled):
        await store.create(r)
    await store.compare_and_set(running, advance(running, RequestStatus.CANCELLED))
    await store.compare_and_set(settled, advance(settled, RequestStatus.CANCELLED))
    notice = Notice(seq=1, kind=NoticeKind.CANCELLED)
    told = advance(untold, RequestStatus.CANCELLED, notices=(notice,))
    assert await store.compare_and_set(untold, told)
    assert [r.id for r in await store.list_active()] == [pending.id, untold.id]
    assert await store.compare_and_set(told, advance(told, delivered=1))
    assert [r.id for r in await store.list_active()] == [pending.id]


async def test_a_rewritten_event_relinked_into_its_chain_is_detected(store: RequestStore) -> None:
    """Each event's hash covers the hash before it: rewriting an event (and recomputing its
    hash) breaks the next one even when that one's `prev` is relinked to the new hash."""
    req = make_request()
    first = new_event(None, req.id, EventType.REQUESTED, "U_REQ", T0, {"reason": "INC-1"})
    second = new_event(first, req.id, EventType.APPROVED, "U_A", T0, {"approvals": 1})
    third = new_event(second, req.id, EventType.EXECUTION_STARTED, "system", T0, {})
    await store.create(req, [first, second, third])
    stored_events = await store.events(req.id)
    assert verify_lines(e.line() for e in stored_events) == []

    forged = new_event(stored_events[0], req.id, EventType.APPROVED, "U_MALLORY", T0, {})
    relinked = stored_events[2].model_copy(update={"prev": forged.hash})
    lines = [stored_events[0].line(), forged.line(), relinked.line()]
    assert verify_lines(lines) != []


async def test_a_completed_delete_offers_no_undo(store: RequestStore) -> None:
    """A deleted key is gone for good: no request that only deleted offers an Undo, whatever
    its results say."""
    req = make_request()
    step = req.plan.steps[0].model_copy(
        update={"action": Action.DELETE, "operation": "DeleteServiceSpecificCredential"}
    )
    plan = req.plan.model_copy(update={"actions": (Action.DELETE,), "steps": (step,)})
    deleted = req.model_copy(update={"plan": plan})
    await store.create(deleted)
    got = await store.get(deleted.id)
    assert got is not None
    ok = StepResult(index=0, operation=step.operation, outcome=StepOutcome.OK, message="deleted")
    assert undo_actions(got.plan) == ()
    assert undo_actions(got.plan, [ok]) == ()


# --- follow-ups: one retry (or undo) of a request under way at a time, whoever asks -------------


def another_handle(store: RequestStore) -> RequestStore:
    """The same storage as a second replica opens it: its own connection or client."""
    if isinstance(store, SqliteStore):
        return SqliteStore(store.path)
    assert isinstance(store, DynamoDbStore)
    return DynamoDbStore(store.table)


def ended_with_failures() -> RevocationRequest:
    """A bulk deactivation of two keys that ended partially completed: ci-02's call failed."""
    plan = BulkPlan(
        scope=bulk.parse_scope("account"),
        resolved_at=T0,
        actions=(Action.DEACTIVATE,),
        keys=(
            ScopedKey(user_name="ci-01", credential_id="ACCA" + "A" * 17, status="Active"),
            ScopedKey(user_name="ci-02", credential_id="ACCA" + "B" * 17, status="Active"),
        ),
    )
    return RevocationRequest(
        id=new_request_id(),
        requester="U_REQ",
        channel_id="C1",
        reason="INC-1 CI secrets leaked",
        plan=plan.request_plan(),
        bulk=plan,
        key_results=(
            KeyResult(i=0, o=KeyOutcome.DONE),
            KeyResult(i=1, o=KeyOutcome.ERROR, code="AccessDenied", msg="denied"),
        ),
        status=RequestStatus.PARTIAL,
        created_at=T0,
        expires_at=T0 + timedelta(hours=1),
    )


async def retry_failures(
    hub: RequestService, original: RevocationRequest, user: str = "U_B"
) -> RevocationRequest:
    """What the Retry failures button asks the hub for."""
    assert original.bulk is not None
    failed = original.bulk.failures(original.key_results)
    assert failed is not None
    return await hub.create(
        failed.request_plan(),
        user,
        original.channel_id,
        f"Retry of the failures of {original.id}",
        bulk=failed,
        retry_of=original.id,
    )


async def approver(user_id: str) -> bool:
    return user_id == "U_APPROVER"


async def test_a_retry_of_failures_is_refused_while_one_is_under_way(store: RequestStore) -> None:
    clock = Clock()
    hub = RequestService(store, clock=clock)
    original = ended_with_failures()
    await store.create(original)

    first = await retry_failures(hub, original)
    assert first.retry_of == original.id and first.status is RequestStatus.PENDING
    assert first.bulk is not None and [k.user_name for k in first.bulk.keys] == ["ci-02"]
    with pytest.raises(InvalidInput, match=f"{first.id} already retries the failed keys of "):
        await retry_failures(hub, original, user="U_C")  # another person, same button

    # Rejected: it ended, so the failures can be asked for again, as a new request.
    await hub.reject(first.id, "U_APPROVER", approver)
    second = await retry_failures(hub, original)
    assert second.id != first.id and second.retry_of == original.id

    # Approved, then executing: still under way, still refused, naming it.
    assert (await hub.approve(second.id, "U_APPROVER", approver)).code is OutcomeCode.APPROVED
    with pytest.raises(InvalidInput, match=f"{second.id} .* it is approved and about to run"):
        await retry_failures(hub, original)
    claimed = await hub.claim(second.id, "runner-a", timedelta(seconds=30))
    assert claimed.code is OutcomeCode.EXECUTION_STARTED
    with pytest.raises(InvalidInput, match=f"{second.id} .* it is being carried out"):
        await retry_failures(hub, original)

    # Finished: a new retry may be asked for again.
    await hub.finish(second.id, "runner-a", Verification(checks=()))
    third = await retry_failures(hub, original)
    assert third.id not in (first.id, second.id)

    # Pending past its TTL is expired in fact, even before a sweep records it.
    clock.now += timedelta(hours=2)
    fourth = await retry_failures(hub, original)
    assert fourth.id not in (first.id, second.id, third.id)
    retries = [r for r in await store.list_recent(limit=10) if r.retry_of == original.id]
    assert [r.id for r in retries if not r.is_due(clock.now) and not r.is_terminal] == [fourth.id]


async def test_only_a_bulk_request_that_ended_with_failures_can_be_retried(
    store: RequestStore,
) -> None:
    hub = RequestService(store, clock=Clock())
    failed = ended_with_failures()
    running = failed.model_copy(update={"id": new_request_id(), "status": RequestStatus.EXECUTING})
    clean = failed.model_copy(
        update={"id": new_request_id(), "key_results": (KeyResult(i=0, o=KeyOutcome.DONE),)}
    )
    single = make_request().model_copy(update={"status": RequestStatus.COMPLETED})
    for r in (failed, running, clean, single):
        await store.create(r)
    retry = failed.bulk.failures(failed.key_results) if failed.bulk else None
    assert retry is not None
    for r in (running, clean, single):
        with pytest.raises(InvalidInput, match=f"{r.id} has no failed keys to retry"):
            await hub.create(retry.request_plan(), "U_B", "C1", "retry", bulk=retry, retry_of=r.id)
    assert await store.list_pending() == []


def hold_first_create_until_both_reach_it(*stores: RequestStore) -> None:
    """Each store's first create waits for the other's: neither writes before both decided."""
    barrier = asyncio.Barrier(len(stores))
    for s in stores:
        s.create = _held_once(s.create, barrier)  # type: ignore[method-assign]


def _held_once(
    create: Callable[..., Awaitable[bool]], barrier: asyncio.Barrier
) -> Callable[..., Awaitable[bool]]:
    held = False

    async def create_when_both_are_there(*args: Any, **kwargs: Any) -> bool:
        nonlocal held
        if not held:
            held = True
            async with asyncio.timeout(10):
                await barrier.wait()
        return await create(*args, **kwargs)

    return create_when_both_are_there


async def test_two_replicas_clicking_retry_at_once_make_exactly_one(store: RequestStore) -> None:
    """Both hubs have read the original and decided before either writes: the store's create
    of the one id they both derive settles it."""
    other = another_handle(store)
    hubs = [RequestService(s, clock=Clock()) for s in (store, other)]
    original = ended_with_failures()
    await store.create(original)
    hold_first_create_until_both_reach_it(store, other)

    results = await asyncio.gather(
        retry_failures(hubs[0], original, "U_B"),
        retry_failures(hubs[1], original, "U_C"),
        return_exceptions=True,
    )

    made = [r for r in results if isinstance(r, RevocationRequest)]
    refused = [r for r in results if isinstance(r, InvalidInput)]
    assert len(made) == 1 and len(refused) == 1, results
    assert f"{made[0].id} already retries the failed keys of {original.id}" in refused[0].message
    assert [r.id for r in await other.list_pending()] == [made[0].id]
    await other.close()


async def test_an_undo_is_refused_while_the_same_undo_runs(store: RequestStore) -> None:
    """An undo approved or executing still counts: a second Undo click made a second request of
    the same reversal while the first was being carried out."""
    hub = RequestService(store, clock=Clock())
    original = advance(make_request(), RequestStatus.APPROVED)
    original = advance(original, RequestStatus.EXECUTING)
    original = advance(original, RequestStatus.COMPLETED).model_copy(update={"version": 1})
    await store.create(original)
    undo = await hub.create(make_plan(), "U_B", "C1", "false alarm", undo_of=original.id)
    assert (await hub.approve(undo.id, "U_APPROVER", approver)).code is OutcomeCode.APPROVED
    with pytest.raises(InvalidInput, match=f"{undo.id} already asks for this undo"):
        await hub.create(make_plan(), "U_C", "C1", "false alarm", undo_of=original.id)
    await hub.claim(undo.id, "runner-a", timedelta(seconds=30))
    with pytest.raises(InvalidInput, match="it is being carried out"):
        await hub.create(make_plan(), "U_C", "C1", "false alarm", undo_of=original.id)
    assert [r.undo_of for r in await store.list_recent(limit=10)].count(original.id) == 1


# --- reading a request again: decoded once per stored text --------------------------------------


async def test_what_a_writer_reads_back_is_what_another_replica_decodes(
    store: RequestStore,
) -> None:
    """A store hands back the request it wrote without parsing its text again; that must be
    exactly what a replica parsing the stored text gets."""
    other = another_handle(store)
    try:
        req = ended_with_failures()
        assert await store.create(req)
        told = advance(
            req,
            notices=(Notice(seq=1, kind=NoticeKind.PLAN, data={"part": 1, "of": 1}, at=T0),),
            lease=Lease(owner="runner-a", expires_at=T0 + timedelta(seconds=30)),
        )
        assert await store.compare_and_set(req, told)
        mine, theirs = await store.get(req.id), await other.get(req.id)
        assert mine == theirs == told
        assert await store.list_active() == await other.list_active()
    finally:
        await other.close()


async def test_a_request_another_replica_changed_is_read_afresh(store: RequestStore) -> None:
    other = another_handle(store)
    try:
        req = make_request()
        assert await store.create(req)
        assert await store.get(req.id) == req
        approved = advance(req, RequestStatus.APPROVED, decided_by="U_A", decided_at=T0)
        assert await other.compare_and_set(req, approved)
        got = await store.get(req.id)
        assert got is not None and got.status is RequestStatus.APPROVED and got.version == 2
        assert [r.status for r in await store.list_recent()] == [RequestStatus.APPROVED]
    finally:
        await other.close()
