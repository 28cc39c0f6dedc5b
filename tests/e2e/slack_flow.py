"""Steps of the Slack flow as a person takes them, for the end-to-end tests (fixture `sb` in
tests/conftest.py: the real app on loopback, Slack played by the stand-in, AWS by moto's server)."""

from __future__ import annotations

import json
from typing import Any

from conftest import LongTermKey, boto_session, create_long_term_key

from bot.revocation import bulk
from bot.sandbox import iam as sandbox_iam
from bot.sandbox.harness import APPROVER, CHANNEL, REQUESTER, Sandbox
from bot.sandbox.slack_api import Message
from bot.sandbox.slack_driver import checkboxes, plain_text_input
from bot.views import ids


async def open_modal(sb: Sandbox, text: str = "", user: str = REQUESTER) -> Any:
    """Run the slash command and return the modal it opened."""
    before = len(sb.api.views())
    response = await sb.driver.slash_command(user, CHANNEL, text=text)
    assert response.status == 200, response.text
    views = await sb.api.wait_for(lambda: sb.api.views()[before:] or None, what="views.open")
    return views[0]


async def submit(
    sb: Sandbox,
    view: Any,
    *,
    reason: str = "INC-4242: key pasted in a public gist",
    identifier: str | None = None,
    actions: tuple[str, ...] | None = None,
    user: str = REQUESTER,
    extra: dict[str, dict[str, Any]] | None = None,
) -> Any:
    values: dict[str, dict[str, Any]] = {
        ids.REASON_BLOCK: {ids.REASON_ACTION: plain_text_input(reason)}
    }
    if identifier is not None:
        values[ids.IDENTIFIER_BLOCK] = {ids.IDENTIFIER_ACTION: plain_text_input(identifier)}
    if actions is not None:
        values[ids.ACTIONS_BLOCK] = {ids.ACTIONS_ACTION: checkboxes(*actions)}
    values.update(extra or {})
    return await sb.driver.view_submission(user, view_id=view.id, values=values)


async def request_message(sb: Sandbox) -> Message:
    """The request message once its plan reply is in the thread."""
    message = await sb.api.wait_for(
        lambda: next(iter(sb.api.messages(CHANNEL)), None), what="request message"
    )
    await settled(sb, message)
    return message


async def settled(sb: Sandbox, message: Message) -> None:
    """Wait for the request's first replies: its plan, and for a request made in the form its
    blast-radius report (which follows the plan before anyone approves; a scope of keys has
    none)."""
    await sb.api.wait_for(lambda: sb.api.thread(CHANNEL, message.ts), what="plan reply")
    # An undo (its reason says so) reverses a request whose blast radius is already shown;
    # a scope of keys (its message shows the scope) has no blast-radius report.
    shown = json.dumps(message.blocks)
    if "Undo of R-" not in shown and "*Scope:*" not in shown:
        await sb.api.wait_for(
            lambda: any(
                b.get("block_id") == ids.BLAST_RADIUS_BLOCK
                for m in sb.api.thread(CHANNEL, message.ts)
                for b in m.blocks
            ),
            what="blast-radius reply",
        )


async def wait_final(sb: Sandbox, message: Message, wait: float = 15.0) -> Message:
    """The request message once it shows a final status (Completed / Partially / Failed)."""

    def final() -> Message | None:
        current = sb.api.message(CHANNEL, message.ts)
        text = current.text if current else ""
        done = ("completed", "partially completed", "failed")
        return current if any(f": {w}." in text.lower() for w in done) else None

    return await sb.api.wait_for(final, timeout=wait, what="final status")


async def delivered(sb: Sandbox, wait: float = 10.0) -> None:
    """Once the outbox has delivered what the app has written so far (the channel is told of
    every change asynchronously, after the click that made it was answered)."""
    assert sb.app.outbox is not None
    assert await sb.app.outbox.flush(within=wait), "the outbox did not drain"


# --- buttons and the thread (test_actions.py, test_execution.py) ---------------------------------


async def click(sb: Sandbox, user: str, on: Message, action_id: str, **kwargs: Any) -> None:
    """`user` clicks a button of the message `on`; Slack got a 200. The payload carries the message
    as the stand-in holds it now, or `message=` (a stale copy, as a client that has not redrawn)."""
    response = await sb.driver.block_action(
        user, channel_id=on.channel, message_ts=on.ts, action_id=action_id, **kwargs
    )
    assert response.status == 200, response.text


def current(sb: Sandbox, message: Message) -> Message:
    """The message as the channel shows it now."""
    now = sb.api.message(message.channel, message.ts)
    assert now is not None, f"message {message.ts} is gone"
    return now


def action_ids(message: Message) -> list[str]:
    """Every button's action_id on the message, in order."""
    return [
        str(el.get("action_id"))
        for block in message.blocks
        if block.get("type") == "actions"
        for el in block.get("elements") or []
    ]


def preformatted(reply: Message) -> list[str]:
    """The preformatted (JSON) texts in a reply, one per rich_text block, in order."""
    return [
        "".join(part.get("text", "") for part in el.get("elements") or [])
        for block in reply.blocks
        if block.get("type") == "rich_text"
        for el in block.get("elements") or []
        if el.get("type") == "rich_text_preformatted"
    ]


async def request_for_key(
    sb: Sandbox,
    user_name: str = "leaky",
    actions: tuple[str, ...] = ("deactivate",),
    *,
    requester: str = REQUESTER,
) -> tuple[LongTermKey, Message]:
    """A fresh IAM user with a Bedrock key, and the request message `requester` got posted for it
    (the newest top-level message, once its plan reply is in the thread)."""
    key = create_long_term_key(boto_session().client("iam"), user_name)
    before = len(sb.api.messages(CHANNEL))
    view = await open_modal(sb, text=key.credential_id, user=requester)
    response = await submit(sb, view, actions=actions, user=requester)
    assert response.status == 200 and not response.text, response.text
    return key, await newest_request(sb, before)


async def newest_request(sb: Sandbox, before: int) -> Message:
    """The first top-level message after the `before` already there, once it has its plan reply."""
    message = await sb.api.wait_for(
        lambda: next(iter(sb.api.messages(CHANNEL)[before:]), None), what="a new request message"
    )
    await settled(sb, message)
    return message


# --- bulk requests (test_bulk.py, test_replicas.py) ----------------------------------------------


async def bulk_request(sb: Sandbox, scope: str = "account") -> tuple[bulk.BulkPlan, Message]:
    plan = bulk.resolve_sync(sb.services.revoker.clients, bulk.parse_scope(scope))
    before = len(sb.api.messages(CHANNEL))
    await sb.services.requests.create(
        plan.request_plan(), REQUESTER, CHANNEL, "INC-42 CI secret store leaked", bulk=plan
    )
    return plan, await newest_request(sb, before)


async def partially_completed(sb: Sandbox) -> Message:
    """A bulk deactivation of two users' keys where ci-01's call failed, as the channel ends it."""
    iam: Any = boto_session().client("iam")
    for n in range(2):
        create_long_term_key(iam, f"ci-{n:02d}")
    sandbox_iam.inject_error(
        "UpdateServiceSpecificCredential", "AccessDenied", times=None, when={"UserName": "ci-01"}
    )
    _, message = await bulk_request(sb)
    await click(sb, APPROVER, message, ids.APPROVE_ACTION)
    final = await wait_final(sb, message, wait=30)
    assert ": partially completed." in final.text
    assert ids.RETRY_FAILURES_ACTION in action_ids(final)
    sandbox_iam.clear_faults()
    return final
