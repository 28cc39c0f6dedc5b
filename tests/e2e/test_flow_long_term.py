"""A leaked long-term key, from the pasted ABSK string to an Inactive credential."""

from __future__ import annotations

from conftest import BEDROCK
from slack_flow import open_modal, request_message, submit, wait_final

from bot.sandbox.harness import APPROVER, CHANNEL, REQUESTER, Sandbox
from bot.views import ids


async def test_pasted_key_is_deactivated_after_a_second_person_approves(sb: Sandbox) -> None:
    iam = sb.iam()
    iam.create_user(UserName="BedrockAPIKey-x1")
    cred = iam.create_service_specific_credential(UserName="BedrockAPIKey-x1", ServiceName=BEDROCK)
    key = cred["ServiceSpecificCredential"]["ServiceCredentialSecret"]
    cred_id = cred["ServiceSpecificCredential"]["ServiceSpecificCredentialId"]

    view = await open_modal(sb, text=key)
    response = await submit(sb, view)
    assert response.status == 200 and not response.text
    message = await request_message(sb)
    assert cred_id in message.text or cred_id in str(message.blocks)

    await sb.driver.block_action(
        APPROVER, channel_id=CHANNEL, message_ts=message.ts, action_id=ids.APPROVE_ACTION
    )
    final = await wait_final(sb, message)

    assert ": completed." in final.text.lower()
    listed = iam.list_service_specific_credentials(UserName="BedrockAPIKey-x1")
    assert [c["Status"] for c in listed["ServiceSpecificCredentials"]] == ["Inactive"]
    assert REQUESTER not in [e.user for e in sb.api.ephemerals()]
