"""Verification of a bulk run: IAM read back in a few calls, one check per action.

The keys are read in one listing (the user's keys, or `AllUsers` a thousand a page), not one
call per key; deny policies are read per user on the run's worker threads. Each check covers
the calls that did their part (a failed call is already reported as failed), and names the
first keys or users found otherwise.
"""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import Executor
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from bot.revocation import iam_reads
from bot.revocation.bulk import BulkPlan, KeyOutcome, KeyResult
from bot.revocation.iam_errors import error_code
from bot.revocation.model import Action, Check, Verification

if TYPE_CHECKING:
    from mypy_boto3_iam import IAMClient

_NAMED = 10  # keys or users named in a check that does not hold

# The statuses a key may be in once the action did its part (None: the key is gone).
_WANTED: dict[Action, tuple[str | None, ...]] = {
    Action.DEACTIVATE: ("Inactive", "Expired", None),
    Action.DELETE: (None,),
    Action.REACTIVATE: ("Active",),
}
_WORDS = {
    Action.DEACTIVATE: "Inactive (or gone)",
    Action.DELETE: "deleted",
    Action.REACTIVATE: "Active",
}


# Read while the run goes on in the serving process: botocore parses a 1,000-key page for
# ~170 ms in a worker thread, holding the GIL the acks need; 100 keys take ~19 ms (ten calls
# instead of one, ~0.2 s more per listing against IAM's latency).
STATUS_PAGE_SIZE = 100


def statuses(iam: IAMClient, plan: BulkPlan) -> dict[str, str]:
    """Each key in IAM now, by credential id (absent: deleted)."""
    if plan.scope.kind == "user" and plan.scope.user_name is not None:
        try:
            listed = iam_reads.user_credentials(iam, plan.scope.user_name)
        except ClientError as exc:
            if error_code(exc) == "NoSuchEntity":
                return {}
            raise
        return {c.credential_id: c.status for c in listed}
    return {
        c.credential_id: c.status
        for c in iam_reads.all_credentials(iam, page_size=STATUS_PAGE_SIZE)
    }


def verify_sync(
    iam: IAMClient, plan: BulkPlan, results: Iterable[KeyResult], pool: Executor
) -> Verification:
    ok = {r.i for r in results if r.o is not KeyOutcome.ERROR}
    checks: list[Check] = []
    now: dict[str, str] | None = None
    for action, indexes in plan.phases():
        done = [i for i in indexes if i in ok]
        if action is Action.DENY_USER:
            users = [plan.users[i - indexes.start] for i in done]
            docs = pool.map(lambda u: iam_reads.user_policy(iam, u, plan.deny_policy_name), users)
            missing = [u for u, doc in zip(users, docs, strict=True) if doc != plan.deny_document]
            checks.append(
                Check(
                    description=(
                        f"{plan.deny_policy_name} is attached as planned to each of "
                        f"{len(users)} users"
                    ),
                    action=action,
                    holds=not missing,
                    observed=_observed(missing, len(users), "users", "attached"),
                )
            )
            continue
        if now is None:
            now = statuses(iam, plan)
        keys = [plan.keys[i - indexes.start] for i in done]
        wrong = [
            f"{k.credential_id} of {k.user_name} ({now.get(k.credential_id, 'gone')})"
            for k in keys
            if now.get(k.credential_id) not in _WANTED[action]
        ]
        checks.append(
            Check(
                description=f"each of {len(keys)} keys is {_WORDS[action]}",
                action=action,
                holds=not wrong,
                observed=_observed(wrong, len(keys), "keys", _WORDS[action]),
            )
        )
    return Verification(checks=tuple(checks))


def _observed(wrong: list[str], total: int, what: str, state: str) -> str:
    if not wrong:
        return f"all {total} {what} {state}"
    named = ", ".join(wrong[:_NAMED]) + (
        f" and {len(wrong) - _NAMED} more" if len(wrong) > _NAMED else ""
    )
    return f"{len(wrong)} of {total} {what} are not {state}: {named}"
