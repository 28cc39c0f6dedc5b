"""The modal surface: switching the key type, submitting a request, giving a reject reason."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.errors import RevokerError
from bot.logs import log_context
from bot.requests import RevocationRequest, new_request_id
from bot.revocation import bulk
from bot.revocation.model import KeyKind, Signer, Target
from bot.views import (
    RejectInput,
    ids,
    modal_errors,
    parse_reject_submission,
    parse_submission,
    refusal,
)
from bot.views.modal import SCOPE_KEY, SCOPE_USER, ModalInput, ModalMetadata, switched_modal
from handlers.context import Handlers
from handlers.decisions import tell_clicker

log = logging.getLogger(__name__)


def register(app: AsyncApp, h: Handlers) -> None:
    @app.action(ids.KIND_ACTION)
    async def switch_key_type(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        if (view := _modal(body)) is not None:
            h.after_ack(_switch(h, client, view), "switch_key_type")

    @app.action(ids.SCOPE_ACTION)
    async def switch_scope(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        if (view := _modal(body)) is not None:
            h.after_ack(_switch(h, client, view), "switch_scope")

    @app.view(ids.REVOKE_CALLBACK_ID)
    async def submit_request(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        view = body["view"]
        user = body["user"]["id"]
        accounts = tuple(h.services.settings.accounts)
        try:
            inp = parse_submission(view["state"]["values"], view["private_metadata"])
        except RevokerError as exc:
            await ack(response_action="errors", errors={ids.REASON_BLOCK: exc.message})
            return
        errors = modal_errors(inp, accounts=accounts)
        if not errors and not h.channel_allowed(inp.channel_id):
            errors = {ids.REASON_BLOCK: h.channel_refusal()}
        if errors:
            await ack(response_action="errors", errors=errors)
            return
        await ack()
        h.after_ack(_submit(h, client, inp, user), "submit_request")

    @app.view(ids.REJECT_CALLBACK_ID)
    async def submit_rejection(ack: AsyncAck, body: dict[str, Any]) -> None:
        view = body["view"]
        user = body["user"]["id"]
        try:
            rejection = parse_reject_submission(view["state"]["values"], view["private_metadata"])
        except RevokerError as exc:
            await ack(response_action="errors", errors={ids.REJECT_REASON_BLOCK: exc.message})
            return
        await ack()
        h.after_ack(_reject(h, rejection, user), "submit_rejection")


def _modal(body: dict[str, Any]) -> dict[str, Any] | None:
    """The modal a form action came from. Slack always sends it; a payload without one (forged
    with the signing secret, or an action id reused on a message) has nothing to redraw."""
    view = body.get("view")
    if isinstance(view, dict) and isinstance(view.get("state"), dict) and view.get("id"):
        return view
    log.info("a form action without its modal; nothing to redraw")
    return None


async def _switch(h: Handlers, client: AsyncWebClient, view: dict[str, Any]) -> None:
    settings = h.services.settings
    values, metadata = view["state"]["values"], view["private_metadata"]
    accounts = tuple(settings.accounts)
    account_ids = {n: a.account_id for n, a in settings.accounts.items()}
    switched = switched_modal(values, metadata, accounts=accounts, account_ids=account_ids)
    found = await signer_to_show(h, switched.private_metadata or "")
    if found is not None:
        switched = switched_modal(
            values, metadata, accounts=accounts, account_ids=account_ids, signer=found
        )
    await client.views_update(view_id=view["id"], hash=view.get("hash"), view=switched)


async def signer_to_show(h: Handlers, private_metadata: str) -> Signer | None:
    """Who signed the short-term key a modal now carries, when the modal does not show it yet:
    looked up in CloudTrail (read-only) so the role can be prefilled with its evidence."""
    try:
        meta = ModalMetadata.decode(private_metadata)
    except RevokerError:
        return None
    key = meta.decoded_key
    if (
        meta.signer is not None
        or key is None
        or key.kind is not KeyKind.SHORT_TERM
        or key.signed_by != "session"
        or meta.kind is not KeyKind.SHORT_TERM
    ):
        return None
    _, found = await h.services.revoker.find_signer(key, account=meta.account)
    return found


async def _submit(h: Handlers, client: AsyncWebClient, inp: ModalInput, user: str) -> None:
    with log_context(actor=user, action="request"):
        try:
            req = await _create_request(h, inp, user)
        except RevokerError as exc:
            # Nothing was stored or posted: only the requester hears why.
            log.info("request refused: %s", exc.message)
            blocks, text = refusal(exc.message)
            await client.chat_postEphemeral(
                channel=inp.channel_id, user=user, blocks=blocks, text=text
            )
            return
        # The request message, its plan and its blast radius go out through the outbox.
        with log_context(request_id=req.id):
            log.info("request created")


async def _reject(h: Handlers, rejection: RejectInput, user: str) -> None:
    with log_context(request_id=rejection.request_id, actor=user, action="reject"):
        outcome = await h.services.requests.reject(
            rejection.request_id,
            user,
            h.approvers.is_approver,
            rejection.reason,
            channel_id=rejection.channel_id,
        )
        await tell_clicker(h, outcome, user, rejection.channel_id)


async def _create_request(h: Handlers, inp: ModalInput, user: str) -> RevocationRequest:
    # The id is drawn before resolving: the role session that reads IAM in a target account is
    # named after it, so every call made for this request shows under its id in CloudTrail.
    request_id = new_request_id()
    if inp.scope != SCOPE_KEY:
        return await _create_bulk_request(h, inp, user, request_id)
    target = await _resolve(h, inp, request_id)
    plan = h.services.revoker.plan(target, inp.actions, revoke_before=inp.revoke_before)
    # Read-only, and read before the request is stored so that it follows the plan in the thread
    # at once, before anyone can approve: what the key did and what else its principal holds.
    blast_radius = await h.services.revoker.blast_radius(target, request_id=request_id)
    return await h.services.requests.create(
        plan,
        requester=user,
        channel_id=inp.channel_id,
        reason=inp.reason,
        required_approvals=h.services.settings.required_approvals,
        request_id=request_id,
        blast_radius=blast_radius,
    )


async def _create_bulk_request(
    h: Handlers, inp: ModalInput, user: str, request_id: str
) -> RevocationRequest:
    """A scope resolved now into its snapshot: the keys shown to the approvers are the keys
    that run."""
    text = f"user:{inp.scope_user}" if inp.scope == SCOPE_USER else "account"
    scope = bulk.parse_scope(text, account=inp.account, filters=inp.filters)
    plan = await asyncio.to_thread(
        bulk.resolve_sync,
        h.services.revoker.clients,
        scope,
        inp.actions,
        deny_actions=h.services.settings.deny_actions,
        request_id=request_id,
    )
    return await h.services.requests.create(
        plan.request_plan(),
        requester=user,
        channel_id=inp.channel_id,
        reason=inp.reason,
        required_approvals=h.services.settings.required_approvals,
        request_id=request_id,
        bulk=plan,
    )


async def _resolve(h: Handlers, inp: ModalInput, request_id: str) -> Target:
    revoker = h.services.revoker
    if inp.decoded_key is None:
        return await revoker.resolve(
            inp.identifier or "", kind=inp.kind, account=inp.account, request_id=request_id
        )
    # With a pasted key, the identifier field of a short-term request names the signing role.
    role = inp.identifier if inp.kind is KeyKind.SHORT_TERM else None
    return await revoker.resolve(
        inp.decoded_key, role=role, account=inp.account, request_id=request_id
    )
