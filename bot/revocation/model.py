"""The revocation domain as plain data: targets, actions, plans, results, verification.

Everything here is a frozen pydantic model so a plan round-trips through the request store as JSON
and the plan an approver reads is, byte for byte, the plan that runs.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class KeyKind(StrEnum):
    LONG_TERM = "long_term"  # IAM service-specific credential of a user
    SHORT_TERM = "short_term"  # presigned URL signed by a role session (or a user's AKIA key)


class Action(StrEnum):
    # long-term keys
    DEACTIVATE = "deactivate"
    RESET = "reset"
    DELETE = "delete"
    DENY_USER = "deny_user"
    # short-term keys
    DENY_ROLE = "deny_role"
    REVOKE_SESSIONS = "revoke_sessions"  # on the signing role, or the signing user's sessions
    DEACTIVATE_ACCESS_KEY = "deactivate_access_key"  # the AKIA key that signed a short-term key
    # reversals (each an undo request of its own, with its own approval)
    REACTIVATE = "reactivate"
    ALLOW_USER = "allow_user"  # remove our deny policy from the user
    ALLOW_ROLE = "allow_role"  # remove our deny policy from the role
    LIFT_SESSION_REVOCATION = "lift_session_revocation"
    REACTIVATE_ACCESS_KEY = "reactivate_access_key"


LONG_TERM_ACTIONS = (Action.DEACTIVATE, Action.RESET, Action.DELETE, Action.DENY_USER)
# deny_user and deactivate_access_key apply when the signer is an IAM user (its session, or its
# long-term AKIA key); the guards refuse what does not fit the signer found.
SHORT_TERM_ACTIONS = (
    Action.DENY_ROLE,
    Action.REVOKE_SESSIONS,
    Action.DENY_USER,
    Action.DEACTIVATE_ACCESS_KEY,
)

# What undoes what. Irreversible actions (reset, delete) are absent.
REVERSAL: dict[Action, Action] = {
    Action.DEACTIVATE: Action.REACTIVATE,
    Action.DENY_USER: Action.ALLOW_USER,
    Action.DENY_ROLE: Action.ALLOW_ROLE,
    Action.REVOKE_SESSIONS: Action.LIFT_SESSION_REVOCATION,
    Action.DEACTIVATE_ACCESS_KEY: Action.REACTIVATE_ACCESS_KEY,
}

ACTION_LABELS: dict[Action, str] = {
    Action.DEACTIVATE: "Deactivate the key (reversible)",
    Action.RESET: "Reset the key's secret (irreversible)",
    Action.DELETE: "Delete the key (irreversible)",
    Action.DENY_USER: "Deny API-key use to the key's IAM user (reversible)",
    Action.DENY_ROLE: "Deny API-key use to the signing role (reversible)",
    Action.REVOKE_SESSIONS: "Revoke the signer's sessions issued before now (reversible)",
    Action.DEACTIVATE_ACCESS_KEY: "Deactivate the signing user's access key (reversible)",
    Action.REACTIVATE: "Reactivate the key",
    Action.ALLOW_USER: "Remove the deny policy from the IAM user",
    Action.ALLOW_ROLE: "Remove the deny policy from the role",
    Action.LIFT_SESSION_REVOCATION: "Lift the session revocation",
    Action.REACTIVATE_ACCESS_KEY: "Reactivate the signing user's access key",
}


class DecodedKey(Frozen):
    """What a pasted leaked key decodes to. Never holds the key or its secret part."""

    kind: KeyKind
    fingerprint: str  # first 8 hex chars of SHA-256 of the whole key string
    # long-term
    alias: str | None = None
    user_name: str | None = None
    account_id: str | None = None
    # short-term
    access_key_id: str | None = None
    signed_by: str | None = None  # "session" (ASIA...) or "user" (AKIA...)
    region: str | None = None
    issued_at: datetime | None = None
    expires_at: datetime | None = None
    expired: bool | None = None


class Credential(Frozen):
    """A long-term Bedrock API key as IAM lists it (no secret is ever listed)."""

    credential_id: str
    user_name: str
    status: str  # Active | Inactive | Expired
    alias: str | None = None
    created_at: datetime | None = None
    expires_at: datetime | None = None

    def expired(self, now: datetime) -> bool:
        return self.status == "Expired" or (self.expires_at is not None and self.expires_at <= now)


class Role(Frozen):
    name: str
    arn: str
    path: str


class IdentifierType(StrEnum):
    """What a responder typed into the identifier field."""

    KEY = "key"  # a pasted leaked key (decoded locally, never kept)
    CREDENTIAL_ID = "credential_id"
    USER = "user"
    ROLE = "role"  # a role name or ARN


class InlinePolicy(Frozen):
    """An inline policy already on the target's user or role, as IAM counts it for quotas."""

    name: str
    size: int  # characters, whitespace excluded


class SignerKind(StrEnum):
    ROLE = "role"  # an assumed-role session
    USER = "user"  # an IAM user: its long-term access key, or its GetSessionToken/console session
    IDENTITY_CENTER = "identity_center"  # a session of an AWSReservedSSO_* role
    OTHER = "other"  # root, a federated user, a service: no IAM policy of ours applies


class Evidence(Frozen):
    """Where the signer was read: one CloudTrail event, or IAM's own answer."""

    source: str  # "CloudTrail LookupEvents" or "IAM GetAccessKeyLastUsed"
    event_name: str | None = None
    event_source: str | None = None
    event_time: datetime | None = None
    region: str | None = None
    event_id: str | None = None
    bearer_token: bool = False  # the event is a call made with a Bedrock API key


class Signer(Frozen):
    """Who signed a short-term key: found with its evidence, or why it could not be confirmed."""

    confirmed: bool
    kind: SignerKind | None = None
    name: str | None = None  # role name or user name
    arn: str | None = None  # the role's or the user's ARN (not the session's)
    account_id: str | None = None
    session_issued_at: datetime | None = None  # sessionContext.attributes.creationDate
    evidence: Evidence | None = None
    searched: str | None = None  # what was searched, in words
    problem: str | None = None  # why it is not confirmed, in words


class Facts(Frozen):
    """What resolution saw in IAM besides the target itself; the guards decide from these."""

    resolved_at: datetime
    caller_arn: str | None = None  # who the tool is in the target account
    caller_role_name: str | None = None  # the role behind caller_arn, when it is an assumed role
    # Every role the bot runs as or assumes, in any account (`AwsClients.bot_roles`).
    bot_roles: tuple[str, ...] = ()
    # Inline policies already on the target's user and role (each IAM quota counts them all).
    user_inline_policies: tuple[InlinePolicy, ...] = ()
    role_inline_policies: tuple[InlinePolicy, ...] = ()
    user_denied: bool = False  # one of our deny policies is already on the user
    role_denied: bool = False  # one of our deny policies is already on the role
    # The latest aws:TokenIssueTime cutoff among the role's session-cutoff policies, if any.
    session_revocation_time: datetime | None = None
    # The same on the user, for a key signed by an IAM user's session.
    user_session_revocation_time: datetime | None = None
    # The signing AKIA key's status (Active/Inactive) when the key was signed with one.
    access_key_status: str | None = None


class Target(Frozen):
    """What a revocation acts on, as resolved against IAM."""

    kind: KeyKind
    account: str | None = None  # configured account name; None = the tool's own account
    account_id: str | None = None
    user_name: str | None = None  # long-term: the credential's owner, or the user asked for
    credential: Credential | None = None  # long-term: the key itself when known
    other_credentials: tuple[Credential, ...] = ()  # the user's other Bedrock keys, for context
    role: Role | None = None  # short-term: the role whose session signed the key
    key: DecodedKey | None = None  # set when the responder pasted a key
    facts: Facts | None = None  # set by resolution; None for a hand-made target
    signer: Signer | None = None  # short-term key: who signed it, and the evidence
    found_by: str | None = None  # how the key was found, when not the obvious way


def covering_cutoff(target: Target) -> datetime | None:
    """The earliest session cutoff that stops the target's short-term key, when a key was given
    (its signing time, or the session's issue time CloudTrail showed); None otherwise."""
    from bot.policies import earliest_covering_cutoff

    key = target.key
    if target.kind is not KeyKind.SHORT_TERM or key is None or key.issued_at is None:
        return None
    session = target.signer.session_issued_at if target.signer is not None else None
    if session is not None and session > key.issued_at:
        session = None  # a session cannot be issued after a key it signed: not this one
    return earliest_covering_cutoff(key.issued_at, session)


class IamCall(Frozen):
    """One IAM call of a plan, with exactly the parameters it will be made with."""

    action: Action
    operation: str  # boto3 client method's API name, e.g. "UpdateServiceSpecificCredential"
    params: dict[str, Any]  # PascalCase, as boto3 takes them; PolicyDocument kept as a dict
    summary: str  # one line for people: "Set key ACCA… of alice to Inactive"

    @property
    def policy_document(self) -> dict[str, Any] | None:
        doc = self.params.get("PolicyDocument")
        return doc if isinstance(doc, dict) else None


def plan_tag(plan_id: str) -> str:
    """The suffix of the policies a plan attaches: short, and unique enough within one principal."""
    return plan_id[:12]


class RevocationPlan(Frozen):
    target: Target
    actions: tuple[Action, ...]
    steps: tuple[IamCall, ...]
    notes: tuple[str, ...] = ()  # warnings a human must read (e.g. what revoke_sessions also stops)
    created_at: datetime
    # Identifies this plan to the executor so a reset (which IAM cannot make idempotent) is not
    # repeated when the same plan is executed twice in one process.
    plan_id: str = Field(default_factory=lambda: uuid.uuid4().hex)
    revoke_before: datetime | None = None  # revoke_sessions: the cutoff T, when planned
    # reset: where the new secret goes; part of the plan so the approver sees it.
    reset_secret_destination: Literal["discard", "secretsmanager"] = "discard"  # noqa: S105


class StepOutcome(StrEnum):
    OK = "ok"
    SKIPPED = "skipped"  # already in the wanted state; nothing changed
    ERROR = "error"


class StepResult(Frozen):
    index: int
    operation: str
    outcome: StepOutcome
    message: str  # plain words: IAM's answer or what went wrong
    error_code: str | None = None
    request_id: str | None = None  # IAM's request id, for CloudTrail
    action: Action | None = None  # the action this step belongs to
    secret_arn: str | None = None  # reset to Secrets Manager: where the new secret is (never it)


class Check(Frozen):
    description: str
    action: Action | None = None
    holds: bool
    observed: str


class Verification(Frozen):
    checks: tuple[Check, ...]

    @property
    def holds(self) -> bool:
        return all(c.holds for c in self.checks)


# The error code of a step whose call may or may not have been made (its run was interrupted).
OUTCOME_UNKNOWN = "OutcomeUnknown"


class ExecutionReport(Frozen):
    results: tuple[StepResult, ...]
    verification: Verification
    started_at: datetime
    finished_at: datetime

    @property
    def status(self) -> str:
        """completed | partial | failed, from what ran and what verification saw. A step whose
        outcome is unknown may have taken effect: never "failed", never "completed"."""
        ok = [r for r in self.results if r.outcome is not StepOutcome.ERROR]
        if len(ok) == len(self.results) and self.verification.holds:
            return "completed"
        if ok or any(r.error_code == OUTCOME_UNKNOWN for r in self.results):
            return "partial"
        return "failed"
