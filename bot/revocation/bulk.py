"""Bulk scopes: every Bedrock API key of one IAM user, or of a whole account, as one plan.

A leak is rarely one key (a CI secret store, a shared `.env`, a laptop). A scope is resolved
once, at submission, into an explicit list of keys: a snapshot. What is approved is exactly what
runs; a key created after the snapshot is not silently included (run the same scope again to
catch those).

The plan is kept compact so a thousand keys fit in one stored request: the keys (user, id,
status, creation time) and the actions; the IAM calls are derived from them, in a fixed order
(`BulkPlan.calls`), so call `i` is the same call on every replica and after every restart.

Actions for a scope: deactivate (default; reversible), deny_user (once per user), delete
(irreversible). Reset is not offered: IAM keeps no trace of a reset, so a bulk run interrupted
mid-way could not tell which keys it reset.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Literal

from botocore.exceptions import ClientError
from pydantic import Field

from bot import policies, validation
from bot.errors import AwsError, InvalidInput, NotFound, Refused
from bot.keys import redact_secrets
from bot.revocation import iam_reads
from bot.revocation.iam_errors import error_code, explain
from bot.revocation.model import (
    Action,
    Credential,
    Frozen,
    IamCall,
    KeyKind,
    RevocationPlan,
    StepOutcome,
    StepResult,
    Target,
    plan_tag,
)
from bot.revocation.planner import EVENTUAL_CONSISTENCY_NOTE

if TYPE_CHECKING:
    from mypy_boto3_iam import IAMClient

    from bot.aws import AwsClients

# Users the Bedrock console creates for the keys it makes (`BedrockAPIKey-xxxx`).
CONSOLE_USER_PREFIX = "BedrockAPIKey-"

BULK_ACTIONS = (Action.DENY_USER, Action.DEACTIVATE, Action.DELETE)  # in execution order
DEFAULT_BULK_ACTIONS = (Action.DEACTIVATE,)

# How the keys of one scope are shown before approval: this many, then "and N more".
SAMPLE_SIZE = 5


class ScopeFilters(Frozen):
    """Narrow a scope; every filter given must hold for a key to be in it."""

    created_before: datetime | None = None  # keys created strictly before this time
    active_only: bool = False  # Active keys only (not Inactive or Expired)
    console_users_only: bool = False  # keys of console-made `BedrockAPIKey-*` users only

    def admits(self, key: Credential) -> bool:
        if self.active_only and key.status != "Active":
            return False
        if self.console_users_only and not key.user_name.startswith(CONSOLE_USER_PREFIX):
            return False
        if self.created_before is not None:
            return key.created_at is not None and key.created_at < self.created_before
        return True

    def describe(self) -> list[str]:
        said = []
        if self.created_before is not None:
            said.append(f"created before {policies.format_time(self.created_before)}")
        if self.active_only:
            said.append("Active only")
        if self.console_users_only:
            said.append(f"console-made {CONSOLE_USER_PREFIX}* users only")
        return said


class Scope(Frozen):
    kind: Literal["user", "account"]
    user_name: str | None = None  # kind "user"
    account: str | None = None  # configured account name; None = the bot's own account
    filters: ScopeFilters = Field(default_factory=ScopeFilters)

    @property
    def text(self) -> str:
        """As typed: `user:<name>` or `account` (what `bulk plan --scope` takes)."""
        return f"user:{self.user_name}" if self.kind == "user" else "account"

    def describe(self) -> str:
        where = f" in account {self.account}" if self.account else ""
        what = (
            f"every Bedrock API key of IAM user {self.user_name}"
            if self.kind == "user"
            else "every long-term Bedrock API key in the account"
        )
        narrowed = self.filters.describe()
        return what + where + (f" ({', '.join(narrowed)})" if narrowed else "")


def parse_scope(
    text: str,
    *,
    account: str | None = None,
    filters: ScopeFilters | None = None,
    field: str = "scope",
) -> Scope:
    """`user:<name>` or `account`, validated against IAM's user-name pattern before any call."""
    raw = text.strip()
    if raw.lower() == "account":
        return Scope(kind="account", account=account, filters=filters or ScopeFilters())
    prefix, sep, name = raw.partition(":")
    if sep and prefix.strip().lower() == "user":
        user = validation.user_name(name.strip(), field=field)
        return Scope(
            kind="user", user_name=user, account=account, filters=filters or ScopeFilters()
        )
    raise InvalidInput("A scope is user:<IAM user name> or account.", field=field)


def parse_bulk_actions(actions: Iterable[Action | str] | None) -> tuple[Action, ...]:
    """The actions asked for a scope, in execution order; deactivate when none is given."""
    found: set[Action] = set()
    for raw in actions or ():
        try:
            action = Action(raw.strip() if isinstance(raw, str) else raw)
        except ValueError:
            raise InvalidInput(f"Unknown action {str(raw)[:40]!r}.", field="actions") from None
        if action not in BULK_ACTIONS:
            raise Refused(
                f"{action} is not offered for a scope of keys"
                + (
                    ": IAM keeps no trace of a reset, so an interrupted run could not tell which "
                    "keys it reset."
                    if action is Action.RESET
                    else "."
                ),
                suggestion="Use deactivate, deny_user or delete.",
                field="actions",
            )
        found.add(action)
    return tuple(a for a in BULK_ACTIONS if a in found) or DEFAULT_BULK_ACTIONS


class ScopedKey(Frozen):
    """One key of a snapshot: enough to act on it and to show it, nothing more (compact)."""

    user_name: str
    credential_id: str
    status: str  # as IAM listed it at resolution
    created_at: datetime | None = None


class BulkPlan(Frozen):
    """A resolved scope and what to do to it. The calls are derived, never stored one by one."""

    scope: Scope
    account_id: str | None = None
    resolved_at: datetime
    actions: tuple[Action, ...]
    keys: tuple[ScopedKey, ...]
    deny_document: dict[str, Any] | None = None  # deny_user: the policy put on each user
    notes: tuple[str, ...] = ()
    plan_id: str = Field(default_factory=lambda: uuid.uuid4().hex)

    @property
    def deny_policy_name(self) -> str:
        """The deny policy this request puts on each user: its own name, so undoing another
        request never lifts this one's containment."""
        return policies.deny_policy_name(plan_tag(self.plan_id))

    @property
    def users(self) -> tuple[str, ...]:
        return tuple(sorted({k.user_name for k in self.keys}))

    @property
    def call_count(self) -> int:
        per_key = sum(1 for a in self.actions if a is not Action.DENY_USER)
        deny = len(self.users) if Action.DENY_USER in self.actions else 0
        return deny + per_key * len(self.keys)

    def calls(self) -> Iterator[IamCall]:
        """Every IAM call, in order: deny each user, then deactivate each key, then delete each
        key. A phase ends before the next starts (a key is Inactive before it is deleted)."""
        for action in self.actions:
            if action is Action.DENY_USER:
                for user in self.users:
                    yield deny_user_call(user, self.deny_document or {}, self.deny_policy_name)
            else:
                for key in self.keys:
                    yield key_call(action, key)

    def phases(self) -> list[tuple[Action, range]]:
        """Each action with the indexes of its calls; calls of one phase are independent."""
        out: list[tuple[Action, range]] = []
        start = 0
        for action in self.actions:
            n = len(self.users) if action is Action.DENY_USER else len(self.keys)
            out.append((action, range(start, start + n)))
            start += n
        return out

    def request_plan(self) -> RevocationPlan:
        """What a request of this scope stores as its plan: the target and actions (for the
        request's listings and audit); its calls live here, derived from the keys."""
        return self.phase_plan(None, range(0))

    def phase_plan(self, action: Action | None, indexes: range) -> RevocationPlan:
        """One phase as the executor runs it: call `i` of the phase is step `i - start`."""
        return RevocationPlan(
            target=Target(
                kind=KeyKind.LONG_TERM,
                account=self.scope.account,
                account_id=self.account_id,
                user_name=self.scope.user_name,
            ),
            actions=(action,) if action is not None else self.actions,
            steps=tuple(self.call(i) for i in indexes),
            notes=self.notes if action is None else (),
            created_at=self.resolved_at,
            plan_id=self.plan_id,
        )

    def key_of(self, index: int) -> tuple[Action, ScopedKey | None, str]:
        """The action of call `index`, its key (None for a user's deny) and its user."""
        for action, indexes in self.phases():
            if index in indexes:
                offset = index - indexes.start
                if action is Action.DENY_USER:
                    return action, None, self.users[offset]
                key = self.keys[offset]
                return action, key, key.user_name
        raise IndexError(index)

    def undo(self, results: Iterable[KeyResult]) -> BulkPlan | None:
        """Reactivate exactly the keys this run deactivated (done, not found already Inactive);
        None when it deactivated none."""
        phase = dict(self.phases()).get(Action.DEACTIVATE)
        if phase is None or Action.DELETE in self.actions:
            return None  # nothing deactivated, or the keys are deleted: nothing to reactivate
        done = sorted(r.i for r in results if r.i in phase and r.o is KeyOutcome.DONE)
        if not done:
            return None
        return self.model_copy(
            update={
                "actions": (Action.REACTIVATE,),
                "keys": tuple(self.keys[i - phase.start] for i in done),
                "deny_document": None,
                "notes": (
                    f"Reactivates the {len(done)} keys this request deactivated, and only "
                    "those: keys that were already Inactive stay as they are.",
                ),
                "plan_id": uuid.uuid4().hex,
            }
        )

    def failures(self, results: Iterable[KeyResult]) -> BulkPlan | None:
        """The same actions on the keys (and users) whose calls failed; None when none did."""
        failed_keys: set[str] = set()
        failed_users: set[str] = set()
        for r in results:
            if r.o is KeyOutcome.ERROR:
                _, key, user = self.key_of(r.i)
                if key is None:
                    failed_users.add(user)
                else:
                    failed_keys.add(key.credential_id)
        keys = tuple(
            k for k in self.keys if k.credential_id in failed_keys or k.user_name in failed_users
        )
        if not keys:
            return None
        return self.model_copy(
            update={
                "keys": keys,
                "notes": (
                    f"Retries the {len(keys)} keys whose calls failed; every call reads IAM "
                    "first, so what did succeed meanwhile is found in place and left alone.",
                    *self.notes[1:],
                ),
                "plan_id": uuid.uuid4().hex,
            }
        )

    def call(self, index: int) -> IamCall:
        for action, indexes in self.phases():
            if index in indexes:
                offset = index - indexes.start
                if action is Action.DENY_USER:
                    return deny_user_call(
                        self.users[offset], self.deny_document or {}, self.deny_policy_name
                    )
                return key_call(action, self.keys[offset])
        raise IndexError(index)


class KeyOutcome(StrEnum):
    DONE = "done"  # IAM changed as asked
    ALREADY = "already"  # already in the wanted state; nothing changed
    ERROR = "error"


class KeyResult(Frozen):
    """One call's result, compact: a thousand of them ride in one stored request."""

    i: int  # the call's index in BulkPlan.calls()
    o: KeyOutcome
    code: str | None = None  # IAM's error code
    msg: str | None = None  # errors only: IAM's message, shortened

    @classmethod
    def of(cls, index: int, step: StepResult) -> KeyResult:
        outcome = {
            StepOutcome.OK: KeyOutcome.DONE,
            StepOutcome.SKIPPED: KeyOutcome.ALREADY,
            StepOutcome.ERROR: KeyOutcome.ERROR,
        }[step.outcome]
        if outcome is not KeyOutcome.ERROR:
            return cls(i=index, o=outcome)
        message = redact_secrets(step.message)
        if len(message) > MESSAGE_LIMIT:
            message = message[: MESSAGE_LIMIT - 1] + "…"
        return cls(i=index, o=outcome, code=step.error_code, msg=message)


MESSAGE_LIMIT = 300


def deny_user_call(user: str, document: dict[str, Any], policy_name: str) -> IamCall:
    return IamCall(
        action=Action.DENY_USER,
        operation="PutUserPolicy",
        params={"UserName": user, "PolicyName": policy_name, "PolicyDocument": document},
        summary=f"Attach inline policy {policy_name} to user {user}",
    )


def key_call(action: Action, key: ScopedKey) -> IamCall:
    ids = {"UserName": key.user_name, "ServiceSpecificCredentialId": key.credential_id}
    if action is Action.DELETE:
        return IamCall(
            action=action,
            operation="DeleteServiceSpecificCredential",
            params=ids,
            summary=f"Delete key {key.credential_id} of user {key.user_name}",
        )
    status = "Active" if action is Action.REACTIVATE else "Inactive"
    assert action in (Action.DEACTIVATE, Action.REACTIVATE), action
    return IamCall(
        action=action,
        operation="UpdateServiceSpecificCredential",
        params={**ids, "Status": status},
        summary=f"Set key {key.credential_id} of user {key.user_name} to {status}",
    )


# IAM's largest page: a 1,000-key account is listed in one call instead of ten.
LIST_PAGE_SIZE = 1000


def scoped_keys(
    iam: IAMClient, scope: Scope, *, page_size: int = LIST_PAGE_SIZE
) -> list[ScopedKey]:
    """The keys in scope now, in a stable order (user, then creation, then id)."""
    if scope.kind == "user":
        assert scope.user_name is not None
        listed: Iterable[Credential] = iam_reads.user_credentials(iam, scope.user_name)
    else:
        listed = iam_reads.all_credentials(iam, page_size=page_size)
    found = [
        ScopedKey(
            user_name=c.user_name,
            credential_id=c.credential_id,
            status=c.status,
            created_at=c.created_at,
        )
        for c in listed
        if scope.filters.admits(c)
    ]
    epoch = datetime.min.replace(tzinfo=UTC)
    found.sort(key=lambda k: (k.user_name, k.created_at or epoch, k.credential_id))
    return found


def resolve_sync(
    clients: AwsClients,
    scope: Scope,
    actions: Sequence[Action | str] | None = None,
    *,
    deny_actions: Sequence[str] | None = None,
    now: datetime | None = None,
    request_id: str | None = None,
    page_size: int = LIST_PAGE_SIZE,
) -> BulkPlan:
    """Snapshot the scope in IAM (read-only) and plan `actions` on it. Raises NotFound for an
    absent user, Refused for an empty scope or an action not offered, AwsError when IAM refuses
    the reads."""
    wanted = parse_bulk_actions(actions)
    now = now or datetime.now(UTC)
    iam = clients.iam(scope.account, request_id=request_id)
    try:
        account_id = clients.caller_identity(scope.account, request_id=request_id).account_id
        keys = scoped_keys(iam, scope, page_size=page_size)
    except ClientError as exc:
        if scope.kind == "user" and error_code(exc) == "NoSuchEntity":
            raise NotFound(f"There is no IAM user {scope.user_name}.", field="scope") from None
        e = explain(exc, operation="ListServiceSpecificCredentials", resource=scope.describe())
        raise AwsError(e.message, code=e.code or "error", request_id=e.request_id) from None
    if not keys:
        raise Refused(
            f"Nothing to do: no Bedrock API key matches {scope.describe()}.",
            field="scope",
        )
    deny_doc = None
    if Action.DENY_USER in wanted:
        deny_doc = (
            policies.deny_bearer_token(deny_actions)
            if deny_actions
            else policies.deny_bearer_token()
        )
    notes = [
        f"Snapshot of {scope.describe()} taken at {policies.format_time(now)}: keys created "
        "after it are not included. Run the same scope again to catch those.",
    ]
    if Action.DENY_USER in wanted:
        notes.append(
            f"deny_user attaches {policies.DENY_POLICY_NAME}-<this request's tag> once to each "
            "of the "
            f"{len({k.user_name for k in keys})} users: it stops every Bedrock API key of the "
            "user, also keys made after the snapshot. The users' other permissions are unchanged."
        )
    if Action.DELETE in wanted:
        notes.append("delete is irreversible: a deleted key cannot be restored or undone.")
    notes.append(EVENTUAL_CONSISTENCY_NOTE)
    return BulkPlan(
        scope=scope,
        account_id=account_id,
        resolved_at=now,
        actions=wanted,
        keys=tuple(keys),
        deny_document=deny_doc,
        notes=tuple(notes),
    )


def plan_json(plan: BulkPlan) -> dict[str, Any]:
    """The plan as automation reviews it: the scope, every key, every IAM call, exactly."""
    return {
        "scope": plan.scope.text,
        "account": plan.scope.account,
        "account_id": plan.account_id,
        "filters": plan.scope.filters.model_dump(mode="json"),
        "resolved_at": plan.resolved_at.isoformat(),
        "actions": [a.value for a in plan.actions],
        "counts": {
            "keys": len(plan.keys),
            "users": len(plan.users),
            "calls": plan.call_count,
            "by_status": _by_status(plan.keys),
        },
        "keys": [k.model_dump(mode="json") for k in plan.keys],
        "calls": [
            {"action": c.action.value, "operation": c.operation, "params": c.params}
            for c in plan.calls()
        ],
        "notes": list(plan.notes),
    }


def _by_status(keys: Iterable[ScopedKey]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for k in keys:
        counts[k.status] = counts.get(k.status, 0) + 1
    return dict(sorted(counts.items()))
