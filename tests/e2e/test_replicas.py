"""Several replicas behind a load balancer: one request store shared by every replica, end to end.

Two instances of the app (two Bolt apps, two HTTP servers, two sets of services) share ONE Slack
(the stand-in, one signing secret) and ONE DynamoDB table (`dynamodb://revoker-requests` on moto's
server), and Slack delivers each request to whichever replica it likes. Whatever the delivery,
a request is decided once and its plan runs once; the channel and IAM show it.

Each replica's own Web API calls are recorded (`Replica.calls`), so a test can say which replica
drew a message or posted a reply, not just that someone did.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from conftest import LongTermKey, boto_session
from slack_flow import (
    action_ids,
    click,
    current,
    newest_request,
    partially_completed,
    request_for_key,
    wait_final,
)

from bot.audit import EventType
from bot.requests import RequestStatus, RevocationRequest
from bot.sandbox.harness import (
    APPROVER,
    CHANNEL,
    GROUP_APPROVER,
    REQUESTER,
    Sandbox,
    sandbox,
)
from bot.sandbox.slack_api import Ephemeral, Message
from bot.store.dynamodb import DynamoDbStore
from bot.store.metered import MeteredStore
from bot.views import ids

DATABASE_URL = "dynamodb://revoker-requests"
STEP = "Step 1 of 1 done: UpdateServiceSpecificCredential"


@dataclass
class Replica:
    """One app instance, and the Web API calls it made itself: (method, params)."""

    name: str
    box: Sandbox
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def record_calls(self) -> None:
        client = self.box.app.handlers.channel.client
        call_api: Callable[..., Awaitable[Any]] = client.api_call

        async def api_call(api_method: str, **kwargs: Any) -> Any:
            params = kwargs.get("json") or kwargs.get("data") or kwargs.get("params") or {}
            self.calls.append((api_method, dict(params)))
            return await call_api(api_method, **kwargs)

        client.api_call = api_call  # type: ignore[method-assign]

    def updates_of(self, message: Message) -> int:
        return sum(1 for m, p in self.calls if m == "chat.update" and p.get("ts") == message.ts)

    def replies_to(self, message: Message) -> list[str]:
        return [
            str(p.get("text"))
            for m, p in self.calls
            if m == "chat.postMessage" and p.get("thread_ts") == message.ts
        ]

    def posted_requests(self) -> int:
        return sum(1 for m, p in self.calls if m == "chat.postMessage" and not p.get("thread_ts"))


@pytest.fixture
async def replicas(aws_server: str) -> AsyncIterator[tuple[Replica, Replica]]:
    """Replicas A and B: one Slack stand-in (A's sandbox starts it), one DynamoDB table."""
    # Created once, as `bedrock-revoker store init` does: the replicas never create it.
    await asyncio.to_thread(DynamoDbStore(DATABASE_URL.removeprefix("dynamodb://")).create_table)
    async with sandbox(database_url=DATABASE_URL) as a:
        secret = a.settings.slack_signing_secret
        assert secret is not None
        async with sandbox(
            api=a.api, signing_secret=secret.get_secret_value(), database_url=DATABASE_URL
        ) as b:
            for box in (a, b):  # the configured store, inside the metrics' counting wrapper
                assert isinstance(box.services.store, MeteredStore)
                assert isinstance(box.services.store.inner, DynamoDbStore)
            assert a.services.store is not b.services.store and a.app is not b.app
            assert a.app_url != b.app_url
            ra, rb = Replica("A", a), Replica("B", b)
            ra.record_calls()
            rb.record_calls()
            yield ra, rb


# --- helpers ----------------------------------------------------------------------------------


def rendezvous(
    a: Replica, b: Replica, method: str, when: Callable[..., bool], timeout: float = 5.0
) -> None:
    """Hold each replica's first store write `method` that `when(*args)` picks until the other
    replica reaches its own: both have read and decided before either writes, the race the
    store must settle. Without this the first delivery often finishes before the second arrives.
    """
    barrier = asyncio.Barrier(2)

    def hold(write: Callable[..., Awaitable[bool]]) -> Callable[..., Awaitable[bool]]:
        held = False

        async def held_write(*args: Any, **kwargs: Any) -> bool:
            nonlocal held
            if not held and when(*args):
                held = True
                async with asyncio.timeout(timeout):
                    await barrier.wait()
            return await write(*args, **kwargs)

        return held_write

    for replica in (a, b):
        store = replica.box.services.store
        setattr(store, method, hold(getattr(store, method)))


def approving(old: RevocationRequest, new: RevocationRequest, *_: Any) -> bool:
    return old.status is RequestStatus.PENDING and new.status is RequestStatus.APPROVED


def creating_undo(request: RevocationRequest, *_: Any) -> bool:
    return request.undo_of is not None


def creating_retry(request: RevocationRequest, *_: Any) -> bool:
    return request.retry_of is not None


def request_id(message: Message) -> str:
    return message.text.split(":", 1)[0]


async def stored(replica: Replica, message: Message) -> RevocationRequest:
    req = await replica.box.services.requests.get(request_id(message))
    assert req is not None
    return req


def key_statuses(key: LongTermKey) -> list[str]:
    listed = boto_session().client("iam").list_service_specific_credentials(UserName=key.user_name)
    return [c["Status"] for c in listed["ServiceSpecificCredentials"]]


def thread_texts(sb: Sandbox, message: Message) -> list[str]:
    return [m.text for m in sb.api.thread(CHANNEL, message.ts)]


def executions(a: Replica, b: Replica, message: Message) -> dict[str, list[str]]:
    """The step replies each replica posted in the request's thread."""
    return {r.name: [t for t in r.replies_to(message) if t.startswith("Step ")] for r in (a, b)}


async def told_privately(sb: Sandbox, user: str) -> Ephemeral:
    (said,) = await sb.api.wait_for(
        lambda: sb.api.ephemerals(CHANNEL, user=user), what=f"a private reply to {user}"
    )
    return said


def shown(reply: Ephemeral) -> str:
    return reply.text + "\n" + json.dumps(reply.blocks)


async def status_via(replica: Replica, user: str, rid: str) -> Ephemeral:
    """`/revoke-bedrock-key status <rid>` delivered to `replica`: the private answer."""
    sb = replica.box
    before = len(sb.api.ephemerals(user=user))
    response = await sb.driver.slash_command(user, CHANNEL, text=f"status {rid}")
    assert response.status == 200 and response.text == "", response.text
    replies = await sb.api.wait_for(
        lambda: sb.api.ephemerals(user=user)[before:], what=f"status via {replica.name}"
    )
    assert len(replies) == 1 and replies[0].via == "response_url"
    return replies[0]


# --- tests ------------------------------------------------------------------------------------


async def test_created_on_one_replica_approved_on_the_other(
    replicas: tuple[Replica, Replica],
) -> None:
    a, b = replicas
    key, message = await request_for_key(a.box)  # command and modal submission: replica A
    rid = request_id(message)
    assert a.posted_requests() == 1 and b.calls == []
    before = [shown(await status_via(r, APPROVER, rid)) for r in (a, b)]
    assert before[0] == before[1] and "waiting for approval" in before[0]

    await click(b.box, APPROVER, message, ids.APPROVE_ACTION)  # the click lands on replica B
    final = await wait_final(b.box, message)

    assert ": completed." in final.text
    assert action_ids(final) == [f"{ids.UNDO_ACTION_PREFIX}:reactivate"]  # no Approve/Reject
    assert key_statuses(key) == ["Inactive"]
    # B found A's request in the shared table, redrew A's message and told its thread.
    assert b.updates_of(message) >= 2  # approved, then completed
    assert a.updates_of(message) == 0
    assert executions(a, b, message) == {"A": [], "B": [STEP]}
    texts = thread_texts(b.box, message)
    assert [t for t in texts if t.startswith("Approved by")] == [f"Approved by <@{APPROVER}>."]
    assert [t for t in texts if t.startswith("Step ")] == [STEP]
    for r in (a, b):
        req = await stored(r, message)
        assert req.status is RequestStatus.COMPLETED and req.decided_by == APPROVER
        assert req.message_ts == message.ts
    after = [shown(await status_via(r, REQUESTER, rid)) for r in (a, b)]
    assert after[0] == after[1]
    assert "waiting for approval" not in after[0] and f"<@{APPROVER}>" in after[0]
    assert ids.APPROVE_ACTION not in after[0]
    refused = [e for e in b.box.api.ephemerals(CHANNEL, user=APPROVER) if e.via != "response_url"]
    assert refused == []  # the click was not refused; only the status answers were private


@pytest.mark.parametrize(
    ("action", "operation", "status"),
    [
        ("deactivate", "UpdateServiceSpecificCredential", "Inactive"),
        # Reset leaves no trace in IAM to check; only the store's claim keeps it to one run.
        ("reset", "ResetServiceSpecificCredential", "Active"),
    ],
)
async def test_two_approvers_on_two_replicas_at_the_same_moment_run_the_plan_once(
    replicas: tuple[Replica, Replica], action: str, operation: str, status: str
) -> None:
    a, b = replicas
    key, message = await request_for_key(a.box, actions=(action,))
    rendezvous(a, b, "compare_and_set", approving)

    await asyncio.gather(
        click(a.box, APPROVER, message, ids.APPROVE_ACTION),
        click(b.box, GROUP_APPROVER, message, ids.APPROVE_ACTION),
    )
    final = await wait_final(a.box, message)
    winner = (await stored(b, message)).decided_by
    assert winner in (APPROVER, GROUP_APPROVER)
    loser = GROUP_APPROVER if winner == APPROVER else APPROVER
    said = shown(await told_privately(a.box, loser))

    step = f"Step 1 of 1 done: {operation}"
    texts = thread_texts(a.box, message)
    assert [t for t in texts if t.startswith("Approved by")] == [f"Approved by <@{winner}>."]
    assert [t for t in texts if t.startswith("Step ")] == [step]
    ran = executions(a, b, message)
    assert sorted(ran.values()) == [[], [step]], ran  # one replica ran it, the other did not
    assert ran["A" if winner == APPROVER else "B"] == [step]  # the winner's replica
    assert ": completed." in final.text
    assert f"<@{winner}>" in said and "approved this request" in said
    assert a.box.api.ephemerals(CHANNEL, user=winner) == []
    assert key_statuses(key) == [status]
    history = [e.type for e in await a.box.services.requests.history(request_id(message))]
    assert history.count(EventType.APPROVED) == 1
    assert history.count(EventType.EXECUTION_STARTED) == 1


async def test_the_same_click_delivered_to_both_replicas_runs_the_plan_once(
    replicas: tuple[Replica, Replica],
) -> None:
    a, b = replicas
    key, message = await request_for_key(a.box)
    as_clicked = a.box.api.message_api(CHANNEL, message.ts)  # the payload's copy of the message
    rendezvous(a, b, "compare_and_set", approving)

    # Slack's retry of a click whose answer was slow lands on the other replica.
    await asyncio.gather(
        click(a.box, APPROVER, message, ids.APPROVE_ACTION, message=as_clicked),
        click(b.box, APPROVER, message, ids.APPROVE_ACTION, message=as_clicked, retry_num=1),
    )
    final = await wait_final(a.box, message)
    said = shown(await told_privately(a.box, APPROVER))  # the other delivery was handled

    texts = thread_texts(a.box, message)
    assert [t for t in texts if t.startswith("Approved by")] == [f"Approved by <@{APPROVER}>."]
    assert [t for t in texts if t.startswith("Step ")] == [STEP]
    assert sorted(executions(a, b, message).values()) == [[], [STEP]]
    assert f"<@{APPROVER}> already approved this request" in said
    assert ": completed." in final.text
    assert (await stored(b, message)).decided_by == APPROVER
    assert key_statuses(key) == ["Inactive"]
    assert len(a.box.api.messages(CHANNEL)) == 1
    assert current(a.box, message).text == final.text


async def test_the_same_undo_click_delivered_to_both_replicas_asks_once(
    replicas: tuple[Replica, Replica],
) -> None:
    a, b = replicas
    key, original = await request_for_key(a.box)
    await click(a.box, APPROVER, original, ids.APPROVE_ACTION)
    await wait_final(a.box, original)
    undo_id = f"{ids.UNDO_ACTION_PREFIX}:reactivate"
    as_clicked = a.box.api.message_api(CHANNEL, original.ts)
    rendezvous(a, b, "create", creating_undo)

    await asyncio.gather(
        click(a.box, REQUESTER, original, undo_id, message=as_clicked),
        click(b.box, REQUESTER, original, undo_id, message=as_clicked, retry_num=1),
    )
    said = shown(await told_privately(a.box, REQUESTER))  # the other delivery was refused
    await a.box.api.wait_for(
        lambda: any("asked for an undo" in t for t in thread_texts(a.box, original)),
        what="undo noted in the original thread",
    )

    pending = await b.box.services.requests.list_pending()
    assert [r.undo_of for r in pending] == [request_id(original)], [r.id for r in pending]
    (undo,) = pending
    messages = a.box.api.messages(CHANNEL)
    assert [request_id(m) for m in messages] == [request_id(original), undo.id]
    assert f"{undo.id} already asks for this undo" in said
    assert [t for t in thread_texts(a.box, original) if "asked for an undo" in t] == [
        f"<@{REQUESTER}> asked for an undo: {undo.id}."
    ]
    assert key_statuses(key) == ["Inactive"]

    # Once that undo has ended, the button asks for a new one (the next derived id).
    undo_message = messages[1]
    await click(b.box, REQUESTER, undo_message, ids.CANCEL_ACTION)
    await a.box.api.wait_for(
        lambda: ": cancelled." in current(a.box, undo_message).text, what="undo cancelled"
    )
    await click(b.box, REQUESTER, original, undo_id, message=as_clicked)
    again = await newest_request(a.box, 2)
    assert request_id(again) not in (request_id(original), undo.id)
    assert (await stored(a, again)).undo_of == request_id(original)
    assert [r.id for r in await a.box.services.requests.list_pending()] == [request_id(again)]


async def test_the_same_retry_failures_click_delivered_to_both_replicas_asks_once(
    replicas: tuple[Replica, Replica],
) -> None:
    a, b = replicas
    original = await partially_completed(a.box)
    as_clicked = a.box.api.message_api(CHANNEL, original.ts)
    before = len(a.box.api.messages(CHANNEL))
    rendezvous(a, b, "create", creating_retry)  # both decided before either writes

    await asyncio.gather(
        click(a.box, REQUESTER, original, ids.RETRY_FAILURES_ACTION, message=as_clicked),
        click(b.box, REQUESTER, original, ids.RETRY_FAILURES_ACTION, message=as_clicked),
    )
    retry = await newest_request(a.box, before)
    said = shown(await told_privately(a.box, REQUESTER))  # the other delivery was refused

    pending = await b.box.services.requests.list_pending()
    assert [(r.id, r.retry_of) for r in pending] == [(request_id(retry), request_id(original))]
    assert f"{request_id(retry)} already retries the failed keys of {request_id(original)}" in said
    assert [request_id(m) for m in a.box.api.messages(CHANNEL)] == [
        request_id(original),
        request_id(retry),
    ]
