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
ACCESS_KEY_ACTIONS = frozenset({Action.DEACTIVATE_ACCESS_KEY, Action.REACTIVATE_ACCESS_KEY})
ROLE_ACTIONS = frozenset(
    {Action.DENY_ROLE, Action.REVOKE_SESSIONS, Action.ALLOW_ROLE, Action.LIFT_SESSION_REVOCATION}
)
# Session cutoffs apply to a role's sessions, or to an IAM user's (GetSessionToken, console).
SESSION_ACTIONS = frozenset({Action.REVOKE_SESSIONS, Action.LIFT_SESSION_REVOCATION})
# Actions that take something away from a role's sessions; reversals only give back.
ROLE_REVOKING = frozenset({Action.DENY_ROLE, Action.REVOKE_SESSIONS})

_LONG_TERM_ALL = frozenset(LONG_TERM_ACTIONS) | {Action.REACTIVATE, Action.ALLOW_USER}
_SHORT_TERM_ALL = frozenset(SHORT_TERM_ACTIONS) | {
    Action.ALLOW_ROLE,
    Action.LIFT_SESSION_REVOCATION,
    Action.ALLOW_USER,
    Action.REACTIVATE_ACCESS_KEY,
}


def _names(actions: Iterable[Action]) -> str:
    return ", ".join(a.value for a in actions)


def akia_signed(target: Target) -> bool:
    return target.key is not None and target.key.signed_by == "user"


def user_session_signed(target: Target) -> bool:
    """Signed by an IAM user's session (GetSessionToken, console), as CloudTrail showed."""
    return (
        target.kind is KeyKind.SHORT_TERM
        and target.key is not None
        and target.key.signed_by == "session"
        and target.role is None
        and target.user_name is not None
    )


def user_signed(target: Target) -> bool:
    """A short-term key that authenticates as an IAM user: its AKIA key or its session."""
    return akia_signed(target) or user_session_signed(target)


def check_kind(target: Target, actions: tuple[Action, ...]) -> None:
    """Actions must fit the key type and, for a short-term key, the kind of signer."""
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
    wrong = [a for a in actions if a not in _SHORT_TERM_ALL]
    if wrong:
        raise Refused(
            f"{_names(wrong)} apply to long-term keys (IAM service-specific credentials), but "
            "this is a short-term key.",
            suggestion=_short_term_suggestion(target),
            field="actions",
        )
    if user_signed(target):
        # A key signed by an IAM user authenticates as that user: the user's deny policy stops
        # it, as AWS documents; a role's policies have nothing to do with it.
        wrong = [a for a in actions if a in (Action.DENY_ROLE, Action.ALLOW_ROLE)]
        how = "its long-term access key" if akia_signed(target) else "a session of it"
        if wrong:
            raise Refused(
                f"This key was signed by IAM user {target.user_name} ({how}), not by a role "
                f"session; {_names(wrong)} would change nothing that matters.",
                suggestion=_short_term_suggestion(target),
                field="actions",
            )
        return
    wrong = [a for a in actions if a in USER_ACTIONS or a in ACCESS_KEY_ACTIONS]
    if wrong:
        raise Refused(
            f"{_names(wrong)} act on the IAM user that signed a key, but this key was signed by "
            "a role session.",
            suggestion=_short_term_suggestion(target),
            field="actions",
        )


def _short_term_suggestion(target: Target) -> str:
    if akia_signed(target):
        return "Use deny_user on the signing user, or deactivate_access_key."
    if user_session_signed(target):
        return "Use deny_user or revoke_sessions on the signing user."
    return "Use deny_role or revoke_sessions on the role that signed it."


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


def is_identity_center(role: Role) -> bool:
    return role.name.startswith(IDENTITY_CENTER_PREFIX) or role.path.startswith(
        IDENTITY_CENTER_PATH
    )


def permission_set_name(role_name: str) -> str | None:
    """The permission set behind an `AWSReservedSSO_<permission set>_<16 hex>` role."""
    if not role_name.startswith(IDENTITY_CENTER_PREFIX):
        return None
    name, _, suffix = role_name[len(IDENTITY_CENTER_PREFIX) :].rpartition("_")
    return name if name and suffix else None


def _identity_center_path(role: Role) -> str:
    permission_set = permission_set_name(role.name)
    named = f"permission set {permission_set}" if permission_set else "the role's permission set"
    return (
        f"In IAM Identity Center, add to {named}'s inline policy a statement denying "
        "bedrock:CallWithBearerToken and bedrock-mantle:CallWithBearerToken, then re-provision "
        f"{named} to this account (Identity Center rewrites role {role.name} then); to end the "
        "session sooner, remove the user's assignment or revoke the user's active sessions "
        "in Identity Center."
    )


def _role_refusal(role: Role) -> tuple[str, str] | None:
    if is_identity_center(role):
        return (
            f"Role {role.name} is managed by IAM Identity Center; IAM does not allow editing it.",
            _identity_center_path(role),
        )
    if role.path.startswith(SERVICE_LINKED_PATH_PREFIX):
        return (
            f"Role {role.name} is a service-linked role; IAM does not allow editing it.",
            "Act on the service using it, or ask AWS Support.",
        )
    return None


def _is_bot_role(target: Target, role: Role) -> bool:
    """Whether `role` is one the bot runs as or assumes: the caller in the target's account, or
    any of `Facts.bot_roles` (its base identity and every configured account's role), compared
    by account and name (IAM names ignore case; paths are not part of a session's ARN)."""
    facts = target.facts
    if facts is None:
        return False
    name = role.name.lower()
    if facts.caller_role_name is not None and facts.caller_role_name.lower() == name:
        return True
    account = role.arn.split(":")[4] if role.arn.count(":") >= 5 else target.account_id
    return any(
        arn.split(":")[4] == account and arn.rsplit("/", 1)[-1].lower() == name
        for arn in facts.bot_roles
    )


def check_role(target: Target, actions: tuple[Action, ...]) -> None:
    role_actions = [a for a in actions if a in ROLE_ACTIONS]
    if user_session_signed(target):
        # A user's session is cut off by a policy on the user (planned as such).
        role_actions = [a for a in role_actions if a not in SESSION_ACTIONS]
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
        message, path = refusal
        raise Refused(message, suggestion=path, field="role")
    if _is_bot_role(target, role):
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


def check_access_key(target: Target, actions: tuple[Action, ...]) -> None:
    wanted = [a for a in actions if a in ACCESS_KEY_ACTIONS]
    if not wanted:
        return
    if not akia_signed(target):
        raise Refused(
            f"{_names(wanted)} act on the long-term access key (AKIA…) that signed a short-term "
            "key; this key was not signed with one.",
            field="actions",
        )
    if not target.user_name:
        raise Refused(
            f"Access key {target.key.access_key_id if target.key else '?'} has no owner the bot "
            "can see in this account.",
            suggestion="Deactivate it from the IAM console of the account that owns it.",
            field="actions",
        )


def check_revoke_sessions(target: Target, actions: tuple[Action, ...]) -> None:
    if Action.REVOKE_SESSIONS in actions and akia_signed(target):
        who = f"user {target.user_name}" if target.user_name else "an IAM user"
        access_key = target.key.access_key_id if target.key else None
        raise Refused(
            f"This key was signed with {who}'s long-term access key {access_key}, not a role "
            "session; session revocation (aws:TokenIssueTime) does not stop it.",
            suggestion=(
                f"Use deny_user on {target.user_name or 'that user'} instead, or "
                f"deactivate_access_key ({access_key})."
            ),
            field="actions",
        )


def check_user_quota(target: Target, sizes: dict[str, int]) -> None:
    """deny_user (and a user's session cutoff) add inline policies; all of a user's inline
    policies share 2,048 characters. `sizes` are the policies this plan puts, by name."""
    if target.facts is None or not sizes:
        return
    others = [p for p in target.facts.user_inline_policies if p.name not in sizes]
    document_size = sum(sizes.values())
    total = sum(p.size for p in others) + document_size
    if total > policies.USER_INLINE_POLICY_QUOTA:
        listed = ", ".join(f"{p.name} ({p.size})" for p in others)
        raise Refused(
            f"User {target.user_name}'s inline policies would total {total} characters with the "
            f"planned policies ({document_size}), over IAM's {policies.USER_INLINE_POLICY_QUOTA} "
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
