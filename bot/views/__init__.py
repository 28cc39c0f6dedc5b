"""Block Kit for everything the app shows: the request modal, the request message, thread
replies and private replies.

Pure functions of domain data returning `(blocks, fallback text)` or a `View`, built with
`slack_sdk.models` so Slack's limits are checked when serialised. No Slack calls and no Bolt here:
handlers call these and send the result. Ids for listeners live in `bot.views.ids`.
"""

from __future__ import annotations

from bot.views import ids
from bot.views.help import (
    RejectInput,
    credential_list,
    help_text,
    parse_reject_submission,
    refusal,
    reject_modal,
)
from bot.views.modal import (
    ModalInput,
    ModalMetadata,
    guess_kind,
    modal_errors,
    parse_submission,
    revocation_modal,
    switched_modal,
)
from bot.views.request_message import (
    Rendered,
    RequestSummary,
    parse_undo_value,
    request_message,
    undo_value,
)
from bot.views.text import escape_mrkdwn, slack_date
from bot.views.thread import (
    approved_reply,
    cancelled_reply,
    expired_reply,
    interrupted_reply,
    plan_reply,
    rejected_reply,
    step_reply,
    summary_reply,
    undo_requested_reply,
    verification_reply,
)

__all__ = [
    "ModalInput",
    "ModalMetadata",
    "RejectInput",
    "Rendered",
    "RequestSummary",
    "approved_reply",
    "cancelled_reply",
    "credential_list",
    "escape_mrkdwn",
    "expired_reply",
    "guess_kind",
    "help_text",
    "ids",
    "interrupted_reply",
    "modal_errors",
    "parse_reject_submission",
    "parse_submission",
    "parse_undo_value",
    "plan_reply",
    "refusal",
    "reject_modal",
    "rejected_reply",
    "request_message",
    "revocation_modal",
    "slack_date",
    "step_reply",
    "summary_reply",
    "switched_modal",
    "undo_requested_reply",
    "undo_value",
    "verification_reply",
]
