"""Undo never lifts containment another request relies on: two incidents on one role, undone in
either order, for the deny policy and for the session cutoff (real boto3 calls against moto)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from conftest import create_role

from bot import policies
from bot.errors import Refused
from bot.revocation.model import Action, KeyKind, RevocationPlan, StepOutcome
from bot.revocation.service import Revoker

CONTAINMENT = [
    pytest.param(Action.DENY_ROLE, Action.ALLOW_ROLE, id="deny policy"),
    pytest.param(Action.REVOKE_SESSIONS, Action.LIFT_SESSION_REVOCATION, id="session cutoff"),
]


def _ours(iam: Any, role: str) -> dict[str, dict[str, Any]]:
    """The role's inline policies of this bot, by name, as IAM holds them."""
    names = iam.list_role_policies(RoleName=role)["PolicyNames"]
    return {
        name: policies.parse(iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"])
        for name in names
        if policies.is_deny_policy(name) or policies.is_session_cutoff_policy(name)
    }


def _policy_of(plan: RevocationPlan) -> tuple[str, dict[str, Any]]:
    (step,) = plan.steps
    return step.params["PolicyName"], step.params["PolicyDocument"]


async def _contain(revoker: Revoker, action: Action, **kwargs: Any) -> RevocationPlan:
    target = await revoker.resolve("ci", kind=KeyKind.SHORT_TERM)
    plan = revoker.plan(target, [action], **kwargs)
    report = await revoker.run(plan)
    assert report.status == "completed", report
    # Each request's own policy is the one it can undo, whatever was there before it.
    assert revoker.undo_actions(plan, report.results)
    return plan


async def _undo(revoker: Revoker, original: RevocationPlan, reversal: Action) -> None:
    target = await revoker.resolve("ci", kind=KeyKind.SHORT_TERM)
    undo = revoker.plan(target, [reversal], undoing=original)
    (step,) = undo.steps
    assert step.params["PolicyName"] == _policy_of(original)[0]
    report = await revoker.run(undo)
    assert report.status == "completed", report


@pytest.mark.parametrize(("action", "reversal"), CONTAINMENT)
@pytest.mark.parametrize("undo_first", ["earlier", "later"])
async def test_undoing_one_incident_leaves_the_other_incidents_containment(
    iam: Any, revoker: Revoker, action: Action, reversal: Action, undo_first: str
) -> None:
    create_role(iam, "ci")
    earlier = await _contain(revoker, action)
    later = await _contain(
        revoker,
        action,
        # A later incident's cutoff is later; a hand-picked earlier one must not matter either.
        **(
            {"revoke_before": revoker.clock() + timedelta(seconds=2)}
            if action is Action.REVOKE_SESSIONS
            else {}
        ),
    )
    assert _policy_of(earlier)[0] != _policy_of(later)[0]
    assert set(_ours(iam, "ci")) == {_policy_of(earlier)[0], _policy_of(later)[0]}
    assert any("this request" in n.lower() for n in later.notes)  # says it adds its own

    first, second = (earlier, later) if undo_first == "earlier" else (later, earlier)
    await _undo(revoker, first, reversal)

    # The other incident's containment is exactly as it was.
    name, document = _policy_of(second)
    held = _ours(iam, "ci")
    assert set(held) == {name}
    assert policies.same_policy(held[name], document)
    if action is Action.REVOKE_SESSIONS:
        target = await revoker.resolve("ci", kind=KeyKind.SHORT_TERM)
        assert target.facts is not None
        assert target.facts.session_revocation_time == second.revoke_before

    await _undo(revoker, second, reversal)
    assert _ours(iam, "ci") == {}


async def test_the_consoles_session_cutoff_is_neither_moved_nor_removed(
    iam: Any, revoker: Revoker
) -> None:
    create_role(iam, "ci")
    console = policies.revoke_older_sessions(revoker.clock() + timedelta(minutes=3))
    iam.put_role_policy(
        RoleName="ci",
        PolicyName=policies.REVOKE_SESSIONS_POLICY_NAME,
        PolicyDocument=policies.to_compact_json(console),
    )
    plan = await _contain(revoker, Action.REVOKE_SESSIONS)
    assert any("(later; it still applies)" in n for n in plan.notes)
    await _undo(revoker, plan, Action.LIFT_SESSION_REVOCATION)
    assert set(_ours(iam, "ci")) == {policies.REVOKE_SESSIONS_POLICY_NAME}
    held = iam.get_role_policy(RoleName="ci", PolicyName=policies.REVOKE_SESSIONS_POLICY_NAME)
    assert policies.same_policy(held["PolicyDocument"], console)


async def test_a_resumed_request_whose_policy_is_already_there_can_still_be_undone(
    iam: Any, revoker: Revoker
) -> None:
    create_role(iam, "ci")
    plan = revoker.plan(await revoker.resolve("ci", kind=KeyKind.SHORT_TERM), ["deny_role"])
    await revoker.execute(plan)
    again = await revoker.execute(plan)  # as a runner resuming after a crash would
    assert [r.outcome for r in again] == [StepOutcome.SKIPPED]
    assert revoker.undo_actions(plan, again) == (Action.ALLOW_ROLE,)


async def test_a_reversal_is_only_planned_as_the_undo_of_a_request(
    iam: Any, revoker: Revoker
) -> None:
    create_role(iam, "ci")
    target = await revoker.resolve("ci", kind=KeyKind.SHORT_TERM)
    with pytest.raises(Refused) as e:
        revoker.plan(target, ["allow_role"])
    assert "undo of that request" in e.value.message
