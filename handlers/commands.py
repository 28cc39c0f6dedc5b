"""The slash command: `/revoke-bedrock-key [help | status R-… | list <user> | <prefill>]`."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.errors import RevokerError
from bot.requests import RevocationRequest
from bot.revocation.model import KeyKind
from bot.views import credential_list, guess_kind, help_text, refusal, request_message
from bot.views.help import COMMAND
from bot.views.modal import parse_scope_text, revocation_modal, switched_modal
from handlers.context import Handlers
from handlers.modal import signer_to_show

log = logging.getLogger(__name__)

# Slack's ids for direct-message conversations start with D.
DIRECT_MESSAGE_PREFIX = "D"
LIST_IN_A_DM = "`list` works in the incident channel, not in a direct message."
OPEN_FAILED = "Slack did not open the form (the command may have taken too long). Run it again."
LIST_FOR_APPROVERS = "Only approvers can list a user's Bedrock API keys; ask one of them."


def register(app: AsyncApp, h: Handlers) -> None:
    @app.command(COMMAND)
    async def revoke_bedrock_key(
        ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient, respond: AsyncRespond
    ) -> None:
        text = (body.get("text") or "").strip()
        word, _, rest = text.partition(" ")
        if not h.channel_allowed(body.get("channel_id")):
            await ack(response_type="ephemeral", text=h.channel_refusal())
            return
        subcommand, argument = word.lower(), rest.strip()
        # `status` or `list` with nothing after them is a usage mistake, not an IAM user name.
        if subcommand == "help" or (subcommand in ("status", "list") and not argument):
            blocks, fallback = help_text()
            await ack(response_type="ephemeral", blocks=blocks, text=fallback)
            return
        user_id, channel_id = str(body.get("user_id") or ""), str(body.get("channel_id") or "")
        if subcommand == "status":
            await ack()
            h.after_ack(_status(h, respond, argument, user_id, channel_id), "status")
            return
        if subcommand == "list":
            if channel_id.startswith(DIRECT_MESSAGE_PREFIX):
                await ack(response_type="ephemeral", text=LIST_IN_A_DM)
                return
            await ack()
            h.after_ack(_list(h, respond, argument, user_id), "list")
            return
        await ack()
        # views.open before anything else: the trigger id dies 3 seconds after the click.
        h.after_ack(_open_modal(h, client, respond, body, text), "open the request modal")


async def _open_modal(
    h: Handlers, client: AsyncWebClient, respond: AsyncRespond, body: dict[str, Any], text: str
) -> None:
    accounts = tuple(h.services.settings.accounts)
    account_ids = {n: a.account_id for n, a in h.services.settings.accounts.items()}
    # `user:<name>` or `account` prefills a scope (every key of the user, or of the account).
    scope = parse_scope_text(text)
    try:
        opened = await client.views_open(
            trigger_id=body.get("trigger_id") or "",
            view=revocation_modal(
                guess_kind(text),
                channel_id=body.get("channel_id") or "",
                accounts=accounts,
                account_ids=account_ids,
                prefill_identifier=(scope[1] if scope else text) or None,
                scope=scope[0] if scope else None,
            ),
        )
    except SlackApiError as exc:
        # An expired or made-up trigger id (a slow network, a replayed or forged command):
        # Slack refuses the modal, and the person is told rather than left waiting.
        error = exc.response.get("error")
        log.info("request modal not opened: %s", error)
        blocks, said = refusal(OPEN_FAILED)
        await respond(blocks=blocks, text=said, response_type="ephemeral")
        return
    # A short-term key's signer is read from CloudTrail after the modal is open (the trigger id
    # would not wait for it), then shown and prefilled.
    view = opened.get("view") or {}
    found = await signer_to_show(h, view.get("private_metadata") or "")
    if found is None:
        return
    try:
        await client.views_update(
            view_id=view["id"],
            hash=view.get("hash"),
            view=switched_modal(
                (view.get("state") or {}).get("values") or {},
                view["private_metadata"],
                accounts=accounts,
                account_ids=account_ids,
                signer=found,
            ),
        )
    except SlackApiError as exc:
        # hash_conflict: the modal changed meanwhile (a type switch shows the signer itself).
        log.info("modal not updated with the signer: %s", exc.response.get("error"))


async def _status(
    h: Handlers, respond: AsyncRespond, request_id: str, user_id: str, channel_id: str
) -> None:
    try:
        req = await h.services.requests.get(request_id)
    except RevokerError as exc:
        blocks, text = refusal(exc.message)
        await respond(blocks=blocks, text=text, response_type="ephemeral")
        return
    # A request posted in a private channel is not shown elsewhere to people outside it; the
    # answer is the same as for a request that does not exist, so ids cannot be probed.
    if req is None or not await _may_see(h, req, user_id, channel_id):
        blocks, text = refusal("There is no request with that id.")
    else:
        blocks, text = request_message(await h.channel.summary(req), with_buttons=False)
    await respond(blocks=blocks, text=text, response_type="ephemeral")


async def _may_see(h: Handlers, req: RevocationRequest, user_id: str, channel_id: str) -> bool:
    return (
        channel_id == req.channel_id
        or user_id == req.requester
        or await h.approvers.is_approver(user_id)
    )


async def _list(h: Handlers, respond: AsyncRespond, user_name: str, user_id: str) -> None:
    # Listing reads IAM (and assumes a role in the named account): approvers only, so a
    # workspace member cannot enumerate IAM users and keys through the bot.
    if not await h.approvers.is_approver(user_id):
        blocks, text = refusal(LIST_FOR_APPROVERS)
        await respond(blocks=blocks, text=text, response_type="ephemeral")
        return
    try:
        target = await h.services.revoker.resolve(user_name, kind=KeyKind.LONG_TERM)
    except RevokerError as exc:
        blocks, text = refusal(exc.message)
        await respond(blocks=blocks, text=text, response_type="ephemeral")
        return
    credentials = ((target.credential,) if target.credential else ()) + target.other_credentials
    blocks, text = credential_list(target.user_name or user_name, credentials)
    await respond(blocks=blocks, text=text, response_type="ephemeral")
