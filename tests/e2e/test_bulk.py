"""A bulk request in the running app: one approval, every key of the scope, the progress and the
per-key table in Slack, a partial end, Retry failures and Undo, each a signed click.

The request is made through the hub as the modal would make it (the snapshot resolved against
moto's server); every click is a signed HTTP request into the app; IAM is moto over HTTP with the
sandbox's fault injection.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from conftest import boto_session, create_long_term_key
from slack_flow import (
    action_ids,
    bulk_request,
    click,
    current,
    delivered,
    newest_request,
    open_modal,
    partially_completed,
    preformatted,
    submit,
    wait_final,
)

from bot.revocation.model import Action
from bot.sandbox import iam as sandbox
from bot.sandbox.harness import APPROVER, BYSTANDER, CHANNEL, REQUESTER, Sandbox
from bot.sandbox.slack_api import Ephemeral, Message
from bot.sandbox.slack_driver import checkboxes
from bot.views import ids, undo_value


def statuses() -> dict[str, str]:
    listed = (
        boto_session().client("iam").list_service_specific_credentials(AllUsers=True, MaxItems=1000)
    )
    return {
        c["ServiceSpecificCredentialId"]: c["Status"] for c in listed["ServiceSpecificCredentials"]
    }


def thread(sb: Sandbox, message: Message) -> list[Message]:
    return list(sb.api.thread(CHANNEL, message.ts))


async def test_one_approval_runs_the_scope_shows_each_key_and_offers_retry_and_undo(
    sb: Sandbox,
) -> None:
    iam: Any = boto_session().client("iam")
    for n in range(12):
        for _ in range(2):
            create_long_term_key(iam, f"ci-{n:02d}")
    sandbox.inject_error(
        "UpdateServiceSpecificCredential", "AccessDenied", times=None, when={"UserName": "ci-05"}
    )
    plan, message = await bulk_request(sb)

    shown = current(sb, message).text + str(current(sb, message).blocks)
    assert "24 keys" in shown and "12 users" in shown
    assert "and 19 more" in shown  # a sample of five before approval
    (plan_reply,) = thread(sb, message)
    assert all(k.credential_id in str(plan_reply.blocks) for k in plan.keys)

    await click(sb, APPROVER, message, ids.APPROVE_ACTION)
    final = await wait_final(sb, message, wait=30)

    assert ": partially completed." in final.text
    assert "24 of 24 calls recorded" in str(final.blocks) and "2 errors" in str(final.blocks)
    now = statuses()
    failed = {k.credential_id for k in plan.keys if k.user_name == "ci-05"}
    assert {c for c, s in now.items() if s == "Active"} == failed
    replies = thread(sb, message)
    # No reply per key: plan, approval, verification, the table, the summary.
    assert len(replies) == 5
    table = next(r for r in replies if r.text.startswith("Results for"))
    assert str(table.blocks).count(":x: error `AccessDenied`") == 2
    assert all(k.credential_id in str(table.blocks) for k in plan.keys)
    assert "22 done, 0 already, 2 errors" in replies[-1].text
    assert action_ids(final) == [f"{ids.UNDO_ACTION_PREFIX}:reactivate", ids.RETRY_FAILURES_ACTION]

    # Retry failures: a new request of the two failed keys, with its own approval.
    sandbox.clear_faults()
    before = len(sb.api.messages(CHANNEL))
    await click(sb, REQUESTER, final, ids.RETRY_FAILURES_ACTION)
    retry = await newest_request(sb, before)
    assert "2 keys" in str(current(sb, retry).blocks)
    await click(sb, APPROVER, retry, ids.APPROVE_ACTION)
    assert ": completed." in (await wait_final(sb, retry, wait=30)).text
    assert set(statuses().values()) == {"Inactive"}
    assert sandbox.seen("UpdateServiceSpecificCredential") == 2

    # Undo: reactivates the 22 keys the first request deactivated, not the retried two.
    before = len(sb.api.messages(CHANNEL))
    value = undo_value(message_request_id(final), Action.REACTIVATE)
    await click(sb, REQUESTER, final, f"{ids.UNDO_ACTION_PREFIX}:reactivate", value=value)
    undo = await newest_request(sb, before)
    await click(sb, APPROVER, undo, ids.APPROVE_ACTION)
    assert ": completed." in (await wait_final(sb, undo, wait=30)).text
    now = statuses()
    assert {c for c, s in now.items() if s == "Inactive"} == failed


def message_request_id(message: Message) -> str:
    return message.text.split(":", 1)[0]


def private_replies(sb: Sandbox, *users: str) -> list[Ephemeral]:
    return [e for u in users for e in sb.api.ephemerals(CHANNEL, user=u)]


async def test_retry_failures_makes_one_request_while_it_is_under_way(sb: Sandbox) -> None:
    original = await partially_completed(sb)
    rid = message_request_id(original)
    before = len(sb.api.messages(CHANNEL))

    # Two people click Retry failures at the same moment: one request, the other is told.
    await asyncio.gather(
        click(sb, REQUESTER, original, ids.RETRY_FAILURES_ACTION),
        click(sb, BYSTANDER, original, ids.RETRY_FAILURES_ACTION),
    )
    retry = await newest_request(sb, before)
    retry_id = message_request_id(retry)
    (told,) = await sb.api.wait_for(
        lambda: private_replies(sb, REQUESTER, BYSTANDER), what="the other click refused"
    )
    assert f"{retry_id} already retries the failed keys of {rid}" in told.text
    assert "waiting for approval" in told.text

    # A later click, by anyone, is refused the same way while the retry waits.
    await click(sb, APPROVER, original, ids.RETRY_FAILURES_ACTION)
    (again,) = await sb.api.wait_for(
        lambda: sb.api.ephemerals(CHANNEL, user=APPROVER), what="a refusal to the approver"
    )
    assert f"{retry_id} already retries the failed keys of {rid}" in again.text
    await delivered(sb)
    assert [message_request_id(m) for m in sb.api.messages(CHANNEL)] == [rid, retry_id]
    pending = await sb.services.requests.list_pending()
    assert [(r.id, r.retry_of) for r in pending] == [(retry_id, rid)]

    # Once it has ended (cancelled by whoever won the race), the button asks for a new one.
    (winner,) = {REQUESTER, BYSTANDER} - {told.user}
    assert pending[0].requester == winner
    await click(sb, winner, retry, ids.CANCEL_ACTION)
    await sb.api.wait_for(
        lambda: ": cancelled." in current(sb, retry).text, what="the retry cancelled"
    )
    before = len(sb.api.messages(CHANNEL))
    await click(sb, APPROVER, original, ids.RETRY_FAILURES_ACTION)
    second = await newest_request(sb, before)
    assert message_request_id(second) not in (rid, retry_id)
    assert "1 key" in str(current(sb, second).blocks)


# --- the modal and the slash command -------------------------------------------------------------


def element_of(view: Any, block_id: str) -> dict[str, Any]:
    block = next(b for b in view.blocks if b.get("block_id") == block_id)
    return dict(block["element"])


async def test_slash_command_user_scope_prefills_and_submits_a_snapshot(sb: Sandbox) -> None:
    iam: Any = boto_session().client("iam")
    mine = [create_long_term_key(iam, "ci-deploy").credential_id for _ in range(2)]
    create_long_term_key(iam, "someone-else")
    iam.update_service_specific_credential(
        UserName="ci-deploy", ServiceSpecificCredentialId=mine[0], Status="Inactive"
    )

    view = await open_modal(sb, text="user:ci-deploy")

    assert element_of(view, ids.IDENTIFIER_BLOCK)["initial_value"] == "ci-deploy"
    assert element_of(view, ids.SCOPE_BLOCK)["initial_option"]["value"] == "user"
    before = len(sb.api.messages(CHANNEL))
    response = await submit(
        sb,
        view,
        actions=("deactivate", "deny_user"),
        extra={ids.SCOPE_FILTERS_BLOCK: {ids.SCOPE_FILTERS_ACTION: checkboxes("active_only")}},
    )
    assert response.status == 200 and not response.text, response.text
    message = await newest_request(sb, before)

    req = await sb.services.requests.get(message_request_id(message))
    assert req is not None and req.bulk is not None
    assert [k.credential_id for k in req.bulk.keys] == [mine[1]]  # Active keys only
    assert req.bulk.actions == (Action.DENY_USER, Action.DEACTIVATE)
    # The plan in the thread carries the deny policy that will be attached, as JSON.
    (plan_reply,) = thread(sb, message)
    assert req.bulk.deny_policy_name in plan_reply.text + str(plan_reply.blocks)
    assert [json.loads(p) for p in preformatted(plan_reply)] == [req.bulk.deny_document]
    await click(sb, APPROVER, message, ids.APPROVE_ACTION)
    assert ": completed." in (await wait_final(sb, message, wait=30)).text
    assert statuses()[mine[1]] == "Inactive"


async def test_slash_command_account_opens_the_account_scope(sb: Sandbox) -> None:
    view = await open_modal(sb, text="account")

    assert element_of(view, ids.SCOPE_BLOCK)["initial_option"]["value"] == "account"
    assert not element_of(view, ids.IDENTIFIER_BLOCK).get("initial_value")


async def test_the_modal_refuses_what_a_scope_cannot_do(sb: Sandbox) -> None:
    view = await open_modal(sb, text="account")

    response = await submit(sb, view, actions=("reset",))

    errors = response.body["errors"]
    assert "not offered for a scope" in errors[ids.ACTIONS_BLOCK]
    view = await open_modal(sb, text="user:not a user")
    response = await submit(sb, view, actions=("deactivate",))
    assert "Enter an IAM user name" in response.body["errors"][ids.IDENTIFIER_BLOCK]
    view = await open_modal(sb, text="")
    response = await submit(
        sb,
        view,
        identifier="ci-deploy",
        actions=("deactivate",),
        extra={ids.SCOPE_FILTERS_BLOCK: {ids.SCOPE_FILTERS_ACTION: checkboxes("active_only")}},
    )
    assert "Narrowing applies" in response.body["errors"][ids.SCOPE_FILTERS_BLOCK]
    assert sb.api.messages(CHANNEL) == []  # nothing was requested


async def test_choosing_the_account_scope_makes_the_user_field_optional(sb: Sandbox) -> None:
    iam: Any = boto_session().client("iam")
    create_long_term_key(iam, "ci-a")
    view = await open_modal(sb)
    assert not next(b for b in view.blocks if b.get("block_id") == ids.IDENTIFIER_BLOCK).get(
        "optional"
    )
    updates = len(sb.api.calls("views.update"))

    response = await sb.driver.block_action_in_view(
        REQUESTER,
        view_id=view.id,
        action_id=ids.SCOPE_ACTION,
        block_id=ids.SCOPE_BLOCK,
        selected_option="account",
    )
    assert response.status == 200, response.text
    await sb.api.wait_for(lambda: sb.api.calls("views.update")[updates:], what="views.update")
    view = sb.api.view(view.id)

    identifier = next(b for b in view.blocks if b.get("block_id") == ids.IDENTIFIER_BLOCK)
    assert identifier.get("optional") is True
    before = len(sb.api.messages(CHANNEL))
    response = await submit(sb, view, actions=("deactivate",))  # Slack submits it now
    assert response.status == 200 and not response.text, response.text
    message = await newest_request(sb, before)
    assert "1 key* of *1 user" in str(current(sb, message).blocks)
