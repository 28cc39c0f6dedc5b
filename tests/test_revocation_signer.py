"""Who signed a short-term key, from the sandbox's CloudTrail, through resolution and planning."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from conftest import (
    create_role,
    short_term_key_from_role,
    short_term_key_from_user,
    short_term_key_from_user_session,
    use_key,
)

from bot import keys, policies
from bot.errors import InvalidInput, Refused
from bot.revocation.model import Action, SignerKind, StepOutcome
from bot.revocation.service import Revoker
from bot.sandbox import iam as sandbox


async def test_the_role_is_found_from_the_keys_own_use_with_its_evidence(
    iam: Any, revoker: Revoker
) -> None:
    role = create_role(iam, "ci-runner", path="/apps/")
    key = short_term_key_from_role(role["Arn"])
    use_key(key)
    target = await revoker.resolve(key)
    assert target.role is not None and target.role.arn == role["Arn"]
    found = target.signer
    assert found is not None and found.confirmed and found.kind is SignerKind.ROLE
    assert found.arn == role["Arn"] and found.account_id == "123456789012"
    assert found.evidence is not None and found.evidence.bearer_token
    assert found.evidence.event_name == "InvokeModel" and found.evidence.region == "us-east-1"
    assert found.session_issued_at is not None
    plan = revoker.plan(target, ["deny_role"])
    (note,) = [n for n in plan.notes if n.startswith("Signed by role ci-runner")]
    assert (
        "CloudTrail LookupEvents: InvokeModel (bedrock.amazonaws.com, with the Bedrock API key)"
        in note
    )
    assert key not in plan.model_dump_json()


async def test_a_role_that_contradicts_the_evidence_is_refused_naming_the_signer(
    iam: Any, revoker: Revoker
) -> None:
    create_role(iam, "prod-app")  # same account, another role a responder might guess
    role = create_role(iam, "ci-runner")
    key = short_term_key_from_role(role["Arn"])
    use_key(key)
    with pytest.raises(InvalidInput) as e:
        await revoker.resolve(key, role="prod-app")
    assert e.value.field == "identifier"
    assert "in use by role ci-runner" in e.value.message and "not prod-app" in e.value.message
    # The same role, in any of the forms CloudTrail and IAM show it, is accepted.
    for given in (
        "ci-runner",
        role["Arn"],
        "arn:aws:sts::123456789012:assumed-role/ci-runner/leaker",
    ):
        target = await revoker.resolve(key, role=given)
        assert target.role is not None and target.role.name == "ci-runner"


async def test_without_cloudtrail_permission_the_responders_role_stands_marked_unconfirmed(
    iam: Any, revoker: Revoker
) -> None:
    role = create_role(iam, "ci-runner")
    key = short_term_key_from_role(role["Arn"])
    use_key(key)
    sandbox.inject_error("LookupEvents", "AccessDeniedException", service="cloudtrail", times=None)
    with pytest.raises(InvalidInput) as e:
        await revoker.resolve(key)
    assert "may not read CloudTrail event history in us-east-1" in e.value.message
    target = await revoker.resolve(key, role="ci-runner")
    assert target.signer is not None and not target.signer.confirmed
    plan = revoker.plan(target, ["deny_role"])
    assert any("could NOT be confirmed: the bot may not read CloudTrail" in n for n in plan.notes)


async def test_a_key_signed_by_an_iam_users_session_is_stopped_on_the_user(
    iam: Any, revoker: Revoker
) -> None:
    iam.create_user(UserName="dev")
    key, access_key_id = short_term_key_from_user_session(iam, "dev")
    assert access_key_id.startswith("ASIA")
    use_key(key)
    target = await revoker.resolve(key)
    assert target.role is None and target.user_name == "dev"
    assert target.signer is not None and target.signer.kind is SignerKind.USER
    with pytest.raises(Refused) as e:
        revoker.plan(target, ["deny_role"])
    assert "signed by IAM user dev (a session of it)" in e.value.message
    plan = revoker.plan(target, ["deny_user", "revoke_sessions"])
    tag = plan.plan_id[:12]
    assert [(s.operation, s.params["UserName"], s.params["PolicyName"]) for s in plan.steps] == [
        ("PutUserPolicy", "dev", policies.deny_policy_name(tag)),
        ("PutUserPolicy", "dev", policies.session_cutoff_policy_name(tag)),
    ]
    report = await revoker.run(plan)
    assert report.status == "completed", report
    doc = iam.get_user_policy(UserName="dev", PolicyName=policies.session_cutoff_policy_name(tag))
    assert policies.session_revocation_time(doc["PolicyDocument"]) == plan.revoke_before
    # A role named by the responder contradicts the evidence.
    with pytest.raises(InvalidInput) as wrong:
        await revoker.resolve(key, role="dev")
    assert "session of IAM user dev" in wrong.value.message


async def test_an_identity_center_session_gets_the_permission_set_path(
    iam: Any, revoker: Revoker
) -> None:
    role = create_role(
        iam, "AWSReservedSSO_DataScience_0123456789abcdef", path="/aws-reserved/sso.amazonaws.com/"
    )
    key = short_term_key_from_role(role["Arn"])
    use_key(key)
    target = await revoker.resolve(key)
    assert target.signer is not None and target.signer.kind is SignerKind.IDENTITY_CENTER
    for actions in (["deny_role"], ["revoke_sessions"]):
        with pytest.raises(Refused) as e:
            revoker.plan(target, actions)
        assert "managed by IAM Identity Center" in e.value.message
        assert "permission set DataScience's inline policy" in e.value.message
        assert "re-provision" in e.value.message


async def test_an_akia_signed_key_offers_deactivating_that_access_key(
    iam: Any, revoker: Revoker
) -> None:
    iam.create_user(UserName="ci-bot")
    key, access_key_id = short_term_key_from_user(iam, "ci-bot")
    target = await revoker.resolve(key)
    assert target.signer is not None and target.signer.kind is SignerKind.USER
    assert target.facts is not None and target.facts.access_key_status == "Active"
    plan = revoker.plan(target, ["deny_user", "deactivate_access_key"])
    assert [s.operation for s in plan.steps] == ["PutUserPolicy", "UpdateAccessKey"]
    assert plan.steps[1].params == {
        "UserName": "ci-bot",
        "AccessKeyId": access_key_id,
        "Status": "Inactive",
    }
    assert any("also stops EVERYTHING else signed with access key" in n for n in plan.notes)
    report = await revoker.run(plan)
    assert report.status == "completed", report
    (listed,) = iam.list_access_keys(UserName="ci-bot")["AccessKeyMetadata"]
    assert listed["Status"] == "Inactive"
    # Idempotent: running it again changes nothing.
    again = await revoker.execute(plan)
    assert [r.outcome for r in again] == [StepOutcome.SKIPPED, StepOutcome.SKIPPED]
    # Undo reactivates exactly that access key.
    assert Action.REACTIVATE_ACCESS_KEY in revoker.undo_actions(plan, report.results)
    undo = revoker.plan(await revoker.resolve(key), ["reactivate_access_key"])
    assert (await revoker.run(undo)).status == "completed"
    (listed,) = iam.list_access_keys(UserName="ci-bot")["AccessKeyMetadata"]
    assert listed["Status"] == "Active"


async def test_deactivate_access_key_is_refused_for_a_role_session_key(
    iam: Any, revoker: Revoker
) -> None:
    role = create_role(iam, "ci-runner")
    key = short_term_key_from_role(role["Arn"])
    use_key(key)
    target = await revoker.resolve(key)
    with pytest.raises(Refused) as e:
        revoker.plan(target, ["deactivate_access_key"])
    assert "signed by a role session" in e.value.message
    assert keys.decode(key).access_key_id not in (target.user_name or "")


async def test_a_session_cutoff_must_cover_the_keys_session_at_plan_execution_and_verification(
    iam: Any, revoker: Revoker
) -> None:
    role = create_role(iam, "ci-runner")
    key = short_term_key_from_role(role["Arn"])
    use_key(key)
    target = await revoker.resolve(key)
    assert target.signer is not None and target.signer.session_issued_at is not None
    issued = target.signer.session_issued_at
    early = issued - timedelta(minutes=10)

    with pytest.raises(Refused) as e:
        revoker.plan(target, ["revoke_sessions"], revoke_before=early)
    assert e.value.field == "before"
    assert "does not stop this key" in e.value.message
    earliest = policies.format_time(issued + timedelta(seconds=1))
    assert f"earliest cutoff that covers it is {earliest}" in e.value.message

    # A stored plan with a cutoff that does not cover the key (made before this check, or
    # altered) is not written at execution, and verification does not call it done even when
    # that early cutoff is what IAM holds.
    good = revoker.plan(target, ["revoke_sessions"])
    (step,) = good.steps
    early_doc = policies.revoke_older_sessions(early)
    bad = good.model_copy(
        update={
            "steps": (
                step.model_copy(update={"params": {**step.params, "PolicyDocument": early_doc}}),
            )
        }
    )
    iam.put_role_policy(
        RoleName="ci-runner",
        PolicyName=step.params["PolicyName"],
        PolicyDocument=policies.to_compact_json(early_doc),
    )
    (result,) = await revoker.execute(bad)
    assert result.outcome is StepOutcome.ERROR and result.error_code == "CutoffTooEarly"
    (check,) = (await revoker.verify(bad)).checks
    assert not check.holds and "covers the key" in check.description

    report = await revoker.run(good)
    assert report.status == "completed", report
    (check,) = report.verification.checks
    assert check.holds and f"needs {earliest} or later" in check.description
