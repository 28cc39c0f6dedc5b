"""The slash command (listener `revoke_bedrock_key`): ack, the modal it opens, and its words.

Every test drives the app as Slack does (a signed form-encoded POST) and reads back what the
Slack stand-in recorded; AWS is moto's HTTP server.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import BEDROCK, create_role, short_term_key_from_role
from slack_flow import open_modal, request_message, submit

from bot import keys
from bot.revocation.model import SHORT_TERM_ACTIONS
from bot.sandbox.harness import APPROVER, CHANNEL, REQUESTER, Sandbox, sandbox
from bot.sandbox.slack_api import Ephemeral
from bot.views import ids

# Slack gives an app 3 seconds to ack a slash command; the stand-in's loopback is far faster.
ACK_DEADLINE_SECONDS = 3.0
OTHER_CHANNEL = "C0OTHER"


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _bedrock_key(sb: Sandbox, user_name: str) -> tuple[str, str]:
    """(credential id, the whole leaked key) for a new Bedrock API key of `user_name`."""
    iam = sb.iam()
    iam.create_user(UserName=user_name)
    cred = iam.create_service_specific_credential(UserName=user_name, ServiceName=BEDROCK)
    body = cred["ServiceSpecificCredential"]
    return body["ServiceSpecificCredentialId"], body["ServiceCredentialSecret"]


def _secret_part(long_term_key: str) -> str:
    """The secret half of ABSK + base64("<alias>:<secret>")."""
    decoded = base64.b64decode(long_term_key.removeprefix(keys.LONG_TERM_PREFIX)).decode()
    return decoded.split(":", 1)[1]


def _web_api_methods(sb: Sandbox, since: int) -> list[str]:
    # Bolt's single-workspace authorization calls auth.test once per process, before the first
    # request reaches any listener; it is not a call the command makes.
    return [c.method for c in sb.api.calls()[since:] if c.method != "auth.test"]


def _text_of(reply: Ephemeral) -> str:
    return reply.text + "\n" + _json(reply.blocks)


async def _private_reply(sb: Sandbox, user: str = REQUESTER, after: int = 0) -> Ephemeral:
    replies = await sb.api.wait_for(
        lambda: sb.api.ephemerals(user=user)[after:], what=f"a private reply to {user}"
    )
    assert len(replies) == 1, [r.text for r in replies]
    return replies[0]


def _identifier_element(view_blocks: list[dict[str, Any]]) -> dict[str, Any]:
    block = next(b for b in view_blocks if b.get("block_id") == ids.IDENTIFIER_BLOCK)
    element: dict[str, Any] = block["element"]
    return element


def _action_values(view_blocks: list[dict[str, Any]]) -> list[str]:
    block = next(b for b in view_blocks if b.get("block_id") == ids.ACTIONS_BLOCK)
    return [o["value"] for o in block["element"]["options"]]


# --------------------------------------------------------------------------------------------
# opening the modal


async def test_command_is_acked_at_once_and_views_open_uses_its_trigger_id_first(
    sb: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    issued: list[str] = []
    issue: Callable[..., str] = sb.api.issue_trigger_id

    def record_trigger(**kwargs: Any) -> str:
        trigger_id = issue(**kwargs)
        issued.append(trigger_id)
        return trigger_id

    monkeypatch.setattr(sb.api, "issue_trigger_id", record_trigger)
    before = len(sb.api.calls())

    started = time.monotonic()
    response = await sb.driver.slash_command(REQUESTER, CHANNEL)
    acked_in = time.monotonic() - started

    assert response.status == 200
    assert response.text == ""  # a bare ack: nothing shown in the channel
    assert acked_in < ACK_DEADLINE_SECONDS
    opened = await sb.api.wait_for(lambda: sb.api.calls("views.open"), what="views.open")
    assert _web_api_methods(sb, before)[0] == "views.open"
    assert len(opened) == 1 and opened[0].ok, opened[0].response
    assert issued and opened[0].params["trigger_id"] == issued[0]

    (view,) = sb.api.views()
    assert view.callback_id == ids.REVOKE_CALLBACK_ID
    assert view.user == REQUESTER
    assert _action_values(view.blocks) == ["deactivate", "reset", "delete", "deny_user"]
    assert json.loads(view.private_metadata)["c"] == CHANNEL
    assert sb.api.messages(CHANNEL) == [] and sb.api.ephemerals() == []


async def test_user_name_after_the_command_prefills_the_identifier(sb: Sandbox) -> None:
    view = await open_modal(sb, text="BedrockAPIKey-ab12")

    assert _identifier_element(view.blocks)["initial_value"] == "BedrockAPIKey-ab12"
    kind = next(b for b in view.blocks if b.get("block_id") == ids.KIND_BLOCK)
    assert kind["element"]["initial_option"]["value"] == "long_term"


async def test_pasted_long_term_key_prefills_only_its_fingerprint(sb: Sandbox) -> None:
    cred_id, key = _bedrock_key(sb, "BedrockAPIKey-leak")

    view = await open_modal(sb, text=key)

    (call,) = sb.api.calls("views.open")
    sent = _json(call.params)
    assert key not in sent and _secret_part(key) not in sent
    assert key not in _json(call.response)
    assert keys.fingerprint(key) in sent
    assert "BedrockAPIKey-leak" in sent  # what the key decodes to is shown
    assert _identifier_element(view.blocks).get("initial_value") in (None, "")
    # The decoded key travels in private_metadata, so the field may stay empty on submit.
    metadata = json.loads(view.private_metadata)
    assert metadata["d"]["fingerprint"] == keys.fingerprint(key)
    assert key not in view.private_metadata and cred_id not in sent


async def test_pasted_short_term_key_opens_the_short_term_form_without_the_key(
    sb: Sandbox,
) -> None:
    role = create_role(sb.iam(), "ci-runner")
    key = short_term_key_from_role(role["Arn"])

    view = await open_modal(sb, text=key)

    (call,) = sb.api.calls("views.open")
    sent = _json(call.params)
    assert key not in sent
    assert keys.fingerprint(key) in sent
    kind = next(b for b in view.blocks if b.get("block_id") == ids.KIND_BLOCK)
    assert kind["element"]["initial_option"]["value"] == "short_term"
    assert _action_values(view.blocks) == [a.value for a in SHORT_TERM_ACTIONS]


# --------------------------------------------------------------------------------------------
# help, status, list: private answers, no modal


@pytest.mark.parametrize("text", ["help", "HELP", "status", "list "])
async def test_help_answers_privately_with_usage_and_opens_no_modal(sb: Sandbox, text: str) -> None:
    before = len(sb.api.calls())

    response = await sb.driver.slash_command(REQUESTER, CHANNEL, text=text)

    assert response.status == 200
    body = response.json()
    assert body["response_type"] == "ephemeral"
    usage = body["text"] + _json(body["blocks"])
    for word in ("/revoke-bedrock-key", "status R-", "list &lt;user&gt;", "help"):
        assert word in usage, word
    (reply,) = sb.api.ephemerals(user=REQUESTER)
    assert reply.via == "ack" and reply.channel == CHANNEL
    assert _web_api_methods(sb, before) == []
    assert sb.api.views() == [] and sb.api.messages(CHANNEL) == []


async def test_status_of_an_existing_request_shows_its_state_privately(sb: Sandbox) -> None:
    _, key = _bedrock_key(sb, "BedrockAPIKey-st1")
    view = await open_modal(sb, text=key)
    assert (await submit(sb, view)).status == 200
    await request_message(sb)
    (req,) = await sb.services.requests.list_recent()
    posted = len(sb.api.calls("chat.postMessage"))

    response = await sb.driver.slash_command(APPROVER, CHANNEL, text=f"status {req.id.lower()}")

    assert response.status == 200 and response.text == ""
    reply = await _private_reply(sb, APPROVER)
    shown = _text_of(reply)
    assert reply.via == "response_url"
    assert req.id in shown and "waiting for approval" in shown
    assert "BedrockAPIKey-st1" in shown
    assert ids.APPROVE_ACTION not in shown  # a status is a look, not a second set of buttons
    assert len(sb.api.calls("chat.postMessage")) == posted
    assert len(sb.api.views()) == 1


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("status R-7KQ2M9AB", "There is no request with that id."),
        ("status nonsense!", "request id"),
    ],
)
async def test_status_of_an_unknown_request_says_so(sb: Sandbox, text: str, said: str) -> None:
    response = await sb.driver.slash_command(REQUESTER, CHANNEL, text=text)

    assert response.status == 200
    reply = await _private_reply(sb)
    assert said.lower() in reply.text.lower()
    assert sb.api.views() == [] and sb.api.messages(CHANNEL) == []


async def test_list_shows_a_users_bedrock_keys_and_their_status_privately(sb: Sandbox) -> None:
    iam = sb.iam()
    first, _ = _bedrock_key(sb, "BedrockAPIKey-two")
    second = iam.create_service_specific_credential(
        UserName="BedrockAPIKey-two", ServiceName=BEDROCK
    )["ServiceSpecificCredential"]["ServiceSpecificCredentialId"]
    iam.update_service_specific_credential(
        UserName="BedrockAPIKey-two", ServiceSpecificCredentialId=second, Status="Inactive"
    )

    response = await sb.driver.slash_command(APPROVER, CHANNEL, text="list BedrockAPIKey-two")

    assert response.status == 200
    reply = await _private_reply(sb, APPROVER)
    shown = _json(reply.blocks)
    assert f"{first}` of `BedrockAPIKey-two`: :red_circle: Active" in shown
    assert f"{second}` of `BedrockAPIKey-two`: :white_circle: Inactive" in shown
    assert "2 Bedrock API key(s)" in reply.text
    assert sb.api.views() == [] and sb.api.messages(CHANNEL) == []


async def test_list_of_an_unknown_user_says_so_privately(sb: Sandbox) -> None:
    response = await sb.driver.slash_command(APPROVER, CHANNEL, text="list nobody-here")

    assert response.status == 200
    reply = await _private_reply(sb, APPROVER)
    assert "There is no IAM user named nobody-here" in reply.text
    assert sb.api.messages(CHANNEL) == []


# --------------------------------------------------------------------------------------------
# allowed channels


@pytest.fixture
async def sb_other_channel_only(aws_server: str, tmp_path: Path) -> AsyncIterator[Sandbox]:
    """The app configured for OTHER_CHANNEL only; the stand-in's CHANNEL is not allowed."""
    async with sandbox(database_dir=tmp_path, allowed_channel_ids=(OTHER_CHANNEL,)) as box:
        yield box


@pytest.mark.parametrize("text", ["", "help", "BedrockAPIKey-ab12", "list BedrockAPIKey-ab12"])
async def test_command_in_a_channel_not_allowed_is_refused_privately(
    sb_other_channel_only: Sandbox, text: str
) -> None:
    sb = sb_other_channel_only
    before = len(sb.api.calls())

    response = await sb.driver.slash_command(REQUESTER, CHANNEL, text=text)

    assert response.status == 200
    body = response.json()
    assert body["response_type"] == "ephemeral"
    assert "not one where Bedrock keys may be revoked" in body["text"]
    (reply,) = sb.api.ephemerals(user=REQUESTER)
    assert reply.via == "ack"
    assert _web_api_methods(sb, before) == []
    assert sb.api.views() == [] and sb.api.messages(CHANNEL) == []


async def test_command_in_an_allowed_channel_opens_the_modal(
    sb_other_channel_only: Sandbox,
) -> None:
    sb = sb_other_channel_only

    response = await sb.driver.slash_command(REQUESTER, OTHER_CHANNEL)

    assert response.status == 200 and response.text == ""
    (call,) = await sb.api.wait_for(lambda: sb.api.calls("views.open"), what="views.open")
    assert call.ok
    assert json.loads(call.params["view"]["private_metadata"])["c"] == OTHER_CHANNEL


@pytest.mark.parametrize(
    ("template", "decoded"),
    [
        ("revoke {key}", True),
        ("key: '{key}'", True),
        ("please revoke {key} now", True),
        # Words glued after the key make the whole text a key that does not decode: refused with
        # a fingerprint of what was typed, and still never echoed.
        ("{key} leaked in INC-42", False),
    ],
)
async def test_key_among_other_words_after_the_command_is_not_echoed(
    sb: Sandbox, template: str, decoded: bool
) -> None:
    _, key = _bedrock_key(sb, "BedrockAPIKey-words")
    typed = template.format(key=key)

    view = await open_modal(sb, text=typed)

    (call,) = sb.api.calls("views.open")
    sent = _json(call.params)
    assert key not in sent and _secret_part(key) not in sent
    assert _identifier_element(view.blocks).get("initial_value") in (None, "")
    metadata = json.loads(view.private_metadata)
    if decoded:
        assert metadata["d"]["fingerprint"] == keys.fingerprint(key)
        assert "BedrockAPIKey-words" in sent
    else:
        assert "d" not in metadata
        assert keys.fingerprint(typed) in sent


async def test_short_term_key_among_other_words_opens_the_short_term_form(sb: Sandbox) -> None:
    key = short_term_key_from_role(create_role(sb.iam(), "ci-runner")["Arn"])

    view = await open_modal(sb, text=f"revoke {key}")

    sent = _json(sb.api.calls("views.open")[0].params)
    assert key not in sent and keys.fingerprint(key) in sent
    kind = next(b for b in view.blocks if b.get("block_id") == ids.KIND_BLOCK)
    assert kind["element"]["initial_option"]["value"] == "short_term"
