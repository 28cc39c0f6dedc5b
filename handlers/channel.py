"""The request as the channel sees it: one message, and a thread that is its audit trail.

Every listener that changes a request calls here to make the channel match the store. Messages
are rendered from the stored request each time, so a replica that did not take part in a step
still draws the same message.
"""

from __future__ import annotations

import contextlib
import logging
import time
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.logs import log_context
from bot.requests import OutcomeCode, RequestStatus, RevocationRequest
from bot.revocation.model import Action, ExecutionReport, IamCall, StepOutcome
from bot.services import Services
from bot.views import (
    Rendered,
    RequestSummary,
    plan_reply,
    request_message,
    step_reply,
    summary_reply,
    verification_reply,
)
from handlers.approvers import SlackApprovers

log = logging.getLogger(__name__)


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
        if req.status in (RequestStatus.COMPLETED, RequestStatus.PARTIAL):
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
        )

    async def post_request(self, req: RevocationRequest) -> RevocationRequest:
        """The request message, then the plan as the first reply in its thread."""
        blocks, text = _blocks(request_message(await self.summary(req)))
        posted = await self.client.chat_postMessage(
            channel=req.channel_id, blocks=blocks, text=text, unfurl_links=False
        )
        ts = str(posted["ts"])
        outcome = await self.services.requests.attach_message(req.id, ts)
        req = outcome.request or req
        await self.reply(req, plan_reply(req.plan, request_id=req.id))
        return req

    async def refresh(self, req: RevocationRequest) -> None:
        if not req.message_ts:
            return
        blocks, text = _blocks(request_message(await self.summary(req)))
        await self.client.chat_update(
            channel=req.channel_id, ts=req.message_ts, blocks=blocks, text=text
        )

    async def reply(self, req: RevocationRequest, rendered: Rendered) -> None:
        if not req.message_ts:
            return
        blocks, text = _blocks(rendered)
        await self.client.chat_postMessage(
            channel=req.channel_id,
            thread_ts=req.message_ts,
            blocks=blocks,
            text=text,
            unfurl_links=False,
        )

    async def execute(self, req: RevocationRequest) -> RevocationRequest:
        """Run an approved request's plan and tell the thread how each step went."""
        with log_context(request_id=req.id, action="execute"):
            started = await self.services.requests.start_execution(req.id)
            if started.code is not OutcomeCode.EXECUTION_STARTED or started.request is None:
                # Another click or replica already runs it: it owns the thread from here.
                log.info("not executing: %s", started.message)
                return started.request or req
            req = started.request
            # No redraw here: the approval's redraw (buttons gone, who approved and when) is
            # already in Slack, and says the plan is running. One Slack call fewer between the
            # approval and the first IAM call.
            clock = time.monotonic()
            report = await self.services.revoker.run(req.plan, request_id=req.id)
            elapsed = time.monotonic() - clock
            # Recorded before anything is posted: a Slack outage must not leave it "executing".
            finished = await self.services.requests.finish(req.id, report)
            req = finished.request or req
            try:
                for rendered in _report_replies(req, report, elapsed):
                    await self.reply(req, rendered)
                await self.refresh(req)
            except SlackApiError as exc:
                # IAM is done and the store holds the report; `status R-…` and the audit export
                # still tell the story.
                log.error("could not post the outcome to Slack: %s", exc.response.get("error"))
            if req.undo_of:
                # The original's Undo button for what this request reversed goes away.
                original = await self.services.requests.get(req.undo_of)
                if original is not None:
                    with contextlib.suppress(SlackApiError):
                        await self.refresh(original)
            log.info("request finished: %s", report.status)
            return req


def _report_replies(
    req: RevocationRequest, report: ExecutionReport, elapsed: float
) -> list[Rendered]:
    """The thread's account of a run: each step, the verification, then the summary with every
    policy document that was attached."""
    steps = req.plan.steps
    replies = [step_reply(r, steps[r.index], total=len(steps)) for r in report.results]
    replies.append(verification_reply(report.verification))
    ok = {r.index for r in report.results if r.outcome is not StepOutcome.ERROR}
    attached = {
        _where(call): doc
        for i, call in enumerate(steps)
        if i in ok and (doc := call.policy_document) is not None
    }
    replies.append(summary_reply(report.status, elapsed, attached, request_id=req.id))
    return replies


def _where(call: IamCall) -> str:
    owner = (
        f"user {call.params['UserName']}"
        if "UserName" in call.params
        else f"role {call.params.get('RoleName')}"
    )
    return f"{call.params.get('PolicyName')} on {owner}"
