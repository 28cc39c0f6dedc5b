"""Guards: what IAM cannot do, or what should not be done, refused before anything is planned.

Pure functions over a resolved Target (and its Facts): no AWS call. Each refusal says why and
what to do instead, in words a responder can act on during an incident.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from bot import policies
from bot.errors import Refused
from bot.revocation.model import (
    LONG_TERM_ACTIONS,
    REVERSAL,
    SHORT_TERM_ACTIONS,
    Action,
    InlinePolicy,
    KeyKind,
    Role,
    Target,
)

IDENTITY_CENTER_PREFIX = "AWSReservedSSO_"
IDENTITY_CENTER_PATH = "/aws-reserved/sso.amazonaws.com/"
SERVICE_LINKED_PATH_PREFIX = "/aws-service-role/"
# The roles this tool runs as and assumes in target accounts: deploy/iam-policy.json's
# ProtectRevokerRoles denies Put/DeleteRolePolicy on role/BedrockKeyRevoker*, and the guard refuses
# the same roles before an approver is asked (IAM names ignore case).
REVOKER_ROLE_PREFIX = "BedrockKeyRevoker"

CREDENTIAL_ACTIONS = frozenset({Action.DEACTIVATE, Action.RESET, Action.DELETE, Action.REACTIVATE})
USER_ACTIONS = frozenset({Action.DENY_USER, Action.ALLOW_USER})
ROLE_ACTIONS = frozenset(
    {Action.DENY_ROLE, Action.REVOKE_SESSIONS, Action.ALLOW_ROLE, Action.LIFT_SESSION_REVOCATION}
)
# Actions that take something away from a role's sessions; reversals only give back.
ROLE_REVOKING = frozenset({Action.DENY_ROLE, Action.REVOKE_SESSIONS})

_LONG_TERM_ALL = frozenset(LONG_TERM_ACTIONS) | {Action.REACTIVATE, Action.ALLOW_USER}
_SHORT_TERM_ALL = frozenset(SHORT_TERM_ACTIONS) | {
    Action.ALLOW_ROLE,
    Action.LIFT_SESSION_REVOCATION,
}


def _names(actions: Iterable[Action]) -> str:
    return ", ".join(a.value for a in actions)


def akia_signed(target: Target) -> bool:
    return target.key is not None and target.key.signed_by == "user"


def check_kind(target: Target, actions: tuple[Action, ...]) -> None:
    """Actions must fit the key type (with one exception: deny_user for an AKIA-signed key)."""
    if target.kind is KeyKind.LONG_TERM:
        wrong = [a for a in actions if a not in _LONG_TERM_ALL]
        if wrong:
            raise Refused(
                f"{_names(wrong)} apply to short-term keys (a role's sessions), but this is a "
                "long-term key of an IAM user.",
                suggestion="Use deactivate, reset, delete or deny_user.",
                field="actions",
            )
        return
    allowed = set(_SHORT_TERM_ALL)
    if akia_signed(target):
        # A short-term key signed with a user's AKIA key authenticates as that user: the user's
        # deny policy stops it, as AWS documents.
        allowed |= USER_ACTIONS
    wrong = [a for a in actions if a not in allowed]
    if wrong:
        suggestion = (
            "Use deny_user on the signing user."
            if akia_signed(target)
            else "Use deny_role or revoke_sessions on the role that signed it."
        )
        raise Refused(
            f"{_names(wrong)} apply to long-term keys (IAM service-specific credentials), but "
            "this is a short-term key.",
            suggestion=suggestion,
            field="actions",
        )


def check_contradictions(actions: tuple[Action, ...]) -> None:
    for action, undo in REVERSAL.items():
        if action in actions and undo in actions:
            raise Refused(
                f"{action.value} and {undo.value} undo each other; ask for one of them.",
                field="actions",
            )


def check_credential(target: Target, actions: tuple[Action, ...], now: datetime) -> None:
    needs = [a for a in actions if a in CREDENTIAL_ACTIONS]
    if not needs:
        return
    cred = target.credential
    if cred is None:
        keys = target.other_credentials
        if keys:
            listed = ", ".join(f"{c.credential_id} ({c.status})" for c in keys)
            raise Refused(
                f"User {target.user_name} has {len(keys)} Bedrock API keys; "
                f"{_names(needs)} act on one key.",
                suggestion=f"Choose one by credential id: {listed}. Or use deny_user for all.",
                field="identifier",
            )
        raise Refused(
            f"User {target.user_name} has no Bedrock API key to {_names(needs)}.",
            suggestion="deny_user still stops any key the user creates or has elsewhere.",
            field="identifier",
        )
    if Action.RESET in actions and cred.expired(now):
        raise Refused(
            f"Key {cred.credential_id} has expired; IAM cannot reset an expired key.",
            suggestion="Delete it instead (delete).",
            field="actions",
        )
    if Action.REACTIVATE in actions and cred.expired(now):
        raise Refused(
            f"Key {cred.credential_id} has expired; an expired key cannot be reactivated.",
            suggestion="Create a new key for the user if they still need one.",
            field="actions",
        )


def check_user(target: Target, actions: tuple[Action, ...]) -> None:
    if any(a in USER_ACTIONS for a in actions) and not target.user_name:
        raise Refused(
            "The IAM user that signed this key is not known (its access key is not in this "
            "account, or the bot may not read it).",
            suggestion="Give the user's name as the identifier and use deny_user.",
            field="identifier",
        )


def _role_refusal(role: Role) -> str | None:
    if role.name.startswith(IDENTITY_CENTER_PREFIX) or role.path.startswith(IDENTITY_CENTER_PATH):
        return f"Role {role.name} is managed by IAM Identity Center; IAM does not allow editing it."
    if role.path.startswith(SERVICE_LINKED_PATH_PREFIX):
        return f"Role {role.name} is a service-linked role; IAM does not allow editing it."
    return None


def check_role(target: Target, actions: tuple[Action, ...]) -> None:
    role_actions = [a for a in actions if a in ROLE_ACTIONS]
    if not role_actions:
        return
    role = target.role
    if role is None:
        raise Refused(
            f"{_names(role_actions)} act on the role whose session signed the key, and no role "
            "was given.",
            suggestion="Give the role name or ARN (CloudTrail shows it for the key's ASIA id).",
            field="role",
        )
    refusal = _role_refusal(role)
    if refusal:
        raise Refused(
            refusal,
            suggestion=(
                "Remove the user's access in IAM Identity Center (permission set or assignment), "
                "or ask AWS Support; for a service-linked role, act on the service using it."
            ),
            field="role",
        )
    facts = target.facts
    own = facts.caller_role_name if facts is not None else None
    if own is not None and own.lower() == role.name.lower():
        if any(a in ROLE_REVOKING for a in role_actions):
            raise Refused(
                f"Role {role.name} is the role this bot runs as; revoking it would lock the bot "
                "out (and every other session of it) before the job is done.",
                suggestion="Do it from the IAM console with another identity.",
                field="role",
            )
        raise Refused(
            f"Role {role.name} is the role this bot runs as; it does not remove policies from "
            "its own role (one may be a guard someone else put there).",
            suggestion="Do it from the IAM console with another identity.",
            field="role",
        )
    if role.name.lower().startswith(REVOKER_ROLE_PREFIX.lower()):
        raise Refused(
            f"Role {role.name} is one of this tool's own roles ({REVOKER_ROLE_PREFIX}*, which its "
            "IAM policy forbids it to change); changing it could lock the bot out of an account.",
            suggestion="Do it from the IAM console with another identity.",
            field="role",
        )


def check_revoke_sessions(target: Target, actions: tuple[Action, ...]) -> None:
    if Action.REVOKE_SESSIONS in actions and akia_signed(target):
        who = f"user {target.user_name}" if target.user_name else "an IAM user"
        access_key = target.key.access_key_id if target.key else None
        raise Refused(
            f"This key was signed with {who}'s long-term access key {access_key}, not a role "
            "session; session revocation (aws:TokenIssueTime) does not stop it.",
            suggestion=(
                f"Use deny_user on {target.user_name or 'that user'} instead, and deactivate "
                f"access key {access_key}."
            ),
            field="actions",
        )


def _quota(
    existing: tuple[InlinePolicy, ...], replacing: str, new_size: int
) -> tuple[int, list[InlinePolicy]]:
    others = [p for p in existing if p.name != replacing]
    return sum(p.size for p in others) + new_size, others


def check_user_quota(target: Target, document_size: int) -> None:
    """deny_user adds an inline policy; all of a user's inline policies share 2,048 characters."""
    if target.facts is None:
        return
    total, others = _quota(
        target.facts.user_inline_policies,
        policies.DENY_POLICY_NAME,
        document_size,
    )
    if total > policies.USER_INLINE_POLICY_QUOTA:
        listed = ", ".join(f"{p.name} ({p.size})" for p in others)
        raise Refused(
            f"User {target.user_name}'s inline policies would total {total} characters with the "
            f"deny policy ({document_size}), over IAM's {policies.USER_INLINE_POLICY_QUOTA} "
            f"quota. Existing: {listed}.",
            suggestion=(
                "Deactivate or delete the key instead, or shrink or move one of the user's "
                "inline policies to a managed policy first."
            ),
            field="actions",
        )


def check_role_quota(target: Target, sizes: dict[str, int]) -> None:
    """Role inline policies share 10,240 characters; `sizes` are the policies we will put."""
    if target.facts is None or not sizes:
        return
    existing = [p for p in target.facts.role_inline_policies if p.name not in sizes]
    total = sum(p.size for p in existing) + sum(sizes.values())
    if total > policies.ROLE_INLINE_POLICY_QUOTA:
        role = target.role.name if target.role else "?"
        raise Refused(
            f"Role {role}'s inline policies would total {total} characters, over IAM's "
            f"{policies.ROLE_INLINE_POLICY_QUOTA} quota.",
            suggestion="Move one of the role's inline policies to a managed policy first.",
            field="actions",
        )
