"""The request as the channel sees it: one message, and a thread that is its audit trail.

`RequestChannel` is the outbox's courier (`bot.outbox`): it turns each notice the hub wrote into
the Slack call that shows it, rendered from the stored request, so a replica that took no part in
a step still draws the same message. Every post carries the notice in Slack `metadata`, so a
delivery that may already have gone through is looked up in the channel instead of posted twice.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.models.metadata import Metadata
from slack_sdk.web.async_client import AsyncWebClient

from bot.outbox import DeliveryDeferred
from bot.requests import Notice, NoticeKind, RequestStatus, RevocationRequest
from bot.revocation.blast_radius import BlastRadius
from bot.revocation.model import Action, ExecutionReport, IamCall, StepOutcome
from bot.services import Services
from bot.views import (
    Rendered,
    RequestSummary,
    approved_reply,
    cancelled_reply,
    expired_reply,
    interrupted_reply,
    plan_reply,
    rejected_reply,
    request_message,
    step_reply,
    summary_reply,
    undo_requested_reply,
    verification_reply,
)
from bot.views.blast_radius import blast_radius_reply
from bot.views.bulk import bulk_plan_reply, bulk_summary_reply, key_table_reply
from handlers.approvers import SlackApprovers

log = logging.getLogger(__name__)

NOTICE_EVENT = "bedrock_revoker_notice"  # the Slack metadata event type of every post
# How far back a look for an earlier post of the request message goes: Slack's clock and ours
# may differ a little.
_CLOCK_SLACK = timedelta(minutes=5)


def _blocks(rendered: Rendered) -> tuple[list[dict[str, Any]], str]:
    blocks, text = rendered
    return [b.to_dict() for b in blocks], text


class RequestChannel:
    def __init__(
        self, client: AsyncWebClient, services: Services, approvers: SlackApprovers
    ) -> None:
        self.client = client
        self.services = services
        self.approvers = approvers

    async def undos_of(self, req: RevocationRequest) -> list[RevocationRequest]:
        """The undo requests made from `req`'s Undo buttons, newest first."""
        recent = await self.services.requests.list_recent(req.target_name, limit=100)
        return [r for r in recent if r.undo_of == req.id]

    async def summary(self, req: RevocationRequest) -> RequestSummary:
        undo: tuple[Action, ...] = ()
        retry = False
        if req.bulk is not None:
            if req.status in (RequestStatus.COMPLETED, RequestStatus.PARTIAL):
                undos = await self.undos_of(req)
                if req.bulk.undo(req.key_results) is not None and not any(
                    r.status is RequestStatus.COMPLETED for r in undos
                ):
                    undo = (Action.REACTIVATE,)
            retry = req.is_terminal and req.bulk.failures(req.key_results) is not None
        elif req.status in (RequestStatus.COMPLETED, RequestStatus.PARTIAL):
            results = req.report.results if req.report else None
            done = {
                action
                for r in await self.undos_of(req)
                if r.status is RequestStatus.COMPLETED
                for action in r.plan.actions
            }
            undo = tuple(
                a for a in self.services.revoker.undo_actions(req.plan, results) if a not in done
            )
        settings = self.services.settings
        return RequestSummary.from_request(
            req,
            approver_user_ids=settings.approver_user_ids,
            approver_usergroup_ids=settings.approver_usergroup_ids,
            undo_actions=undo,
            retry_failures=retry,
        )

    # --- the courier ------------------------------------------------------------------------------

    async def deliver(
        self, request: RevocationRequest, notice: Notice, *, look_first: bool
    ) -> str | None:
        try:
            return await self._deliver(request, notice, look_first)
        except SlackApiError as exc:
            retry_after = exc.response.headers.get("Retry-After") if exc.response else None
            error = exc.response.get("error") if exc.response else None
            raise DeliveryDeferred(
                f"Slack answered {exc.response.status_code if exc.response else '?'} {error}",
                float(retry_after) if retry_after else None,
            ) from None

    async def _deliver(
        self, req: RevocationRequest, notice: Notice, look_first: bool
    ) -> str | None:
        if notice.kind is NoticeKind.REQUEST:
            rendered = request_message(await self.summary(req))
            if req.message_ts is None:
                return await self._post(req, notice, rendered, None, look_first)
            await self._update(req.channel_id, req.message_ts, rendered)
            return None
        if notice.kind is NoticeKind.ORIGINAL:
            original = await self._original(req)
            if original is not None and original.message_ts:
                rendered = request_message(await self.summary(original))
                await self._update(original.channel_id, original.message_ts, rendered)
            return None
        if notice.kind is NoticeKind.UNDO_REQUESTED:
            original = await self._original(req)
            if original is not None and original.message_ts:
                reply = undo_requested_reply(notice.data["user"], req.id)
                await self._post(req, notice, reply, original.message_ts, look_first)
            return None
        if req.message_ts is None:
            raise DeliveryDeferred("the request message is not posted yet")
        await self._post(req, notice, _thread_reply(req, notice), req.message_ts, look_first)
        return None

    async def _original(self, req: RevocationRequest) -> RevocationRequest | None:
        return await self.services.requests.get(req.undo_of) if req.undo_of else None

    async def _post(
        self,
        req: RevocationRequest,
        notice: Notice,
        rendered: Rendered,
        thread_ts: str | None,
        look_first: bool,
    ) -> str:
        """Post `rendered` for `notice` (in the thread at `thread_ts`, or as a new message);
        its ts. With `look_first`, an earlier post of this very notice is found and reused."""
        payload = {"request_id": req.id, "seq": notice.seq}
        if look_first and (ts := await self._find(req, thread_ts, payload)) is not None:
            log.info("notice %d was already in Slack (ts %s); not posted again", notice.seq, ts)
            return ts
        blocks, text = _blocks(rendered)
        posted = await self.client.chat_postMessage(
            channel=req.channel_id,
            thread_ts=thread_ts,
            blocks=blocks,
            text=text,
            unfurl_links=False,
            metadata=Metadata(event_type=NOTICE_EVENT, event_payload=payload),
        )
        return str(posted["ts"])

    async def _update(self, channel: str, ts: str, rendered: Rendered) -> None:
        blocks, text = _blocks(rendered)
        await self.client.chat_update(channel=channel, ts=ts, blocks=blocks, text=text)

    async def _find(
        self, req: RevocationRequest, thread_ts: str | None, payload: dict[str, Any]
    ) -> str | None:
        async for message in self._messages(req, thread_ts):
            meta = message.get("metadata") or {}
            if meta.get("event_type") == NOTICE_EVENT and meta.get("event_payload") == payload:
                return str(message["ts"])
        return None

    async def _messages(
        self, req: RevocationRequest, thread_ts: str | None
    ) -> AsyncIterator[dict[str, Any]]:
        cursor: str | None = None
        while True:
            if thread_ts is None:
                since = (req.created_at - _CLOCK_SLACK).timestamp()
                page = await self.client.conversations_history(
                    channel=req.channel_id,
                    oldest=f"{since:.6f}",
                    include_all_metadata=True,
                    limit=200,
                    cursor=cursor,
                )
            else:
                page = await self.client.conversations_replies(
                    channel=req.channel_id,
                    ts=thread_ts,
                    include_all_metadata=True,
                    limit=200,
                    cursor=cursor,
                )
            for message in page.get("messages") or []:
                yield message
            cursor = (page.get("response_metadata") or {}).get("next_cursor") or None
            if not page.get("has_more") or not cursor:
                return


def _thread_reply(req: RevocationRequest, notice: Notice) -> Rendered:
    """A notice that is a reply in the request's own thread, drawn from the stored request."""
    data = notice.data
    decided_at = req.decided_at or req.expires_at
    match notice.kind:
        case NoticeKind.PLAN if req.bulk is not None:
            return bulk_plan_reply(req.bulk, data["part"], data["of"], request_id=req.id)
        case NoticeKind.PLAN:
            return plan_reply(req.plan, request_id=req.id)
        case NoticeKind.BLAST_RADIUS:
            return blast_radius_reply(BlastRadius.model_validate(data), request_id=req.id)
        case NoticeKind.KEY_TABLE:
            assert req.bulk is not None, "written for bulk requests"
            return key_table_reply(
                req.bulk, req.key_results, data["part"], data["of"], request_id=req.id
            )
        case NoticeKind.APPROVAL:
            return approved_reply(
                data["user"],
                datetime.fromisoformat(data["at"]),
                approvals=data["approvals"],
                required=data["required"],
            )
        case NoticeKind.REJECTED:
            return rejected_reply(req.decided_by or "", decided_at, req.decision_note)
        case NoticeKind.CANCELLED:
            return cancelled_reply(req.decided_by or "", decided_at)
        case NoticeKind.EXPIRED:
            return expired_reply(decided_at)
        case NoticeKind.INTERRUPTED:
            return interrupted_reply(
                datetime.fromisoformat(data["lost"]), datetime.fromisoformat(data["at"])
            )
        case NoticeKind.STEP:
            result = req.result_of(data["index"])
            assert result is not None, "a step notice is written with its result"
            steps = req.plan.steps
            return step_reply(result, steps[result.index], total=len(steps))
        case NoticeKind.VERIFICATION:
            assert req.report is not None, "written when the request finished"
            return verification_reply(req.report.verification)
        case NoticeKind.SUMMARY if req.bulk is not None:
            assert req.report is not None, "written when the request finished"
            elapsed = (req.report.finished_at - req.report.started_at).total_seconds()
            return bulk_summary_reply(
                req.status, elapsed, req.bulk, req.key_results, request_id=req.id
            )
        case NoticeKind.SUMMARY:
            assert req.report is not None, "written when the request finished"
            return _summary(req, req.report)
    raise ValueError(f"{notice.kind} is not a thread reply")


def _summary(req: RevocationRequest, report: ExecutionReport) -> Rendered:
    """The thread's last word on a run: every policy document as attached, then one line."""
    steps = req.plan.steps
    ok = {r.index for r in report.results if r.outcome is not StepOutcome.ERROR}
    attached = {
        _where(call): doc
        for i, call in enumerate(steps)
        if i in ok and (doc := call.policy_document) is not None
    }
    elapsed = (report.finished_at - report.started_at).total_seconds()
    return summary_reply(report.status, elapsed, attached, request_id=req.id)


def _where(call: IamCall) -> str:
    owner = (
        f"user {call.params['UserName']}"
        if "UserName" in call.params
        else f"role {call.params.get('RoleName')}"
    )
    return f"{call.params.get('PolicyName')} on {owner}"
