"""Running the same plan twice changes nothing the second time, for every combination."""

from __future__ import annotations

from itertools import combinations
from typing import Any

import pytest
from conftest import BEDROCK, create_long_term_key, create_role

from bot.revocation.model import Action, KeyKind, StepOutcome
from bot.revocation.service import Revoker

# Reset is absent: IAM keeps no trace of one, so only the runner's record of it in the request
# store keeps a plan from resetting twice (tests/test_runner.py).
LONG = (Action.DEACTIVATE, Action.DELETE, Action.DENY_USER)
SHORT = (Action.DENY_ROLE, Action.REVOKE_SESSIONS)


def subsets(actions: tuple[Action, ...]) -> list[tuple[Action, ...]]:
    return [c for n in range(1, len(actions) + 1) for c in combinations(actions, n)]


def iam_state(iam: Any) -> dict[str, Any]:
    """Everything a revocation can change, as IAM lists it."""
    creds = iam.list_service_specific_credentials(AllUsers=True, ServiceName=BEDROCK)
    state: dict[str, Any] = {
        "keys": sorted(
            (c["ServiceSpecificCredentialId"], c["Status"])
            for c in creds["ServiceSpecificCredentials"]
        )
    }
    for user in iam.list_users()["Users"]:
        name = user["UserName"]
        state[f"user/{name}"] = {
            p: iam.get_user_policy(UserName=name, PolicyName=p)["PolicyDocument"]
            for p in iam.list_user_policies(UserName=name)["PolicyNames"]
        }
    for role in iam.list_roles()["Roles"]:
        name = role["RoleName"]
        state[f"role/{name}"] = {
            p: iam.get_role_policy(RoleName=name, PolicyName=p)["PolicyDocument"]
            for p in iam.list_role_policies(RoleName=name)["PolicyNames"]
        }
    return state


@pytest.mark.parametrize("actions", subsets(LONG), ids=lambda a: "+".join(x.value for x in a))
async def test_long_term_plan_twice(
    iam: Any, revoker: Revoker, actions: tuple[Action, ...]
) -> None:
    key = create_long_term_key(iam, "alice")
    plan = revoker.plan(await revoker.resolve(key.key), actions)
    first = await revoker.run(plan)
    assert first.status == "completed", first
    after_first = iam_state(iam)
    second = await revoker.run(plan)
    assert {r.outcome for r in second.results} == {StepOutcome.SKIPPED}
    assert second.verification.holds
    assert iam_state(iam) == after_first


@pytest.mark.parametrize("actions", subsets(SHORT), ids=lambda a: "+".join(x.value for x in a))
async def test_short_term_plan_twice(
    iam: Any, revoker: Revoker, actions: tuple[Action, ...]
) -> None:
    create_role(iam, "ci")
    plan = revoker.plan(await revoker.resolve("ci", kind=KeyKind.SHORT_TERM), actions)
    first = await revoker.run(plan)
    assert first.status == "completed", first
    after_first = iam_state(iam)
    second = await revoker.run(plan)
    assert {r.outcome for r in second.results} == {StepOutcome.SKIPPED}
    assert iam_state(iam) == after_first
