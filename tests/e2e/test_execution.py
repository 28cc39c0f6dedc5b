"""What happens after approval: the message redrawn first, each IAM step in the thread, the
verification against IAM, the final status, the policies as attached and the summary line.

Driven as Slack does (signed clicks into the running app); AWS is moto's server, with IAM errors
injected server-side where a test needs IAM to say no.
"""

from __future__ import annotations

import json
import re
from typing import Any

from conftest import LongTermKey, boto_session
from slack_flow import action_ids, click, current, preformatted, request_for_key, wait_final

from bot.sandbox import iam as sandbox_iam
from bot.sandbox.harness import APPROVER, CHANNEL, Sandbox
from bot.sandbox.slack_api import Call, Message
from bot.views import ids

POLICY_PREFIX = "BedrockKeyRevokerDenyBearerToken-"


def deny_policy(iam: Any, user: str) -> str:
    """The name of the one deny policy a request attached to the user (its own, by plan tag)."""
    (name,) = iam.list_user_policies(UserName=user)["PolicyNames"]
    assert name.startswith(POLICY_PREFIX)
    return str(name)


BEARER_ACTIONS = sorted(["bedrock:CallWithBearerToken", "bedrock-mantle:CallWithBearerToken"])
SUMMARY = re.compile(r"^(R-[0-9A-Z]{8}): (completed|partially completed|failed) in \d+\.\d s\.$")


def iam_client() -> Any:
    return boto_session().client("iam")


def key_statuses(key: LongTermKey) -> list[str]:
    listed = iam_client().list_service_specific_credentials(UserName=key.user_name)
    return [c["Status"] for c in listed["ServiceSpecificCredentials"]]


def thread(sb: Sandbox, message: Message) -> list[Message]:
    return sb.api.thread(CHANNEL, message.ts)


def blocks_text(message: Message) -> str:
    return json.dumps(message.blocks)


def request_id(message: Message) -> str:
    return message.text.split(":", 1)[0]


def call_blocks(call: Call) -> list[dict[str, Any]]:
    blocks = call.params.get("blocks") or []
    return json.loads(blocks) if isinstance(blocks, str) else list(blocks)


async def approve_and_finish(sb: Sandbox, message: Message) -> Message:
    await click(sb, APPROVER, message, ids.APPROVE_ACTION)
    final = await wait_final(sb, message)
    # The summary is the thread's last reply and comes before the final redraw.
    assert SUMMARY.match(thread(sb, message)[-1].text), thread(sb, message)[-1].text
    return final


async def test_buttons_go_and_the_approver_shows_before_the_first_step_is_told(
    sb: Sandbox,
) -> None:
    key, message = await request_for_key(sb)

    await approve_and_finish(sb, message)

    calls = sb.api.calls()
    first_update = next(
        i
        for i, c in enumerate(calls)
        if c.method == "chat.update" and c.params.get("ts") == message.ts
    )
    update = calls[first_update]
    shown = json.dumps(call_blocks(update))
    assert ids.APPROVE_ACTION not in shown and ids.REQUEST_BUTTONS_BLOCK not in shown
    assert f"Approved by <@{APPROVER}>" in shown
    first_step = next(
        i
        for i, c in enumerate(calls)
        if c.method == "chat.postMessage" and str(c.params.get("text", "")).startswith("Step ")
    )
    assert first_update < first_step
    # IAM does not wait for Slack: the run starts when the approval is stored, and the channel
    # hears of it in order as Slack takes it (tests/e2e/test_durability.py).
    assert key_statuses(key) == ["Inactive"]


async def test_thread_tells_each_step_verifies_and_ends_with_the_policy_as_attached(
    sb: Sandbox,
) -> None:
    key, message = await request_for_key(sb, actions=("deny_user", "deactivate"))
    rid = request_id(message)

    final = await approve_and_finish(sb, message)

    assert final.text.endswith(": completed.")
    assert ":white_check_mark: *Completed*" in blocks_text(final)
    assert f"Approved by <@{APPROVER}>" in blocks_text(final)
    # After the plan (0) and the blast-radius report (1), posted before anyone could approve:
    assert [r.text for r in thread(sb, message)][2:-1] == [
        f"Approved by <@{APPROVER}>.",
        "Step 1 of 2 done: PutUserPolicy",
        "Step 2 of 2 done: UpdateServiceSpecificCredential",
        "Verification: all 2 checks hold.",
    ]
    steps = [blocks_text(r) for r in thread(sb, message) if r.text.startswith("Step ")]
    assert all("IAM request id" in s for s in steps)

    iam = iam_client()
    policy = deny_policy(iam, key.user_name)
    attached = iam.get_user_policy(UserName=key.user_name, PolicyName=policy)["PolicyDocument"]
    summary = thread(sb, message)[-1]
    assert SUMMARY.match(summary.text) and summary.text.startswith(f"{rid}: completed in ")
    assert f"{policy} on user {key.user_name}" in blocks_text(summary)
    assert summary.blocks[-1].get("block_id") == ids.SUMMARY_BLOCK
    docs = [json.loads(text) for text in preformatted(summary)]
    assert docs == [attached]
    assert sorted(docs[0]["Statement"][0]["Action"]) == BEARER_ACTIONS
    assert docs[0]["Statement"][0]["Effect"] == "Deny"
    assert key_statuses(key) == ["Inactive"]


async def test_access_denied_fails_in_plain_words_with_iams_code(sb: Sandbox) -> None:
    key, message = await request_for_key(sb)
    sandbox_iam.inject_error(
        "UpdateServiceSpecificCredential",
        code="AccessDenied",
        message="User: arn:aws:iam::123456789012:user/revoker is not authorized to perform: "
        "iam:UpdateServiceSpecificCredential",
    )

    final = await approve_and_finish(sb, message)

    assert final.text.endswith(": failed.")
    assert ":x: *Failed*" in blocks_text(final)
    assert action_ids(final) == []  # nothing ran, so nothing to undo
    replies = thread(sb, message)
    step = next(r for r in replies if r.text.startswith("Step "))
    assert step.text == "Step 1 of 1 failed: UpdateServiceSpecificCredential (AccessDenied)"
    assert "IAM: `AccessDenied`" in blocks_text(step)
    assert "not authorized to perform" in blocks_text(step)
    verification = next(r for r in replies if r.text.startswith("Verification"))
    assert verification.text == "Verification: 1 of 1 checks do not hold."
    summary = replies[-1]
    assert summary.text.startswith(f"{request_id(message)}: failed in ")
    assert preformatted(summary) == []  # no policy was attached
    assert key_statuses(key) == ["Active"]


async def test_one_of_two_steps_failing_is_partially_completed(sb: Sandbox) -> None:
    key, message = await request_for_key(sb, actions=("deny_user", "deactivate"))
    sandbox_iam.inject_error("UpdateServiceSpecificCredential", code="AccessDenied")

    final = await approve_and_finish(sb, message)

    assert final.text.endswith(": partially completed.")
    assert ":warning: *Partially completed*" in blocks_text(final)
    texts = [r.text for r in thread(sb, message)]
    assert texts[1].startswith("Blast radius:")
    assert texts[3:5] == [
        "Step 1 of 2 done: PutUserPolicy",
        "Step 2 of 2 failed: UpdateServiceSpecificCredential (AccessDenied)",
    ]
    assert texts[5] == "Verification: 1 of 2 checks do not hold."
    assert texts[-1].startswith(f"{request_id(message)}: partially completed in ")
    # What did run is in IAM, shown as attached, and can be undone; the key is still active.
    iam = iam_client()
    policy = deny_policy(iam, key.user_name)
    attached = iam.get_user_policy(UserName=key.user_name, PolicyName=policy)["PolicyDocument"]
    assert [json.loads(t) for t in preformatted(thread(sb, message)[-1])] == [attached]
    assert key_statuses(key) == ["Active"]
    assert action_ids(current(sb, message)) == [f"{ids.UNDO_ACTION_PREFIX}:allow_user"]
