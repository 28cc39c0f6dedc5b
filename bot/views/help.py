"""Short private replies: refusals, help, a user's key list, and the reject-reason modal."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from slack_sdk.models.blocks import (
    Block,
    InputBlock,
    MarkdownTextObject,
    PlainTextInputElement,
    SectionBlock,
)
from slack_sdk.models.views import View

from bot.errors import InvalidInput
from bot.keys import redact_free_text
from bot.revocation.model import Credential
from bot.views import ids
from bot.views.describe import describe_credential
from bot.views.request_message import Rendered
from bot.views.text import (
    SECTION_TEXT_LIMIT,
    code,
    escape_mrkdwn,
    plain,
    truncate_mrkdwn,
    user_text,
)

COMMAND = "/revoke-bedrock-key"
REJECT_REASON_MAX_LENGTH = 500


def refusal(message: str, *, mentions: bool = False) -> Rendered:
    """A private "no, because …" reply. The message may quote user input, so it is escaped.

    `mentions=True` is for messages the bot wrote itself with user mentions in them (the request
    hub's outcomes: "<@U…> already approved this request"): those mentions stay mentions, so Slack
    shows a name rather than a literal `<@U…>`; everything else is still escaped.
    """
    text, fallback = user_text(message, SECTION_TEXT_LIMIT - 20), user_text(message, 3000)
    if mentions:
        text, fallback = (
            _ESCAPED_MENTION.sub(r"<@\1>", text),
            _ESCAPED_MENTION.sub(r"<@\1>", fallback),
        )
    return [SectionBlock(text=MarkdownTextObject(text=f":no_entry_sign: {text}"))], fallback


_ESCAPED_MENTION = re.compile(r"&lt;@([UW][A-Z0-9]{2,})&gt;")


def help_text() -> Rendered:
    usage = (
        f"*{COMMAND}* revokes a leaked Amazon Bedrock API key through IAM, "
        "with a second person's approval. Everything is written to the request's thread.\n"
        f"• `{COMMAND}`: open the form\n"
        f"• `{COMMAND} &lt;key | key id | user | role&gt;`: open the form with it filled in. "
        "A pasted key is decoded and never shown or stored; only its fingerprint is.\n"
        f"• `{COMMAND} user:&lt;name&gt;` or `{COMMAND} account`: the form for every key "
        "of an IAM user, or of the account, in one request\n"
        f"• `{COMMAND} status R-…`: where a request stands\n"
        f"• `{COMMAND} list &lt;user&gt;`: the Bedrock API keys of an IAM user (approvers)\n"
        f"• `{COMMAND} help`: this message"
    )
    steps = (
        "*How it goes:* you ask, the approvers are pinged in the channel, one of them (not you) "
        "clicks Approve, the bot calls IAM, checks the result and posts every step in the thread."
    )
    blocks: list[Block] = [
        SectionBlock(text=MarkdownTextObject(text=usage)),
        SectionBlock(text=MarkdownTextObject(text=steps)),
    ]
    # The fallback is mrkdwn too: unescaped, "<user>" would be read as a link.
    fallback = escape_mrkdwn(
        f"Usage: {COMMAND} [help | <key id/user/role> | status R-… | list <user>]"
    )
    return blocks, fallback


def credential_list(user_name: str, credentials: Sequence[Credential]) -> Rendered:
    """The `list <user>` reply."""
    if not credentials:
        line = f"IAM user {code(user_name)} has no Bedrock API keys."
        return [SectionBlock(text=MarkdownTextObject(text=line))], plain(line, 3000)
    lines = [f"*Bedrock API keys of IAM user {code(user_name)}:*"]
    lines += [f"• {describe_credential(c)}" for c in credentials]
    text = truncate_mrkdwn("\n".join(lines), SECTION_TEXT_LIMIT)
    fallback = f"{len(credentials)} Bedrock API key(s) of IAM user {user_text(user_name, 64)}."
    return [SectionBlock(text=MarkdownTextObject(text=text))], fallback


def reject_modal(request_id: str, *, channel_id: str, message_ts: str) -> View:
    """Asks for an optional reason when Reject is clicked; the metadata says which message."""
    return View(
        type="modal",
        callback_id=ids.REJECT_CALLBACK_ID,
        title=plain(f"Reject {request_id}", 24),
        submit="Reject",
        close="Back",
        private_metadata=_compact(request_id, channel_id, message_ts),
        blocks=[
            InputBlock(
                block_id=ids.REJECT_REASON_BLOCK,
                label="Reason (optional)",
                hint="Posted in the request's thread.",
                optional=True,
                element=PlainTextInputElement(
                    action_id=ids.REJECT_REASON_ACTION,
                    multiline=True,
                    max_length=REJECT_REASON_MAX_LENGTH,
                ),
            )
        ],
    )


@dataclass(frozen=True)
class RejectInput:
    request_id: str
    channel_id: str
    message_ts: str
    reason: str | None  # as typed, keys redacted; escape when rendering


def parse_reject_submission(
    values: Mapping[str, Mapping[str, Mapping[str, Any]]], private_metadata: str
) -> RejectInput:
    """Raises InvalidInput when the metadata is damaged (it is ours, so that is a bug)."""
    try:
        meta = json.loads(private_metadata)
        request_id, channel_id, message_ts = str(meta["r"]), str(meta["c"]), str(meta["t"])
    except (ValueError, KeyError, TypeError):
        raise InvalidInput("The form's hidden data is damaged; click Reject again.") from None
    element = next(iter(values.get(ids.REJECT_REASON_BLOCK, {}).values()), None)
    raw = element.get("value") if element else None
    reason = redact_free_text(raw.strip()) if isinstance(raw, str) else ""
    return RejectInput(request_id, channel_id, message_ts, reason or None)


def _compact(request_id: str, channel_id: str, message_ts: str) -> str:
    return json.dumps({"r": request_id, "c": channel_id, "t": message_ts}, separators=(",", ":"))
