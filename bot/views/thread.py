"""Replies in a request's thread: the plan, each step, verification, the summary, and events.

The thread is the audit trail people read, so each reply stands on its own: its fallback text
says what happened even where blocks are not shown (notifications, exports, old clients).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from slack_sdk.models.blocks import (
    Block,
    ContextBlock,
    MarkdownTextObject,
    RichTextBlock,
    RichTextElementParts,
    RichTextPreformattedElement,
    SectionBlock,
)

from bot.keys import redact_secrets
from bot.revocation.model import (
    Action,
    IamCall,
    RevocationPlan,
    StepOutcome,
    StepResult,
    Verification,
)
from bot.views import ids
from bot.views.describe import describe_account
from bot.views.request_message import (
    COMPLETED,
    FAILED,
    PARTIAL,
    STATUS_WORDS,
    Rendered,
)
from bot.views.text import (
    FALLBACK_TEXT_LIMIT,
    MESSAGE_BLOCK_LIMIT,
    SECTION_TEXT_LIMIT,
    code,
    iso_utc,
    slack_date,
    truncate,
    truncate_mrkdwn,
    user_mention,
    user_text,
)

# Well under the section limit so that a chunk plus nothing else always fits, whatever Slack
# counts (it has not documented a separate limit for preformatted rich text).
JSON_CHUNK_LIMIT = 2900
_PARAM_VALUE_LIMIT = 300
# Parameter names whose values are never shown, whatever they hold. No planned call has one today;
# this is the guard for the day one does (e.g. a reset's secret reaching a params dict).
_RESET_NOTES = {
    "discard": ":lock: The reset's new secret is discarded at once: nobody, this bot included, "
    "will be able to read it. Issue a new key to whoever needs one.",
    "secretsmanager": ":lock: The reset's new secret goes to AWS Secrets Manager; this thread "
    "will show only the secret's ARN.",
}
_SUMMARY_LINES: dict[str, str] = {
    COMPLETED: ":white_check_mark: *Completed*",
    PARTIAL: ":warning: *Partially completed*",
    FAILED: ":x: *Failed*",
}
# IAM's documented eventual consistency: "Completed" is what IAM holds, not yet every endpoint.
EVENTUAL_CONSISTENCY = (
    "IAM changes can take a few minutes to take effect everywhere (IAM is eventually "
    "consistent), so the key may keep working briefly."
)
_SECRET_PARAM = re.compile(r"secret|password|token|private", re.IGNORECASE)


def plan_reply(plan: RevocationPlan, *, request_id: str | None = None) -> Rendered:
    """ "The plan": every IAM call, numbered, with its parameters and each policy in full."""
    n = len(plan.steps)
    for_request = f" for {code(request_id)}" if request_id else ""
    header = (
        f":clipboard: *The plan*{for_request}: {n} IAM call{'s' if n != 1 else ''} in "
        f"{describe_account(plan.target)}, in this order. Nothing runs before approval."
    )
    out = _Blocks()
    out.add_section(header, block_id=ids.PLAN_HEADER_BLOCK)
    for number, call in enumerate(plan.steps, start=1):
        out.add_text(_call_text(number, call))
        doc = call.policy_document
        if doc is not None:
            out.add_json(doc)
    if Action.RESET in plan.actions:
        out.add_text(_RESET_NOTES[plan.reset_secret_destination])
    if plan.revoke_before is not None and Action.REVOKE_SESSIONS in plan.actions:
        out.add_text(
            f":clock3: Sessions issued before {slack_date(plan.revoke_before)} "
            f"({code(iso_utc(plan.revoke_before))}) lose every permission."
        )
    for note in plan.notes:
        out.add_text(f":warning: {user_text(note, 1000)}")
    operations = ", ".join(f"{i}. {c.operation}" for i, c in enumerate(plan.steps, start=1))
    rid = f" for {request_id}" if request_id else ""
    text = f"The plan{rid}: {operations or 'no IAM calls'}."
    return out.finish(), truncate(text, FALLBACK_TEXT_LIMIT)


def step_reply(result: StepResult, call: IamCall, *, total: int | None = None) -> Rendered:
    """One executed step. `result.index` is the step's 0-based position in `plan.steps`."""
    number = result.index + 1
    of = f" of {total}" if total else ""
    emoji, verb = {
        StepOutcome.OK: (":white_check_mark:", "done"),
        StepOutcome.SKIPPED: (":heavy_minus_sign:", "skipped, nothing to change"),
        StepOutcome.ERROR: (":x:", "failed"),
    }[result.outcome]
    lines = [
        f"{emoji} *Step {number}{of} {verb}*: {code(result.operation)}: "
        f"{user_text(call.summary, 500)}"
    ]
    answer = user_text(result.message, 1500)
    if result.error_code:
        lines.append(f"IAM: {code(result.error_code)} {answer}")
    else:
        lines.append(f"IAM: {answer}")
    if result.secret_arn:
        # Only where the new secret is; the secret itself never reaches this process's output.
        lines.append(f"New secret stored in AWS Secrets Manager: {code(result.secret_arn)}")
    if result.request_id:
        lines.append(f"_IAM request id {code(result.request_id)}_")
    text = (
        f"Step {number}{of} {verb}: {result.operation}"
        f"{' (' + result.error_code + ')' if result.error_code else ''}"
    )
    return [_section("\n".join(lines))], user_text(text, FALLBACK_TEXT_LIMIT)


def verification_reply(v: Verification) -> Rendered:
    failed = [c for c in v.checks if not c.holds]
    if not v.checks:
        head = ":grey_question: *Verification*: nothing to check"
    elif not failed:
        head = f":mag: *Verification*: all {len(v.checks)} checks hold"
    else:
        head = f":warning: *Verification*: {len(failed)} of {len(v.checks)} checks do not hold"
    out = _Blocks()
    out.add_text(head)
    for check in v.checks:
        mark = ":white_check_mark:" if check.holds else ":x:"
        out.add_text(
            f"{mark} {user_text(check.description, 500)}: _{user_text(check.observed, 1000)}_"
        )
    if failed:
        text = f"Verification: {len(failed)} of {len(v.checks)} checks do not hold."
    else:
        text = f"Verification: all {len(v.checks)} checks hold."
    return out.finish(), text


def summary_reply(
    status: str,
    elapsed_seconds: float,
    attached_policies: Mapping[str, Mapping[str, Any]],
    *,
    request_id: str | None = None,
) -> Rendered:
    """The thread's last reply: each policy as IAM now holds it (label -> document), then one line.

    Labels say where the policy is, e.g. "BedrockKeyRevokerDenyBearerToken on user alice".
    """
    out = _Blocks()
    if attached_policies:
        out.add_text("*The policies as attached:*")
        for label, doc in attached_policies.items():
            out.add_text(code(label))
            out.add_json(doc)
    words = STATUS_WORDS.get(status) or user_text(status, 40)
    line = _SUMMARY_LINES.get(status, f"*{words[:1].upper()}{words[1:]}*")
    elapsed = format_elapsed(elapsed_seconds)
    prefix = f"{code(request_id)} " if request_id else ""
    settle = f" {EVENTUAL_CONSISTENCY}" if status in (COMPLETED, PARTIAL) else ""
    out.add_section(f"{prefix}{line} in {elapsed}.{settle}", block_id=ids.SUMMARY_BLOCK)
    text = f"{request_id + ': ' if request_id else ''}{words} in {elapsed}."
    return out.finish(), truncate(text[:1].upper() + text[1:], FALLBACK_TEXT_LIMIT)


def approved_reply(
    approver_id: str, at: datetime, *, approvals: int = 1, required: int = 1
) -> Rendered:
    who = user_mention(approver_id)
    if approvals < required:
        line = (
            f":ballot_box_with_check: {who} approved at {slack_date(at)} "
            f"({approvals} of {required} approvals)"
        )
        return [_section(line)], f"{who} approved ({approvals} of {required} approvals)."
    line = f":white_check_mark: Approved by {who} at {slack_date(at)}. Running the plan now."
    return [_section(line)], f"Approved by {who}."


def rejected_reply(user_id: str, at: datetime, reason: str | None = None) -> Rendered:
    who = user_mention(user_id)
    note = f": {user_text(reason, 1000)}" if reason and reason.strip() else " (no reason given)"
    line = f":no_entry: Rejected by {who} at {slack_date(at)}{note}. Nothing was changed in IAM."
    return [_section(line)], truncate_mrkdwn(f"Rejected by {who}{note}", FALLBACK_TEXT_LIMIT)


def cancelled_reply(user_id: str, at: datetime) -> Rendered:
    who = user_mention(user_id)
    line = f":no_entry_sign: Cancelled by {who} at {slack_date(at)}. Nothing was changed in IAM."
    return [_section(line)], f"Cancelled by {who}."


def expired_reply(at: datetime) -> Rendered:
    line = (
        f":alarm_clock: Expired at {slack_date(at)} without approval. Nothing was changed in IAM."
    )
    return [_section(line)], "Expired without approval."


def interrupted_reply(lost: datetime, resumed: datetime) -> Rendered:
    """A runner died mid-plan and another took over: said before the steps it goes on with."""
    line = (
        f":warning: *The run was interrupted*: the process carrying it out stopped answering "
        f"(last heard of until {slack_date(lost)}). Resumed at {slack_date(resumed)}: steps "
        "already recorded are not run again; the others first read IAM and change only what is "
        "not yet in place."
    )
    return [_section(line)], "The run was interrupted and has been resumed."


def undo_requested_reply(user_id: str, undo_request_id: str) -> Rendered:
    who = user_mention(user_id)
    line = (
        f":leftwards_arrow_with_hook: {who} asked to undo part of this: "
        f"{code(undo_request_id)}, which needs its own approval."
    )
    return [_section(line)], f"{who} asked for an undo: {undo_request_id}."


def format_elapsed(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def json_chunks(doc: Mapping[str, Any], limit: int = JSON_CHUNK_LIMIT) -> list[str]:
    """The document as indented JSON, cut into pieces of at most `limit` characters, at line ends
    where possible. Concatenated in order the pieces are exactly the JSON text."""
    text = redact_secrets(json.dumps(doc, indent=2, sort_keys=False, default=str))
    chunks: list[str] = []
    while len(text) > limit:
        cut = text.rfind("\n", 0, limit)
        cut = cut + 1 if cut > 0 else limit
        chunks.append(text[:cut])
        text = text[cut:]
    chunks.append(text)
    return chunks


def _call_text(number: int, call: IamCall) -> str:
    lines = [f"*{number}.* {code(call.operation)}: {user_text(call.summary, 500)}"]
    for name, value in call.params.items():
        if name == "PolicyDocument" and isinstance(value, dict):
            lines.append(f"    • {code(name)}: below")
            continue
        lines.append(f"    • {code(name)}: {_param_value(name, value)}")
    return "\n".join(lines)


def _param_value(name: str, value: Any) -> str:
    if _SECRET_PARAM.search(name):
        return "_not shown_"
    if not isinstance(value, str):
        value = json.dumps(value, default=str)
    return code(truncate(value, _PARAM_VALUE_LIMIT))


def _section(text: str, block_id: str | None = None) -> SectionBlock:
    return SectionBlock(
        block_id=block_id,
        text=MarkdownTextObject(text=truncate_mrkdwn(text, SECTION_TEXT_LIMIT)),
    )


class _Blocks:
    """Packs mrkdwn lines into as few sections as fit and JSON into preformatted blocks, and keeps
    the message within Slack's 50 blocks."""

    def __init__(self) -> None:
        self._blocks: list[Block] = []
        self._pending: list[str] = []

    def add_text(self, text: str) -> None:
        text = truncate_mrkdwn(text, SECTION_TEXT_LIMIT)
        if len("\n".join([*self._pending, text])) > SECTION_TEXT_LIMIT:
            self._flush()
        self._pending.append(text)

    def add_section(self, text: str, *, block_id: str) -> None:
        self._flush()
        self._blocks.append(_section(text, block_id))

    def add_json(self, doc: Mapping[str, Any]) -> None:
        self._flush()
        for chunk in json_chunks(doc):
            self._blocks.append(
                RichTextBlock(
                    elements=[
                        RichTextPreformattedElement(
                            elements=[RichTextElementParts.Text(text=chunk)]
                        )
                    ]
                )
            )

    def _flush(self) -> None:
        if self._pending:
            self._blocks.append(_section("\n".join(self._pending)))
            self._pending = []

    def finish(self) -> list[Block]:
        self._flush()
        blocks = self._blocks
        if len(blocks) > MESSAGE_BLOCK_LIMIT:
            # Keep the last block when it is the summary line; it is the one a reader needs.
            tail = [blocks[-1]] if blocks[-1].block_id == ids.SUMMARY_BLOCK else []
            keep = MESSAGE_BLOCK_LIMIT - 1 - len(tail)
            omitted = len(blocks) - keep - len(tail)
            note = ContextBlock(
                elements=[
                    MarkdownTextObject(
                        text=f"…{omitted} more parts are too many for one Slack message; "
                        "`bedrock-revoker audit export` has everything."
                    )
                ]
            )
            blocks = [*blocks[:keep], note, *tail]
        return blocks
