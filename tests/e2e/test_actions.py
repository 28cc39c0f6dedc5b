"""The request message's buttons, as Slack delivers clicks: Approve, Reject, Cancel, Undo.

Mirrors handlers/actions.py (listeners approve, reject, cancel, undo). Every click is a signed
HTTP request into the running app; Slack is the stand-in (every Web API call recorded) and AWS is
moto's server, so each test checks what people saw in the channel AND what IAM holds afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import Clock, LongTermKey, boto_session, create_long_term_key
from slack_flow import (
    action_ids,
    click,
    current,
    delivered,
    newest_request,
    open_modal,
    request_for_key,
    submit,
    wait_final,
)

from bot.requests import RequestStatus, RevocationRequest
from bot.revocation.model import Action
from bot.sandbox.harness import (
    APPROVER,
    APPROVER_GROUP,
    BYSTANDER,
    CHANNEL,
    GROUP_APPROVER,
    REQUESTER,
    Sandbox,
    sandbox,
)
from bot.sandbox.slack_api import Message
from bot.sandbox.slack_driver import plain_text_input
from bot.views import ids, undo_value

BUTTONS = [ids.APPROVE_ACTION, ids.REJECT_ACTION, ids.CANCEL_ACTION]
MakeSandbox = Callable[..., contextlib.AbstractAsyncContextManager[Sandbox]]


@pytest.fixture
def make_sandbox(aws_server: str, tmp_path: Path) -> MakeSandbox:
    """`sandbox(...)` with settings or a clock of the test's own, on the moto server."""

    def make(**kwargs: Any) -> contextlib.AbstractAsyncContextManager[Sandbox]:
        return sandbox(database_dir=tmp_path, **kwargs)

    return make


@pytest.fixture
async def timed(make_sandbox: MakeSandbox) -> AsyncIterator[tuple[Sandbox, Clock]]:
    clock = Clock(datetime.now(UTC))
    async with make_sandbox(clock=clock) as box:
        yield box, clock


# --- helpers ----------------------------------------------------------------------------------


def request_id(message: Message) -> str:
    return message.text.split(":", 1)[0]


async def stored(sb: Sandbox, message: Message) -> RevocationRequest:
    req = await sb.services.requests.get(request_id(message))
    assert req is not None
    return req


def iam_client() -> Any:
    """IAM on the moto server, on a session that shares the loaded service models."""
    return boto_session().client("iam")


def key_statuses(sb: Sandbox, key: LongTermKey) -> list[str]:
    listed = iam_client().list_service_specific_credentials(UserName=key.user_name)
    return [c["Status"] for c in listed["ServiceSpecificCredentials"]]


def thread_texts(sb: Sandbox, message: Message) -> list[str]:
    return [m.text for m in sb.api.thread(CHANNEL, message.ts)]


def blocks_text(blocks: list[dict[str, Any]]) -> str:
    return json.dumps(blocks)


async def told_privately(sb: Sandbox, user: str, count: int = 1) -> str:
    """The `count`th private reply `user` got (waiting for it): its blocks' text."""
    found = await sb.api.wait_for(
        lambda: sb.api.ephemerals(CHANNEL, user=user)[count - 1 : count],
        what=f"private reply #{count} to {user}",
    )
    eph = found[0]
    return (
        "\n".join(str((b.get("text") or {}).get("text", "")) for b in eph.blocks)
        + f"\n[fallback] {eph.text}"
    )


def updates(sb: Sandbox, message: Message) -> list[Any]:
    return [c for c in sb.api.calls("chat.update") if c.params.get("ts") == message.ts]


def iam_untouched(sb: Sandbox, key: LongTermKey) -> None:
    assert key_statuses(sb, key) == ["Active"]
    assert iam_client().list_user_policies(UserName=key.user_name)["PolicyNames"] == []


# --- Approve ----------------------------------------------------------------------------------


async def test_requester_cannot_approve_own_request_then_a_second_person_does(
    sb: Sandbox,
) -> None:
    key, message = await request_for_key(sb)
    shown = message.text

    await click(sb, REQUESTER, message, ids.APPROVE_ACTION)
    said = await told_privately(sb, REQUESTER)

    assert "You made this request, so you cannot approve it" in said
    assert updates(sb, message) == []
    assert current(sb, message).text == shown and action_ids(message) == BUTTONS
    assert not any("Approved by" in t for t in thread_texts(sb, message))
    iam_untouched(sb, key)

    await click(sb, APPROVER, message, ids.APPROVE_ACTION)
    final = await wait_final(sb, message)

    assert ": completed." in final.text
    assert key_statuses(sb, key) == ["Inactive"]
    assert (await stored(sb, message)).decided_by == APPROVER


async def test_non_approver_is_refused_privately_and_nothing_changes(sb: Sandbox) -> None:
    key, message = await request_for_key(sb)
    thread_before = thread_texts(sb, message)

    await click(sb, BYSTANDER, message, ids.APPROVE_ACTION)
    said = await told_privately(sb, BYSTANDER)

    assert "Only configured approvers can approve" in said
    assert updates(sb, message) == []
    assert action_ids(current(sb, message)) == BUTTONS
    assert thread_texts(sb, message) == thread_before
    assert (await stored(sb, message)).status is RequestStatus.PENDING
    iam_untouched(sb, key)


async def test_member_of_the_approver_group_can_approve(sb: Sandbox) -> None:
    key, message = await request_for_key(sb)

    await click(sb, GROUP_APPROVER, message, ids.APPROVE_ACTION)
    final = await wait_final(sb, message)

    lookups = sb.api.calls("usergroups.users.list")
    assert [c.params.get("usergroup") for c in lookups] == [APPROVER_GROUP]
    assert all(c.ok for c in lookups)
    assert ": completed." in final.text
    assert f"Approved by <@{GROUP_APPROVER}>" in blocks_text(final.blocks)
    assert f"Approved by <@{GROUP_APPROVER}>." in thread_texts(sb, message)
    assert key_statuses(sb, key) == ["Inactive"]
    assert sb.api.ephemerals(CHANNEL, user=GROUP_APPROVER) == []


async def test_group_lookup_failure_refuses_the_group_member(sb: Sandbox) -> None:
    """Fail closed: a group Slack will not list has no members who may approve."""
    key, message = await request_for_key(sb)
    sb.api.fail("usergroups.users.list", error="plan_upgrade_required")

    await click(sb, GROUP_APPROVER, message, ids.APPROVE_ACTION)
    said = await told_privately(sb, GROUP_APPROVER)

    assert [c.error for c in sb.api.calls("usergroups.users.list")] == ["plan_upgrade_required"]
    assert "Only configured approvers can approve" in said
    assert updates(sb, message) == []
    assert action_ids(current(sb, message)) == BUTTONS
    assert (await stored(sb, message)).status is RequestStatus.PENDING
    iam_untouched(sb, key)


async def test_two_approvers_at_the_same_moment_run_the_plan_once(sb: Sandbox) -> None:
    key, message = await request_for_key(sb)

    await asyncio.gather(
        click(sb, APPROVER, message, ids.APPROVE_ACTION),
        click(sb, GROUP_APPROVER, message, ids.APPROVE_ACTION),
    )
    final = await wait_final(sb, message)
    winner = (await stored(sb, message)).decided_by
    assert winner in (APPROVER, GROUP_APPROVER)
    loser = GROUP_APPROVER if winner == APPROVER else APPROVER
    said = await told_privately(sb, loser)

    texts = thread_texts(sb, message)
    assert [t for t in texts if t.startswith("Approved by")] == [f"Approved by <@{winner}>."]
    assert [t for t in texts if t.startswith("Step ")] == [
        "Step 1 of 1 done: UpdateServiceSpecificCredential"
    ]
    assert ": completed." in final.text
    # Told who won, as a mention Slack renders (not an escaped "&lt;@U…&gt;").
    assert f"<@{winner}>" in said and "approved this request" in said
    assert sb.api.ephemerals(CHANNEL, user=winner) == []
    assert key_statuses(sb, key) == ["Inactive"]


async def test_the_same_click_delivered_twice_runs_the_plan_once(sb: Sandbox) -> None:
    key, message = await request_for_key(sb)
    as_clicked = sb.api.message_api(CHANNEL, message.ts)  # the payload's copy of the message

    await click(sb, APPROVER, message, ids.APPROVE_ACTION, message=as_clicked)
    await click(sb, APPROVER, message, ids.APPROVE_ACTION, message=as_clicked, retry_num=1)
    final = await wait_final(sb, message)
    await told_privately(sb, APPROVER)  # the second delivery has been handled

    texts = thread_texts(sb, message)
    assert [t for t in texts if t.startswith("Approved by")] == [f"Approved by <@{APPROVER}>."]
    assert [t for t in texts if t.startswith("Step ")] == [
        "Step 1 of 1 done: UpdateServiceSpecificCredential"
    ]
    assert ": completed." in final.text
    assert key_statuses(sb, key) == ["Inactive"]


async def test_later_clicks_are_told_who_approved(sb: Sandbox) -> None:
    key, message = await request_for_key(sb)
    stale = sb.api.message_api(CHANNEL, message.ts)  # a client that has not redrawn yet

    await click(sb, APPROVER, message, ids.APPROVE_ACTION)
    await wait_final(sb, message)
    updated = len(updates(sb, message))
    await click(sb, GROUP_APPROVER, message, ids.APPROVE_ACTION, message=stale)
    said = await told_privately(sb, GROUP_APPROVER)

    assert f"<@{APPROVER}> approved this request at" in said
    assert "it has finished (completed)" in said
    assert len(updates(sb, message)) == updated
    assert key_statuses(sb, key) == ["Inactive"]


async def test_two_required_approvals(make_sandbox: MakeSandbox) -> None:
    async with make_sandbox(required_approvals=2) as sb:
        key, message = await request_for_key(sb)

        await click(sb, APPROVER, message, ids.APPROVE_ACTION)
        recorded = await sb.api.wait_for(
            lambda: [
                m
                for m in sb.api.thread(CHANNEL, message.ts)
                if "(1 of 2 approvals)" in blocks_text(m.blocks)
            ],
            what="approval 1 of 2 in the thread",
        )
        assert len(recorded) == 1 and f"<@{APPROVER}> approved at" in blocks_text(
            recorded[0].blocks
        )
        first = current(sb, message)
        assert len(updates(sb, message)) == 1
        assert action_ids(first) == BUTTONS
        assert f"Approvals 1 of 2: <@{APPROVER}>" in blocks_text(first.blocks)
        assert ": waiting for approval." in first.text
        assert (await stored(sb, message)).status is RequestStatus.PENDING
        iam_untouched(sb, key)

        await click(sb, APPROVER, message, ids.APPROVE_ACTION)  # the same person again
        said = await told_privately(sb, APPROVER)
        assert "You already approved this request" in said
        assert key_statuses(sb, key) == ["Active"]

        await click(sb, GROUP_APPROVER, message, ids.APPROVE_ACTION)
        final = await wait_final(sb, message)

        assert ": completed." in final.text
        assert f"Approved by <@{APPROVER}>" in blocks_text(final.blocks)
        assert f"<@{GROUP_APPROVER}>" in blocks_text(final.blocks)
        assert [t for t in thread_texts(sb, message) if t.startswith("Step ")] == [
            "Step 1 of 1 done: UpdateServiceSpecificCredential"
        ]
        assert key_statuses(sb, key) == ["Inactive"]


# --- Reject -----------------------------------------------------------------------------------


async def reject_via_modal(sb: Sandbox, user: str, message: Message, reason: str | None) -> None:
    """Click Reject, wait for the reason modal, submit it."""
    opened = len(sb.api.calls("views.open"))
    await click(sb, user, message, ids.REJECT_ACTION)
    await sb.api.wait_for(
        lambda: [c for c in sb.api.calls("views.open")[opened:] if c.ok], what="reject modal"
    )
    view = sb.api.views()[-1]
    assert view.callback_id == ids.REJECT_CALLBACK_ID and view.user == user
    response = await sb.driver.view_submission(
        user,
        view_id=view.id,
        values={ids.REJECT_REASON_BLOCK: {ids.REJECT_REASON_ACTION: plain_text_input(reason)}},
    )
    assert response.status == 200 and not response.text, response.text


async def test_reject_asks_for_a_reason_and_ends_the_request(sb: Sandbox) -> None:
    key, message = await request_for_key(sb)
    reason = "false alarm <!channel> & <https://evil.example|see here>"
    escaped = "false alarm &lt;!channel&gt; &amp; &lt;https://evil.example|see here&gt;"

    await reject_via_modal(sb, APPROVER, message, reason)
    await sb.api.wait_for(
        lambda: any(t.startswith("Rejected by") for t in thread_texts(sb, message)),
        what="rejection in the thread",
    )

    final = current(sb, message)
    assert action_ids(final) == []
    assert ": rejected." in final.text
    assert f"*Rejected* by <@{APPROVER}>" in blocks_text(final.blocks)
    reply = [m for m in sb.api.thread(CHANNEL, message.ts) if m.text.startswith("Rejected by")]
    assert len(reply) == 1
    assert escaped in blocks_text(reply[0].blocks) and escaped in reply[0].text
    everything = (
        blocks_text(final.blocks)
        + json.dumps([m.blocks for m in sb.api.thread(CHANNEL, message.ts)])
        + "".join(thread_texts(sb, message))
    )
    assert "<!channel>" not in everything and "<https://evil" not in everything
    assert not any(t.startswith("Step ") for t in thread_texts(sb, message))
    assert (await stored(sb, message)).decision_note == reason
    iam_untouched(sb, key)


async def test_non_approver_cannot_reject(sb: Sandbox) -> None:
    key, message = await request_for_key(sb)

    await reject_via_modal(sb, BYSTANDER, message, "not needed")
    said = await told_privately(sb, BYSTANDER)
    assert "Only approvers can reject a request." in said

    await reject_via_modal(sb, REQUESTER, message, None)
    said = await told_privately(sb, REQUESTER)
    assert "Only approvers can reject a request. As the requester you can cancel it." in said

    assert updates(sb, message) == []
    assert action_ids(current(sb, message)) == BUTTONS
    assert (await stored(sb, message)).status is RequestStatus.PENDING
    iam_untouched(sb, key)


async def test_a_requester_in_the_approver_group_can_neither_approve_nor_reject(
    sb: Sandbox,
) -> None:
    sb.api.set_usergroup(APPROVER_GROUP, [GROUP_APPROVER, REQUESTER], handle="secops")
    key, message = await request_for_key(sb)

    await click(sb, REQUESTER, message, ids.APPROVE_ACTION)
    assert "You made this request, so you cannot approve it" in await told_privately(sb, REQUESTER)
    await reject_via_modal(sb, REQUESTER, message, "changed my mind")
    assert "You made this request, so you cannot reject it" in await told_privately(
        sb, REQUESTER, 2
    )

    assert updates(sb, message) == [] and action_ids(current(sb, message)) == BUTTONS
    assert (await stored(sb, message)).status is RequestStatus.PENDING
    iam_untouched(sb, key)


async def test_later_clicks_are_told_who_rejected(sb: Sandbox) -> None:
    key, message = await request_for_key(sb)
    stale = sb.api.message_api(CHANNEL, message.ts)
    await reject_via_modal(sb, APPROVER, message, None)
    await sb.api.wait_for(
        lambda: f"Rejected by <@{APPROVER}> (no reason given)" in thread_texts(sb, message),
        what="rejection in the thread",
    )
    assert ": rejected." in current(sb, message).text

    await click(sb, GROUP_APPROVER, message, ids.APPROVE_ACTION, message=stale)
    said = await told_privately(sb, GROUP_APPROVER)

    assert f"<@{APPROVER}> rejected this request at" in said
    assert not any(t.startswith("Approved by") for t in thread_texts(sb, message))
    iam_untouched(sb, key)


# --- Cancel -----------------------------------------------------------------------------------


async def test_requester_cancels(sb: Sandbox) -> None:
    key, message = await request_for_key(sb)

    await click(sb, REQUESTER, message, ids.CANCEL_ACTION)
    await sb.api.wait_for(
        lambda: f"Cancelled by <@{REQUESTER}>." in thread_texts(sb, message),
        what="cancellation in the thread",
    )

    final = current(sb, message)
    assert action_ids(final) == [] and ": cancelled." in final.text
    assert f"*Cancelled* by <@{REQUESTER}>" in blocks_text(final.blocks)
    assert (await stored(sb, message)).status is RequestStatus.CANCELLED
    assert sb.api.ephemerals(CHANNEL, user=REQUESTER) == []
    iam_untouched(sb, key)


async def test_only_the_requester_can_cancel(sb: Sandbox) -> None:
    key, message = await request_for_key(sb)

    await click(sb, APPROVER, message, ids.CANCEL_ACTION)
    said = await told_privately(sb, APPROVER)

    assert f"Only the requester (<@{REQUESTER}>) can cancel this request." in said
    assert updates(sb, message) == []
    assert action_ids(current(sb, message)) == BUTTONS
    assert (await stored(sb, message)).status is RequestStatus.PENDING
    iam_untouched(sb, key)


# --- Expiry -----------------------------------------------------------------------------------


async def test_approve_after_the_ttl_says_expired(timed: tuple[Sandbox, Clock]) -> None:
    sb, clock = timed
    key, message = await request_for_key(sb)
    clock.now += timedelta(minutes=61)

    await click(sb, APPROVER, message, ids.APPROVE_ACTION)
    said = await told_privately(sb, APPROVER)

    assert "This request expired at" in said and "nothing was changed in IAM" in said
    await delivered(sb)
    final = current(sb, message)
    assert action_ids(final) == [] and ": expired." in final.text
    assert "Expired without approval." in thread_texts(sb, message)
    assert not any(t.startswith("Approved by") for t in thread_texts(sb, message))
    assert (await stored(sb, message)).status is RequestStatus.EXPIRED
    iam_untouched(sb, key)


async def test_expiry_sweep_ends_due_requests_only(timed: tuple[Sandbox, Clock]) -> None:
    sb, clock = timed
    old_key, old = await request_for_key(sb, "leaky-old")
    clock.now += timedelta(minutes=30)
    new_key, new = await request_for_key(sb, "leaky-new")
    clock.now += timedelta(minutes=31)

    assert await sb.app.expire_due() == 1
    await delivered(sb)

    assert action_ids(current(sb, old)) == [] and ": expired." in current(sb, old).text
    assert thread_texts(sb, old)[-1] == "Expired without approval."
    assert action_ids(current(sb, new)) == BUTTONS
    assert updates(sb, new) == []
    assert (await stored(sb, new)).status is RequestStatus.PENDING
    assert await sb.app.expire_due() == 0  # a second sweep finds nothing more
    assert [t for t in thread_texts(sb, old) if t.startswith("Expired")] == [
        "Expired without approval."
    ]
    iam_untouched(sb, old_key)
    iam_untouched(sb, new_key)


# --- Undo -------------------------------------------------------------------------------------


async def completed(sb: Sandbox, actions: tuple[str, ...]) -> tuple[LongTermKey, Message]:
    key, message = await request_for_key(sb, actions=actions)
    await click(sb, APPROVER, message, ids.APPROVE_ACTION)
    final = await wait_final(sb, message)
    assert ": completed." in final.text
    return key, message


def undo_button(message: Message, reversal: Action) -> dict[str, Any]:
    for block in message.blocks:
        for el in block.get("elements") or []:
            if el.get("action_id") == f"{ids.UNDO_ACTION_PREFIX}:{reversal.value}":
                return dict(el)
    raise AssertionError(f"no undo button for {reversal} in {action_ids(message)}")


async def ask_for_undo(sb: Sandbox, message: Message, reversal: Action) -> Message:
    button = undo_button(current(sb, message), reversal)
    assert ids.UNDO_ACTION_PATTERN.fullmatch(button["action_id"])
    assert button["value"] == undo_value(request_id(message), reversal)
    before = len(sb.api.messages(CHANNEL))
    await click(sb, REQUESTER, message, button["action_id"])
    undo = await newest_request(sb, before)
    await sb.api.wait_for(
        lambda: (
            f"<@{REQUESTER}> asked for an undo: {request_id(undo)}." in thread_texts(sb, message)
        ),
        what="undo noted in the original thread",
    )
    return undo


async def test_undo_deactivate_is_a_new_request_that_reactivates_the_key(sb: Sandbox) -> None:
    key, original = await completed(sb, ("deactivate",))
    assert action_ids(current(sb, original)) == [f"{ids.UNDO_ACTION_PREFIX}:reactivate"]

    undo = await ask_for_undo(sb, original, Action.REACTIVATE)

    assert f"undo of {request_id(original)}" in undo.text
    assert f"Undoes `{request_id(original)}`" in blocks_text(undo.blocks)
    assert action_ids(undo) == BUTTONS
    stored_undo = await stored(sb, undo)
    assert stored_undo.undo_of == request_id(original)
    assert stored_undo.plan.actions == (Action.REACTIVATE,)
    assert key_statuses(sb, key) == ["Inactive"]  # nothing runs before its own approval

    await click(sb, REQUESTER, undo, ids.APPROVE_ACTION)  # asked for it: cannot approve it
    assert "cannot approve it" in await told_privately(sb, REQUESTER)
    assert key_statuses(sb, key) == ["Inactive"]

    await click(sb, APPROVER, undo, ids.APPROVE_ACTION)
    final = await wait_final(sb, undo)

    assert ": completed." in final.text
    assert key_statuses(sb, key) == ["Active"]
    assert "Step 1 of 1 done: UpdateServiceSpecificCredential" in thread_texts(sb, undo)
    # Done once, not offered again: the original loses the Undo button it used.
    await sb.api.wait_for(
        lambda: action_ids(current(sb, original)) == [], what="original's Undo button removed"
    )


async def test_undo_deny_user_removes_the_inline_policy(sb: Sandbox) -> None:
    key, original = await completed(sb, ("deny_user",))
    iam = iam_client()
    (own,) = iam.list_user_policies(UserName=key.user_name)["PolicyNames"]
    assert own.startswith("BedrockKeyRevokerDenyBearerToken-")  # the request's own policy

    undo = await ask_for_undo(sb, original, Action.ALLOW_USER)
    undo_plan = (await stored(sb, undo)).plan
    assert undo_plan.actions == (Action.ALLOW_USER,)
    assert [s.params["PolicyName"] for s in undo_plan.steps] == [own]
    assert iam.list_user_policies(UserName=key.user_name)["PolicyNames"] == [own]

    await click(sb, GROUP_APPROVER, undo, ids.APPROVE_ACTION)
    final = await wait_final(sb, undo)

    assert ": completed." in final.text
    assert iam.list_user_policies(UserName=key.user_name)["PolicyNames"] == []
    assert key_statuses(sb, key) == ["Active"]
    assert "Step 1 of 1 done: DeleteUserPolicy" in thread_texts(sb, undo)


async def test_no_undo_of_what_the_request_did_not_change(sb: Sandbox) -> None:
    # The key was already deactivated (by the console, or another request): this request's step
    # is skipped, so its Undo must not offer, nor accept, reactivating someone else's revocation.
    key = create_long_term_key(iam_client(), "leaky")
    iam_client().update_service_specific_credential(
        UserName=key.user_name, ServiceSpecificCredentialId=key.credential_id, Status="Inactive"
    )
    before = len(sb.api.messages(CHANNEL))
    view = await open_modal(sb, text=key.credential_id)
    assert (await submit(sb, view, actions=("deactivate",))).status == 200
    message = await newest_request(sb, before)
    await click(sb, APPROVER, message, ids.APPROVE_ACTION)
    final = await wait_final(sb, message)
    assert ": completed." in final.text
    assert action_ids(final) == []

    # A crafted click asking for it anyway (the value an Undo button would carry).
    action_id = f"{ids.UNDO_ACTION_PREFIX}:{Action.REACTIVATE.value}"
    await click(
        sb,
        REQUESTER,
        message,
        action_id,
        value=undo_value(request_id(message), Action.REACTIVATE),
    )
    assert "offers no reactivate now" in await told_privately(sb, REQUESTER)
    assert len(sb.api.messages(CHANNEL)) == before + 1
    assert await sb.services.requests.list_pending() == []
    assert key_statuses(sb, key) == ["Inactive"]


async def test_the_same_undo_click_delivered_twice_asks_once(sb: Sandbox) -> None:
    key, original = await completed(sb, ("deactivate",))
    button = undo_button(current(sb, original), Action.REACTIVATE)
    as_clicked = sb.api.message_api(CHANNEL, original.ts)

    await click(sb, REQUESTER, original, button["action_id"], message=as_clicked)
    await click(sb, REQUESTER, original, button["action_id"], message=as_clicked, retry_num=1)
    said = await told_privately(sb, REQUESTER)
    await sb.api.wait_for(
        lambda: any("asked for an undo" in t for t in thread_texts(sb, original)),
        what="undo noted in the original thread",
    )

    messages = sb.api.messages(CHANNEL)
    assert len(messages) == 2, [m.text for m in messages]
    undo = messages[1]
    assert f"{request_id(undo)} already asks for this undo" in said
    assert [t for t in thread_texts(sb, original) if "asked for an undo" in t] == [
        f"<@{REQUESTER}> asked for an undo: {request_id(undo)}."
    ]
    assert [r.id for r in await sb.services.requests.list_pending()] == [request_id(undo)]
    assert key_statuses(sb, key) == ["Inactive"]


# --- A click that names another channel --------------------------------------------------------

OTHER_CHANNEL = "C0RANDOM"


async def told_privately_in(sb: Sandbox, channel: str, user: str, after: int) -> str:
    """The first private reply `user` got in `channel` after the `after` already there."""
    found = await sb.api.wait_for(
        lambda: sb.api.ephemerals(channel, user=user)[after : after + 1],
        what=f"private reply in {channel}",
    )
    return "\n".join(str((b.get("text") or {}).get("text", "")) for b in found[0].blocks)


async def test_clicks_naming_another_channel_decide_nothing(make_sandbox: MakeSandbox) -> None:
    # Both channels are allowed, so only the request's own channel tells them apart. The payloads
    # are signed: as if a copy of the message's buttons were clicked in another channel.
    async with make_sandbox(allowed_channel_ids=(CHANNEL, OTHER_CHANNEL)) as sb:
        sb.api.add_channel(OTHER_CHANNEL, "random")
        key, message = await request_for_key(sb)
        copy = sb.api.message_api(CHANNEL, message.ts)
        elsewhere = {"channel_id": OTHER_CHANNEL, "message_ts": message.ts, "message": copy}

        for user, action in ((APPROVER, ids.APPROVE_ACTION), (REQUESTER, ids.CANCEL_ACTION)):
            before = len(sb.api.ephemerals(OTHER_CHANNEL, user=user))
            response = await sb.driver.block_action(user, action_id=action, **elsewhere)
            assert response.status == 200
            said = await told_privately_in(sb, OTHER_CHANNEL, user, before)
            assert "belongs to another channel" in said

        opened = len(sb.api.calls("views.open"))
        response = await sb.driver.block_action(
            GROUP_APPROVER, action_id=ids.REJECT_ACTION, **elsewhere
        )
        assert response.status == 200
        await sb.api.wait_for(lambda: sb.api.calls("views.open")[opened:], what="reject modal")
        view = sb.api.views()[-1]
        response = await sb.driver.view_submission(GROUP_APPROVER, view_id=view.id)
        assert response.status == 200 and not response.text
        said = await told_privately_in(sb, OTHER_CHANNEL, GROUP_APPROVER, 0)
        assert "belongs to another channel" in said

        assert updates(sb, message) == [] and action_ids(current(sb, message)) == BUTTONS
        assert (await stored(sb, message)).status is RequestStatus.PENDING
        assert sb.api.messages(OTHER_CHANNEL) == []
        iam_untouched(sb, key)

        # The undo of a completed request, asked from the other channel, is refused too.
        await click(sb, APPROVER, message, ids.APPROVE_ACTION)
        await wait_final(sb, message)
        button = undo_button(current(sb, message), Action.REACTIVATE)
        copy = sb.api.message_api(CHANNEL, message.ts)
        before = len(sb.api.ephemerals(OTHER_CHANNEL, user=REQUESTER))
        response = await sb.driver.block_action(
            REQUESTER,
            channel_id=OTHER_CHANNEL,
            message_ts=message.ts,
            message=copy,
            action_id=button["action_id"],
        )
        assert response.status == 200
        said = await told_privately_in(sb, OTHER_CHANNEL, REQUESTER, before)
        assert "belongs to another channel" in said
        assert len(sb.api.messages(CHANNEL)) == 1 and sb.api.messages(OTHER_CHANNEL) == []
        assert await sb.services.requests.list_pending() == []
        assert key_statuses(sb, key) == ["Inactive"]


async def test_undoing_one_incident_in_slack_keeps_the_other_incidents_deny(sb: Sandbox) -> None:
    # Two incidents deny the same user, each in its own request; the first one's Undo removes
    # only its own policy, so the second incident's containment holds.
    key, first = await completed(sb, ("deny_user",))
    before = len(sb.api.messages(CHANNEL))
    view = await open_modal(sb, text=key.credential_id)
    response = await submit(sb, view, actions=("deny_user",))
    assert response.status == 200 and not response.text, response.text
    second = await newest_request(sb, before)
    await click(sb, APPROVER, second, ids.APPROVE_ACTION)
    assert ": completed." in (await wait_final(sb, second)).text
    iam = iam_client()
    assert len(iam.list_user_policies(UserName=key.user_name)["PolicyNames"]) == 2

    undo = await ask_for_undo(sb, first, Action.ALLOW_USER)
    await click(sb, GROUP_APPROVER, undo, ids.APPROVE_ACTION)
    assert ": completed." in (await wait_final(sb, undo)).text

    (left,) = iam.list_user_policies(UserName=key.user_name)["PolicyNames"]
    assert left == (await stored(sb, second)).plan.steps[0].params["PolicyName"]
