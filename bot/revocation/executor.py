"""Execution: run a plan's IAM calls, each idempotent or guarded by a read first.

Every step runs even when an earlier one failed. The steps are independent layers of the same
revocation (a user-level deny, the key's status, the key itself): when the bot lacks permission
for one, the others still stop the leaked key, and stopping half-way would leave it working for
no gain. A failure never hides what ran before it; each step reports its own outcome.

Re-running a plan changes nothing: each step first reads the state it is about to set and is
reported `skipped` when that state is already there (key already Inactive or deleted, the same
policy already attached, a later session-revocation time already in place, the policy to remove
already gone). Reset cannot be checked that way (IAM shows no trace of a reset): the runner
(`bot.runner`) records in the request store that a reset is being attempted before it calls
`run_step`, and never runs an attempted reset again.

Reset's new secret never appears in a result, a log line, an exception or a repr: it is held in
one local variable, then dropped or handed to Secrets Manager, and bot.aws's log filter withholds
botocore's debug dumps of the bodies that carry it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from bot import policies
from bot.aws import AwsClients
from bot.revocation.iam_errors import error_code, explain, request_id_of
from bot.revocation.iam_reads import (
    access_key_status,
    find_credential,
    role_policy,
    user_policy,
)
from bot.revocation.model import (
    IamCall,
    RevocationPlan,
    StepOutcome,
    StepResult,
    covering_cutoff,
)
from bot.revocation.planner import secret_name

if TYPE_CHECKING:
    from mypy_boto3_iam import IAMClient
    from mypy_boto3_secretsmanager import SecretsManagerClient

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Outcome:
    outcome: StepOutcome
    message: str
    request_id: str | None = None
    error_code: str | None = None
    secret_arn: str | None = None


def _ok(message: str, response: Any = None) -> _Outcome:
    return _Outcome(StepOutcome.OK, message, request_id_of(response))


def _skip(message: str, response: Any = None) -> _Outcome:
    return _Outcome(StepOutcome.SKIPPED, message, request_id_of(response))


def _resource(step: IamCall) -> str:
    p = step.params
    if "AccessKeyId" in p:
        return f"access key {p['AccessKeyId']} of user {p.get('UserName')}"
    if "ServiceSpecificCredentialId" in p:
        return f"key {p['ServiceSpecificCredentialId']} of user {p.get('UserName')}"
    if "RoleName" in p:
        return f"role {p['RoleName']}"
    return f"user {p.get('UserName')}"


class _Step:
    """The guarded implementation of one IamCall."""

    def __init__(
        self,
        clients: AwsClients,
        plan: RevocationPlan,
        index: int,
        step: IamCall,
        request_id: str | None,
        iam: IAMClient | None = None,
        known: tuple[bool, str | None] | None = None,
    ) -> None:
        self.plan = plan
        self.index = index
        self.step = step
        self.p = step.params
        self.account = plan.target.account
        self.clients = clients
        self.request_id = request_id
        self.iam: IAMClient = iam or clients.iam(self.account, request_id=request_id)
        self.known = known

    def run(self) -> _Outcome:
        op = self.step.operation
        handler: Callable[[], _Outcome] | None = {
            "UpdateServiceSpecificCredential": self._update,
            "ResetServiceSpecificCredential": self._reset,
            "DeleteServiceSpecificCredential": self._delete,
            "PutUserPolicy": self._put_user_policy,
            "PutRolePolicy": self._put_role_policy,
            "DeleteUserPolicy": self._remove_policy,
            "DeleteRolePolicy": self._remove_policy,
            "UpdateAccessKey": self._update_access_key,
        }.get(op)
        if handler is None:
            return _Outcome(
                StepOutcome.ERROR, f"{op} is not an operation this bot runs.", None, "Unsupported"
            )
        return handler()

    # -- credentials -----------------------------------------------------------------------

    def _current(self) -> tuple[bool, str | None]:
        """(user exists, the key's status or None when absent): read now, or as a bulk run
        read it for its whole phase in one listing just before."""
        if self.known is not None:
            return self.known
        try:
            cred = find_credential(
                self.iam, self.p["UserName"], self.p["ServiceSpecificCredentialId"]
            )
        except ClientError as exc:
            if error_code(exc) == "NoSuchEntity":
                return False, None
            raise
        return True, cred.status if cred else None

    def _update(self) -> _Outcome:
        wanted = self.p["Status"]
        cid, user = self.p["ServiceSpecificCredentialId"], self.p["UserName"]
        user_exists, status = self._current()
        if status is None:
            gone = f"Key {cid} no longer exists" + ("" if user_exists else f" (nor user {user})")
            if wanted == "Inactive":
                return _skip(f"{gone}; it cannot be used, nothing to deactivate.")
            return _Outcome(
                StepOutcome.ERROR,
                f"{gone}; a deleted key cannot be reactivated.",
                None,
                "NoSuchEntity",
            )
        if status == wanted:
            return _skip(f"Key {cid} of user {user} is already {wanted}.")
        if status == "Expired":
            if wanted == "Inactive":
                return _skip(f"Key {cid} has expired; it cannot be used, nothing to deactivate.")
            return _Outcome(
                StepOutcome.ERROR,
                f"Key {cid} has expired and cannot be reactivated.",
                None,
                "Expired",
            )
        answer = self.iam.update_service_specific_credential(**self.p)
        return _ok(f"Key {cid} of user {user} is now {wanted} (was {status}).", answer)

    def _reset(self) -> _Outcome:
        cid, user = self.p["ServiceSpecificCredentialId"], self.p["UserName"]
        _, status = self._current()
        if status is None:
            return _skip(f"Key {cid} no longer exists; the leaked secret cannot be used.")
        if status == "Expired":
            return _skip(f"Key {cid} has expired; it cannot be reset and cannot be used.")
        answer: Any = self.iam.reset_service_specific_credential(**self.p)
        rid = request_id_of(answer)
        fresh = answer.get("ServiceSpecificCredential") or {}
        secret = fresh.get("ServiceCredentialSecret") or fresh.get("ServicePassword")
        # Drop every other reference to the response, which holds the secret too.
        answer = fresh = None
        reset = f"Key {cid} of user {user} was reset: the leaked secret no longer works"
        if self.plan.reset_secret_destination != "secretsmanager" or not secret:  # noqa: S105
            secret = None
            return _Outcome(
                StepOutcome.OK, f"{reset}; the new secret was discarded; nobody has it.", rid
            )
        name = secret_name(user, cid)
        try:
            arn = _store_secret(
                self.clients.secretsmanager(self.account, request_id=self.request_id),
                name,
                secret,
                cid,
            )
        except Exception as exc:
            e = explain(
                exc, operation="PutSecretValue", resource=f"secret {name}", service="secretsmanager"
            )
            return _Outcome(
                StepOutcome.ERROR,
                f"{reset}, but storing the new secret failed: {e.message} The new secret was "
                "discarded; nobody has it.",
                rid,
                e.code,
            )
        finally:
            secret = None
        return _Outcome(
            StepOutcome.OK,
            f"{reset}; the new secret is in AWS Secrets Manager: {arn}",
            rid,
            secret_arn=arn,
        )

    def _delete(self) -> _Outcome:
        cid, user = self.p["ServiceSpecificCredentialId"], self.p["UserName"]
        _, status = self._current()
        if status is None:
            return _skip(f"Key {cid} is already deleted.")
        try:
            answer = self.iam.delete_service_specific_credential(**self.p)
        except ClientError as exc:
            if error_code(exc) == "NoSuchEntity":
                return _skip(f"Key {cid} is already deleted.", exc.response)
            raise
        return _ok(f"Key {cid} of user {user} was deleted (it was {status}).", answer)

    # -- policies ------------------------------------------------------------------------------

    def _put_user_policy(self) -> _Outcome:
        user = self.p["UserName"]
        return self._put_policy(
            "user",
            user,
            user_policy(self.iam, user, self.p["PolicyName"]),
            lambda text: self.iam.put_user_policy(
                UserName=user, PolicyName=self.p["PolicyName"], PolicyDocument=text
            ),
        )

    def _put_role_policy(self) -> _Outcome:
        role = self.p["RoleName"]
        return self._put_policy(
            "role",
            role,
            role_policy(self.iam, role, self.p["PolicyName"]),
            lambda text: self.iam.put_role_policy(
                RoleName=role, PolicyName=self.p["PolicyName"], PolicyDocument=text
            ),
        )

    def _put_policy(
        self, kind: str, owner: str, current: dict[str, Any] | None, put: Callable[[str], Any]
    ) -> _Outcome:
        name, doc = self.p["PolicyName"], self.p["PolicyDocument"]
        if policies.is_session_cutoff_policy(name):
            # Checked again here, not only when planning: a cutoff that does not cover the key
            # would be reported done while the key keeps working.
            planned = policies.session_revocation_time(doc)
            cover = covering_cutoff(self.plan.target)
            if cover is not None and (planned is None or planned < cover):
                return _Outcome(
                    StepOutcome.ERROR,
                    f"Not written: a cutoff of {policies.format_time(planned) if planned else '?'}"
                    f" does not cover the leaked key (the earliest that does is "
                    f"{policies.format_time(cover)}).",
                    None,
                    "CutoffTooEarly",
                )
        if current is not None and policies.same_policy(current, doc):
            return _skip(f"{kind.title()} {owner} already has policy {name} as planned.")
        if policies.is_session_cutoff_policy(name) and current is not None:
            # Time passed between plan and approval: someone (or the console) may have set a
            # later cutoff meanwhile. Never move it backwards.
            existing = policies.session_revocation_time(current)
            planned = policies.session_revocation_time(doc)
            if existing is not None and planned is not None and existing >= planned:
                return _skip(
                    f"{kind.title()} {owner} already revokes sessions issued before "
                    f"{policies.format_time(existing)}, not earlier than the planned "
                    f"{policies.format_time(planned)}; kept the later time."
                )
        answer = put(policies.to_compact_json(doc))
        if policies.is_session_cutoff_policy(name):
            cutoff = policies.session_revocation_time(doc)
            when = policies.format_time(cutoff) if cutoff else "?"
            return _ok(f"Sessions of {kind} {owner} issued before {when} are now denied.", answer)
        how = "replaced" if current is not None else "attached"
        return _ok(f"Policy {name} {how} on {kind} {owner}.", answer)

    # -- access keys -------------------------------------------------------------------------

    def _update_access_key(self) -> _Outcome:
        user, access_key, wanted = self.p["UserName"], self.p["AccessKeyId"], self.p["Status"]
        try:
            status = access_key_status(self.iam, user, access_key)
        except ClientError as exc:
            if error_code(exc) != "NoSuchEntity":
                raise
            status = None
        if status is None:
            gone = f"Access key {access_key} of user {user} no longer exists"
            if wanted == "Inactive":
                return _skip(f"{gone}; it cannot sign anything, nothing to deactivate.")
            return _Outcome(
                StepOutcome.ERROR,
                f"{gone}; a deleted access key cannot be reactivated.",
                None,
                "NoSuchEntity",
            )
        if status == wanted:
            return _skip(f"Access key {access_key} of user {user} is already {wanted}.")
        answer = self.iam.update_access_key(UserName=user, AccessKeyId=access_key, Status=wanted)
        return _ok(
            f"Access key {access_key} of user {user} is now {wanted} (was {status}).", answer
        )

    def _remove_policy(self) -> _Outcome:
        name = self.p["PolicyName"]
        try:
            if "UserName" in self.p:
                kind, owner = "user", self.p["UserName"]
                answer = self.iam.delete_user_policy(UserName=owner, PolicyName=name)
            else:
                kind, owner = "role", self.p["RoleName"]
                answer = self.iam.delete_role_policy(RoleName=owner, PolicyName=name)
        except ClientError as exc:
            if error_code(exc) == "NoSuchEntity":
                return _skip(
                    f"{kind.title()} {owner} has no policy {name}; nothing to remove.", exc.response
                )
            raise
        return _ok(f"Policy {name} removed from {kind} {owner}.", answer)


def _store_secret(sm: SecretsManagerClient, name: str, secret: str, credential_id: str) -> str:
    """Put the secret under `name` (creating it the first time); returns the secret's ARN."""
    try:
        answer = sm.put_secret_value(SecretId=name, SecretString=secret)
        return answer["ARN"]
    except ClientError as exc:
        if error_code(exc) != "ResourceNotFoundException":
            raise
    created = sm.create_secret(
        Name=name,
        SecretString=secret,
        Description=f"Bedrock API key {credential_id}: secret set by bedrock-key-revoker's reset",
    )
    return created["ARN"]


def _caller_arn(clients: AwsClients, account: str | None, request_id: str | None) -> str | None:
    try:
        return clients.caller_identity(account, request_id=request_id).arn
    except Exception:  # only decorates an error message; its own failure must not mask that one
        return None


def run_step(
    clients: AwsClients,
    plan: RevocationPlan,
    index: int,
    *,
    request_id: str | None = None,
    iam: IAMClient | None = None,
    known: tuple[bool, str | None] | None = None,
) -> StepResult:
    """Run step `index` of `plan` (blocking: call it off the event loop). Every failure becomes
    the step's result, in plain words with IAM's error code and request id. `iam`: the client
    to use instead of the account's usual one (a bulk run's, with adaptive retries). `known`:
    (user exists, key status) of a key step, read for many keys in one listing just before,
    instead of the step's own read."""
    step = plan.steps[index]
    try:
        out = _Step(clients, plan, index, step, request_id, iam, known).run()
    except Exception as exc:
        e = explain(
            exc,
            operation=step.operation,
            resource=_resource(step),
            caller_arn=_caller_arn(clients, plan.target.account, request_id),
        )
        out = _Outcome(StepOutcome.ERROR, e.message, e.request_id, e.code)
    result = StepResult(
        index=index,
        operation=step.operation,
        outcome=out.outcome,
        message=out.message,
        error_code=out.error_code,
        request_id=out.request_id,
        action=step.action,
        secret_arn=out.secret_arn,
    )
    log.info(
        "revocation step %d %s %s: %s%s",
        index,
        step.operation,
        result.outcome.value,
        result.error_code or "ok",
        f" (request id {result.request_id})" if result.request_id else "",
    )
    return result


def execute_sync(
    clients: AwsClients, plan: RevocationPlan, *, request_id: str | None = None
) -> tuple[StepResult, ...]:
    """Every step of `plan` in order, each even when an earlier one failed."""
    return tuple(
        run_step(clients, plan, index, request_id=request_id) for index in range(len(plan.steps))
    )


async def execute(
    clients: AwsClients, plan: RevocationPlan, *, request_id: str | None = None
) -> tuple[StepResult, ...]:
    """Run every step of `plan`, off the event loop; one StepResult per step, in order."""
    return await asyncio.to_thread(execute_sync, clients, plan, request_id=request_id)
