"""Who may approve: user ids, and user-group members read from Slack and cached briefly."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from bot.sandbox.slack_api import SlackApiStandIn
from handlers.approvers import SlackApprovers


@pytest.fixture
async def api() -> AsyncIterator[SlackApiStandIn]:
    async with SlackApiStandIn() as stand_in:
        stand_in.set_usergroup("S0SECOPS", ["U0DAVE"])
        yield stand_in


def _approvers(api: SlackApiStandIn, now: list[float]) -> SlackApprovers:
    client = AsyncWebClient(token=api.bot_token, base_url=api.base_url)
    return SlackApprovers(client, ["U0BOB"], ["S0SECOPS"], ttl_seconds=60, clock=lambda: now[0])


async def test_group_members_are_read_once_per_ttl(api: SlackApiStandIn) -> None:
    now = [0.0]
    approvers = _approvers(api, now)

    assert await approvers.is_approver("U0BOB")  # a configured id needs no Slack call
    assert api.calls("usergroups.users.list") == []
    assert await approvers.is_approver("U0DAVE")
    assert not await approvers.is_approver("U0CAROL")
    assert len(api.calls("usergroups.users.list")) == 1  # a burst of clicks costs one call

    api.set_usergroup("S0SECOPS", [])  # Dave leaves the group
    now[0] = 59.0
    assert await approvers.is_approver("U0DAVE")  # still cached
    now[0] = 61.0
    assert not await approvers.is_approver("U0DAVE")  # removal takes effect after the TTL
    assert len(api.calls("usergroups.users.list")) == 2


async def test_a_group_that_cannot_be_read_approves_nobody(api: SlackApiStandIn) -> None:
    api.fail("usergroups.users.list", error="plan_upgrade_required")
    approvers = _approvers(api, [0.0])
    assert not await approvers.is_approver("U0DAVE")  # fails closed
    assert approvers.mentions() == ("<@U0BOB>", "<!subteam^S0SECOPS>")
