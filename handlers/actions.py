"""The request message's buttons: Approve, Reject, Cancel, Undo. Each carries only a request id;
every check happens here, on the server, whatever the message showed."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.errors import RevokerError
from bot.logs import log_context
from bot.requests import RevocationRequest
from bot.revocation.model import Action, KeyKind, Target
from bot.views import ids, parse_undo_value, refusal, reject_modal
from handlers.context import Handlers
from handlers.decisions import tell_clicker

log = logging.getLogger(__name__)


def _click(body: dict[str, Any]) -> tuple[str, str, str]:
    """(user, channel, the clicked button's value)."""
    return body["user"]["id"], body["channel"]["id"], body["actions"][0].get("value") or ""


def register(app: AsyncApp, h: Handlers) -> None:
    @app.action(ids.APPROVE_ACTION)
    async def approve(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        h.after_ack(_approve(h, *_click(body)), "approve")

    @app.action(ids.REJECT_ACTION)
    async def reject(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        # The reason modal first (the trigger dies in 3 seconds); the hub checks on submit.
        h.after_ack(_open_reject_modal(client, body), "reject")

    @app.action(ids.CANCEL_ACTION)
    async def cancel(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        h.after_ack(_cancel(h, *_click(body)), "cancel")

    @app.action(ids.RETRY_FAILURES_ACTION)
    async def retry_failures(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        h.after_ack(_retry_failures(h, *_click(body)), "retry_failures")

    @app.action(ids.UNDO_ACTION_PATTERN)
    async def undo(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        h.after_ack(_undo(h, *_click(body)), "undo")


async def _refuse(h: Handlers, user: str, channel: str, message: str) -> None:
    blocks, text = refusal(message)
    await h.channel.client.chat_postEphemeral(channel=channel, user=user, blocks=blocks, text=text)


async def _approve(h: Handlers, user: str, channel: str, request_id: str) -> None:
    if not h.channel_allowed(channel):
        await _refuse(h, user, channel, h.channel_refusal())
        return
    with log_context(request_id=request_id, actor=user, action="approve"):
        outcome = await h.services.requests.approve(
            request_id, user, h.approvers.is_approver, channel_id=channel
        )
        log.info("approve: %s", outcome.code)
        await tell_clicker(h, outcome, user, channel)


async def _open_reject_modal(client: AsyncWebClient, body: dict[str, Any]) -> None:
    _, channel, request_id = _click(body)
    await client.views_open(
        trigger_id=body["trigger_id"],
        view=reject_modal(
            request_id, channel_id=channel, message_ts=body["container"]["message_ts"]
        ),
    )


async def _cancel(h: Handlers, user: str, channel: str, request_id: str) -> None:
    with log_context(request_id=request_id, actor=user, action="cancel"):
        outcome = await h.services.requests.cancel(request_id, user, channel_id=channel)
        await tell_clicker(h, outcome, user, channel)


async def _undo(h: Handlers, user: str, channel: str, value: str) -> None:
    if not h.channel_allowed(channel):
        await _refuse(h, user, channel, h.channel_refusal())
        return
    try:
        request_id, reversal = parse_undo_value(value)
    except ValueError:
        await _refuse(h, user, channel, "That undo button is not one this bot made.")
        return
    with log_context(request_id=request_id, actor=user, action=f"undo:{reversal.value}"):
        try:
            # A click delivered twice, to one replica or two, makes one request: the hub
            # derives an undo's id, so the store's create lets one delivery win.
            # The new request's message, its plan and a word in the original's thread go out
            # through the outbox.
            await _request_undo(h, request_id, reversal, user, channel)
        except RevokerError as exc:
            await _refuse(h, user, channel, exc.message)


async def _request_undo(
    h: Handlers, request_id: str, reversal: Action, user: str, channel: str
) -> RevocationRequest:
    """A new request, with its own approval, that reverses one action of a finished request."""
    original = await h.services.requests.get(request_id)
    if original is None:
        raise RevokerError(f"There is no request {request_id}.")
    if original.channel_id != channel:
        # The undo would be posted in the original's channel on behalf of a click made elsewhere.
        raise RevokerError(
            "That request belongs to another channel; nothing was changed. Ask for the undo there."
        )
    offered = (await h.channel.summary(original)).undo_actions
    if reversal not in offered:
        raise RevokerError(f"{request_id} offers no {reversal.value} now.")
    if original.bulk is not None:
        # Exactly the keys this request deactivated; each call reads IAM before it writes.
        undo = original.bulk.undo(original.key_results)
        assert undo is not None, "offered only when the request deactivated keys"
        return await h.services.requests.create(
            undo.request_plan(),
            requester=user,
            channel_id=original.channel_id,
            reason=f"Undo of {original.id} ({reversal.value})",
            required_approvals=h.services.settings.required_approvals,
            undo_of=original.id,
            bulk=undo,
        )
    # Re-read IAM: the state may have moved since the request ran.
    target = await _current_target(h, original.plan.target)
    # The original plan names the policies its request attached: only those are removed.
    plan = h.services.revoker.plan(target, [reversal], undoing=original.plan)
    return await h.services.requests.create(
        plan,
        requester=user,
        channel_id=original.channel_id,
        reason=f"Undo of {original.id} ({reversal.value})",
        required_approvals=h.services.settings.required_approvals,
        undo_of=original.id,
    )


async def _retry_failures(h: Handlers, user: str, channel: str, request_id: str) -> None:
    """A new request, with its own approval, of a bulk request's failed keys only."""
    if not h.channel_allowed(channel):
        await _refuse(h, user, channel, h.channel_refusal())
        return
    with log_context(request_id=request_id, actor=user, action="retry_failures"):
        try:
            original = await h.services.requests.get(request_id)
            if original is None:
                raise RevokerError("There is no such request.")
            if original.channel_id != channel:
                raise RevokerError(
                    "That request belongs to another channel; nothing was changed. "
                    "Ask for the retry there."
                )
            retry = (
                original.bulk.failures(original.key_results)
                if original.bulk is not None and original.is_terminal
                else None
            )
            if retry is None:
                raise RevokerError(f"{original.id} has no failed keys to retry.")
            # A click delivered twice, a double click or a second person: one retry while it
            # is under way. The hub derives its id, so the store's create lets one click win
            # and tells the others which request it is.
            await h.services.requests.create(
                retry.request_plan(),
                requester=user,
                channel_id=original.channel_id,
                reason=f"Retry of the failures of {original.id}",
                required_approvals=h.services.settings.required_approvals,
                bulk=retry,
                retry_of=original.id,
            )
        except RevokerError as exc:
            await _refuse(h, user, channel, exc.message)


async def _current_target(h: Handlers, target: Target) -> Target:
    revoker = h.services.revoker
    if target.kind is KeyKind.SHORT_TERM and target.role is not None:
        return await revoker.resolve(
            target.role.arn, kind=KeyKind.SHORT_TERM, account=target.account
        )
    if target.credential is not None:
        return await revoker.resolve(
            target.credential.credential_id, kind=KeyKind.LONG_TERM, account=target.account
        )
    return await revoker.resolve(
        target.user_name or "", kind=KeyKind.LONG_TERM, account=target.account
    )
