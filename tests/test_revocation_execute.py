"""Execution and verification of every action and reversal, against moto via the real boto3."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from conftest import create_long_term_key, create_role, make_settings, new_clients

from bot import policies
from bot.revocation.model import Action, KeyKind, StepOutcome
from bot.revocation.service import Revoker
from bot.sandbox import iam as sandbox

BEDROCK = "bedrock.amazonaws.com"


def status_of(iam: Any, user: str, cid: str) -> str | None:
    creds = iam.list_service_specific_credentials(UserName=user, ServiceName=BEDROCK)
    for c in creds["ServiceSpecificCredentials"]:
        if c["ServiceSpecificCredentialId"] == cid:
            return str(c["Status"])
    return None


def user_policy(iam: Any, user: str, name: str | None = None) -> Any:
    """The named inline policy of the user; without a name, this bot's one deny policy."""
    if name is None:
        names = [n for n in iam.list_user_policies(UserName=user)["PolicyNames"]
                 if policies.is_deny_policy(n)]  # fmt: skip
        assert len(names) <= 1, names
        if not names:
            return None
        name = names[0]
    try:
        return iam.get_user_policy(UserName=user, PolicyName=name)["PolicyDocument"]
    except iam.exceptions.NoSuchEntityException:
        return None


def name_of(plan: Any, index: int = 0) -> str:
    return str(plan.steps[index].params["PolicyName"])


def role_policy(iam: Any, role: str, name: str) -> Any:
    try:
        return iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
    except iam.exceptions.NoSuchEntityException:
        return None


def outcomes(results: Any) -> list[str]:
    return [r.outcome.value for r in results]


# -- every action, then the same plan again ------------------------------------------------------


async def test_deactivate_then_rerun_is_skipped(iam: Any, revoker: Revoker) -> None:
    key = create_long_term_key(iam, "alice")
    plan = revoker.plan(await revoker.resolve(key.key), ["deactivate"])
    report = await revoker.run(plan)
    assert report.status == "completed"
    (result,) = report.results
    assert result.outcome is StepOutcome.OK
    assert result.request_id
    assert result.action is Action.DEACTIVATE
    assert status_of(iam, "alice", key.credential_id) == "Inactive"
    assert report.verification.checks[0].observed == "Inactive"
    again = await revoker.run(plan)
    assert outcomes(again.results) == ["skipped"]
    assert "already Inactive" in again.results[0].message
    assert again.status == "completed"


async def test_reactivate(iam: Any, revoker: Revoker) -> None:
    key = create_long_term_key(iam, "alice")
    iam.update_service_specific_credential(
        UserName="alice", ServiceSpecificCredentialId=key.credential_id, Status="Inactive"
    )
    plan = revoker.plan(await revoker.resolve(key.key), ["reactivate"])
    report = await revoker.run(plan)
    assert report.status == "completed"
    assert status_of(iam, "alice", key.credential_id) == "Active"
    assert outcomes((await revoker.run(plan)).results) == ["skipped"]


async def test_delete_then_rerun_is_skipped(iam: Any, revoker: Revoker) -> None:
    key = create_long_term_key(iam, "alice")
    plan = revoker.plan(await revoker.resolve(key.key), ["delete"])
    report = await revoker.run(plan)
    assert report.status == "completed"
    assert status_of(iam, "alice", key.credential_id) is None
    again = await revoker.run(plan)
    assert outcomes(again.results) == ["skipped"]
    assert "already deleted" in again.results[0].message
    assert again.verification.holds


async def test_deny_user_attaches_exactly_the_planned_policy(iam: Any, revoker: Revoker) -> None:
    key = create_long_term_key(iam, "alice")
    plan = revoker.plan(await revoker.resolve(key.key), ["deny_user"])
    report = await revoker.run(plan)
    assert report.status == "completed"
    assert policies.same_policy(user_policy(iam, "alice"), plan.steps[0].params["PolicyDocument"])
    assert outcomes((await revoker.run(plan)).results) == ["skipped"]


async def test_deny_user_attaches_its_own_policy_beside_an_older_shared_one(
    iam: Any, revoker: Revoker
) -> None:
    key = create_long_term_key(iam, "alice")
    old = policies.deny_bearer_token(["bedrock:CallWithBearerToken"])
    iam.put_user_policy(UserName="alice", PolicyName=policies.DENY_POLICY_NAME,
                        PolicyDocument=policies.to_json(old))  # fmt: skip
    plan = revoker.plan(await revoker.resolve(key.key), ["deny_user"])
    report = await revoker.run(plan)
    assert "attached" in report.results[0].message
    assert policies.same_policy(
        user_policy(iam, "alice", name_of(plan)), policies.deny_bearer_token()
    )
    assert policies.same_policy(user_policy(iam, "alice", policies.DENY_POLICY_NAME), old)


async def test_deny_role_and_revoke_sessions(iam: Any, revoker: Revoker) -> None:
    create_role(iam, "ci")
    target = await revoker.resolve("ci", kind=KeyKind.SHORT_TERM)
    plan = revoker.plan(target, ["deny_role", "revoke_sessions"])
    report = await revoker.run(plan)
    assert report.status == "completed", report
    assert policies.same_policy(role_policy(iam, "ci", name_of(plan, 0)),
                                policies.deny_bearer_token())  # fmt: skip
    doc = role_policy(iam, "ci", name_of(plan, 1))
    assert policies.session_revocation_time(doc) == plan.revoke_before
    assert outcomes((await revoker.run(plan)).results) == ["skipped", "skipped"]


async def test_reversals_and_their_reruns(iam: Any, revoker: Revoker) -> None:
    key = create_long_term_key(iam, "alice")
    create_role(iam, "ci")
    denied = revoker.plan(await revoker.resolve(key.key), ["deny_user"])
    assert (await revoker.run(denied)).status == "completed"
    role_target = await revoker.resolve("ci", kind=KeyKind.SHORT_TERM)
    contained = revoker.plan(role_target, ["deny_role", "revoke_sessions"])
    await revoker.run(contained)

    allow_user = revoker.plan(await revoker.resolve("alice"), ["allow_user"], undoing=denied)
    assert (await revoker.run(allow_user)).status == "completed"
    assert user_policy(iam, "alice") is None
    role_target = await revoker.resolve("ci", kind=KeyKind.SHORT_TERM)
    undo_role = revoker.plan(
        role_target, ["allow_role", "lift_session_revocation"], undoing=contained
    )
    report = await revoker.run(undo_role)
    assert report.status == "completed"
    assert iam.list_role_policies(RoleName="ci")["PolicyNames"] == []
    # Again: the policies are already gone.
    for plan in (allow_user, undo_role):
        again = await revoker.run(plan)
        assert set(outcomes(again.results)) == {"skipped"}
        assert all("nothing to remove" in r.message for r in again.results)
        assert again.verification.holds


async def test_undo_of_a_completed_plan(iam: Any, revoker: Revoker) -> None:
    key = create_long_term_key(iam, "alice")
    plan = revoker.plan(await revoker.resolve(key.key), ["deactivate", "deny_user"])
    await revoker.run(plan)
    undo = revoker.plan(await revoker.resolve(key.key), revoker.undo_actions(plan), undoing=plan)
    assert (await revoker.run(undo)).status == "completed"
    assert status_of(iam, "alice", key.credential_id) == "Active"
    assert user_policy(iam, "alice") is None


async def test_undo_offers_only_what_this_run_changed_not_what_was_there_before(
    iam: Any, revoker: Revoker
) -> None:
    # Someone else already deactivated the key and denied the user; a later request for the same
    # changes skips the deactivation (not its own to undo) and attaches its own deny, whose undo
    # leaves the first request's deny in place.
    key = create_long_term_key(iam, "alice")
    first = revoker.plan(await revoker.resolve(key.key), ["deactivate", "deny_user"])
    await revoker.run(first)
    again = revoker.plan(await revoker.resolve(key.key), ["deactivate", "deny_user"])
    report = await revoker.run(again)
    assert outcomes(report.results) == ["ok", "skipped"]  # deny first, then deactivate
    assert revoker.undo_actions(again, report.results) == (Action.ALLOW_USER,)
    undo = revoker.plan(await revoker.resolve(key.key), ["allow_user"], undoing=again)
    assert (await revoker.run(undo)).status == "completed"
    assert user_policy(iam, "alice", name_of(first)) is not None

    # A session revocation the role already had (the console's, at an earlier time) stays; the
    # request adds its own, and lifting that leaves the console's where it was.
    create_role(iam, "ci")
    now = datetime.now(UTC).replace(microsecond=0)
    earlier = policies.revoke_older_sessions(now - timedelta(hours=1), now=now)
    iam.put_role_policy(RoleName="ci", PolicyName="AWSRevokeOlderSessions",
                        PolicyDocument=policies.to_json(earlier))  # fmt: skip
    role = await revoker.resolve("ci", kind=KeyKind.SHORT_TERM)
    added = revoker.plan(role, ["deny_role", "revoke_sessions"], now=now)
    report = await revoker.run(added)
    assert outcomes(report.results) == ["ok", "ok"]
    assert revoker.undo_actions(added, report.results) == (
        Action.LIFT_SESSION_REVOCATION,
        Action.ALLOW_ROLE,
    )
    role = await revoker.resolve("ci", kind=KeyKind.SHORT_TERM)
    lift = revoker.plan(role, ["lift_session_revocation"], undoing=added)
    assert (await revoker.run(lift)).status == "completed"
    kept = role_policy(iam, "ci", "AWSRevokeOlderSessions")
    assert policies.same_policy(kept, earlier)


# -- revoke_sessions never moves another cutoff ---------------------------------------------


async def test_revoke_sessions_leaves_a_later_cutoff_that_appeared_after_planning(
    iam: Any, revoker: Revoker
) -> None:
    create_role(iam, "ci")
    now = datetime.now(UTC).replace(microsecond=0)
    plan = revoker.plan(
        await revoker.resolve("ci", kind=KeyKind.SHORT_TERM),
        ["revoke_sessions"],
        revoke_before=now - timedelta(minutes=30),
        now=now,
    )
    # Between plan and approval, someone pressed "Revoke active sessions" in the console.
    later = policies.revoke_older_sessions(now - timedelta(minutes=1), now=now)
    iam.put_role_policy(RoleName="ci", PolicyName="AWSRevokeOlderSessions",
                        PolicyDocument=policies.to_json(later))  # fmt: skip
    report = await revoker.run(plan)
    assert outcomes(report.results) == ["ok"]
    kept = role_policy(iam, "ci", "AWSRevokeOlderSessions")
    assert policies.session_revocation_time(kept) == now - timedelta(minutes=1)
    assert report.verification.holds
    assert report.status == "completed"


async def test_revoke_sessions_adds_a_later_cutoff_beside_an_earlier_one(
    iam: Any, revoker: Revoker
) -> None:
    create_role(iam, "ci")
    now = datetime.now(UTC).replace(microsecond=0)
    earlier = policies.revoke_older_sessions(now - timedelta(days=1), now=now)
    iam.put_role_policy(RoleName="ci", PolicyName="AWSRevokeOlderSessions",
                        PolicyDocument=policies.to_json(earlier))  # fmt: skip
    plan = revoker.plan(await revoker.resolve("ci", kind=KeyKind.SHORT_TERM), ["revoke_sessions"],
                        now=now)  # fmt: skip
    report = await revoker.run(plan)
    assert outcomes(report.results) == ["ok"]
    assert policies.session_revocation_time(role_policy(iam, "ci", name_of(plan))) == now
    target = await revoker.resolve("ci", kind=KeyKind.SHORT_TERM)
    assert target.facts is not None and target.facts.session_revocation_time == now


# -- errors -------------------------------------------------------------------------------------


async def test_access_denied_is_explained_and_later_steps_still_run(
    iam: Any, revoker: Revoker
) -> None:
    key = create_long_term_key(iam, "alice")
    plan = revoker.plan(await revoker.resolve(key.key), ["deny_user", "deactivate"])
    sandbox.inject_error("PutUserPolicy", "AccessDenied",
                         "User: moto is not authorized to perform: iam:PutUserPolicy")  # fmt: skip
    report = await revoker.run(plan)
    denied, deactivated = report.results
    assert denied.outcome is StepOutcome.ERROR
    assert denied.error_code == "AccessDenied"
    assert denied.request_id
    assert "lacks iam:PutUserPolicy on user alice" in denied.message
    assert deactivated.outcome is StepOutcome.OK
    assert status_of(iam, "alice", key.credential_id) == "Inactive"
    assert [c.holds for c in report.verification.checks] == [False, True]
    assert report.status == "partial"
    # Running the plan again completes it without redoing what was done.
    again = await revoker.run(plan)
    assert outcomes(again.results) == ["ok", "skipped"]
    assert again.status == "completed"


async def test_every_step_failing_is_failed(iam: Any, revoker: Revoker) -> None:
    create_role(iam, "ci")
    plan = revoker.plan(await revoker.resolve("ci", kind=KeyKind.SHORT_TERM),
                        ["deny_role", "revoke_sessions"])  # fmt: skip
    sandbox.inject_error("PutRolePolicy", "AccessDenied", times=None)
    report = await revoker.run(plan)
    assert outcomes(report.results) == ["error", "error"]
    assert report.status == "failed"


async def test_no_such_entity_when_the_user_vanished_after_planning(
    iam: Any, revoker: Revoker
) -> None:
    key = create_long_term_key(iam, "alice")
    plan = revoker.plan(await revoker.resolve(key.key), ["deny_user", "deactivate"])
    iam.delete_service_specific_credential(
        UserName="alice", ServiceSpecificCredentialId=key.credential_id
    )
    iam.delete_user(UserName="alice")
    report = await revoker.run(plan)
    deny, deactivate = report.results
    assert (deny.outcome, deny.error_code) == (StepOutcome.ERROR, "NoSuchEntity")
    assert "does not exist" in deny.message
    # Gone is as good as inactive: nothing to do, not an error.
    assert deactivate.outcome is StepOutcome.SKIPPED
    assert "no longer exists" in deactivate.message


async def test_reactivating_a_deleted_key_is_an_error(iam: Any, revoker: Revoker) -> None:
    key = create_long_term_key(iam, "alice")
    plan = revoker.plan(await revoker.resolve(key.key), ["reactivate"])
    iam.delete_service_specific_credential(
        UserName="alice", ServiceSpecificCredentialId=key.credential_id
    )
    (result,) = (await revoker.run(plan)).results
    assert (result.outcome, result.error_code) == (StepOutcome.ERROR, "NoSuchEntity")


async def test_limit_exceeded_is_explained(iam: Any, revoker: Revoker) -> None:
    key = create_long_term_key(iam, "alice")
    plan = revoker.plan(await revoker.resolve(key.key), ["deny_user"])
    sandbox.inject_error("PutUserPolicy", "LimitExceeded",
                         "Maximum policy size of 2048 bytes exceeded for user alice")  # fmt: skip
    (result,) = (await revoker.run(plan)).results
    assert result.error_code == "LimitExceeded"
    assert "quota" in result.message and "2048" in result.message


async def test_throttling_after_retries_is_explained(
    iam: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One attempt, so the test does not wait through botocore's backoff; the standard retry
    # mode itself is asserted in test_aws.
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    settings = make_settings()
    revoker = Revoker(settings, new_clients(settings), settle_delays=())
    key = create_long_term_key(iam, "alice")
    plan = revoker.plan(await revoker.resolve(key.key), ["deactivate"])
    fault = sandbox.inject_error("UpdateServiceSpecificCredential", "Throttling", "Rate exceeded")
    (result,) = (await revoker.run(plan)).results
    assert result.error_code == "Throttling"
    assert "throttled" in result.message and "after retries" in result.message
    assert fault.hits == 1


async def test_a_plan_for_an_unconfigured_account_fails_per_step_not_raising(
    iam: Any, revoker: Revoker
) -> None:
    key = create_long_term_key(iam, "alice")
    plan = revoker.plan(await revoker.resolve(key.key), ["deactivate"])
    stale = plan.model_copy(update={"target": plan.target.model_copy(update={"account": "gone"})})
    (result,) = await revoker.execute(stale)
    assert result.outcome is StepOutcome.ERROR
    assert result.error_code == "InvalidInput"


# -- verification -------------------------------------------------------------------------------


async def test_verify_sees_a_state_changed_behind_our_back(iam: Any, revoker: Revoker) -> None:
    key = create_long_term_key(iam, "alice")
    plan = revoker.plan(await revoker.resolve(key.key), ["deactivate", "deny_user"])
    await revoker.run(plan)
    iam.update_service_specific_credential(
        UserName="alice", ServiceSpecificCredentialId=key.credential_id, Status="Active"
    )
    iam.delete_user_policy(UserName="alice", PolicyName=name_of(plan))
    verification = await revoker.verify(plan)
    assert not verification.holds
    assert [c.observed for c in verification.checks] == ["absent", "Active"]


async def test_verify_rereads_failed_checks_of_steps_that_succeeded(
    iam: Any, settings: Any, clients: Any
) -> None:
    key = create_long_term_key(iam, "alice")
    revoker = Revoker(settings, clients, settle_delays=(0,))
    plan = revoker.plan(await revoker.resolve(key.key), ["deactivate", "deny_user"])
    results = await revoker.execute(plan)
    iam.delete_user_policy(UserName="alice", PolicyName=name_of(plan))
    reads: list[str] = []
    clients.iam().meta.events.register("before-call", lambda model, **_: reads.append(model.name))
    # Pretend the deny step failed: its check is not re-read; nothing else fails.
    failed = (results[0].model_copy(update={"outcome": StepOutcome.ERROR}), results[1])
    await revoker.verify(plan, results=failed)
    assert reads.count("GetUserPolicy") == 1
    reads.clear()
    await revoker.verify(plan, results=results)
    assert reads.count("GetUserPolicy") == 2  # read, pause, read again


async def test_unreadable_state_is_a_failed_check(iam: Any, revoker: Revoker) -> None:
    key = create_long_term_key(iam, "alice")
    plan = revoker.plan(await revoker.resolve(key.key), ["deny_user"])
    await revoker.execute(plan)
    sandbox.inject_error("GetUserPolicy", "AccessDenied")
    (check,) = (await revoker.verify(plan)).checks
    assert not check.holds
    assert "AccessDenied" in check.observed


async def test_report_times_and_step_logs(
    iam: Any, revoker: Revoker, caplog: pytest.LogCaptureFixture
) -> None:
    key = create_long_term_key(iam, "alice")
    plan = revoker.plan(await revoker.resolve(key.key), ["deactivate"])
    with caplog.at_level(logging.INFO, logger="bot.revocation.executor"):
        report = await revoker.run(plan)
    assert report.started_at <= report.finished_at
    (line,) = [r.getMessage() for r in caplog.records if r.name == "bot.revocation.executor"]
    assert "UpdateServiceSpecificCredential ok" in line
    assert report.results[0].request_id in line


async def test_undo_after_a_partial_run_offers_only_what_took_effect(
    iam: Any, revoker: Revoker
) -> None:
    key = create_long_term_key(iam, "alice")
    plan = revoker.plan(await revoker.resolve(key.key), ["deny_user", "deactivate"])
    sandbox.inject_error("PutUserPolicy", "AccessDenied")
    report = await revoker.run(plan)
    assert report.status == "partial"
    assert revoker.undo_actions(plan, report.results) == (Action.REACTIVATE,)
    assert revoker.undo_actions(plan) == (Action.ALLOW_USER, Action.REACTIVATE)
