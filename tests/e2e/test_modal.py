"""The request modal (listeners `switch_key_type`, `submit_request`, `submit_rejection`).

Field errors come back inside the modal; a target IAM cannot find, or a plan a guard refuses,
is explained to the requester alone. In every refused case nothing is stored and nothing is
posted in the channel. The short-term flow runs to the end: the plan's policy is the policy
IAM holds afterwards.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from conftest import (
    ACCOUNT_ID,
    BEDROCK,
    create_role,
    short_term_key_from_role,
    short_term_key_from_user,
)
from slack_flow import open_modal, request_message, wait_final

from bot import keys
from bot.policies import SESSION_CUTOFF_POLICY_PREFIX
from bot.revocation.model import SHORT_TERM_ACTIONS
from bot.sandbox import iam as iam_sandbox
from bot.sandbox.harness import APPROVER, CHANNEL, REQUESTER, Sandbox
from bot.sandbox.slack_api import Message, View
from bot.sandbox.slack_driver import Response, checkboxes, plain_text_input
from bot.views import ids

JsonDict = dict[str, Any]
REASON = "INC-4242: key pasted in a public gist"

# Every IAM/STS read a submission can make before anything is stored. Armed as faults that fire
# on every call, their hit counts prove that a refused input reached no AWS API at all.
RESOLVE_OPERATIONS = (
    "GetCallerIdentity",
    "ListServiceSpecificCredentials",
    "ListUserPolicies",
    "GetRole",
    "ListRolePolicies",
    "GetAccessKeyLastUsed",
)


@pytest.fixture
def aws_tripwire(sb: Sandbox) -> Iterator[list[iam_sandbox.Fault]]:
    wires = [iam_sandbox.inject_error(op, "AccessDenied", times=None) for op in RESOLVE_OPERATIONS]
    yield wires
    iam_sandbox.clear_faults()


def _untouched(wires: list[iam_sandbox.Fault]) -> None:
    assert {w.operation: w.hits for w in wires} == dict.fromkeys(RESOLVE_OPERATIONS, 0)


def _text(value: str | None) -> JsonDict:
    return plain_text_input(value)


def _values(
    *,
    identifier: str | None = None,
    key_text: str | None = None,
    actions: tuple[str, ...] | None = None,
    reason: str | None = REASON,
) -> dict[str, dict[str, JsonDict]]:
    values: dict[str, dict[str, JsonDict]] = {ids.REASON_BLOCK: {ids.REASON_ACTION: _text(reason)}}
    if identifier is not None:
        values[ids.IDENTIFIER_BLOCK] = {ids.IDENTIFIER_ACTION: _text(identifier)}
    if key_text is not None:
        values[ids.KEY_TEXT_BLOCK] = {ids.KEY_TEXT_ACTION: _text(key_text)}
    if actions is not None:
        values[ids.ACTIONS_BLOCK] = {ids.ACTIONS_ACTION: checkboxes(*actions)}
    return values


async def _send(
    sb: Sandbox, view: View, values: dict[str, dict[str, JsonDict]], *, enforce: bool = True
) -> Response:
    return await sb.driver.view_submission(
        REQUESTER, view_id=view.id, values=values, enforce_required=enforce
    )


async def _switch(sb: Sandbox, view: View, kind: str) -> View:
    updates = len(sb.api.calls("views.update"))
    response = await sb.driver.block_action_in_view(
        REQUESTER,
        view_id=view.id,
        action_id=ids.KIND_ACTION,
        block_id=ids.KIND_BLOCK,
        selected_option=kind,
    )
    assert response.status == 200, response.text
    await sb.api.wait_for(
        lambda: sb.api.calls("views.update")[updates:], what=f"views.update to {kind}"
    )
    return sb.api.view(view.id)


async def _short_term_modal(sb: Sandbox) -> View:
    return await _switch(sb, await open_modal(sb), "short_term")


def _block(view: View, block_id: str) -> JsonDict | None:
    return next((b for b in view.blocks if b.get("block_id") == block_id), None)


def _action_values(view: View) -> list[str]:
    block = _block(view, ids.ACTIONS_BLOCK)
    assert block is not None
    return [o["value"] for o in block["element"]["options"]]


def _nothing_posted(sb: Sandbox) -> None:
    assert sb.api.calls("chat.postMessage") == []
    assert sb.api.calls("chat.update") == []
    assert sb.api.messages(CHANNEL) == []


async def _nothing_stored(sb: Sandbox) -> None:
    assert await sb.services.requests.list_recent() == []


async def _refusal(sb: Sandbox) -> str:
    """The one private reply the requester got, once it came."""
    (reply,) = await sb.api.wait_for(
        lambda: sb.api.ephemerals(user=REQUESTER), what="private reply to the requester"
    )
    assert reply.channel == CHANNEL and reply.via == "chat.postEphemeral"
    assert sb.api.ephemerals(user=APPROVER) == []
    return reply.text


def _json_docs(message: Message) -> list[JsonDict]:
    """Every JSON document in a thread reply's code blocks (a long one spans several blocks)."""
    docs: list[JsonDict] = []
    run: list[str] = []
    for block in [*message.blocks, {"type": "end"}]:
        if block.get("type") == "rich_text":
            run += [
                "".join(part.get("text", "") for part in el.get("elements") or [])
                for el in block.get("elements") or []
                if el.get("type") == "rich_text_preformatted"
            ]
        elif run:
            docs.append(json.loads("".join(run)))
            run = []
    return docs


# --------------------------------------------------------------------------------------------
# switch_key_type


async def test_switching_to_short_term_updates_the_modal_to_role_fields_and_actions(
    sb: Sandbox,
) -> None:
    view = await open_modal(sb)
    first_hash = view.hash
    assert _action_values(view) == ["deactivate", "reset", "delete", "deny_user"]
    sb.api.set_view_state(view.id, ids.REASON_BLOCK, ids.REASON_ACTION, _text(REASON))

    switched = await _switch(sb, view, "short_term")

    (update,) = sb.api.calls("views.update")
    assert update.ok, update.response
    assert update.params["view_id"] == view.id and update.params["hash"] == first_hash
    assert sb.api.calls("views.open")[0].time <= update.time
    assert _action_values(switched) == [a.value for a in SHORT_TERM_ACTIONS]
    identifier = _block(switched, ids.IDENTIFIER_BLOCK)
    assert identifier is not None and "role" in identifier["label"]["text"].lower()
    assert not identifier.get("optional")
    assert _block(switched, ids.KEY_TEXT_BLOCK) is not None
    assert _block(switched, ids.REVOKE_BEFORE_BLOCK) is not None
    assert json.loads(switched.private_metadata)["k"] == "short_term"
    # What the requester already typed survives the switch.
    reason_block = _block(switched, ids.REASON_BLOCK)
    assert reason_block is not None
    assert reason_block["element"].get("initial_value") == REASON

    back = await _switch(sb, switched, "long_term")
    assert _action_values(back) == ["deactivate", "reset", "delete", "deny_user"]
    assert _block(back, ids.KEY_TEXT_BLOCK) is None
    assert _block(back, ids.REVOKE_BEFORE_BLOCK) is None
    _nothing_posted(sb)
    await _nothing_stored(sb)


@pytest.mark.parametrize("typed", ["{key}", "revoke {key} please"])
async def test_switching_type_never_sends_a_typed_key_back_to_slack(
    sb: Sandbox, typed: str
) -> None:
    key = await _long_term_key_text(sb)
    view = await open_modal(sb)
    sb.api.set_view_state(
        view.id, ids.IDENTIFIER_BLOCK, ids.IDENTIFIER_ACTION, _text(typed.format(key=key))
    )

    switched = await _switch(sb, view, "short_term")

    (update,) = sb.api.calls("views.update")
    assert key not in json.dumps(update.params)
    assert keys.fingerprint(key) in json.dumps(update.params)
    # A new action_id is what makes Slack drop what was typed: the field no longer holds the key.
    assert key not in json.dumps(switched.state)
    assert json.loads(switched.private_metadata)["d"]["fingerprint"] == keys.fingerprint(key)


# --------------------------------------------------------------------------------------------
# submit_request: field errors stay in the modal


async def _long_term_key_text(sb: Sandbox) -> str:
    iam = sb.iam()
    iam.create_user(UserName="BedrockAPIKey-f1")
    cred = iam.create_service_specific_credential(UserName="BedrockAPIKey-f1", ServiceName=BEDROCK)
    secret: str = cred["ServiceSpecificCredential"]["ServiceCredentialSecret"]
    return secret


FieldCase = Callable[[Sandbox], Awaitable[tuple[View, dict[str, dict[str, JsonDict]], str, str]]]


async def _bad_identifier_shape(sb: Sandbox) -> Any:
    view = await open_modal(sb)
    return view, _values(identifier="alice smith; rm -rf"), ids.IDENTIFIER_BLOCK, "IAM user name"


async def _role_arn_under_long_term(sb: Sandbox) -> Any:
    view = await open_modal(sb)
    arn = f"arn:aws:iam::{ACCOUNT_ID}:role/ci-runner"
    return view, _values(identifier=arn), ids.IDENTIFIER_BLOCK, "That is a role"


async def _bad_role_shape(sb: Sandbox) -> Any:
    view = await _short_term_modal(sb)
    return view, _values(identifier="ci runner/*"), ids.IDENTIFIER_BLOCK, "IAM role name"


async def _short_term_key_under_long_term(sb: Sandbox) -> Any:
    key = short_term_key_from_role(create_role(sb.iam(), "ci-runner")["Arn"])
    view = await open_modal(sb)
    said = "That is a short-term key, but long-term is chosen above"
    return view, _values(identifier=key), ids.IDENTIFIER_BLOCK, said


async def _long_term_key_under_short_term(sb: Sandbox) -> Any:
    key = await _long_term_key_text(sb)
    view = await _short_term_modal(sb)
    said = "That is a long-term key, but short-term is chosen above"
    return view, _values(identifier="ci-runner", key_text=key), ids.KEY_TEXT_BLOCK, said


async def _not_a_key(sb: Sandbox) -> Any:
    view = await open_modal(sb)
    garbage = "ABSK" + "not-base64!" * 4
    return view, _values(identifier=garbage), ids.IDENTIFIER_BLOCK, "The key pasted (fingerprint"


async def _no_action(sb: Sandbox) -> Any:
    view = await open_modal(sb)
    return view, _values(identifier="alice", actions=()), ids.ACTIONS_BLOCK, "at least one action"


async def _blank_reason(sb: Sandbox) -> Any:
    view = await open_modal(sb)
    said = "Give a reason"
    return view, _values(identifier="alice", reason="   \n "), ids.REASON_BLOCK, said


async def _no_reason(sb: Sandbox) -> Any:
    view = await open_modal(sb)
    return view, _values(identifier="alice", reason=None), ids.REASON_BLOCK, "Give a reason"


async def _no_role(sb: Sandbox) -> Any:
    view = await _short_term_modal(sb)
    return (
        view,
        _values(identifier=None),
        ids.IDENTIFIER_BLOCK,
        "or enter the role whose session signed it",
    )


@pytest.mark.parametrize(
    "case",
    [
        _bad_identifier_shape,
        _role_arn_under_long_term,
        _bad_role_shape,
        _short_term_key_under_long_term,
        _long_term_key_under_short_term,
        _not_a_key,
        _no_action,
        _blank_reason,
        _no_reason,
        _no_role,
    ],
    ids=lambda f: f.__name__.strip("_"),
)
async def test_field_error_comes_back_in_the_modal_and_nothing_happens(
    sb: Sandbox, case: FieldCase, aws_tripwire: list[iam_sandbox.Fault]
) -> None:
    view, values, block, said = await case(sb)
    pasted = [
        v["value"]
        for actions in values.values()
        for v in actions.values()
        if keys.looks_like_key(v.get("value") or "")
    ]

    response = await _send(sb, view, values, enforce=False)

    assert response.status == 200
    body = response.json()
    assert body["response_action"] == "errors"
    assert said in body["errors"][block], body["errors"]
    shown = sb.api.view(view.id)
    assert not shown.closed and said in shown.errors[block]
    for key in pasted:  # an error about a pasted key names its fingerprint, never the key
        assert key not in response.text
    _untouched(aws_tripwire)
    _nothing_posted(sb)
    assert sb.api.ephemerals() == []
    await _nothing_stored(sb)


# --------------------------------------------------------------------------------------------
# submit_request: IAM cannot find the target, or refuses to tell


ResolveCase = Callable[[Sandbox], Awaitable[tuple[View, dict[str, dict[str, JsonDict]], str]]]


async def _unknown_user(sb: Sandbox) -> Any:
    view = await open_modal(sb)
    return view, _values(identifier="ghost-user"), "There is no IAM user named ghost-user"


async def _unknown_credential(sb: Sandbox) -> Any:
    view = await open_modal(sb)
    said = "No Bedrock API key with id ACCAGHOST0000000000000 exists"
    return view, _values(identifier="ACCAGHOST0000000000000"), said


async def _deleted_key(sb: Sandbox) -> Any:
    key = await _long_term_key_text(sb)
    iam = sb.iam()
    (cred,) = iam.list_service_specific_credentials(UserName="BedrockAPIKey-f1")[
        "ServiceSpecificCredentials"
    ]
    iam.delete_service_specific_credential(
        UserName="BedrockAPIKey-f1", ServiceSpecificCredentialId=cred["ServiceSpecificCredentialId"]
    )
    view = await open_modal(sb, text=key)
    return view, _values(), "it was probably already deleted"


async def _unknown_role(sb: Sandbox) -> Any:
    view = await _short_term_modal(sb)
    said = "There is no IAM role named ghost-role"
    return view, _values(identifier="ghost-role", actions=("deny_role",)), said


async def _list_denied(sb: Sandbox) -> Any:
    sb.iam().create_user(UserName="alice")
    iam_sandbox.inject_error("ListServiceSpecificCredentials", "AccessDenied")
    view = await open_modal(sb)
    said = "lacks iam:ListServiceSpecificCredentials on user alice"
    return view, _values(identifier="alice"), said


async def _get_role_denied(sb: Sandbox) -> Any:
    create_role(sb.iam(), "ci-runner")
    iam_sandbox.inject_error("GetRole", "AccessDenied", when={"RoleName": "ci-runner"})
    view = await _short_term_modal(sb)
    said = "lacks iam:GetRole on role ci-runner"
    return view, _values(identifier="ci-runner", actions=("deny_role",)), said


@pytest.mark.parametrize(
    "case",
    [
        _unknown_user,
        _unknown_credential,
        _deleted_key,
        _unknown_role,
        _list_denied,
        _get_role_denied,
    ],
    ids=lambda f: f.__name__.strip("_"),
)
async def test_target_iam_cannot_resolve_is_explained_to_the_requester_alone(
    sb: Sandbox, case: ResolveCase
) -> None:
    view, values, said = await case(sb)

    response = await _send(sb, view, values)

    assert response.status == 200 and response.text == ""  # the modal closes
    assert sb.api.view(view.id).closed
    text = await _refusal(sb)
    assert said in text, text
    assert "Traceback" not in text and "ClientError" not in text
    _nothing_posted(sb)
    await _nothing_stored(sb)
    assert iam_sandbox.faults() == []  # each injected fault was hit


# --------------------------------------------------------------------------------------------
# submit_request: a guard refuses the plan


async def _identity_center_role(sb: Sandbox) -> Any:
    name = "AWSReservedSSO_Admin_0123456789abcdef"
    create_role(sb.iam(), name, path="/aws-reserved/sso.amazonaws.com/")
    view = await _short_term_modal(sb)
    said = f"Role {name} is managed by IAM Identity Center; IAM does not allow editing it."
    return view, _values(identifier=name, actions=("deny_role",)), said


async def _service_linked_role(sb: Sandbox) -> Any:
    create_role(
        sb.iam(), "AWSServiceRoleForSupport", path="/aws-service-role/support.amazonaws.com/"
    )
    view = await _short_term_modal(sb)
    said = "Role AWSServiceRoleForSupport is a service-linked role"
    return view, _values(identifier="AWSServiceRoleForSupport", actions=("deny_role",)), said


async def _reset_expired_key(sb: Sandbox) -> Any:
    iam = sb.iam()
    iam.create_user(UserName="BedrockAPIKey-old")
    cred = iam.create_service_specific_credential(
        UserName="BedrockAPIKey-old", ServiceName=BEDROCK, CredentialAgeDays=1
    )["ServiceSpecificCredential"]
    cred_id = cred["ServiceSpecificCredentialId"]
    iam_sandbox.expire_credential(ACCOUNT_ID, cred_id)
    view = await open_modal(sb)
    said = f"Key {cred_id} has expired; IAM cannot reset an expired key. Delete it instead"
    return view, _values(identifier=cred_id, actions=("reset",)), said


async def _akia_signed_revoke_sessions(sb: Sandbox) -> Any:
    iam = sb.iam()
    iam.create_user(UserName="ci-bot")
    key, access_key_id = short_term_key_from_user(iam, "ci-bot")
    create_role(iam, "ci-runner")
    view = await open_modal(sb, text=key)
    said = (
        f"This key was signed with user ci-bot's long-term access key {access_key_id}, not a "
        "role session; session revocation (aws:TokenIssueTime) does not stop it. "
        "Use deny_user on ci-bot instead"
    )
    return view, _values(identifier="ci-runner", actions=("revoke_sessions",)), said


@pytest.mark.parametrize(
    "case",
    [_identity_center_role, _service_linked_role, _reset_expired_key, _akia_signed_revoke_sessions],
    ids=lambda f: f.__name__.strip("_"),
)
async def test_guard_refusal_is_explained_privately(sb: Sandbox, case: ResolveCase) -> None:
    view, values, said = await case(sb)

    response = await _send(sb, view, values)

    assert response.status == 200 and response.text == ""
    text = await _refusal(sb)
    assert said in text, text
    _nothing_posted(sb)
    await _nothing_stored(sb)


# --------------------------------------------------------------------------------------------
# submit_request: the short-term flow to the end


async def test_short_term_key_revoke_sessions_plan_is_the_policy_attached(sb: Sandbox) -> None:
    iam = sb.iam()
    role = create_role(iam, "ci-runner")
    key = short_term_key_from_role(role["Arn"])
    issued = keys.decode(key).issued_at
    assert issued is not None
    view = await _short_term_modal(sb)

    submitted = datetime.now(UTC)
    response = await _send(
        sb, view, _values(identifier="ci-runner", key_text=key, actions=("revoke_sessions",))
    )
    assert response.status == 200 and response.text == ""

    message = await request_message(sb)
    plan = sb.api.thread(CHANNEL, message.ts)[0]
    (planned,) = _json_docs(plan)
    cutoff_text = planned["Statement"][0]["Condition"]["DateLessThan"]["aws:TokenIssueTime"]
    cutoff = datetime.strptime(cutoff_text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert planned == {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Deny",
                "Action": "*",
                "Resource": "*",
                "Condition": {"DateLessThan": {"aws:TokenIssueTime": cutoff_text}},
            }
        ],
    }
    # "now" at submission, rounded up to the second: the leaked key's session is before it.
    assert submitted - timedelta(seconds=1) <= cutoff <= datetime.now(UTC) + timedelta(seconds=1)
    assert issued < cutoff
    assert "PutRolePolicy" in plan.text
    stored_plan = (await sb.services.requests.list_recent())[0].plan
    (step,) = stored_plan.steps
    name = step.params["PolicyName"]  # this request's own cutoff policy
    assert name.startswith(SESSION_CUTOFF_POLICY_PREFIX + "-")
    assert name in json.dumps(plan.blocks)
    assert keys.fingerprint(key) in json.dumps(message.blocks)
    with pytest.raises(iam.exceptions.NoSuchEntityException):
        iam.get_role_policy(RoleName="ci-runner", PolicyName=name)

    approved = await sb.driver.block_action(
        APPROVER, channel_id=CHANNEL, message_ts=message.ts, action_id=ids.APPROVE_ACTION
    )
    assert approved.status == 200
    final = await wait_final(sb, message)

    assert ": completed." in final.text.lower()
    held = iam.get_role_policy(RoleName="ci-runner", PolicyName=name)
    assert held["PolicyDocument"] == planned
    summary = sb.api.thread(CHANNEL, message.ts)[-1]
    assert "The policies as attached" in json.dumps(summary.blocks)
    assert f"{name} on role ci-runner" in json.dumps(summary.blocks)
    assert _json_docs(summary) == [planned]
    assert sb.api.ephemerals() == []


# --------------------------------------------------------------------------------------------
# submit_rejection


async def _reject_form(sb: Sandbox, clicker: str) -> tuple[str, Message, View]:
    """A pending request to deactivate alice's key, and the reason modal `clicker` opened on it."""
    iam = sb.iam()
    iam.create_user(UserName="alice")
    iam.create_service_specific_credential(UserName="alice", ServiceName=BEDROCK)
    view = await open_modal(sb, text="alice")
    assert (await _send(sb, view, _values())).status == 200
    message = await request_message(sb)
    (req,) = await sb.services.requests.list_recent()
    clicked = await sb.driver.block_action(
        clicker, channel_id=CHANNEL, message_ts=message.ts, action_id=ids.REJECT_ACTION
    )
    assert clicked.status == 200
    opened = await sb.api.wait_for(lambda: sb.api.views()[1:], what="reject modal")
    assert opened[0].callback_id == ids.REJECT_CALLBACK_ID
    return req.id, message, opened[0]


def _reject_reason(text: str | None) -> dict[str, dict[str, JsonDict]]:
    return {ids.REJECT_REASON_BLOCK: {ids.REJECT_REASON_ACTION: _text(text)}}


def _statuses(sb: Sandbox, user: str) -> list[str]:
    listed = sb.iam().list_service_specific_credentials(UserName=user)
    return [c["Status"] for c in listed["ServiceSpecificCredentials"]]


async def test_approver_rejection_ends_the_request_with_its_reason_escaped(sb: Sandbox) -> None:
    request_id, message, form = await _reject_form(sb, APPROVER)

    response = await sb.driver.view_submission(
        APPROVER, view_id=form.id, values=_reject_reason("<!here> not a leak & a test key")
    )

    assert response.status == 200 and response.text == ""
    assert sb.api.view(form.id).closed
    await sb.api.wait_for(lambda: sb.api.calls("chat.update"), what="request message redrawn")
    req = await sb.services.requests.get(request_id)
    assert req is not None and req.status == "rejected" and req.decided_by == APPROVER
    shown = sb.api.message(CHANNEL, message.ts)
    assert shown is not None and ids.APPROVE_ACTION not in json.dumps(shown.blocks)
    event = await sb.api.wait_for(
        lambda: [r for r in sb.api.thread(CHANNEL, message.ts) if "Rejected by" in r.text],
        what="rejection in the thread",
    )
    said = json.dumps(event[0].blocks)
    assert "Rejected by <@U0BOB>" in said
    assert "&lt;!here&gt; not a leak &amp; a test key" in said and "<!here>" not in said
    assert _statuses(sb, "alice") == ["Active"]
    assert sb.api.ephemerals() == []


async def test_rejection_by_the_requester_is_refused_privately(sb: Sandbox) -> None:
    request_id, message, form = await _reject_form(sb, REQUESTER)
    replies = len(sb.api.thread(CHANNEL, message.ts))

    response = await sb.driver.view_submission(
        REQUESTER, view_id=form.id, values=_reject_reason("never mind")
    )

    assert response.status == 200
    text = await _refusal(sb)
    assert "Only approvers can reject a request. As the requester you can cancel it." in text
    req = await sb.services.requests.get(request_id)
    assert req is not None and req.status == "pending"
    assert sb.api.calls("chat.update") == []
    assert len(sb.api.thread(CHANNEL, message.ts)) == replies


async def test_damaged_reject_form_metadata_is_a_field_error_and_changes_nothing(
    sb: Sandbox,
) -> None:
    request_id, _, form = await _reject_form(sb, APPROVER)
    # The form's hidden data is ours; damaged, it must not reject whatever it seems to name.
    sb.api.view(form.id).payload["private_metadata"] = '{"r": "' + request_id + '"}'

    response = await sb.driver.view_submission(
        APPROVER, view_id=form.id, values=_reject_reason("stop")
    )

    assert response.status == 200
    body = response.json()
    assert body["response_action"] == "errors"
    assert "damaged" in body["errors"][ids.REJECT_REASON_BLOCK]
    req = await sb.services.requests.get(request_id)
    assert req is not None and req.status == "pending"
    assert sb.api.calls("chat.update") == [] and sb.api.ephemerals() == []
