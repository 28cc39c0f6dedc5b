"""Who may use `list` and `status`: the slash command as a workspace member who is not an
approver would try it, against the running app, with IAM's and STS's calls counted on moto."""

from __future__ import annotations

import base64

from conftest import BEDROCK
from slack_flow import open_modal, request_message, submit

from bot.sandbox import iam as aws
from bot.sandbox.harness import (
    APPROVER,
    BYSTANDER,
    CHANNEL,
    GROUP_APPROVER,
    REQUESTER,
    Sandbox,
)
from bot.sandbox.slack_api import Ephemeral

PRIVATE_CHANNEL = "C0PRIVATE"
OTHER_CHANNEL = "C0RANDOM"
DIRECT_MESSAGE = "D0BOBDM"
# A long-term key alias for an account the bot is configured for, with no real secret behind it.
FABRICATED = "ABSK" + base64.b64encode(b"BedrockAPIKey-x-at-123456789012:not-a-secret").decode()


async def _reply(sb: Sandbox, user: str, after: int) -> Ephemeral:
    found = await sb.api.wait_for(
        lambda: sb.api.ephemerals(user=user)[after:] or None, what=f"a private reply to {user}"
    )
    assert len(found) == 1, [r.text for r in found]
    return found[0]


def _user_with_key(sb: Sandbox, name: str) -> None:
    sb.iam().create_user(UserName=name)
    sb.iam().create_service_specific_credential(UserName=name, ServiceName=BEDROCK)


async def test_list_by_someone_who_is_not_an_approver_is_refused_without_touching_aws(
    sb: Sandbox,
) -> None:
    _user_with_key(sb, "BedrockAPIKey-ls1")
    for who, text in [
        (BYSTANDER, "list BedrockAPIKey-ls1"),
        (REQUESTER, "list BedrockAPIKey-ls1"),
        (BYSTANDER, f"list {FABRICATED}"),
    ]:
        before_aws, before = len(aws.calls()), len(sb.api.ephemerals(user=who))

        response = await sb.driver.slash_command(who, CHANNEL, text=text)

        assert response.status == 200
        reply = await _reply(sb, who, before)
        assert "Only approvers can list" in reply.text
        assert "BedrockAPIKey-ls1" not in reply.text + str(reply.blocks)
        assert aws.calls()[before_aws:] == []  # no IAM read, no AssumeRole


async def test_list_in_a_direct_message_is_refused_even_for_an_approver(sb: Sandbox) -> None:
    _user_with_key(sb, "BedrockAPIKey-ls2")
    before_aws = len(aws.calls())

    response = await sb.driver.slash_command(
        APPROVER, DIRECT_MESSAGE, text="list BedrockAPIKey-ls2"
    )

    assert response.status == 200
    assert response.json()["response_type"] == "ephemeral"
    assert "not in a direct message" in response.json()["text"]
    assert aws.calls()[before_aws:] == []


async def test_list_by_approvers_named_or_in_the_group_still_works(sb: Sandbox) -> None:
    _user_with_key(sb, "BedrockAPIKey-ls3")
    for who in (APPROVER, GROUP_APPROVER):
        response = await sb.driver.slash_command(who, CHANNEL, text="list BedrockAPIKey-ls3")
        assert response.status == 200
        reply = await _reply(sb, who, 0)
        assert "1 Bedrock API key(s)" in reply.text


async def _private_request(sb: Sandbox) -> str:
    """A request posted in a private channel; returns its id."""
    sb.api.add_channel(PRIVATE_CHANNEL, "sec-private")
    _user_with_key(sb, "BedrockAPIKey-st9")
    before = len(sb.api.views())
    response = await sb.driver.slash_command(REQUESTER, PRIVATE_CHANNEL, text="BedrockAPIKey-st9")
    assert response.status == 200
    (view,) = await sb.api.wait_for(lambda: sb.api.views()[before:] or None, what="views.open")
    assert (await submit(sb, view, actions=("deactivate",))).status == 200
    await sb.api.wait_for(lambda: sb.api.messages(PRIVATE_CHANNEL), what="request message")
    (req,) = await sb.services.requests.list_recent()
    assert req.channel_id == PRIVATE_CHANNEL
    return req.id


async def test_status_elsewhere_is_answered_only_to_the_requester_and_approvers(
    sb: Sandbox,
) -> None:
    request_id = await _private_request(sb)
    sb.api.add_channel(OTHER_CHANNEL, "random")

    # A member outside the private channel asking from another one learns nothing, not even
    # that the request exists.
    before = len(sb.api.ephemerals(user=BYSTANDER))
    await sb.driver.slash_command(BYSTANDER, OTHER_CHANNEL, text=f"status {request_id}")
    refused = await _reply(sb, BYSTANDER, before)
    assert "There is no request with that id." in refused.text
    assert "BedrockAPIKey-st9" not in refused.text + str(refused.blocks)

    # The requester and an approver get it anywhere; anyone gets it in the request's channel.
    for who, where in [
        (REQUESTER, OTHER_CHANNEL),
        (APPROVER, DIRECT_MESSAGE),
        (GROUP_APPROVER, OTHER_CHANNEL),
        (BYSTANDER, PRIVATE_CHANNEL),
    ]:
        before = len(sb.api.ephemerals(user=who))
        await sb.driver.slash_command(who, where, text=f"status {request_id}")
        shown = await _reply(sb, who, before)
        assert request_id in shown.text + str(shown.blocks), (who, where)
        assert "BedrockAPIKey-st9" in str(shown.blocks), (who, where)


async def test_status_in_the_requests_own_channel_needs_no_approver_lookup(sb: Sandbox) -> None:
    _user_with_key(sb, "BedrockAPIKey-st8")
    view = await open_modal(sb, text="BedrockAPIKey-st8")
    assert (await submit(sb, view, actions=("deactivate",))).status == 200
    await request_message(sb)
    (req,) = await sb.services.requests.list_recent()
    lookups = len(sb.api.calls("usergroups.users.list"))

    await sb.driver.slash_command(BYSTANDER, CHANNEL, text=f"status {req.id}")

    shown = await _reply(sb, BYSTANDER, 0)
    assert req.id in shown.text + str(shown.blocks)
    assert len(sb.api.calls("usergroups.users.list")) == lookups
