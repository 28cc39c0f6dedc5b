"""Verification: re-read IAM after execution and say, per step, whether the end state holds.

IAM is eventually consistent: a read right after a write can, rarely, still show the old state.
A check that fails for a step that did not itself fail is read again after a short pause (the
`settle_delays`), so a slow replica does not turn a completed revocation into a false alarm.
Checks for steps that failed are not retried: their failure is expected and already explained.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from bot import policies
from bot.aws import AwsClients
from bot.revocation.iam_errors import error_code, explain
from bot.revocation.iam_reads import (
    access_key_status,
    find_credential,
    role_policy,
    user_policy,
)
from bot.revocation.model import (
    Check,
    IamCall,
    RevocationPlan,
    StepOutcome,
    StepResult,
    Verification,
    covering_cutoff,
)

if TYPE_CHECKING:
    from mypy_boto3_iam import IAMClient

DEFAULT_SETTLE_DELAYS: tuple[float, ...] = (1.0, 2.0)


def _credential_state(iam: IAMClient, user: str, cid: str) -> str | None:
    try:
        cred = find_credential(iam, user, cid)
    except ClientError as exc:
        if error_code(exc) == "NoSuchEntity":
            return None
        raise
    return cred.status if cred else None


def _check_status(iam: IAMClient, step: IamCall) -> Check:
    p = step.params
    wanted, cid = p["Status"], p["ServiceSpecificCredentialId"]
    state = _credential_state(iam, p["UserName"], cid)
    # A deleted or expired key is at least as unusable as an inactive one.
    holds = state in ("Inactive", "Expired", None) if wanted == "Inactive" else state == "Active"
    return Check(
        description=f"Key {cid} is {wanted}",
        action=step.action,
        holds=holds,
        observed=state or "absent (deleted)",
    )


def _check_deleted(iam: IAMClient, step: IamCall) -> Check:
    p = step.params
    cid = p["ServiceSpecificCredentialId"]
    state = _credential_state(iam, p["UserName"], cid)
    return Check(
        description=f"Key {cid} no longer exists",
        action=step.action,
        holds=state is None,
        observed="absent" if state is None else f"still exists ({state})",
    )


def _check_reset(iam: IAMClient, step: IamCall) -> Check:
    p = step.params
    cid = p["ServiceSpecificCredentialId"]
    state = _credential_state(iam, p["UserName"], cid)
    # IAM keeps no trace of a reset; what can be re-read is that the key is still
    # there (the reset itself is confirmed by IAM's answer and its request id).
    return Check(
        description=f"Key {cid} exists with a new secret (IAM records no reset time)",
        action=step.action,
        holds=state is not None,
        observed=state or "absent (deleted)",
    )


def _inline_policy(iam: IAMClient, step: IamCall) -> tuple[str, dict[str, Any] | None]:
    """(whose, the step's inline policy as IAM has it now, None when absent)."""
    p = step.params
    if "UserName" in p:
        return f"user {p['UserName']}", user_policy(iam, p["UserName"], p["PolicyName"])
    return f"role {p['RoleName']}", role_policy(iam, p["RoleName"], p["PolicyName"])


def _check_attached(iam: IAMClient, step: IamCall, cover: datetime | None = None) -> Check:
    name, planned = step.params["PolicyName"], step.params["PolicyDocument"]
    who, doc = _inline_policy(iam, step)
    if policies.is_session_cutoff_policy(name):
        want = policies.session_revocation_time(planned)
        have = policies.session_revocation_time(doc) if doc is not None else None
        # The cutoff attached must be late enough for the leaked key's session, not merely be
        # there: compared with the key's signing time (or the session's, from CloudTrail).
        covers = cover is None or (have is not None and have >= cover)
        covering = (
            f", which covers the key (needs {policies.format_time(cover)} or later)"
            if cover is not None
            else ""
        )
        return Check(
            description=(
                f"{who} denies sessions issued before "
                f"{policies.format_time(want) if want else '?'} (or later){covering}"
            ),
            action=step.action,
            holds=want is not None and have is not None and have >= want and covers,
            observed=(
                f"cutoff {policies.format_time(have)}"
                if have
                else ("policy absent" if doc is None else "policy has no cutoff")
            ),
        )
    same = doc is not None and policies.same_policy(doc, planned)
    return Check(
        description=f"{who} has policy {name} as planned",
        action=step.action,
        holds=same,
        observed=(
            "present, as planned"
            if same
            else ("absent" if doc is None else "present but different")
        ),
    )


def _check_removed(iam: IAMClient, step: IamCall) -> Check:
    who, doc = _inline_policy(iam, step)
    return Check(
        description=f"{who} has no policy {step.params['PolicyName']}",
        action=step.action,
        holds=doc is None,
        observed="absent" if doc is None else "still present",
    )


def _check_access_key(iam: IAMClient, step: IamCall) -> Check:
    p = step.params
    wanted, access_key = p["Status"], p["AccessKeyId"]
    try:
        state = access_key_status(iam, p["UserName"], access_key)
    except ClientError as exc:
        if error_code(exc) != "NoSuchEntity":
            raise
        state = None
    # A deleted access key signs nothing, as good as an inactive one.
    holds = state in ("Inactive", None) if wanted == "Inactive" else state == "Active"
    return Check(
        description=f"Access key {access_key} is {wanted}",
        action=step.action,
        holds=holds,
        observed=state or "absent (deleted)",
    )


_CHECKS: dict[str, Callable[[IAMClient, IamCall], Check]] = {
    "UpdateAccessKey": _check_access_key,
    "UpdateServiceSpecificCredential": _check_status,
    "DeleteServiceSpecificCredential": _check_deleted,
    "ResetServiceSpecificCredential": _check_reset,
    "PutUserPolicy": _check_attached,
    "PutRolePolicy": _check_attached,
    "DeleteUserPolicy": _check_removed,
    "DeleteRolePolicy": _check_removed,
}


def _check(iam: IAMClient, step: IamCall, cover: datetime | None = None) -> Check:
    op = step.operation
    check = _CHECKS.get(op)
    if check is None:
        return Check(
            description=f"{op} (not verifiable)", action=step.action, holds=False, observed="?"
        )
    try:
        if check is _check_attached:
            return _check_attached(iam, step, cover)
        return check(iam, step)
    except Exception as exc:  # an unreadable state is a failed check, never a crash
        e = explain(exc, operation=_read_operation(op), resource=step.summary)
        return Check(
            description=step.summary,
            action=step.action,
            holds=False,
            observed=f"could not read IAM: {e.code}: {e.message}",
        )


def _read_operation(op: str) -> str:
    if op == "UpdateAccessKey":
        return "ListAccessKeys"
    if "ServiceSpecificCredential" in op:
        return "ListServiceSpecificCredentials"
    return "GetUserPolicy" if "User" in op else "GetRolePolicy"


def verify_sync(
    clients: AwsClients,
    plan: RevocationPlan,
    *,
    results: Sequence[StepResult] | None = None,
    request_id: str | None = None,
    settle_delays: Sequence[float] = DEFAULT_SETTLE_DELAYS,
) -> Verification:
    iam = clients.iam(plan.target.account, request_id=request_id)
    failed_steps = {r.index for r in results or () if r.outcome is StepOutcome.ERROR}
    cover = covering_cutoff(plan.target)
    checks = [_check(iam, step, cover) for step in plan.steps]
    for delay in settle_delays:
        retry = [i for i, c in enumerate(checks) if not c.holds and i not in failed_steps]
        if not retry:
            break
        time.sleep(delay)
        for i in retry:
            checks[i] = _check(iam, plan.steps[i], cover)
    return Verification(checks=tuple(checks))


async def verify(
    clients: AwsClients,
    plan: RevocationPlan,
    *,
    results: Sequence[StepResult] | None = None,
    request_id: str | None = None,
    settle_delays: Sequence[float] = DEFAULT_SETTLE_DELAYS,
) -> Verification:
    """Re-read IAM for every step of `plan`; one Check per step, in order."""
    return await asyncio.to_thread(
        verify_sync,
        clients,
        plan,
        results=results,
        request_id=request_id,
        settle_delays=settle_delays,
    )
