"""A short-term key through Slack, its signer read from the sandbox's CloudTrail: prefilled with
its evidence, a contradicting role refused in the modal, no evidence leaving the responder's role
with a warning in the plan, and a key signed by an IAM user's session stopped on the user."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from conftest import (
    create_role,
    short_term_key_from_role,
    short_term_key_from_user_session,
    use_key,
)
from slack_flow import open_modal, request_message, wait_final

from bot import keys, policies
from bot.sandbox.harness import APPROVER, CHANNEL, REQUESTER, Sandbox
from bot.sandbox.slack_api import View
from bot.sandbox.slack_driver import Response, checkboxes, plain_text_input
from bot.views import ids

REASON = "INC-4243: short-term key printed in a CI log"


async def _modal_with_signer(sb: Sandbox, key: str) -> View:
    """The modal the slash command opened, once the bot has updated it with the signer."""
    view = await open_modal(sb, text=key)
    await sb.api.wait_for(lambda: sb.api.calls("views.update"), what="the signer update")
    return sb.api.view(view.id)


def _block(view: View, block_id: str) -> dict[str, Any]:
    found = next((b for b in view.blocks if b.get("block_id") == block_id), None)
    assert found is not None, block_id
    return found


def _context(view: View) -> str:
    block = _block(view, ids.KEY_RECEIVED_BLOCK)
    return " ".join(e.get("text", "") for e in block["elements"])


async def _submit(
    sb: Sandbox, view: View, *, role: str | None = None, actions: tuple[str, ...] | None = None
) -> Response:
    values: dict[str, dict[str, Any]] = {
        ids.REASON_BLOCK: {ids.REASON_ACTION: plain_text_input(REASON)}
    }
    if role is not None:
        action_id = _block(view, ids.IDENTIFIER_BLOCK)["element"]["action_id"]
        values[ids.IDENTIFIER_BLOCK] = {action_id: plain_text_input(role)}
    if actions is not None:
        action_id = _block(view, ids.ACTIONS_BLOCK)["element"]["action_id"]
        values[ids.ACTIONS_BLOCK] = {action_id: checkboxes(*actions)}
    return await sb.driver.view_submission(REQUESTER, view_id=view.id, values=values)


def _thread_text(sb: Sandbox, ts: str) -> str:
    return "\n".join(m.text + str(m.blocks) for m in sb.api.thread(CHANNEL, ts))


async def test_the_signing_role_is_prefilled_from_cloudtrail_and_the_request_runs(
    sb: Sandbox, aws_server: str
) -> None:
    role = create_role(sb.iam(), "ci-runner", path="/apps/")
    key = short_term_key_from_role(role["Arn"])
    use_key(key, endpoint_url=aws_server, source_ip="203.0.113.7")

    view = await _modal_with_signer(sb, key)
    identifier = _block(view, ids.IDENTIFIER_BLOCK)
    assert identifier["element"]["initial_value"] == role["Arn"]
    shown = _context(view)
    assert "Signed by role ci-runner" in shown and "InvokeModel" in shown
    assert "with the Bedrock API key" in shown and "us-east-1" in shown
    assert key not in str(view.blocks) and key not in (view.private_metadata or "")

    response = await _submit(sb, view)  # the prefilled role stands
    assert response.status == 200 and not response.text
    message = await request_message(sb)
    assert "Signed by role ci-runner" in _thread_text(sb, message.ts)
    await sb.driver.block_action(
        APPROVER, channel_id=CHANNEL, message_ts=message.ts, action_id=ids.APPROVE_ACTION
    )
    final = await wait_final(sb, message)
    assert "completed" in final.text.lower()
    (name,) = sb.iam().list_role_policies(RoleName="ci-runner")["PolicyNames"]
    assert name.startswith(policies.DENY_POLICY_NAME + "-")


async def test_a_role_that_contradicts_cloudtrail_is_a_field_error_naming_the_signer(
    sb: Sandbox, aws_server: str
) -> None:
    create_role(sb.iam(), "prod-app")
    role = create_role(sb.iam(), "ci-runner")
    key = short_term_key_from_role(role["Arn"])
    use_key(key, endpoint_url=aws_server)
    view = await _modal_with_signer(sb, key)

    response = await _submit(sb, view, role="prod-app")
    body = response.json()
    assert body["response_action"] == "errors"
    said = body["errors"][ids.IDENTIFIER_BLOCK]
    assert "signed by a session of role ci-runner, not prod-app" in said
    assert sb.api.messages(CHANNEL) == []
    assert await sb.services.requests.list_recent() == []


async def test_no_evidence_leaves_the_responders_role_with_a_warning_in_the_plan(
    sb: Sandbox, aws_server: str
) -> None:
    role = create_role(sb.iam(), "ci-runner")
    key = short_term_key_from_role(role["Arn"])  # never used: CloudTrail has no event
    view = await _modal_with_signer(sb, key)
    assert "Signer not confirmed" in _context(view)
    assert "initial_value" not in _block(view, ids.IDENTIFIER_BLOCK)["element"]
    # Left empty, the role is asked for in the modal.
    empty = await _submit(sb, view)
    assert "CloudTrail could not confirm" in empty.json()["errors"][ids.IDENTIFIER_BLOCK]

    response = await _submit(sb, sb.api.view(view.id), role="ci-runner")
    assert response.status == 200 and not response.text
    message = await request_message(sb)
    thread = _thread_text(sb, message.ts)
    assert "could NOT be confirmed" in thread and "Acting on role ci-runner" in thread


async def test_a_key_signed_by_an_iam_users_session_is_stopped_on_that_user(
    sb: Sandbox, aws_server: str
) -> None:
    sb.iam().create_user(UserName="dev")
    key, _ = short_term_key_from_user_session(sb.iam(), "dev")
    use_key(key, endpoint_url=aws_server)
    view = await _modal_with_signer(sb, key)
    assert "Signed by IAM user dev" in _context(view)
    chosen = _block(view, ids.ACTIONS_BLOCK)["element"]["initial_options"]
    assert [o["value"] for o in chosen] == ["deny_user"]

    response = await _submit(sb, view, actions=("deny_user", "revoke_sessions"))
    assert response.status == 200 and not response.text
    message = await request_message(sb)
    await sb.driver.block_action(
        APPROVER, channel_id=CHANNEL, message_ts=message.ts, action_id=ids.APPROVE_ACTION
    )
    final = await wait_final(sb, message)
    assert "completed" in final.text.lower()
    names = sb.iam().list_user_policies(UserName="dev")["PolicyNames"]
    assert sorted(n.rsplit("-", 1)[0] for n in names) == [
        policies.DENY_POLICY_NAME,
        policies.SESSION_CUTOFF_POLICY_PREFIX,
    ]


async def test_a_cutoff_before_the_keys_session_is_a_field_error_saying_the_earliest(
    sb: Sandbox, aws_server: str
) -> None:
    role = create_role(sb.iam(), "ci-runner")
    key = short_term_key_from_role(role["Arn"])
    use_key(key, endpoint_url=aws_server)
    view = await _modal_with_signer(sb, key)
    signed = keys.decode(key).issued_at
    assert signed is not None
    too_early = int((signed - timedelta(hours=1)).timestamp())
    values = {
        ids.REASON_BLOCK: {ids.REASON_ACTION: plain_text_input(REASON)},
        ids.ACTIONS_BLOCK: {ids.ACTIONS_ACTION: checkboxes("revoke_sessions")},
        ids.REVOKE_BEFORE_BLOCK: {
            ids.REVOKE_BEFORE_ACTION: {"type": "datetimepicker", "selected_date_time": too_early}
        },
    }
    response = await sb.driver.view_submission(REQUESTER, view_id=view.id, values=values)
    said = response.json()["errors"][ids.REVOKE_BEFORE_BLOCK]
    assert "Too early to stop this key" in said and "or later" in said
    assert "its session was issued at" in said  # CloudTrail's creationDate, the exact bound
    assert sb.api.messages(CHANNEL) == []


async def test_the_blast_radius_is_in_the_thread_before_approval(
    sb: Sandbox, aws_server: str
) -> None:
    role = create_role(sb.iam(), "ci-runner")
    key = short_term_key_from_role(role["Arn"])
    use_key(key, endpoint_url=aws_server, source_ip="203.0.113.7")
    view = await _modal_with_signer(sb, key)
    assert (await _submit(sb, view)).status == 200
    message = await request_message(sb)

    def radius() -> Any:
        return next(
            (
                m
                for m in sb.api.thread(CHANNEL, message.ts)
                if any(b.get("block_id") == ids.BLAST_RADIUS_BLOCK for b in m.blocks)
            ),
            None,
        )

    reply = await sb.api.wait_for(radius, what="the blast-radius reply")
    text = str(reply.blocks)
    assert "1 call(s)" in text and "203.0.113.7" in text and "role ci-runner" in text
    assert "CloudTrail LookupEvents" in text
    assert key not in text
    stored = await sb.services.requests.list_recent()
    assert [r.status.value for r in stored] == ["pending"]  # nothing approved or changed yet
