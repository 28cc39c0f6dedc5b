"""Text helpers for mrkdwn: escaping, redaction of leaked keys, truncation, Slack dates."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime

from bot.keys import redact_secrets

# Slack's limits that these helpers are asked to respect (reference/slack-platform.md).
SECTION_TEXT_LIMIT = 3000
MESSAGE_BLOCK_LIMIT = 50
BUTTON_TEXT_LIMIT = 75
OPTION_TEXT_LIMIT = 75
CONFIRM_TITLE_LIMIT = 100
CONFIRM_TEXT_LIMIT = 300
FALLBACK_TEXT_LIMIT = 3000  # well under chat.postMessage's 40,000; a notification shows far less

ELLIPSIS = "…"


def escape_mrkdwn(text: str) -> str:
    """Escape the three characters Slack treats as control characters in mrkdwn.

    Without this a user-typed `<!channel>` pings a whole channel and `<https://x|y>` hides a link.
    """
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def truncate(text: str, limit: int) -> str:
    """Cut plain text to `limit` characters, marking the cut with an ellipsis."""
    if limit < 1:
        raise ValueError("limit must be at least 1")
    if len(text) <= limit:
        return text
    return text[: limit - 1] + ELLIPSIS


def truncate_mrkdwn(text: str, limit: int) -> str:
    """Like `truncate`, but never leaves half an entity (`&am`) or half a `<...>` sequence.

    A half-cut entity renders as garbage and a half-cut `<@U…` can swallow the rest of the message.
    """
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    amp = cut.rfind("&")
    if amp != -1 and ";" not in cut[amp:]:
        cut = cut[:amp]
    lt = cut.rfind("<")
    if lt != -1 and ">" not in cut[lt:]:
        cut = cut[:lt]
    # An unclosed code span would render the ellipsis and anything after the cut as code.
    if cut.count("```") % 2:
        cut = cut[: cut.rfind("```")]
    return cut + ELLIPSIS


def user_text(text: str, limit: int) -> str:
    """Anything a person or an outside system wrote, made safe for mrkdwn and cut to `limit`.

    Redact first (a cut must not leave a key partly visible), escape, then cut without breaking
    an entity.
    """
    return truncate_mrkdwn(escape_mrkdwn(redact_secrets(text)), limit)


def plain(text: str, limit: int) -> str:
    """Text for a plain_text object (labels, buttons): redacted and cut; plain_text needs no
    escaping."""
    return truncate(redact_secrets(text), limit)


def slack_date(dt: datetime, fmt: str = "{date_short_pretty} {time}") -> str:
    """A date every reader sees in their own time zone, with a UTC fallback for old clients."""
    if dt.tzinfo is None:
        # Naive datetimes in this project are UTC; treating them as local time would shift them.
        dt = dt.replace(tzinfo=UTC)
    fallback = dt.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{int(dt.timestamp())}^{fmt}|{fallback}>"


def iso_utc(dt: datetime) -> str:
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def user_mention(user_id: str) -> str:
    """`<@U…>`, or the escaped text if it is not a Slack user id (so it cannot inject anything)."""
    if _USER_ID.fullmatch(user_id):
        return f"<@{user_id}>"
    return escape_mrkdwn(user_id)


def usergroup_mention(group_id: str) -> str:
    if _GROUP_ID.fullmatch(group_id):
        return f"<!subteam^{group_id}>"
    return escape_mrkdwn(group_id)


def join_words(items: Iterable[str], conjunction: str = "and") -> str:
    """ "a", "a and b", "a, b and c"."""
    words = list(items)
    if len(words) <= 1:
        return "".join(words)
    return f"{', '.join(words[:-1])} {conjunction} {words[-1]}"


def code(text: str) -> str:
    """An inline code span for identifiers (IAM names, ids, ARNs), escaped.

    Backticks cannot be escaped inside a span, so they are dropped; IAM's own patterns do not allow
    them in names anyway.
    """
    return f"`{escape_mrkdwn(redact_secrets(text).replace('`', ''))}`"


_USER_ID = re.compile(r"[UW][A-Z0-9]{2,}")
_GROUP_ID = re.compile(r"S[A-Z0-9]{2,}")
