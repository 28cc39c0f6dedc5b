"""Block Kit of bot.views: Slack limits, what each surface shows, escaping, no key leaks."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aws_bedrock_token_generator import BedrockTokenGenerator
from botocore.credentials import Credentials
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

from bot import keys
from bot.errors import InvalidInput
from bot.revocation.model import (
    LONG_TERM_ACTIONS,
    SHORT_TERM_ACTIONS,
    Action,
    Check,
    Credential,
    IamCall,
    KeyKind,
    RevocationPlan,
    Role,
    StepOutcome,
    StepResult,
    Target,
    Verification,
)
from bot.views import (
    RequestSummary,
    approved_reply,
    cancelled_reply,
    credential_list,
    expired_reply,
    help_text,
    ids,
    modal_errors,
    parse_reject_submission,
    parse_submission,
    parse_undo_value,
    plan_reply,
    refusal,
    reject_modal,
    rejected_reply,
    request_message,
    revocation_modal,
    step_reply,
    summary_reply,
    switched_modal,
    undo_requested_reply,
    verification_reply,
)
from bot.views.modal import ModalMetadata, guess_kind
from bot.views.text import (
    escape_mrkdwn,
    slack_date,
    truncate,
    truncate_mrkdwn,
    user_text,
)
from bot.views.thread import json_chunks

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
CHANNEL = "C0INCIDENT"
CRED_ID = "ACCAEXAMPLE1234567890"
LT_SECRET = "Zx9kQ2mN7pL4vR8sT1uW3yA5bC6dE0fGhJ2kL4mN6pQ8r="
LONG_KEY = "ABSK" + base64.b64encode(f"alice-at-123456789012:{LT_SECRET}".encode()).decode()
SESSION_CREDS = Credentials(
    "ASIAEXAMPLEEXAMPLE01", "secretsecretsecretsecret", "SessionTokenValue" * 8
)
SHORT_KEY = str(BedrockTokenGenerator().get_token(SESSION_CREDS, "us-west-2"))
INJECTION = "<!channel> & <@U123>"
ESCAPED = "&lt;!channel&gt; &amp; &lt;@U123&gt;"

# --- helpers ---------------------------------------------------------------------------------


def serialise(blocks: Sequence[Block] | View) -> str:
    """to_dict() runs slack_sdk's validators; the JSON is what Slack would receive."""
    if isinstance(blocks, View):
        return json.dumps(blocks.to_dict())
    assert 0 < len(blocks) <= 50
    return json.dumps([b.to_dict() for b in blocks])


def block_dicts(blocks: Sequence[Block] | View) -> list[dict[str, Any]]:
    data = json.loads(serialise(blocks))
    return list(data["blocks"] if isinstance(data, dict) else data)


def find(blocks: Sequence[Block] | View, block_id: str) -> dict[str, Any] | None:
    return next((b for b in block_dicts(blocks) if b.get("block_id") == block_id), None)


def buttons(blocks: Sequence[Block]) -> list[dict[str, Any]]:
    return [
        e
        for b in block_dicts(blocks)
        if b["type"] == "actions"
        for e in b["elements"]
        if e["type"] == "button"
    ]


def assert_no_key(payloads: Iterable[str], *secrets: str) -> None:
    for payload in payloads:
        for key in (LONG_KEY, SHORT_KEY, *secrets):
            assert key not in payload
        assert LT_SECRET not in payload
        assert (
            base64.b64encode(f"alice-at-123456789012:{LT_SECRET}".encode()).decode() not in payload
        )
        assert SESSION_CREDS.token not in payload
        assert SHORT_KEY[16:80] not in payload


def target_long() -> Target:
    cred = Credential(
        credential_id=CRED_ID,
        user_name="alice",
        status="Active",
        alias="alice-at-123456789012",
        created_at=NOW - timedelta(days=3),
    )
    return Target(
        kind=KeyKind.LONG_TERM,
        account="prod",
        account_id="123456789012",
        user_name="alice",
        credential=cred,
        key=keys.decode(LONG_KEY),
    )


def target_short() -> Target:
    return Target(
        kind=KeyKind.SHORT_TERM,
        account_id="123456789012",
        role=Role(name="app", arn="arn:aws:iam::123456789012:role/app", path="/"),
        key=keys.decode(SHORT_KEY),
    )


def deny_doc() -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "DenyBedrockApiKeys",
                "Effect": "Deny",
                "Action": ["bedrock:CallWithBearerToken", "bedrock-mantle:CallWithBearerToken"],
                "Resource": "*",
            }
        ],
    }


def plan(steps: Sequence[IamCall] | None = None, notes: Sequence[str] = ()) -> RevocationPlan:
    if steps is None:
        steps = [
            IamCall(
                action=Action.DEACTIVATE,
                operation="UpdateServiceSpecificCredential",
                params={
                    "UserName": "alice",
                    "ServiceSpecificCredentialId": CRED_ID,
                    "Status": "Inactive",
                },
                summary=f"Set key {CRED_ID} of alice to Inactive",
            ),
            IamCall(
                action=Action.DENY_USER,
                operation="PutUserPolicy",
                params={
                    "UserName": "alice",
                    "PolicyName": "BedrockKeyRevokerDenyBearerToken",
                    "PolicyDocument": deny_doc(),
                },
                summary="Deny API-key use to alice",
            ),
        ]
    return RevocationPlan(
        target=target_long(),
        actions=tuple(dict.fromkeys(s.action for s in steps)),
        steps=tuple(steps),
        notes=tuple(notes),
        created_at=NOW,
    )


def summary(**changes: Any) -> RequestSummary:
    base: dict[str, Any] = {
        "request_id": "R-7KQ2M9",
        "requester_id": "U0REQUESTER",
        "target": target_long(),
        "actions": (Action.DEACTIVATE, Action.DENY_USER),
        "reason": "INC-42: key in a public gist",
        "created_at": NOW,
        "expires_at": NOW + timedelta(hours=1),
        "approver_user_ids": ("U0APPROVER",),
        "approver_usergroup_ids": ("S0SECOPS",),
    }
    base.update(changes)
    return RequestSummary(**base)


def state(
    *,
    kind: KeyKind = KeyKind.LONG_TERM,
    identifier: str | None = None,
    key_text: str | None = None,
    actions: Sequence[str] = ("deactivate",),
    reason: str | None = "INC-42",
    account: str | None = None,
    revoke_before: int | None = None,
    identifier_action: str = ids.IDENTIFIER_ACTION,
) -> dict[str, Any]:
    """`view.state.values` shaped exactly as Slack sends it in a view_submission."""
    values: dict[str, Any] = {
        ids.KIND_BLOCK: {
            ids.KIND_ACTION: {
                "type": "radio_buttons",
                "selected_option": {
                    "text": {"type": "plain_text", "text": "x", "emoji": True},
                    "value": kind.value,
                },
            }
        },
        ids.IDENTIFIER_BLOCK: {
            identifier_action: {"type": "plain_text_input", "value": identifier}
        },
        ids.ACTIONS_BLOCK: {
            ids.ACTIONS_ACTION: {
                "type": "checkboxes",
                "selected_options": [
                    {"text": {"type": "plain_text", "text": a, "emoji": True}, "value": a}
                    for a in actions
                ],
            }
        },
        ids.REASON_BLOCK: {ids.REASON_ACTION: {"type": "plain_text_input", "value": reason}},
    }
    if kind is KeyKind.SHORT_TERM:
        values[ids.KEY_TEXT_BLOCK] = {
            ids.KEY_TEXT_ACTION: {"type": "plain_text_input", "value": key_text}
        }
        values[ids.REVOKE_BEFORE_BLOCK] = {
            ids.REVOKE_BEFORE_ACTION: {
                "type": "datetimepicker",
                "selected_date_time": revoke_before,
            }
        }
    if account is not None:
        values[ids.ACCOUNT_BLOCK] = {
            ids.ACCOUNT_ACTION: {
                "type": "static_select",
                "selected_option": {
                    "text": {"type": "plain_text", "text": account, "emoji": True},
                    "value": account,
                },
            }
        }
    return values


def meta(kind: KeyKind = KeyKind.LONG_TERM, **kw: Any) -> str:
    return ModalMetadata(channel_id=CHANNEL, kind=kind, **kw).encode()


# --- the modal -------------------------------------------------------------------------------


def action_options(view: View) -> tuple[list[str], list[str]]:
    block = find(view, ids.ACTIONS_BLOCK)
    assert block is not None
    element = block["element"]
    assert element["type"] == "checkboxes"
    return (
        [o["value"] for o in element["options"]],
        [o["value"] for o in element.get("initial_options", [])],
    )


def test_long_term_modal_offers_only_long_term_actions() -> None:
    view = revocation_modal(KeyKind.LONG_TERM, channel_id=CHANNEL, accounts=["prod"])
    data = json.loads(serialise(view))
    assert data["callback_id"] == ids.REVOKE_CALLBACK_ID == "revoke_request"
    assert data["title"]["text"] == "Revoke Bedrock key"
    assert data["submit"]["text"] == "Request approval"
    assert data["close"]["text"] == "Cancel"
    options, initial = action_options(view)
    assert options == [a.value for a in LONG_TERM_ACTIONS]
    assert initial == ["deactivate"]
    present = {b.get("block_id") for b in data["blocks"]}
    assert {ids.KIND_BLOCK, ids.IDENTIFIER_BLOCK, ids.ACTIONS_BLOCK, ids.REASON_BLOCK} <= present
    assert not present & {ids.KEY_TEXT_BLOCK, ids.REVOKE_BEFORE_BLOCK, ids.ACCOUNT_BLOCK}
    kind = find(view, ids.KIND_BLOCK)
    assert kind is not None and kind["dispatch_action"] is True
    assert kind["element"]["initial_option"]["value"] == "long_term"
    reason = find(view, ids.REASON_BLOCK)
    assert reason is not None and reason["element"]["max_length"] == 500
    assert reason.get("optional", False) is False
    identifier = find(view, ids.IDENTIFIER_BLOCK)
    assert identifier is not None
    assert identifier["label"]["text"] == "Leaked key (ABSK…), credential id, or IAM user name"


def test_short_term_modal_offers_only_short_term_actions() -> None:
    view = revocation_modal(KeyKind.SHORT_TERM, channel_id=CHANNEL)
    options, initial = action_options(view)
    assert options == [a.value for a in SHORT_TERM_ACTIONS]
    assert initial == ["deny_role"]
    assert find(view, ids.KEY_TEXT_BLOCK) is not None
    picker = find(view, ids.REVOKE_BEFORE_BLOCK)
    assert picker is not None and picker["element"]["type"] == "datetimepicker"
    identifier = find(view, ids.IDENTIFIER_BLOCK)
    assert identifier is not None
    assert identifier["label"]["text"] == (
        "IAM role that signed the key (name, ARN or assumed-role ARN)"
    )


def test_account_select_only_with_several_accounts() -> None:
    assert find(revocation_modal(KeyKind.LONG_TERM, channel_id=CHANNEL), ids.ACCOUNT_BLOCK) is None
    view = revocation_modal(
        KeyKind.LONG_TERM, channel_id=CHANNEL, accounts=["prod", "dev"], selected_account="dev"
    )
    block = find(view, ids.ACCOUNT_BLOCK)
    assert block is not None
    assert [o["value"] for o in block["element"]["options"]] == ["prod", "dev"]
    assert block["element"]["initial_option"]["value"] == "dev"


def test_many_accounts_are_grouped_not_dropped() -> None:
    accounts = [f"acct-{i:03}" for i in range(250)]
    view = revocation_modal(KeyKind.LONG_TERM, channel_id=CHANNEL, accounts=accounts)
    block = find(view, ids.ACCOUNT_BLOCK)
    assert block is not None
    groups = block["element"]["option_groups"]
    assert [o["value"] for g in groups for o in g["options"]] == accounts


def test_single_account_travels_in_metadata() -> None:
    view = revocation_modal(KeyKind.LONG_TERM, channel_id=CHANNEL, accounts=["prod"])
    assert view.private_metadata is not None
    got = parse_submission(state(identifier="alice"), view.private_metadata)
    assert got.account == "prod"


def test_private_metadata_round_trip() -> None:
    decoded = keys.decode(SHORT_KEY)
    original = ModalMetadata(
        channel_id=CHANNEL, kind=KeyKind.SHORT_TERM, account="prod", decoded_key=decoded
    )
    raw = original.encode()
    assert len(raw) <= 3000
    assert ModalMetadata.decode(raw) == original
    assert_no_key([raw])
    view = revocation_modal(KeyKind.SHORT_TERM, channel_id=CHANNEL, decoded_key=decoded)
    assert view.private_metadata is not None
    assert ModalMetadata.decode(view.private_metadata).decoded_key == decoded


@pytest.mark.parametrize("raw", ["", "{", "[]", '{"c":"C1"}', '{"c":"C1","k":"medium"}'])
def test_damaged_metadata_is_refused(raw: str) -> None:
    with pytest.raises(InvalidInput):
        parse_submission(state(identifier="alice"), raw)


@pytest.mark.parametrize("block", [ids.ACTIONS_BLOCK, ids.SCOPE_FILTERS_BLOCK])
@pytest.mark.parametrize("junk", [1, "deactivate", {"value": "deactivate"}, None])
def test_checkboxes_that_are_not_a_list_count_as_nothing_ticked(block: str, junk: Any) -> None:
    """A forged submission (found by fuzzing: `selected_options: 1` answered 500)."""
    values = state(identifier="alice")
    values[block] = {"any_action": {"type": "checkboxes", "selected_options": junk}}
    got = parse_submission(values, meta())
    if block == ids.ACTIONS_BLOCK:
        assert got.actions == ()


def test_parse_long_term_submission() -> None:
    got = parse_submission(
        state(
            identifier=f"  {CRED_ID} ",
            actions=["delete", "deactivate", "deactivate"],
            reason="  INC-42  ",
            account="dev",
        ),
        meta(),
    )
    assert got.kind is KeyKind.LONG_TERM
    assert got.identifier == CRED_ID
    assert got.key_text is None and got.decoded_key is None
    assert got.actions == (Action.DELETE, Action.DEACTIVATE)
    assert got.account == "dev"
    assert got.reason == "INC-42"
    assert got.channel_id == CHANNEL
    assert got.revoke_before is None
    assert modal_errors(got, accounts=["prod", "dev"]) == {}


def test_a_cutoff_before_the_keys_signing_time_is_a_field_error() -> None:
    signed = keys.decode(SHORT_KEY).issued_at
    assert signed is not None
    now = signed + timedelta(hours=1)

    def errors(before: datetime) -> dict[str, str]:
        got = parse_submission(
            state(
                kind=KeyKind.SHORT_TERM,
                identifier="app",
                key_text=SHORT_KEY,
                actions=["revoke_sessions"],
                revoke_before=int(before.timestamp()),
            ),
            meta(),
            now=now,
        )
        return modal_errors(got, now=now)

    too_early = errors(signed - timedelta(minutes=5))[ids.REVOKE_BEFORE_BLOCK]
    earliest = (signed + timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert f"Pick {earliest} or later" in too_early
    assert "it was signed at" in too_early
    # The signing second itself does not cover a session issued in that second.
    assert ids.REVOKE_BEFORE_BLOCK in errors(signed)
    assert errors(signed + timedelta(seconds=1)) == {}


def test_parse_short_term_submission_with_key_and_time() -> None:
    signed = keys.decode(SHORT_KEY).issued_at
    assert signed is not None
    now = signed + timedelta(hours=1)
    before = int((signed + timedelta(minutes=10)).timestamp())
    got = parse_submission(
        state(
            kind=KeyKind.SHORT_TERM,
            identifier="arn:aws:iam::123456789012:role/app",
            key_text=SHORT_KEY,
            actions=["deny_role", "revoke_sessions"],
            revoke_before=before,
        ),
        meta(),  # the metadata says long-term: the radio button is what counts
        now=now,
    )
    assert got.kind is KeyKind.SHORT_TERM
    assert got.identifier == "arn:aws:iam::123456789012:role/app"
    assert got.key_text is not None and got.key_text.get_secret_value() == SHORT_KEY
    assert got.key_block == ids.KEY_TEXT_BLOCK
    assert got.decoded_key == keys.decode(SHORT_KEY, now=now)
    assert got.actions == (Action.DENY_ROLE, Action.REVOKE_SESSIONS)
    assert got.revoke_before == signed + timedelta(minutes=10)
    assert modal_errors(got, now=now) == {}
    # The parsed input is safe to log or store: the key only exists behind SecretStr.
    assert_no_key([repr(got), got.model_dump_json()])


def test_key_in_identifier_is_decoded() -> None:
    got = parse_submission(state(identifier=LONG_KEY), meta())
    assert got.identifier is None
    assert got.key_block == ids.IDENTIFIER_BLOCK
    assert got.decoded_key is not None and got.decoded_key.user_name == "alice"
    assert modal_errors(got) == {}


@pytest.mark.parametrize(
    ("values", "block", "words"),
    [
        (state(identifier="not a user!"), ids.IDENTIFIER_BLOCK, "IAM user name"),
        (state(identifier=""), ids.IDENTIFIER_BLOCK, "Enter the leaked key"),
        (
            state(identifier="arn:aws:iam::123456789012:role/app"),
            ids.IDENTIFIER_BLOCK,
            "Short-term",
        ),
        (
            state(kind=KeyKind.SHORT_TERM, identifier="alice/x"),
            ids.IDENTIFIER_BLOCK,
            "role name",
        ),
        (state(identifier=SHORT_KEY), ids.IDENTIFIER_BLOCK, "short-term key"),
        (
            state(kind=KeyKind.SHORT_TERM, identifier="app", key_text=LONG_KEY),
            ids.KEY_TEXT_BLOCK,
            "long-term key",
        ),
        (
            state(kind=KeyKind.SHORT_TERM, identifier="app", key_text="bedrock-api-key-!!!!"),
            ids.KEY_TEXT_BLOCK,
            "fingerprint",
        ),
        (state(identifier="ABSKnotbase64!!"), ids.IDENTIFIER_BLOCK, "fingerprint"),
        (state(identifier="alice", actions=[]), ids.ACTIONS_BLOCK, "at least one action"),
        (state(identifier="alice", actions=["deny_role"]), ids.ACTIONS_BLOCK, "does not apply"),
        (state(identifier="alice", actions=["explode"]), ids.ACTIONS_BLOCK, "listed actions"),
        (state(identifier="alice", reason="   "), ids.REASON_BLOCK, "reason"),
        (state(identifier="alice", reason=None), ids.REASON_BLOCK, "reason"),
        (
            state(
                kind=KeyKind.SHORT_TERM,
                identifier="app",
                actions=["revoke_sessions"],
                revoke_before=int((NOW + timedelta(hours=1)).timestamp()),
            ),
            ids.REVOKE_BEFORE_BLOCK,
            "passed",
        ),
        (state(identifier="alice", account="staging"), ids.ACCOUNT_BLOCK, "configured"),
    ],
)
def test_field_errors(values: dict[str, Any], block: str, words: str) -> None:
    got = parse_submission(values, meta(), now=NOW)
    errors = modal_errors(got, accounts=["prod", "dev"], now=NOW)
    assert block in errors
    assert words.lower() in errors[block].lower()
    assert all(len(m) <= 2000 for m in errors.values())
    assert_no_key([json.dumps(errors)])


def test_two_pasted_keys_are_an_error() -> None:
    other = str(BedrockTokenGenerator().get_token(SESSION_CREDS, "eu-west-1"))
    got = parse_submission(
        state(kind=KeyKind.SHORT_TERM, identifier=SHORT_KEY, key_text=other), meta(), now=NOW
    )
    assert ids.KEY_TEXT_BLOCK in modal_errors(got, now=NOW)


def test_error_messages_never_echo_a_bad_key() -> None:
    bad = "ABSK" + base64.b64encode(b"no-colon-here-but-a-long-secret-value").decode()
    got = parse_submission(state(identifier=bad), meta())
    errors = modal_errors(got)
    assert ids.IDENTIFIER_BLOCK in errors
    assert bad not in json.dumps(errors)
    assert keys.fingerprint(bad) in errors[ids.IDENTIFIER_BLOCK]


def test_prefilled_key_is_decoded_not_echoed() -> None:
    view = revocation_modal(guess_kind(LONG_KEY), channel_id=CHANNEL, prefill_identifier=LONG_KEY)
    payload = serialise(view)
    assert_no_key([payload])
    context = find(view, ids.KEY_RECEIVED_BLOCK)
    assert context is not None and keys.fingerprint(LONG_KEY) in json.dumps(context)
    identifier = find(view, ids.IDENTIFIER_BLOCK)
    assert identifier is not None and "initial_value" not in identifier["element"]
    # Submitting with the identifier left empty acts on the key received earlier.
    assert view.private_metadata is not None
    got = parse_submission(state(identifier=None), view.private_metadata)
    assert got.decoded_key == keys.decode(LONG_KEY)
    assert modal_errors(got) == {}


def test_identifier_is_optional_when_a_pasted_key_stands_in() -> None:
    def optional(view: View) -> bool:
        block = find(view, ids.IDENTIFIER_BLOCK)
        assert block is not None
        return bool(block.get("optional", False))

    assert not optional(revocation_modal(KeyKind.LONG_TERM, channel_id=CHANNEL))
    assert optional(
        revocation_modal(KeyKind.LONG_TERM, channel_id=CHANNEL, prefill_identifier=LONG_KEY)
    )
    # A short-term key does not name its role, but its signer is read from CloudTrail when the
    # request is resolved: the role may stay empty (resolution refuses if CloudTrail cannot say).
    view = revocation_modal(KeyKind.SHORT_TERM, channel_id=CHANNEL, prefill_identifier=SHORT_KEY)
    assert optional(view)
    assert view.private_metadata is not None
    got = parse_submission(state(kind=KeyKind.SHORT_TERM), view.private_metadata, now=NOW)
    assert got.decoded_key is not None
    assert ids.IDENTIFIER_BLOCK not in modal_errors(got, now=NOW)
    assert not optional(revocation_modal(KeyKind.SHORT_TERM, channel_id=CHANNEL))


def test_guess_kind() -> None:
    assert guess_kind(SHORT_KEY) is KeyKind.SHORT_TERM
    assert guess_kind(f' "{SHORT_KEY}" ') is KeyKind.SHORT_TERM
    assert guess_kind(LONG_KEY) is KeyKind.LONG_TERM
    assert guess_kind("alice") is KeyKind.LONG_TERM
    assert guess_kind(None) is KeyKind.LONG_TERM


def test_switch_keeps_entries_but_not_a_pasted_key() -> None:
    values = state(identifier=SHORT_KEY, reason="INC-9", actions=["deactivate"])
    values[ids.KIND_BLOCK][ids.KIND_ACTION]["selected_option"]["value"] = "short_term"
    view = switched_modal(values, meta(), accounts=["prod", "dev"], now=NOW)
    payload = serialise(view)
    assert_no_key([payload])
    assert keys.fingerprint(SHORT_KEY) in payload
    identifier = find(view, ids.IDENTIFIER_BLOCK)
    assert identifier is not None
    # A new action_id makes Slack drop the typed key instead of preserving it across the update.
    assert identifier["element"]["action_id"] == ids.IDENTIFIER_ACTION_CLEARED
    assert "initial_value" not in identifier["element"]
    reason = find(view, ids.REASON_BLOCK)
    assert reason is not None and reason["element"]["initial_value"] == "INC-9"
    assert action_options(view) == ([a.value for a in SHORT_TERM_ACTIONS], ["deny_role"])
    kind = find(view, ids.KIND_BLOCK)
    assert kind is not None and kind["element"]["initial_option"]["value"] == "short_term"
    assert view.private_metadata is not None
    carried = ModalMetadata.decode(view.private_metadata)
    assert carried.kind is KeyKind.SHORT_TERM and carried.decoded_key is not None
    assert carried.decoded_key.fingerprint == keys.fingerprint(SHORT_KEY)
    # Pasting again in the cleared field and switching back alternates the action_id again.
    values = state(identifier=LONG_KEY, identifier_action=ids.IDENTIFIER_ACTION_CLEARED)
    again = switched_modal(values, view.private_metadata, now=NOW)
    identifier = find(again, ids.IDENTIFIER_BLOCK)
    assert identifier is not None and identifier["element"]["action_id"] == ids.IDENTIFIER_ACTION
    assert_no_key([serialise(again)])


def test_switch_keeps_a_typed_name() -> None:
    values = state(kind=KeyKind.SHORT_TERM, identifier="BedrockAPIKey-ab12", reason="x")
    values[ids.KIND_BLOCK][ids.KIND_ACTION]["selected_option"]["value"] = "long_term"
    view = switched_modal(values, meta(KeyKind.SHORT_TERM))
    identifier = find(view, ids.IDENTIFIER_BLOCK)
    assert identifier is not None
    assert identifier["element"]["initial_value"] == "BedrockAPIKey-ab12"
    assert identifier["element"]["action_id"] == ids.IDENTIFIER_ACTION


def test_key_of_the_other_kind_is_set_aside_not_used() -> None:
    decoded = keys.decode(LONG_KEY)
    view = revocation_modal(KeyKind.SHORT_TERM, channel_id=CHANNEL, decoded_key=decoded)
    context = find(view, ids.KEY_RECEIVED_BLOCK)
    assert context is not None and "does not apply" in json.dumps(context)
    assert view.private_metadata is not None
    got = parse_submission(state(kind=KeyKind.SHORT_TERM, identifier="app"), view.private_metadata)
    assert got.decoded_key is None


# --- the request message ---------------------------------------------------------------------


def test_pending_message_has_approve_and_reject_with_only_the_request_id() -> None:
    blocks, text = request_message(summary())
    payload = serialise(blocks)
    by_action = {b["action_id"]: b for b in buttons(blocks)}
    approve = by_action[ids.APPROVE_ACTION]
    reject = by_action[ids.REJECT_ACTION]
    assert (
        approve["value"] == reject["value"] == by_action[ids.CANCEL_ACTION]["value"] == "R-7KQ2M9"
    )
    assert approve["style"] == "primary" and reject["style"] == "danger"
    assert approve["confirm"]["title"]["text"] == "Approve revocation R-7KQ2M9?"
    confirm = approve["confirm"]["text"]["text"]
    assert "Deactivate" in confirm and "alice" in confirm
    assert "<@U0REQUESTER>" in payload
    assert "<@U0APPROVER>" in payload and "<!subteam^S0SECOPS>" in payload
    assert CRED_ID in payload and keys.fingerprint(LONG_KEY) in payload
    assert "<!date^" in payload  # created and expiry, in each reader's time zone
    assert "R-7KQ2M9" in text and "waiting for approval" in text
    assert "<@U0APPROVER>" in text
    assert_no_key([payload, text])


@pytest.mark.parametrize(
    ("status", "changes", "words"),
    [
        ("approved", {"approvals": (("U0APPROVER", NOW),)}, "Approved by <@U0APPROVER>"),
        ("executing", {"approvals": (("U0APPROVER", NOW),)}, "Running"),
        ("completed", {"approvals": (("U0APPROVER", NOW),)}, ":white_check_mark: *Completed*"),
        ("partial", {"approvals": (("U0APPROVER", NOW),)}, "Partially completed"),
        ("failed", {"approvals": (("U0APPROVER", NOW),)}, ":x: *Failed*"),
        (
            "rejected",
            {"decided_by": "U0APPROVER", "decided_at": NOW, "decision_note": INJECTION},
            ESCAPED,
        ),
        ("cancelled", {"decided_by": "U0REQUESTER", "decided_at": NOW}, "Cancelled"),
        ("expired", {"decided_at": NOW}, "Expired"),
    ],
)
def test_decided_message_has_no_buttons(status: str, changes: dict[str, Any], words: str) -> None:
    blocks, text = request_message(summary(status=status, **changes))
    payload = serialise(blocks)
    assert buttons(blocks) == []
    assert words in payload
    assert "<!channel>" not in payload and "<!channel>" not in text
    assert text


def test_key_state_is_labelled_a_snapshot_once_decided() -> None:
    assert "(when requested)" not in serialise(request_message(summary())[0])
    done = request_message(summary(status="completed", approvals=(("U0APPROVER", NOW),)))
    assert "*Key* (when requested)" in serialise(done[0])


def test_approval_shows_when_in_each_readers_time_zone() -> None:
    blocks, _ = request_message(summary(status="approved", approvals=(("U0APPROVER", NOW),)))
    ts = int(NOW.timestamp())
    assert f"Approved by <@U0APPROVER> at <!date^{ts}^" in serialise(blocks)


def test_completed_message_offers_one_undo_per_reversible_action() -> None:
    undo = (Action.REACTIVATE, Action.ALLOW_USER, Action.REACTIVATE)
    blocks, _ = request_message(summary(status="completed", undo_actions=undo))
    got = buttons(blocks)
    assert [b["action_id"] for b in got] == ["undo_request:reactivate", "undo_request:allow_user"]
    for b in got:
        assert ids.UNDO_ACTION_PATTERN.match(b["action_id"])
        assert "confirm" in b
    assert [parse_undo_value(b["value"]) for b in got] == [
        ("R-7KQ2M9", Action.REACTIVATE),
        ("R-7KQ2M9", Action.ALLOW_USER),
    ]
    with pytest.raises(ValueError):
        parse_undo_value("R-7KQ2M9:delete")
    with_buttons_off, _ = request_message(
        summary(status="completed", undo_actions=undo), with_buttons=False
    )
    assert buttons(with_buttons_off) == []


def test_partial_run_can_be_undone_too() -> None:
    blocks, _ = request_message(summary(status="partial", undo_actions=(Action.REACTIVATE,)))
    assert [b["action_id"] for b in buttons(blocks)] == ["undo_request:reactivate"]
    blocks, _ = request_message(summary(status="failed", undo_actions=(Action.REACTIVATE,)))
    assert buttons(blocks) == []


def test_summary_from_stored_request() -> None:
    from bot.requests import Approval, RequestStatus, RevocationRequest

    request = RevocationRequest(
        id="R-7KQ2M9AB",
        requester="U0REQUESTER",
        channel_id=CHANNEL,
        reason=INJECTION,
        plan=plan(),
        status=RequestStatus.COMPLETED,
        created_at=NOW,
        expires_at=NOW + timedelta(hours=1),
        approvals=(Approval(user_id="U0APPROVER", at=NOW),),
        decided_by="U0APPROVER",
        decided_at=NOW,
    )
    got = RequestSummary.from_request(
        request, approver_user_ids=["U0APPROVER"], undo_actions=[Action.REACTIVATE]
    )
    assert got.status == "completed" and got.decided_by is None
    assert got.actions == (Action.DEACTIVATE, Action.DENY_USER)
    blocks, text = request_message(got)
    payload = serialise(blocks)
    assert "Approved by <@U0APPROVER>" in payload and ESCAPED in payload
    assert [b["value"] for b in buttons(blocks)] == ["R-7KQ2M9AB:reactivate"]
    assert "completed" in text


def test_undo_request_says_what_it_undoes() -> None:
    blocks, text = request_message(summary(undo_of="R-AAAAAA", actions=(Action.REACTIVATE,)))
    payload = serialise(blocks)
    assert "R-AAAAAA" in payload and "own approval" in payload
    assert "undo of R-AAAAAA" in text


def test_short_term_target_shows_role_and_decoded_key() -> None:
    blocks, text = request_message(
        summary(
            target=target_short(),
            actions=(Action.REVOKE_SESSIONS,),
            revoke_before=NOW - timedelta(minutes=5),
        )
    )
    payload = serialise(blocks)
    assert "arn:aws:iam::123456789012:role/app" in payload
    assert SESSION_CREDS.access_key in payload and "us-west-2" in payload
    assert "before 2025-06-01T11:55:00Z" in payload
    assert_no_key([payload, text])


def test_user_text_is_escaped_everywhere() -> None:
    blocks, text = request_message(summary(reason=INJECTION))
    payload = serialise(blocks)
    assert ESCAPED in payload
    assert "<!channel>" not in payload + text and "<@U123>" not in payload + text
    for rendered in (
        rejected_reply("U0APPROVER", NOW, INJECTION),
        refusal(f"You cannot approve {INJECTION}"),
        step_reply(
            StepResult(index=0, operation="X", outcome=StepOutcome.ERROR, message=INJECTION),
            plan().steps[0],
        ),
        verification_reply(
            Verification(checks=(Check(description="d", holds=False, observed=INJECTION),))
        ),
    ):
        blocks, text = rendered
        payload = serialise(blocks)
        assert ESCAPED in payload
        assert "<!channel>" not in payload and "<!channel>" not in text


def test_mentions_only_from_real_ids() -> None:
    blocks, _ = request_message(summary(requester_id="<!here>", approver_user_ids=("<!channel>",)))
    payload = serialise(blocks)
    assert "<!here>" not in payload and "<!channel>" not in payload


def test_long_reason_stays_within_limits() -> None:
    blocks, text = request_message(summary(reason="&" * 5000))
    serialise(blocks)
    assert len(text) <= 3000


# --- thread replies --------------------------------------------------------------------------


def preformatted_texts(blocks: Sequence[Block]) -> list[str]:
    out = []
    for b in block_dicts(blocks):
        if b["type"] == "rich_text":
            for el in b["elements"]:
                if el["type"] == "rich_text_preformatted":
                    out.append("".join(t["text"] for t in el["elements"]))
    return out


def test_plan_reply_shows_every_call_and_the_policy_in_full() -> None:
    p = plan(notes=["Deny also stops <legit> use & more"])
    blocks, text = plan_reply(p, request_id="R-7KQ2M9")
    payload = serialise(blocks)
    assert find(blocks, ids.PLAN_HEADER_BLOCK) is not None
    assert "*1.* `UpdateServiceSpecificCredential`" in payload
    assert "*2.* `PutUserPolicy`" in payload
    assert "`Status`: `Inactive`" in payload
    assert "BedrockKeyRevokerDenyBearerToken" in payload
    assert ":warning: Deny also stops &lt;legit&gt; use &amp; more" in payload
    docs = preformatted_texts(blocks)
    assert [json.loads(d) for d in docs] == [deny_doc()]
    assert "UpdateServiceSpecificCredential" in text and "PutUserPolicy" in text
    assert_no_key([payload, text])


def test_plan_reply_says_what_happens_to_a_reset_secret_and_the_cutoff() -> None:
    reset = IamCall(
        action=Action.RESET,
        operation="ResetServiceSpecificCredential",
        params={"UserName": "alice", "ServiceSpecificCredentialId": CRED_ID},
        summary="Reset",
    )
    blocks, _ = plan_reply(plan([reset]))
    assert "discarded" in serialise(blocks)
    sm = plan([reset]).model_copy(update={"reset_secret_destination": "secretsmanager"})
    assert "Secrets Manager" in serialise(plan_reply(sm)[0])
    revoke = IamCall(
        action=Action.REVOKE_SESSIONS,
        operation="PutRolePolicy",
        params={"RoleName": "app", "PolicyName": "AWSRevokeOlderSessions", "PolicyDocument": {}},
        summary="Revoke",
    )
    cutoff = NOW - timedelta(minutes=3)
    p = plan([revoke]).model_copy(update={"revoke_before": cutoff})
    assert "`2025-06-01T11:57:00Z`" in serialise(plan_reply(p)[0])


def test_step_reply_shows_only_the_secret_arn() -> None:
    arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:bedrock-reset-abc"
    result = StepResult(
        index=0,
        operation="ResetServiceSpecificCredential",
        outcome=StepOutcome.OK,
        message="Key reset.",
        secret_arn=arn,
    )
    blocks, _ = step_reply(result, plan().steps[0])
    assert arn in serialise(blocks)


def test_plan_reply_renders_params_defensively() -> None:
    call = IamCall(
        action=Action.RESET,
        operation="ResetServiceSpecificCredential",
        params={
            "UserName": "alice",
            "ServiceSpecificCredentialId": CRED_ID,
            "ServiceCredentialSecret": "hunter2-very-secret",
            "Note": f"pasted {LONG_KEY} <!channel>",
            "Tags": [{"Key": "k", "Value": "v"}],
        },
        summary=f"Reset {CRED_ID}",
    )
    blocks, text = plan_reply(plan([call]))
    payload = serialise(blocks)
    assert "hunter2" not in payload
    assert "<!channel>" not in payload
    assert_no_key([payload, text])


def test_long_plan_stays_within_slack_limits() -> None:
    big = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": f"S{i}",
                "Effect": "Deny",
                "Action": f"svc{i}:CallWithBearerToken",
                "Resource": "*",
            }
            for i in range(150)
        ],
    }
    steps = [
        IamCall(
            action=Action.DENY_ROLE,
            operation="PutRolePolicy",
            params={"RoleName": f"role{i}", "PolicyName": "P", "PolicyDocument": big},
            summary=f"Deny role{i} " + "x" * 400,
        )
        for i in range(30)
    ]
    blocks, text = plan_reply(plan(steps, notes=["n" * 5000] * 3))
    data = block_dicts(blocks)
    assert len(data) <= 50
    for b in data:
        if b["type"] == "section":
            assert len(b["text"]["text"]) <= 3000
    assert "audit export" in json.dumps(data[-1])
    assert len(text) <= 3000


def test_big_policy_is_split_and_reassembles() -> None:
    big = {"Version": "2012-10-17", "Statement": [{"Sid": "x" * 120, "n": i} for i in range(100)]}
    chunks = json_chunks(big)
    assert len(chunks) > 1
    assert all(len(c) <= 2900 for c in chunks)
    assert json.loads("".join(chunks)) == big
    call = IamCall(
        action=Action.DENY_ROLE,
        operation="PutRolePolicy",
        params={"RoleName": "app", "PolicyName": "P", "PolicyDocument": big},
        summary="Deny",
    )
    blocks, _ = plan_reply(plan([call]))
    assert json.loads("".join(preformatted_texts(blocks))) == big
    # One unbroken line longer than a chunk is still cut and still reassembles.
    line = {"Sid": "y" * 7000}
    assert json.loads("".join(json_chunks(line))) == line


@pytest.mark.parametrize(
    ("outcome", "code", "words"),
    [
        (StepOutcome.OK, None, ":white_check_mark: *Step 1 of 2 done*"),
        (StepOutcome.SKIPPED, None, "skipped"),
        (StepOutcome.ERROR, "AccessDenied", ":x: *Step 1 of 2 failed*"),
    ],
)
def test_step_reply(outcome: StepOutcome, code: str | None, words: str) -> None:
    result = StepResult(
        index=0,
        operation="UpdateServiceSpecificCredential",
        outcome=outcome,
        message=f"IAM said no to {LONG_KEY}",
        error_code=code,
        request_id="6f1c-11aa",
    )
    blocks, text = step_reply(result, plan().steps[0], total=2)
    payload = serialise(blocks)
    assert words in payload and "6f1c-11aa" in payload
    if code:
        assert code in payload and code in text
    assert "UpdateServiceSpecificCredential" in text
    assert_no_key([payload, text])


def test_verification_reply() -> None:
    ok = Verification(
        checks=(Check(description="key is Inactive", holds=True, observed="Inactive"),)
    )
    blocks, text = verification_reply(ok)
    assert "all 1 checks hold" in serialise(blocks) and "hold" in text
    bad = Verification(
        checks=(
            Check(description="key is Inactive", holds=True, observed="Inactive"),
            Check(description="deny policy attached", holds=False, observed="NoSuchEntity"),
        )
    )
    blocks, text = verification_reply(bad)
    payload = serialise(blocks)
    assert "1 of 2 checks do not hold" in payload and ":x: deny policy attached" in payload
    assert "do not hold" in text
    blocks, text = verification_reply(Verification(checks=()))
    serialise(blocks)
    assert text


@pytest.mark.parametrize(
    ("status", "words"),
    [("completed", "Completed"), ("partial", "Partially completed"), ("failed", "Failed")],
)
def test_summary_reply(status: str, words: str) -> None:
    policies = {"BedrockKeyRevokerDenyBearerToken on user alice": deny_doc()}
    blocks, text = summary_reply(status, 4.25, policies, request_id="R-7KQ2M9")
    payload = serialise(blocks)
    assert [json.loads(d) for d in preformatted_texts(blocks)] == [deny_doc()]
    last = block_dicts(blocks)[-1]
    assert last["block_id"] == ids.SUMMARY_BLOCK
    assert words in last["text"]["text"] and "4.2 s" in last["text"]["text"]
    # "Completed" is what IAM holds, not an instant stop everywhere (IAM eventual consistency).
    settling = "can take a few minutes to take effect everywhere" in last["text"]["text"]
    assert settling is (status != "failed")
    assert "BedrockKeyRevokerDenyBearerToken on user alice" in payload
    assert text.startswith("R-7KQ2M9") and "4.2 s" in text
    blocks, text = summary_reply(status, 3725, {})
    assert "1 h 2 min" in serialise(blocks) and len(blocks) == 1


def test_event_replies() -> None:
    for (blocks, text), words in [
        (approved_reply("U0APPROVER", NOW), "Approved by <@U0APPROVER>"),
        (approved_reply("U0APPROVER", NOW, approvals=1, required=2), "1 of 2"),
        (rejected_reply("U0APPROVER", NOW), "no reason given"),
        (cancelled_reply("U0REQUESTER", NOW), "Cancelled by <@U0REQUESTER>"),
        (expired_reply(NOW), "Expired"),
        (undo_requested_reply("U0REQUESTER", "R-BBBBBB"), "R-BBBBBB"),
    ]:
        assert words in serialise(blocks)
        assert text
    # A notification must not say "approved" while the request still waits for more approvals.
    _, partial = approved_reply("U0APPROVER", NOW, approvals=1, required=2)
    assert "1 of 2" in partial and not partial.startswith("Approved by")


# --- private replies -------------------------------------------------------------------------


def test_help_text() -> None:
    blocks, text = help_text()
    payload = serialise(blocks)
    for usage in ("/revoke-bedrock-key", "status R-", "list &lt;user&gt;", "help"):
        assert usage in payload
    # Unescaped, Slack would read "<user>" as a link and swallow it.
    assert "<user>" not in payload and "<user>" not in text
    assert text == escape_mrkdwn(
        "Usage: /revoke-bedrock-key [help | <key id/user/role> | status R-… | list <user>]"
    )


def test_refusal_and_credential_list() -> None:
    blocks, text = refusal(f"You asked this yourself; {LONG_KEY}")
    assert_no_key([serialise(blocks), text])
    creds = [target_long().credential]
    assert creds[0] is not None
    blocks, text = credential_list("alice", [c for c in creds if c is not None])
    assert CRED_ID in serialise(blocks) and "1 Bedrock API key" in text
    blocks, text = credential_list("bob", [])
    assert "no Bedrock API keys" in serialise(blocks)


def test_reject_modal_round_trip() -> None:
    view = reject_modal("R-7KQ2M9", channel_id=CHANNEL, message_ts="1717240000.000100")
    data = json.loads(serialise(view))
    assert data["callback_id"] == ids.REJECT_CALLBACK_ID
    values = {
        ids.REJECT_REASON_BLOCK: {
            ids.REJECT_REASON_ACTION: {
                "type": "plain_text_input",
                "value": f" wrong key {LONG_KEY} ",
            }
        }
    }
    assert view.private_metadata is not None
    got = parse_reject_submission(values, view.private_metadata)
    assert (got.request_id, got.channel_id, got.message_ts) == (
        "R-7KQ2M9",
        CHANNEL,
        "1717240000.000100",
    )
    assert got.reason is not None and got.reason.startswith("wrong key [Bedrock API key ")
    assert_no_key([got.reason])
    empty = {
        ids.REJECT_REASON_BLOCK: {
            ids.REJECT_REASON_ACTION: {"type": "plain_text_input", "value": None}
        }
    }
    assert parse_reject_submission(empty, view.private_metadata).reason is None
    with pytest.raises(InvalidInput):
        parse_reject_submission(values, "nope")


# --- text helpers ----------------------------------------------------------------------------


def test_escape_and_redact() -> None:
    assert escape_mrkdwn(INJECTION) == ESCAPED
    assert escape_mrkdwn("a&amp;b") == "a&amp;amp;b"  # typed text is shown as typed
    for key in (LONG_KEY, SHORT_KEY):
        redacted = keys.redact_secrets(f"found {key} in a gist")
        assert key not in redacted and keys.fingerprint(key) in redacted
    assert keys.redact_secrets("keys start with ABSK or bedrock-api-key-") == (
        "keys start with ABSK or bedrock-api-key-"
    )


def test_truncation_never_breaks_entities_or_sequences() -> None:
    assert truncate("abcdef", 4) == "abc…"
    assert truncate("abc", 4) == "abc"
    for n in range(2, 40):
        cut = truncate_mrkdwn(ESCAPED * 3, n)
        assert len(cut) <= n
        body = cut.removesuffix("…")
        # Every "&" left starts a whole entity.
        assert body.count("&") == body.count(";")
    assert truncate_mrkdwn("x <@U123ABC> y", 8) == "x …"
    assert len(user_text("&" * 100, 50)) <= 50


def test_slack_date() -> None:
    got = slack_date(NOW)
    assert (
        got == f"<!date^{int(NOW.timestamp())}^{{date_short_pretty}} {{time}}|2025-06-01 12:00 UTC>"
    )
    assert slack_date(NOW.replace(tzinfo=None)) == got
