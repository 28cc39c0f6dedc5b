"""The one channel message a request has, in each of its states.

The message is re-rendered from a `RequestSummary` on every state change (chat.update), so this is
a pure function of the request: whatever the state, the same input gives the same message.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ConfirmObject,
    ContextBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)

from bot.requests import RequestStatus
from bot.revocation.model import ACTION_LABELS, REVERSAL, Action, Target
from bot.views import ids
from bot.views.describe import action_label, describe_account, describe_target, target_name
from bot.views.text import (
    BUTTON_TEXT_LIMIT,
    CONFIRM_TEXT_LIMIT,
    CONFIRM_TITLE_LIMIT,
    FALLBACK_TEXT_LIMIT,
    SECTION_TEXT_LIMIT,
    code,
    join_words,
    plain,
    slack_date,
    truncate_mrkdwn,
    user_mention,
    user_text,
    usergroup_mention,
)

if TYPE_CHECKING:
    from bot.requests import RevocationRequest

Rendered = tuple[list[Block], str]

# The hub's statuses under short names; StrEnum members compare equal to their plain values.
PENDING = RequestStatus.PENDING
APPROVED = RequestStatus.APPROVED
EXECUTING = RequestStatus.EXECUTING
COMPLETED = RequestStatus.COMPLETED
PARTIAL = RequestStatus.PARTIAL
FAILED = RequestStatus.FAILED
REJECTED = RequestStatus.REJECTED
CANCELLED = RequestStatus.CANCELLED
EXPIRED = RequestStatus.EXPIRED

STATUS_LINES: dict[str, str] = {
    PENDING: ":hourglass_flowing_sand: *Waiting for approval*",
    APPROVED: ":white_check_mark: *Approved*: running, each step is posted in the thread",
    EXECUTING: ":gear: *Running*: each step is posted in the thread",
    COMPLETED: ":white_check_mark: *Completed*",
    PARTIAL: ":warning: *Partially completed*: see the thread for what did not",
    FAILED: ":x: *Failed*: see the thread for IAM's answer",
    REJECTED: ":no_entry: *Rejected*",
    CANCELLED: ":no_entry_sign: *Cancelled*",
    EXPIRED: ":alarm_clock: *Expired* without approval",
}
# Fallback-text words: a notification shows only these.
STATUS_WORDS: dict[str, str] = {
    PENDING: "waiting for approval",
    APPROVED: "approved",
    EXECUTING: "running",
    COMPLETED: "completed",
    PARTIAL: "partially completed",
    FAILED: "failed",
    REJECTED: "rejected",
    CANCELLED: "cancelled",
    EXPIRED: "expired",
}
_AFTER_APPROVAL = {APPROVED, EXECUTING, COMPLETED, PARTIAL, FAILED}
# What did run can be undone after a partial run too (bot.requests allows it).
_UNDOABLE = {COMPLETED, PARTIAL}


@dataclass(frozen=True)
class RequestSummary:
    """What the request message shows. Built by the handler from the stored request."""

    request_id: str
    requester_id: str
    target: Target
    actions: tuple[Action, ...]
    reason: str  # as the requester typed it; escaped here
    created_at: datetime
    expires_at: datetime
    status: str = PENDING
    approver_user_ids: tuple[str, ...] = ()
    approver_usergroup_ids: tuple[str, ...] = ()
    required_approvals: int = 1
    approvals: tuple[tuple[str, datetime], ...] = ()  # (user id, when)
    decided_by: str | None = None  # who rejected or cancelled
    decided_at: datetime | None = None  # when it was rejected, cancelled or expired
    decision_note: str | None = None  # a rejection's reason, as typed
    undo_of: str | None = None  # the request this one undoes
    undo_actions: tuple[Action, ...] = ()  # reversals still offered once completed
    revoke_before: datetime | None = None
    # A bulk request: what the scope holds (lines), its progress, and whether its failures
    # can be retried (a Retry failures button once it ended).
    scope: tuple[str, ...] = ()
    progress: str | None = None
    retry_failures: bool = False

    @classmethod
    def from_request(
        cls,
        request: RevocationRequest,
        *,
        approver_user_ids: Sequence[str] = (),
        approver_usergroup_ids: Sequence[str] = (),
        undo_actions: Sequence[Action] = (),
        retry_failures: bool = False,
    ) -> RequestSummary:
        """From the stored request; approvers come from settings, undo actions from the planner."""
        from bot.views.bulk import progress_line, scope_lines

        cancelled_or_rejected = request.status in (REJECTED, CANCELLED)
        bulk = request.bulk
        return cls(
            request_id=request.id,
            requester_id=request.requester,
            target=request.plan.target,
            actions=request.plan.actions,
            reason=request.reason,
            created_at=request.created_at,
            expires_at=request.expires_at,
            status=request.status.value,
            approver_user_ids=tuple(approver_user_ids),
            approver_usergroup_ids=tuple(approver_usergroup_ids),
            required_approvals=request.required_approvals,
            approvals=tuple((a.user_id, a.at) for a in request.approvals),
            # decided_by is also the final approver; it is shown as such only via approvals.
            decided_by=request.decided_by if cancelled_or_rejected else None,
            decided_at=request.decided_at,
            decision_note=request.decision_note,
            undo_of=request.undo_of,
            undo_actions=tuple(undo_actions),
            revoke_before=request.plan.revoke_before,
            scope=tuple(scope_lines(bulk)) if bulk is not None else (),
            progress=(
                progress_line(bulk, request.key_results)
                if bulk is not None and request.status in _AFTER_APPROVAL
                else None
            ),
            retry_failures=retry_failures,
        )


def request_message(req: RequestSummary, *, with_buttons: bool = True) -> Rendered:
    """Blocks and fallback text for the request message. `with_buttons=False` renders the same
    content without any control (for `status R-…` replies)."""
    blocks: list[Block] = [
        _section(_headline(req)),
        _section(
            "\n".join(req.scope or describe_target(req.target, as_requested=req.status != PENDING))
        ),
        _section(_actions_text(req)),
        _section(f"*Reason:*\n>{user_text(req.reason, 2000).replace(chr(10), chr(10) + '>')}"),
        ContextBlock(elements=[MarkdownTextObject(text=_context_text(req))]),
        _section(_status_text(req)),
    ]
    if with_buttons and req.status == PENDING:
        blocks.append(_pending_buttons(req))
    elif with_buttons and ((req.undo_actions and req.status in _UNDOABLE) or req.retry_failures):
        blocks.append(_undo_buttons(req))
    return blocks, _fallback(req)


def undo_value(request_id: str, action: Action) -> str:
    return f"{request_id}:{action.value}"


def parse_undo_value(value: str) -> tuple[str, Action]:
    """The (request id, reversal) an Undo button carries. Raises ValueError for anything else."""
    request_id, _, action = value.partition(":")
    reversal = Action(action)
    if not request_id or reversal not in REVERSAL.values():
        raise ValueError("not an undo button value")
    return request_id, reversal


def _section(text: str) -> SectionBlock:
    return SectionBlock(text=MarkdownTextObject(text=truncate_mrkdwn(text, SECTION_TEXT_LIMIT)))


def _headline(req: RequestSummary) -> str:
    what = "undo" if req.undo_of else "revoke"
    keys = "a scope of Bedrock API keys" if req.scope else "a Bedrock API key"
    line = (
        f":rotating_light: {user_mention(req.requester_id)} asks to {what} {keys} "
        f"· {code(req.request_id)}"
    )
    if req.undo_of:
        line += f"\nUndoes {code(req.undo_of)}; it needs its own approval."
    return line


def _actions_text(req: RequestSummary) -> str:
    lines = [f"• {user_text(action_label(a, req.revoke_before), 200)}" for a in req.actions]
    return "*Actions:*\n" + ("\n".join(lines) if lines else "_none_")


def _approvers(req: RequestSummary) -> str:
    mentions = [user_mention(u) for u in req.approver_user_ids]
    mentions += [usergroup_mention(g) for g in req.approver_usergroup_ids]
    return join_words(mentions, "or") if mentions else "_no approver configured_"


def _context_text(req: RequestSummary) -> str:
    parts = [f"Requested {slack_date(req.created_at)}"]
    if req.status == PENDING:
        needed = (
            f"{req.required_approvals} approvals" if req.required_approvals > 1 else "one approval"
        )
        parts.append(f"needs {needed} from {_approvers(req)}")
        parts.append(f"expires {slack_date(req.expires_at)}")
    return truncate_mrkdwn(" · ".join(parts), 2000)


def _status_text(req: RequestSummary) -> str:
    lines: list[str] = []
    if req.approvals and (req.status in _AFTER_APPROVAL or req.status == PENDING):
        approved = "; ".join(f"{user_mention(u)} at {slack_date(at)}" for u, at in req.approvals)
        prefix = (
            f"Approvals {len(req.approvals)} of {req.required_approvals}: "
            if req.status == PENDING
            else "Approved by "
        )
        lines.append(prefix + approved)
    when = f" at {slack_date(req.decided_at)}" if req.decided_at else ""
    if req.status == REJECTED:
        by = f" by {user_mention(req.decided_by)}" if req.decided_by else ""
        note = f": {user_text(req.decision_note, 500)}" if req.decision_note else ""
        lines.append(f"{STATUS_LINES[REJECTED]}{by}{when}{note}")
    elif req.status == CANCELLED:
        by = f" by {user_mention(req.decided_by)}" if req.decided_by else ""
        lines.append(f"{STATUS_LINES[CANCELLED]}{by}{when}")
    elif req.status == EXPIRED:
        lines.append(f"{STATUS_LINES[EXPIRED]}{when or ' at ' + slack_date(req.expires_at)}")
    else:
        lines.append(STATUS_LINES.get(req.status, f"*{user_text(req.status, 40)}*"))
    if req.progress:
        lines.append(req.progress)
    return "\n".join(lines)


def _pending_buttons(req: RequestSummary) -> ActionsBlock:
    actions = join_words(ACTION_LABELS.get(a, a.value) for a in req.actions)
    confirm_text = f"{actions}, on {_target_words(req)}"
    if req.target.account or req.target.account_id:
        account = req.target.account or req.target.account_id or ""
        confirm_text += f" in account {account}"
    confirm_text += ". This calls IAM at once."
    return ActionsBlock(
        block_id=ids.REQUEST_BUTTONS_BLOCK,
        elements=[
            ButtonElement(
                text="Approve",
                action_id=ids.APPROVE_ACTION,
                value=req.request_id,
                style="primary",
                confirm=ConfirmObject(
                    title=plain(f"Approve revocation {req.request_id}?", CONFIRM_TITLE_LIMIT),
                    text=PlainTextObject(text=plain(confirm_text, CONFIRM_TEXT_LIMIT)),
                    confirm="Approve",
                    deny="Back",
                ),
            ),
            ButtonElement(
                text="Reject",
                action_id=ids.REJECT_ACTION,
                value=req.request_id,
                style="danger",
            ),
            ButtonElement(
                text="Cancel request",
                action_id=ids.CANCEL_ACTION,
                value=req.request_id,
                confirm=ConfirmObject(
                    title=plain(f"Cancel {req.request_id}?", CONFIRM_TITLE_LIMIT),
                    text=PlainTextObject(
                        text="Only the requester can cancel. Nothing has been changed in IAM."
                    ),
                    confirm="Cancel request",
                    deny="Back",
                ),
            ),
        ],
    )


def _undo_buttons(req: RequestSummary) -> ActionsBlock:
    buttons = [
        ButtonElement(
            text=plain(f"Undo: {ACTION_LABELS.get(a, a.value)}", BUTTON_TEXT_LIMIT),
            action_id=f"{ids.UNDO_ACTION_PREFIX}:{a.value}",
            value=undo_value(req.request_id, a),
            confirm=ConfirmObject(
                title=plain(f"Undo part of {req.request_id}?", CONFIRM_TITLE_LIMIT),
                text=PlainTextObject(
                    text=plain(
                        f"{ACTION_LABELS.get(a, a.value)}, on {_target_words(req)}. "
                        "This opens a new request that needs its own approval.",
                        CONFIRM_TEXT_LIMIT,
                    )
                ),
                confirm="Request undo",
                deny="Back",
            ),
        )
        for a in _dedupe(req.undo_actions if req.status in _UNDOABLE else ())
    ]
    if req.retry_failures:
        buttons.append(
            ButtonElement(
                text="Retry failures",
                action_id=ids.RETRY_FAILURES_ACTION,
                value=req.request_id,
                confirm=ConfirmObject(
                    title=plain(f"Retry the failures of {req.request_id}?", CONFIRM_TITLE_LIMIT),
                    text=PlainTextObject(
                        text="The same actions on the keys whose calls failed, and only those. "
                        "This opens a new request that needs its own approval."
                    ),
                    confirm="Request retry",
                    deny="Back",
                ),
            )
        )
    return ActionsBlock(block_id=ids.UNDO_BLOCK, elements=buttons)


def _target_words(req: RequestSummary) -> str:
    return "every key of the scope in the message" if req.scope else target_name(req.target)


def _dedupe(actions: Sequence[Action]) -> list[Action]:
    # Duplicate action_ids in one block make Slack refuse the whole message.
    return list(dict.fromkeys(actions))


def _fallback(req: RequestSummary) -> str:
    actions = ", ".join(a.value for a in req.actions)
    what = f"undo of {req.undo_of}" if req.undo_of else "revocation"
    status = STATUS_WORDS.get(req.status) or user_text(req.status, 40)
    text = (
        f"{req.request_id}: {user_mention(req.requester_id)} asks for a {what} of "
        f"{user_text(_target_words(req), 300)} ({actions}) in "
        f"{describe_account(req.target)}: {status}."
    )
    if req.status == PENDING:
        text += f" Approvers: {_approvers(req)}."
    return truncate_mrkdwn(text, FALLBACK_TEXT_LIMIT)
