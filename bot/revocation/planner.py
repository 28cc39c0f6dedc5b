"""Planning: a resolved Target and the requested actions to the exact IAM calls, without AWS.

The plan is pure data. The approver reads it (every call, every policy document in full) and the
executor runs exactly it, so everything the executor needs is in here.

Step order, when several actions are combined:
  1. deny_user / deny_role: the broad, reversible containment that needs nothing but a name,
     so it lands first; if a later step fails the key is already unusable.
  2. revoke_sessions: after the targeted deny, because it also stops legitimate sessions.
     deactivate_access_key (the AKIA key that signed a short-term key) likewise stops everything
     else signed with that access key, so it comes after the targeted deny too.
  3. deactivate, then reset, then delete: from mildest to irreversible, so that when delete
     fails (say, the bot lacks iam:DeleteServiceSpecificCredential) the key is already inactive.
Reversals run in the reverse order of what they undo: reactivate last, so a key never works
again before the user-level deny is lifted unless both were asked for.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bot import policies
from bot.config import Settings
from bot.errors import InvalidInput, Refused
from bot.revocation import guards, signer
from bot.revocation.model import (
    REVERSAL,
    Action,
    IamCall,
    KeyKind,
    RevocationPlan,
    StepOutcome,
    StepResult,
    Target,
    covering_cutoff,
    plan_tag,
)

ORDER: tuple[Action, ...] = (
    Action.DENY_USER,
    Action.DENY_ROLE,
    Action.REVOKE_SESSIONS,
    Action.DEACTIVATE_ACCESS_KEY,
    Action.DEACTIVATE,
    Action.RESET,
    Action.DELETE,
    Action.LIFT_SESSION_REVOCATION,
    Action.ALLOW_ROLE,
    Action.ALLOW_USER,
    Action.REACTIVATE_ACCESS_KEY,
    Action.REACTIVATE,
)


# IAM is eventually consistent (IAM User Guide, "Changes that I make are not always immediately
# visible"): said in the plan so "Completed" is not read as "stopped everywhere this instant".
EVENTUAL_CONSISTENCY_NOTE = (
    "IAM changes take effect within seconds but can take a few minutes to apply everywhere "
    "(IAM is eventually consistent): the key may keep working briefly after the request "
    "completes."
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
    undoing: RevocationPlan | None = None,
) -> RevocationPlan:
    """The IAM calls for `actions` on `target`, in order, or Refused/InvalidInput saying why not.

    `undoing`: for reversals, the plan of the request being undone; its steps name the policies
    to remove (that request's own, never another's).
    """
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
    guards.check_access_key(target, wanted)
    guards.check_revoke_sessions(target, wanted)
    guards.check_role(target, wanted)

    draft = _Draft(
        target=target,
        now=now,
        deny_doc=deny_doc,
        destination=destination,
        revoke_before=revoke_before,
        plan_id=uuid.uuid4().hex,
        undoing=undoing,
    )
    if Action.RESET in wanted and Action.DELETE in wanted:
        # Delete removes the secret too; a reset first would only mint a secret for a doomed key.
        wanted = tuple(a for a in wanted if a is not Action.RESET)
        draft.notes.append("reset is not planned: delete removes the key and its secret anyway.")
    for action in wanted:
        _STEP_BUILDERS[action](draft, action)

    guards.check_role_quota(target, draft.role_sizes)
    guards.check_user_quota(target, draft.user_sizes)
    draft.notes.extend(_context_notes(target, now))
    if draft.steps and not all(a in REVERSAL.values() for a in wanted):
        draft.notes.append(EVENTUAL_CONSISTENCY_NOTE)
    if not draft.steps:
        raise Refused(
            "Nothing to do: " + " ".join(draft.notes),
            suggestion=None,
            field="actions",
        )
    return RevocationPlan(
        plan_id=draft.plan_id,
        target=target,
        actions=tuple(dict.fromkeys(s.action for s in draft.steps)),
        steps=tuple(draft.steps),
        notes=tuple(draft.notes),
        created_at=now,
        revoke_before=draft.cutoff,
        reset_secret_destination="secretsmanager" if destination == "secretsmanager" else "discard",
    )


@dataclass
class _Draft:
    """A plan being drawn up: what every step builder reads, and what they add to."""

    target: Target
    now: datetime
    deny_doc: dict[str, Any]
    destination: str
    revoke_before: datetime | None
    plan_id: str
    undoing: RevocationPlan | None = None
    steps: list[IamCall] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # Inline policies this plan puts on the role / the user, by name, for IAM's size quotas.
    role_sizes: dict[str, int] = field(default_factory=dict)
    user_sizes: dict[str, int] = field(default_factory=dict)
    cutoff: datetime | None = None  # the revoke_sessions time, once planned

    @property
    def user(self) -> str:
        return self.target.user_name or ""

    @property
    def role(self) -> str:
        return self.target.role.name if self.target.role else ""

    @property
    def cred_id(self) -> str:
        cred = self.target.credential
        return cred.credential_id if cred else ""

    @property
    def deny_name(self) -> str:
        return policies.deny_policy_name(plan_tag(self.plan_id))

    @property
    def cutoff_name(self) -> str:
        return policies.session_cutoff_policy_name(plan_tag(self.plan_id))


def _deny_user(d: _Draft, action: Action) -> None:
    d.user_sizes[d.deny_name] = policies.policy_size(d.deny_doc)
    d.steps.append(
        IamCall(
            action=action,
            operation="PutUserPolicy",
            params={
                "UserName": d.user,
                "PolicyName": d.deny_name,
                "PolicyDocument": d.deny_doc,
            },
            summary=f"Attach inline policy {d.deny_name} to user {d.user}",
        )
    )
    _already_denied_note(d, "user", d.user, d.target.facts.user_denied if d.target.facts else False)
    d.notes.append(
        f"deny_user stops every Bedrock API key of user {d.user} (long-term keys and "
        f"short-term keys signed with the user's access keys): it denies "
        f"{', '.join(_doc_actions(d.deny_doc))}. The user's other permissions are unchanged."
    )


def _already_denied_note(d: _Draft, kind: str, name: str, denied: bool) -> None:
    if denied:
        d.notes.append(
            f"{kind.title()} {name} already has a deny policy of this bot (another request's): "
            "this request attaches its own, so undoing either request leaves the other's in "
            "place."
        )


def _deny_role(d: _Draft, action: Action) -> None:
    d.role_sizes[d.deny_name] = policies.policy_size(d.deny_doc)
    d.steps.append(
        IamCall(
            action=action,
            operation="PutRolePolicy",
            params={
                "RoleName": d.role,
                "PolicyName": d.deny_name,
                "PolicyDocument": d.deny_doc,
            },
            summary=f"Attach inline policy {d.deny_name} to role {d.role}",
        )
    )
    _already_denied_note(d, "role", d.role, d.target.facts.role_denied if d.target.facts else False)
    d.notes.append(
        f"deny_role stops every Bedrock API key made from any session of role {d.role}, "
        "including legitimate ones; the role's other permissions are unchanged."
    )


def _session_principal(d: _Draft) -> tuple[str, str, datetime | None]:
    """("role"|"user", its name, its current cutoff) whose sessions a cutoff applies to: the
    signing role, or the IAM user whose session (GetSessionToken, console) signed the key."""
    facts = d.target.facts
    if guards.user_session_signed(d.target):
        return "user", d.user, facts.user_session_revocation_time if facts else None
    return "role", d.role, facts.session_revocation_time if facts else None


def _revoke_sessions(d: _Draft, action: Action) -> None:
    kind, name = _session_principal(d)[:2]
    wanted_cutoff = _aware(d.revoke_before, "before") if d.revoke_before else d.now
    doc = policies.revoke_older_sessions(wanted_cutoff, now=d.now)
    planned = policies.session_revocation_time(doc)
    assert planned is not None
    cover = covering_cutoff(d.target)
    if cover is not None and planned < cover:
        raise Refused(
            f"Revoking sessions issued before {policies.format_time(planned)} does not stop "
            f"this key: {_covering_reason(d.target)}, and only sessions issued before the "
            f"cutoff are denied. The earliest cutoff that covers it is "
            f"{policies.format_time(cover)}.",
            suggestion=f"Choose {policies.format_time(cover)} or later, or leave it empty (now).",
            field="before",
        )
    existing = _session_principal(d)[2]
    d.cutoff = planned
    sizes = d.user_sizes if kind == "user" else d.role_sizes
    sizes[d.cutoff_name] = policies.policy_size(doc)
    owner = {"UserName": name} if kind == "user" else {"RoleName": name}
    d.steps.append(
        IamCall(
            action=action,
            operation="PutUserPolicy" if kind == "user" else "PutRolePolicy",
            params={**owner, "PolicyName": d.cutoff_name, "PolicyDocument": doc},
            summary=(
                f"Revoke sessions of {kind} {name} issued before {policies.format_time(planned)}"
                f" (inline policy {d.cutoff_name})"
            ),
        )
    )
    if kind == "user":
        d.notes.append(
            f"revoke_sessions denies EVERY action to EVERY session of user {name} issued before "
            f"{policies.format_time(planned)} (GetSessionToken and console sessions); the "
            "user's long-term access keys are not sessions and keep working."
        )
    else:
        d.notes.append(
            f"revoke_sessions denies EVERY action to EVERY session of role {name} issued "
            f"before {policies.format_time(planned)}, legitimate ones included: workloads "
            "using the role must get new credentials."
        )
    if existing is not None:
        # Another cutoff is left exactly as it is: the latest of them all is what applies, and
        # undoing either request leaves the other's in force (nothing ever moves backwards).
        later = " (later; it still applies)" if existing > planned else ""
        d.notes.append(
            f"{kind.title()} {name} already revokes sessions issued before "
            f"{policies.format_time(existing)}{later}. This request adds its own cutoff "
            "beside it and changes no other."
        )


def _covering_reason(target: Target) -> str:
    key, found = target.key, target.signer
    issued = found.session_issued_at if found is not None else None
    if issued is not None and key is not None and key.issued_at and issued <= key.issued_at:
        return f"its session was issued at {policies.format_time(issued)} (CloudTrail)"
    signed = key.issued_at if key and key.issued_at else None
    return f"it was signed at {policies.format_time(signed) if signed else '?'} (X-Amz-Date)"


def _set_access_key_status(d: _Draft, action: Action) -> None:
    key = d.target.key
    access_key = key.access_key_id if key and key.access_key_id else ""
    status = "Inactive" if action is Action.DEACTIVATE_ACCESS_KEY else "Active"
    d.steps.append(
        IamCall(
            action=action,
            operation="UpdateAccessKey",
            params={"UserName": d.user, "AccessKeyId": access_key, "Status": status},
            summary=f"Set access key {access_key} of user {d.user} to {status}",
        )
    )
    if action is Action.DEACTIVATE_ACCESS_KEY:
        d.notes.append(
            f"deactivate_access_key also stops EVERYTHING else signed with access key "
            f"{access_key} of user {d.user}: the CLI, SDKs and any other Bedrock key made from "
            "it. Reactivating it (the undo) restores them."
        )
    else:
        d.notes.append(
            f"reactivate_access_key makes access key {access_key} usable again, and with it "
            "every short-term key it signed that has not expired."
        )


def _set_status(d: _Draft, action: Action) -> None:
    status = "Inactive" if action is Action.DEACTIVATE else "Active"
    d.steps.append(
        IamCall(
            action=action,
            operation="UpdateServiceSpecificCredential",
            params={
                "UserName": d.user,
                "ServiceSpecificCredentialId": d.cred_id,
                "Status": status,
            },
            summary=f"Set key {d.cred_id} of user {d.user} to {status}",
        )
    )
    cred = d.target.credential
    if action is Action.REACTIVATE:
        d.notes.append(f"reactivate makes key {d.cred_id} usable again by whoever holds it.")
    elif cred is not None and cred.expires_at is not None and cred.expired(d.now):
        d.notes.append(f"Key {d.cred_id} has already expired; it cannot be used anyway.")


def _reset(d: _Draft, action: Action) -> None:
    d.steps.append(
        IamCall(
            action=action,
            operation="ResetServiceSpecificCredential",
            params={"UserName": d.user, "ServiceSpecificCredentialId": d.cred_id},
            summary=f"Reset the secret of key {d.cred_id} of user {d.user}",
        )
    )
    if d.destination == "secretsmanager":
        d.notes.append(
            "reset: the leaked secret stops working at once; the new secret is stored "
            f"in AWS Secrets Manager as {secret_name(d.user, d.cred_id)} and never shown."
        )
    else:
        d.notes.append(
            "reset: the leaked secret stops working at once; the new secret is "
            "discarded, nobody will have it (irreversible)."
        )


def _delete(d: _Draft, action: Action) -> None:
    d.steps.append(
        IamCall(
            action=action,
            operation="DeleteServiceSpecificCredential",
            params={"UserName": d.user, "ServiceSpecificCredentialId": d.cred_id},
            summary=f"Delete key {d.cred_id} of user {d.user} (irreversible)",
        )
    )
    d.notes.append(f"delete is permanent: key {d.cred_id} cannot be restored.")


def _own_policies(d: _Draft, action: Action) -> list[tuple[str, str, str]]:
    """(owner kind, owner name, policy name) of the policies the undone request attached for
    `action` (its reversal's original). Only those are removed: a policy of the same kind that
    another request attached is that request's containment."""
    original = next(a for a, undo in REVERSAL.items() if undo is action)
    if d.undoing is None:
        raise Refused(
            f"{action.value} removes the policy one request attached; it is planned as the "
            "undo of that request.",
            suggestion="Use the request's Undo button.",
            field="actions",
        )
    found = []
    for step in d.undoing.steps:
        if step.action is not original or not step.operation.startswith("Put"):
            continue
        p = step.params
        kind, owner = ("user", p["UserName"]) if "UserName" in p else ("role", p["RoleName"])
        found.append((kind, str(owner), str(p["PolicyName"])))
    if not found:
        raise Refused(
            f"The request being undone attached no policy for {original.value}.",
            field="actions",
        )
    return found


def _remove_own_policies(d: _Draft, action: Action) -> None:
    for kind, owner, name in _own_policies(d, action):
        d.steps.append(
            IamCall(
                action=action,
                operation="DeleteUserPolicy" if kind == "user" else "DeleteRolePolicy",
                params={"UserName" if kind == "user" else "RoleName": owner, "PolicyName": name},
                summary=f"Remove inline policy {name} from {kind} {owner}",
            )
        )
        if action is Action.LIFT_SESSION_REVOCATION:
            d.notes.append(
                f"lift_session_revocation removes this request's cutoff from {kind} {owner}: "
                "sessions issued before it work again, including the one the leaked key was made "
                "from if it has not expired, unless another cutoff still covers them."
            )
    d.notes.append(
        "Only the policies the undone request attached are removed; a deny or a cutoff another "
        "request attached stays in place."
    )


# One builder per action: each appends its IAM call(s) and the notes the approver must read.
_STEP_BUILDERS: dict[Action, Callable[[_Draft, Action], None]] = {
    Action.DENY_USER: _deny_user,
    Action.DENY_ROLE: _deny_role,
    Action.REVOKE_SESSIONS: _revoke_sessions,
    Action.DEACTIVATE: _set_status,
    Action.REACTIVATE: _set_status,
    Action.RESET: _reset,
    Action.DELETE: _delete,
    Action.ALLOW_USER: _remove_own_policies,
    Action.ALLOW_ROLE: _remove_own_policies,
    Action.LIFT_SESSION_REVOCATION: _remove_own_policies,
    Action.DEACTIVATE_ACCESS_KEY: _set_access_key_status,
    Action.REACTIVATE_ACCESS_KEY: _set_access_key_status,
}


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
    if target.signer is not None:
        notes.append(_signer_note(target))
    if target.found_by:
        notes.append(target.found_by)
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
                    "at the latest unless revoked (that is its own limit; the session that "
                    "signed it may end sooner)."
                )
        if key.signed_by == "user":
            notes.append(
                f"The key was signed with long-term access key {key.access_key_id}"
                + (f" of user {target.user_name}" if target.user_name else "")
                + ": it can sign new keys until it is deactivated (deactivate_access_key)."
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


def _signer_note(target: Target) -> str:
    found = target.signer
    assert found is not None
    if found.confirmed:
        return signer.describe(found)
    acting_on = f"role {target.role.name}" if target.role else f"user {target.user_name or '?'}"
    return (
        f"The signer could NOT be confirmed: {found.problem}. Searched: {found.searched}. "
        f"Acting on {acting_on} as the requester named it."
    )


def undo_actions(
    plan: RevocationPlan, results: Sequence[StepResult] | None = None
) -> tuple[Action, ...]:
    """What can reverse a plan, in the order an undo plan would run it.

    An undo reverses what this request changed, never what was there before it or what another
    request relies on: with `results`, steps that changed IAM (ok) count, and so does a policy
    step skipped because this request's own policy was already there (a resumed run). A step
    skipped because someone else had already done it (a key already deactivated) or one that
    failed left nothing of this request's to undo. Policies are the request's own by name
    (docs/architecture.md, "Undo and shared containment"); for older requests that wrote the
    shared names, a policy the target already had when the plan was made is not offered.
    """
    done: set[Action] = set()
    for index, step in enumerate(plan.steps):
        outcome = StepOutcome.OK
        if results is not None:
            found = next((r for r in results if r.index == index), None)
            if found is None:
                continue
            outcome = found.outcome
        own = _own_policy(step)
        changed = outcome is StepOutcome.OK or (outcome is StepOutcome.SKIPPED and own)
        if changed and (own or not _was_already_there(plan, step)):
            done.add(step.action)
    return tuple(a for a in ORDER if any(REVERSAL.get(d) is a for d in done))


def _own_policy(step: IamCall) -> bool:
    """A policy this step's request attached under its own name (not a shared legacy name)."""
    name = str(step.params.get("PolicyName") or "")
    if not step.operation.startswith("Put") or not name:
        return False
    return name.startswith(
        (policies.DENY_POLICY_NAME + "-", policies.SESSION_CUTOFF_POLICY_PREFIX + "-")
    )


def _was_already_there(plan: RevocationPlan, step: IamCall) -> bool:
    facts = plan.target.facts
    if facts is None:
        return False
    action = step.action
    if action is Action.DENY_USER:
        return facts.user_denied
    if action is Action.DENY_ROLE:
        return facts.role_denied
    if action is Action.REVOKE_SESSIONS:
        if guards.user_session_signed(plan.target):
            return facts.user_session_revocation_time is not None
        return facts.session_revocation_time is not None
    if action is Action.DEACTIVATE_ACCESS_KEY:
        return facts.access_key_status == "Inactive"
    return False


__all__ = ["ORDER", "parse_actions", "plan", "secret_name", "undo_actions"]
