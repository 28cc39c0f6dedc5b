"""Planning: a resolved Target and the requested actions to the exact IAM calls, without AWS.

The plan is pure data. The approver reads it (every call, every policy document in full) and the
executor runs exactly it, so everything the executor needs is in here.

Step order, when several actions are combined:
  1. deny_user / deny_role: the broad, reversible containment that needs nothing but a name,
     so it lands first; if a later step fails the key is already unusable.
  2. revoke_sessions: after the targeted deny, because it also stops legitimate sessions.
  3. deactivate, then reset, then delete: from mildest to irreversible, so that when delete
     fails (say, the bot lacks iam:DeleteServiceSpecificCredential) the key is already inactive.
Reversals run in the reverse order of what they undo: reactivate last, so a key never works
again before the user-level deny is lifted unless both were asked for.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

from bot import policies
from bot.config import Settings
from bot.errors import InvalidInput, Refused
from bot.revocation import guards
from bot.revocation.model import (
    REVERSAL,
    Action,
    IamCall,
    KeyKind,
    RevocationPlan,
    StepOutcome,
    StepResult,
    Target,
)

ORDER: tuple[Action, ...] = (
    Action.DENY_USER,
    Action.DENY_ROLE,
    Action.REVOKE_SESSIONS,
    Action.DEACTIVATE,
    Action.RESET,
    Action.DELETE,
    Action.LIFT_SESSION_REVOCATION,
    Action.ALLOW_ROLE,
    Action.ALLOW_USER,
    Action.REACTIVATE,
)


def secret_name(user_name: str, credential_id: str) -> str:
    """Where a reset key's new secret is stored when Secrets Manager is the destination."""
    return f"bedrock-key-revoker/{user_name}/{credential_id}"


def parse_actions(actions: Iterable[Action | str]) -> tuple[Action, ...]:
    """Known actions, deduplicated, in execution order. Raises InvalidInput otherwise."""
    found: set[Action] = set()
    for raw in actions:
        try:
            found.add(Action(raw.strip() if isinstance(raw, str) else raw))
        except ValueError:
            raise InvalidInput(f"Unknown action {str(raw)[:40]!r}.", field="actions") from None
    if not found:
        raise InvalidInput("Choose at least one action.", field="actions")
    return tuple(a for a in ORDER if a in found)


def _aware(moment: datetime, field: str) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise InvalidInput(
            "The time needs a timezone (for example 2025-01-31T12:00:00Z).", field=field
        )
    return moment.astimezone(UTC)


def plan(
    target: Target,
    actions: Iterable[Action | str],
    *,
    settings: Settings | None = None,
    deny_actions: Sequence[str] | None = None,
    now: datetime | None = None,
    revoke_before: datetime | None = None,
    reset_secret_destination: str | None = None,
) -> RevocationPlan:
    """The IAM calls for `actions` on `target`, in order, or Refused/InvalidInput saying why not."""
    now = _aware(now, "now") if now is not None else datetime.now(UTC)
    wanted = parse_actions(actions)
    if deny_actions is None:
        deny_actions = settings.deny_actions if settings is not None else None
    deny_doc = (
        policies.deny_bearer_token(deny_actions) if deny_actions else policies.deny_bearer_token()
    )
    destination = reset_secret_destination or (
        settings.reset_secret_destination if settings is not None else "discard"
    )
    if destination not in ("discard", "secretsmanager"):
        raise InvalidInput("reset_secret_destination is discard or secretsmanager.", field="reset")

    guards.check_kind(target, wanted)
    guards.check_contradictions(wanted)
    guards.check_credential(target, wanted, now)
    guards.check_user(target, wanted)
    guards.check_role(target, wanted)
    guards.check_revoke_sessions(target, wanted)

    notes: list[str] = []
    steps: list[IamCall] = []
    user = target.user_name or ""
    role = target.role.name if target.role else ""
    cred = target.credential
    cred_id = cred.credential_id if cred else ""
    facts = target.facts
    cutoff: datetime | None = None
    role_sizes: dict[str, int] = {}

    if Action.RESET in wanted and Action.DELETE in wanted:
        # Delete removes the secret too; a reset first would only mint a secret for a doomed key.
        wanted = tuple(a for a in wanted if a is not Action.RESET)
        notes.append("reset is not planned: delete removes the key and its secret anyway.")

    for action in wanted:
        if action is Action.DENY_USER:
            guards.check_user_quota(target, policies.policy_size(deny_doc))
            steps.append(
                IamCall(
                    action=action,
                    operation="PutUserPolicy",
                    params={
                        "UserName": user,
                        "PolicyName": policies.DENY_POLICY_NAME,
                        "PolicyDocument": deny_doc,
                    },
                    summary=f"Attach inline policy {policies.DENY_POLICY_NAME} to user {user}",
                )
            )
            notes.append(
                f"deny_user stops every Bedrock API key of user {user} (long-term keys and "
                f"short-term keys signed with the user's access keys): it denies "
                f"{', '.join(_doc_actions(deny_doc))}. The user's other permissions are unchanged."
            )
        elif action is Action.DENY_ROLE:
            role_sizes[policies.DENY_POLICY_NAME] = policies.policy_size(deny_doc)
            steps.append(
                IamCall(
                    action=action,
                    operation="PutRolePolicy",
                    params={
                        "RoleName": role,
                        "PolicyName": policies.DENY_POLICY_NAME,
                        "PolicyDocument": deny_doc,
                    },
                    summary=f"Attach inline policy {policies.DENY_POLICY_NAME} to role {role}",
                )
            )
            notes.append(
                f"deny_role stops every Bedrock API key made from any session of role {role}, "
                "including legitimate ones; the role's other permissions are unchanged."
            )
        elif action is Action.REVOKE_SESSIONS:
            wanted_cutoff = _aware(revoke_before, "before") if revoke_before else now
            doc = policies.revoke_older_sessions(wanted_cutoff, now=now)
            planned = policies.session_revocation_time(doc)
            assert planned is not None
            existing = facts.session_revocation_time if facts else None
            if existing is not None and existing >= planned:
                # Never move the cutoff backwards: that would silently re-enable sessions.
                if revoke_before is not None and existing > planned:
                    raise Refused(
                        f"Role {role} already revokes sessions issued before "
                        f"{policies.format_time(existing)}, later than the "
                        f"{policies.format_time(planned)} asked for; moving it back would "
                        "re-enable sessions issued in between.",
                        suggestion="Leave it as it is, or choose a later time.",
                        field="before",
                    )
                notes.append(
                    f"revoke_sessions is not planned: role {role} already revokes sessions issued "
                    f"before {policies.format_time(existing)}, which is not earlier than "
                    f"{policies.format_time(planned)}; the later time is kept."
                )
                continue
            cutoff = planned
            role_sizes[policies.REVOKE_SESSIONS_POLICY_NAME] = policies.policy_size(doc)
            steps.append(
                IamCall(
                    action=action,
                    operation="PutRolePolicy",
                    params={
                        "RoleName": role,
                        "PolicyName": policies.REVOKE_SESSIONS_POLICY_NAME,
                        "PolicyDocument": doc,
                    },
                    summary=(
                        f"Revoke sessions of role {role} issued before "
                        f"{policies.format_time(planned)}"
                    ),
                )
            )
            notes.append(
                f"revoke_sessions denies EVERY action to EVERY session of role {role} issued "
                f"before {policies.format_time(planned)}, legitimate ones included: workloads "
                "using the role must get new credentials."
            )
            if existing is not None:
                notes.append(
                    f"Role {role} already revokes sessions issued before "
                    f"{policies.format_time(existing)}; that time moves forward."
                )
        elif action in (Action.DEACTIVATE, Action.REACTIVATE):
            status = "Inactive" if action is Action.DEACTIVATE else "Active"
            steps.append(
                IamCall(
                    action=action,
                    operation="UpdateServiceSpecificCredential",
                    params={
                        "UserName": user,
                        "ServiceSpecificCredentialId": cred_id,
                        "Status": status,
                    },
                    summary=f"Set key {cred_id} of user {user} to {status}",
                )
            )
            if action is Action.REACTIVATE:
                notes.append(f"reactivate makes key {cred_id} usable again by whoever holds it.")
            elif cred is not None and cred.expires_at is not None and cred.expired(now):
                notes.append(f"Key {cred_id} has already expired; it cannot be used anyway.")
        elif action is Action.RESET:
            steps.append(
                IamCall(
                    action=action,
                    operation="ResetServiceSpecificCredential",
                    params={"UserName": user, "ServiceSpecificCredentialId": cred_id},
                    summary=f"Reset the secret of key {cred_id} of user {user}",
                )
            )
            if destination == "secretsmanager":
                notes.append(
                    "reset: the leaked secret stops working at once; the new secret is stored "
                    f"in AWS Secrets Manager as {secret_name(user, cred_id)} and never shown."
                )
            else:
                notes.append(
                    "reset: the leaked secret stops working at once; the new secret is "
                    "discarded, nobody will have it (irreversible)."
                )
        elif action is Action.DELETE:
            steps.append(
                IamCall(
                    action=action,
                    operation="DeleteServiceSpecificCredential",
                    params={"UserName": user, "ServiceSpecificCredentialId": cred_id},
                    summary=f"Delete key {cred_id} of user {user} (irreversible)",
                )
            )
            notes.append(f"delete is permanent: key {cred_id} cannot be restored.")
        elif action is Action.ALLOW_USER:
            steps.append(
                IamCall(
                    action=action,
                    operation="DeleteUserPolicy",
                    params={"UserName": user, "PolicyName": policies.DENY_POLICY_NAME},
                    summary=f"Remove inline policy {policies.DENY_POLICY_NAME} from user {user}",
                )
            )
        elif action is Action.ALLOW_ROLE:
            steps.append(
                IamCall(
                    action=action,
                    operation="DeleteRolePolicy",
                    params={"RoleName": role, "PolicyName": policies.DENY_POLICY_NAME},
                    summary=f"Remove inline policy {policies.DENY_POLICY_NAME} from role {role}",
                )
            )
        elif action is Action.LIFT_SESSION_REVOCATION:
            steps.append(
                IamCall(
                    action=action,
                    operation="DeleteRolePolicy",
                    params={"RoleName": role, "PolicyName": policies.REVOKE_SESSIONS_POLICY_NAME},
                    summary=(
                        f"Remove inline policy {policies.REVOKE_SESSIONS_POLICY_NAME} from role "
                        f"{role}"
                    ),
                )
            )
            notes.append(
                f"lift_session_revocation re-enables every old session of role {role}, "
                "including the one the leaked key was made from if it has not expired."
            )

    guards.check_role_quota(target, role_sizes)
    notes.extend(_context_notes(target, now))
    if not steps:
        raise Refused(
            "Nothing to do: " + " ".join(notes),
            suggestion=None,
            field="actions",
        )
    return RevocationPlan(
        target=target,
        actions=tuple(dict.fromkeys(s.action for s in steps)),
        steps=tuple(steps),
        notes=tuple(notes),
        created_at=now,
        revoke_before=cutoff,
        reset_secret_destination="secretsmanager" if destination == "secretsmanager" else "discard",
    )


def _doc_actions(doc: dict[str, object]) -> list[str]:
    out: list[str] = []
    statements = doc.get("Statement")
    for statement in statements if isinstance(statements, list) else [statements]:
        if isinstance(statement, dict):
            action = statement.get("Action")
            out.extend(action if isinstance(action, list) else [str(action)])
    return out


def _context_notes(target: Target, now: datetime) -> list[str]:
    notes: list[str] = []
    key = target.key
    if target.kind is KeyKind.SHORT_TERM and key is not None:
        if key.expires_at is not None:
            if key.expired:
                notes.append(
                    f"The pasted short-term key expired at {policies.format_time(key.expires_at)}; "
                    "it no longer works by itself."
                )
            else:
                notes.append(
                    f"The pasted short-term key works until {policies.format_time(key.expires_at)} "
                    "unless revoked."
                )
        if key.signed_by == "user":
            notes.append(
                f"The key was signed with long-term access key {key.access_key_id}: deactivate "
                "that access key too (this bot does not), it can sign new keys."
            )
    if target.user_name and target.user_name.startswith("BedrockAPIKey-"):
        notes.append(
            f"{target.user_name} was created by the console for API keys; check it for other "
            "access keys too: a leaked Bedrock key is often a foothold for more."
        )
    if target.credential is not None and target.other_credentials:
        notes.append(
            f"User {target.user_name} has {len(target.other_credentials)} other Bedrock API "
            "key(s), not touched by key-level actions: "
            + ", ".join(c.credential_id for c in target.other_credentials)
            + "."
        )
    return notes


def undo_actions(
    plan: RevocationPlan, results: Sequence[StepResult] | None = None
) -> tuple[Action, ...]:
    """What can reverse a plan, in the order an undo plan would run it.

    With `results`, only steps that reached their state (ok, or skipped because it was already
    there) count: after a partial run, a step that failed left nothing to undo.
    """
    if results is None:
        done = {step.action for step in plan.steps}
    else:
        done = {
            plan.steps[r.index].action
            for r in results
            if r.outcome is not StepOutcome.ERROR and 0 <= r.index < len(plan.steps)
        }
    return tuple(a for a in ORDER if any(REVERSAL.get(d) is a for d in done))


__all__ = ["ORDER", "parse_actions", "plan", "secret_name", "undo_actions"]
