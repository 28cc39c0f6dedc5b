"""Turning a hub outcome into what the channel and the clicker see.

Whatever a click did, the request message is redrawn from the store when the state changed, the
thread gets the event, and a refused click gets a private reply saying why.
"""

from __future__ import annotations

from bot.requests import Outcome, OutcomeCode, RevocationRequest
from bot.views import (
    Rendered,
    approved_reply,
    cancelled_reply,
    expired_reply,
    refusal,
    rejected_reply,
)
from handlers.context import Handlers


def _event(req: RevocationRequest, code: OutcomeCode) -> Rendered | None:
    at = req.decided_at or req.expires_at
    if code in (OutcomeCode.APPROVED, OutcomeCode.APPROVAL_RECORDED) and req.approvals:
        last = req.approvals[-1]
        return approved_reply(
            last.user_id, last.at, approvals=len(req.approvals), required=req.required_approvals
        )
    if code is OutcomeCode.REJECTED and req.decided_by:
        return rejected_reply(req.decided_by, at, req.decision_note)
    if code is OutcomeCode.CANCELLED and req.decided_by:
        return cancelled_reply(req.decided_by, at)
    if code is OutcomeCode.EXPIRED:
        return expired_reply(at)
    return None


async def publish_outcome(h: Handlers, outcome: Outcome, user: str, channel_id: str) -> None:
    req = outcome.request
    if outcome.changed and req is not None:
        await h.channel.refresh(req)
        event = _event(req, outcome.code)
        if event is not None:
            await h.channel.reply(req, event)
    if not outcome.ok:
        # The hub's messages are the bot's own words; the users they name must stay mentions.
        blocks, text = refusal(outcome.message, mentions=True)
        await h.channel.client.chat_postEphemeral(
            channel=channel_id, user=user, blocks=blocks, text=text
        )
    if outcome.code is OutcomeCode.APPROVED and req is not None:
        await h.channel.execute(req)


async def publish_expired(h: Handlers, req: RevocationRequest) -> None:
    await h.channel.refresh(req)
    await h.channel.reply(req, expired_reply(req.decided_at or req.expires_at))
