"""The slash command: `/revoke-bedrock-key [help | status R-… | list <user> | <prefill>]`."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.errors import RevokerError
from bot.revocation.model import KeyKind
from bot.views import credential_list, guess_kind, help_text, refusal, request_message
from bot.views.help import COMMAND
from bot.views.modal import revocation_modal, switched_modal
from handlers.channel import RequestChannel
from handlers.context import Handlers
from handlers.modal import signer_to_show

log = logging.getLogger(__name__)


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
        if subcommand == "status":
            await ack()
            h.after_ack(_status(h.channel, respond, argument), "status")
            return
        if subcommand == "list":
            await ack()
            h.after_ack(_list(h, respond, argument), "list")
            return
        await ack()
        # views.open before anything else: the trigger id dies 3 seconds after the click.
        h.after_ack(_open_modal(h, client, body, text), "open the request modal")


async def _open_modal(h: Handlers, client: AsyncWebClient, body: dict[str, Any], text: str) -> None:
    accounts = tuple(h.services.settings.accounts)
    account_ids = {n: a.account_id for n, a in h.services.settings.accounts.items()}
    opened = await client.views_open(
        trigger_id=body["trigger_id"],
        view=revocation_modal(
            guess_kind(text),
            channel_id=body["channel_id"],
            accounts=accounts,
            account_ids=account_ids,
            prefill_identifier=text or None,
        ),
    )
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


async def _status(channel: RequestChannel, respond: AsyncRespond, request_id: str) -> None:
    try:
        req = await channel.services.requests.get(request_id)
    except RevokerError as exc:
        blocks, text = refusal(exc.message)
        await respond(blocks=blocks, text=text, response_type="ephemeral")
        return
    if req is None:
        blocks, text = refusal("There is no request with that id.")
    else:
        blocks, text = request_message(await channel.summary(req), with_buttons=False)
    await respond(blocks=blocks, text=text, response_type="ephemeral")


async def _list(h: Handlers, respond: AsyncRespond, user_name: str) -> None:
    try:
        target = await h.services.revoker.resolve(user_name, kind=KeyKind.LONG_TERM)
    except RevokerError as exc:
        blocks, text = refusal(exc.message)
        await respond(blocks=blocks, text=text, response_type="ephemeral")
        return
    credentials = ((target.credential,) if target.credential else ()) + target.other_credentials
    blocks, text = credential_list(target.user_name or user_name, credentials)
    await respond(blocks=blocks, text=text, response_type="ephemeral")
