"""The IAM policy documents this tool attaches, and helpers to compare, measure and read them.

Documents are plain dicts (what boto3 takes and returns). Functions that read a document also
accept its JSON text, including the URL-encoded JSON the raw IAM API returns, because policies
reach us from boto3, from the request store and from people.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote, unquote_plus

from bot.config import DEFAULT_DENY_ACTIONS
from bot.errors import InvalidInput

# Each request attaches its own policies, named `<prefix>-<plan tag>`: running a plan again
# replaces its own policy instead of piling up copies, and the undo of one request deletes only
# that request's policy, never containment another request relies on (docs/architecture.md,
# "Undo and shared containment"). The bare prefix is the shared name older requests wrote.
DENY_POLICY_NAME = "BedrockKeyRevokerDenyBearerToken"
SESSION_CUTOFF_POLICY_PREFIX = "BedrockKeyRevokerRevokeOlderSessions"
# The IAM console's "Revoke active sessions" button writes this name (and older requests of this
# bot did): its cutoff is read and counted, and no longer written.
REVOKE_SESSIONS_POLICY_NAME = "AWSRevokeOlderSessions"

# IAM quotas on inline policy size, whitespace not counted. The user quota is for the sum of all
# of a user's inline policies, the role quota likewise per role.
USER_INLINE_POLICY_QUOTA = 2048
ROLE_INLINE_POLICY_QUOTA = 10240

POLICY_VERSION = "2012-10-17"
DENY_SID = "DenyBedrockApiKeys"

# A cutoff slightly in the future is tolerated for clock skew between the requester and us; any
# further and every session of the role, including ones issued after the incident, would be
# denied everything until that time.
MAX_FUTURE_SKEW = timedelta(minutes=5)

_BEARER_ACTION = re.compile(r"[a-z0-9][a-z0-9-]{0,63}:CallWithBearerToken")
_ISSUE_TIME_KEY = "aws:tokenissuetime"

PolicyInput = Mapping[str, Any] | str


def deny_policy_name(tag: str) -> str:
    """The deny policy one request attaches (`tag`: its plan's tag)."""
    return f"{DENY_POLICY_NAME}-{tag}"


def session_cutoff_policy_name(tag: str) -> str:
    """The session cutoff one request attaches (`tag`: its plan's tag)."""
    return f"{SESSION_CUTOFF_POLICY_PREFIX}-{tag}"


def is_deny_policy(name: str) -> bool:
    """One of this tool's deny policies: a request's own, or the shared name of older ones."""
    return name == DENY_POLICY_NAME or name.startswith(DENY_POLICY_NAME + "-")


def is_session_cutoff_policy(name: str) -> bool:
    """A session cutoff: a request's own, or the console's (and older requests') shared one."""
    return name == REVOKE_SESSIONS_POLICY_NAME or name.startswith(
        SESSION_CUTOFF_POLICY_PREFIX + "-"
    )


def deny_bearer_token(actions: Sequence[str] = DEFAULT_DENY_ACTIONS) -> dict[str, Any]:
    """The policy that stops every Bedrock API key of the user or role it is attached to."""
    return {
        "Version": POLICY_VERSION,
        "Statement": [
            {
                "Sid": DENY_SID,
                "Effect": "Deny",
                "Action": _bearer_actions(actions),
                "Resource": "*",
            }
        ],
    }


def _bearer_actions(actions: Sequence[str]) -> list[str]:
    # A bare string is a Sequence[str] too; iterating it would yield one "action" per character.
    if isinstance(actions, str):
        actions = [actions]
    seen: list[str] = []
    for raw in actions:
        if not isinstance(raw, str):
            raise InvalidInput("Each action to deny must be text.", field="actions")
        action = raw.strip()
        if not _BEARER_ACTION.fullmatch(action):
            raise InvalidInput(
                f"{action!r} is not a <service>:CallWithBearerToken action "
                "(for example bedrock:CallWithBearerToken).",
                field="actions",
            )
        if action not in seen:
            seen.append(action)
    if not seen:
        raise InvalidInput("At least one action to deny is needed.", field="actions")
    return seen


def revoke_older_sessions(before: datetime, *, now: datetime | None = None) -> dict[str, Any]:
    """The policy that denies everything to the role's sessions issued before `before`."""
    if not isinstance(before, datetime) or before.tzinfo is None or before.utcoffset() is None:
        raise InvalidInput(
            "The revocation time needs a timezone (for example 2025-01-31T12:00:00Z).",
            field="before",
        )
    if now is None:
        now = datetime.now(UTC)
    elif now.tzinfo is None or now.utcoffset() is None:
        raise InvalidInput("The current time needs a timezone.", field="now")
    cutoff = _ceil_to_second(before.astimezone(UTC))
    if cutoff > now.astimezone(UTC) + MAX_FUTURE_SKEW:
        raise InvalidInput(
            "The revocation time is in the future: every session of the role, including new "
            "ones, would be denied everything until then. Use a time up to now.",
            field="before",
        )
    return {
        "Version": POLICY_VERSION,
        "Statement": [
            {
                "Effect": "Deny",
                "Action": "*",
                "Resource": "*",
                "Condition": {"DateLessThan": {"aws:TokenIssueTime": format_time(cutoff)}},
            }
        ],
    }


def earliest_covering_cutoff(
    signed_at: datetime, session_issued_at: datetime | None = None
) -> datetime:
    """The earliest `aws:TokenIssueTime` cutoff that denies the session behind a short-term key.

    IAM compares the cutoff with the session's issue time (DateLessThan), which is at or before
    the key's signing time (X-Amz-Date). When CloudTrail showed the session's issue time that is
    the bound; otherwise the signing time is. A cutoff must be strictly later, in whole seconds.
    """
    bound = session_issued_at if session_issued_at is not None else signed_at
    return bound.astimezone(UTC).replace(microsecond=0) + timedelta(seconds=1)


def _ceil_to_second(moment: datetime) -> datetime:
    # Rounding up, not down: a leaked session issued within the same second as the chosen
    # moment must still fall before the cutoff.
    if moment.microsecond:
        return moment.replace(microsecond=0) + timedelta(seconds=1)
    return moment


def format_time(moment: datetime) -> str:
    """`YYYY-MM-DDTHH:MM:SSZ` in UTC, the form the IAM console writes."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def session_revocation_time(document: PolicyInput) -> datetime | None:
    """The `aws:TokenIssueTime` cutoff of an AWSRevokeOlderSessions-style policy, in UTC.

    None when the document has no such condition or cannot be read. With several cutoffs the
    latest wins, since it is the one that revokes the most.
    """
    try:
        doc = parse(document)
    except InvalidInput:
        return None
    found: list[datetime] = []
    for statement in _statements(doc):
        if not isinstance(statement, Mapping) or statement.get("Effect") != "Deny":
            continue
        condition = statement.get("Condition")
        if not isinstance(condition, Mapping):
            continue
        operator = condition.get("DateLessThan")
        if not isinstance(operator, Mapping):
            continue
        for key, values in operator.items():
            # Condition keys are case-insensitive in IAM.
            if str(key).lower() != _ISSUE_TIME_KEY:
                continue
            for value in values if isinstance(values, list) else [values]:
                moment = _parse_time(value)
                if moment is not None:
                    found.append(moment)
    return max(found) if found else None


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    # IAM reads a date without an offset as UTC.
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def parse(document: PolicyInput) -> dict[str, Any]:
    """A policy document as a dict, from a dict, JSON text, or URL-encoded JSON text."""
    if isinstance(document, Mapping):
        return dict(document)
    if not isinstance(document, str):
        raise InvalidInput("A policy document must be JSON text or an object.", field="policy")
    for decode in (lambda s: s, unquote, unquote_plus):
        try:
            loaded = json.loads(decode(document))
        except (ValueError, RecursionError):
            continue
        if isinstance(loaded, dict):
            return loaded
    raise InvalidInput("The policy document is not a JSON object.", field="policy")


def _statements(doc: Mapping[str, Any]) -> list[Any]:
    statement = doc.get("Statement")
    if statement is None:
        return []
    return list(statement) if isinstance(statement, list) else [statement]


# Elements whose value may be one string or a list of strings, with the same meaning; for
# actions the case does not matter either.
_LIST_ELEMENTS = {"Action": True, "NotAction": True, "Resource": False, "NotResource": False}


def _canonical_statement(statement: Any) -> Any:
    if not isinstance(statement, Mapping):
        return statement
    out: dict[str, Any] = {}
    for key, value in statement.items():
        # Sid is a label; IAM ignores it when evaluating.
        if key == "Sid":
            continue
        if key in _LIST_ELEMENTS:
            out[key] = _string_set(value, fold_case=_LIST_ELEMENTS[key])
        elif key == "Condition" and isinstance(value, Mapping):
            out[key] = {
                op: (
                    {str(k).lower(): _string_set(v, fold_case=False) for k, v in block.items()}
                    if isinstance(block, Mapping)
                    else block
                )
                for op, block in value.items()
            }
        else:
            out[key] = value
    return out


def _string_set(value: Any, *, fold_case: bool) -> Any:
    items = value if isinstance(value, list) else [value]
    if not all(isinstance(v, str) for v in items):
        return value
    return sorted({v.lower() if fold_case else v for v in items})


def _canonical(doc: Mapping[str, Any]) -> str:
    top = {k: v for k, v in doc.items() if k != "Statement"}
    statements = sorted(
        {json.dumps(_canonical_statement(s), sort_keys=True) for s in _statements(doc)}
    )
    return json.dumps({**top, "Statement": statements}, sort_keys=True)


def same_policy(a: PolicyInput, b: PolicyInput) -> bool:
    """True when the two documents mean the same to IAM, however each is spelled.

    Used to tell whether the wanted policy is already attached, so a repeated request changes
    nothing. An unreadable document is never the same as anything.
    """
    try:
        return _canonical(parse(a)) == _canonical(parse(b))
    except InvalidInput:
        return False


def to_compact_json(document: PolicyInput) -> str:
    return json.dumps(parse(document), separators=(",", ":"), ensure_ascii=False)


def to_json(document: PolicyInput) -> str:
    """The document as people read it in the plan and as the CLI prints it."""
    return json.dumps(parse(document), indent=2, ensure_ascii=False)


def policy_size(document: PolicyInput) -> int:
    """The size IAM counts against its inline-policy quotas: characters, whitespace excluded."""
    return len("".join(to_compact_json(document).split()))


__all__ = [
    "DENY_POLICY_NAME",
    "MAX_FUTURE_SKEW",
    "REVOKE_SESSIONS_POLICY_NAME",
    "ROLE_INLINE_POLICY_QUOTA",
    "SESSION_CUTOFF_POLICY_PREFIX",
    "USER_INLINE_POLICY_QUOTA",
    "deny_bearer_token",
    "deny_policy_name",
    "earliest_covering_cutoff",
    "format_time",
    "is_deny_policy",
    "is_session_cutoff_policy",
    "parse",
    "policy_size",
    "revoke_older_sessions",
    "same_policy",
    "session_cutoff_policy_name",
    "session_revocation_time",
    "to_compact_json",
    "to_json",
]
