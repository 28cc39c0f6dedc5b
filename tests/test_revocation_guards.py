"""Guards on targets resolved from IAM (moto), end to end: resolve, then plan refuses."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from conftest import (
    create_long_term_key,
    create_role,
    make_settings,
    new_clients,
    short_term_key_from_role,
    short_term_key_from_user,
)

from bot import policies
from bot.errors import Refused
from bot.revocation.model import Action, KeyKind
from bot.revocation.service import Revoker


async def test_identity_center_role_is_refused(iam: Any, revoker: Revoker) -> None:
    create_role(iam, "AWSReservedSSO_Admin_0123456789abcdef",
                path="/aws-reserved/sso.amazonaws.com/eu-west-1/")  # fmt: skip
    target = await revoker.resolve("AWSReservedSSO_Admin_0123456789abcdef", kind=KeyKind.SHORT_TERM)
    for actions in (["deny_role"], ["revoke_sessions"], ["lift_session_revocation"]):
        with pytest.raises(Refused) as e:
            revoker.plan(target, actions)
        assert "IAM Identity Center" in e.value.message
        assert e.value.field == "role"


async def test_service_linked_role_is_refused(iam: Any, revoker: Revoker) -> None:
    role = iam.create_service_linked_role(AWSServiceName="elasticbeanstalk.amazonaws.com")["Role"]
    assert role["Path"].startswith("/aws-service-role/")
    target = await revoker.resolve(role["Arn"])
    with pytest.raises(Refused) as e:
        revoker.plan(target, ["deny_role"])
    assert "service-linked" in e.value.message


async def test_the_role_the_bot_runs_as_is_refused(iam: Any, moto_aws: None) -> None:
    create_role(iam, "revoker")
    # The bot reaches this very account through the "revoker" role.
    settings = make_settings(
        accounts={"main": {"account_id": "123456789012",
                           "role_arn": "arn:aws:iam::123456789012:role/revoker"}}
    )  # fmt: skip
    revoker = Revoker(settings, new_clients(settings), settle_delays=())
    target = await revoker.resolve("revoker", kind=KeyKind.SHORT_TERM, account="main")
    assert target.facts is not None and target.facts.caller_role_name == "revoker"
    for action in ("revoke_sessions", "deny_role"):
        with pytest.raises(Refused) as e:
            revoker.plan(target, [action])
        assert "the role this bot runs as" in e.value.message
    # Another role in the same account is fine.
    create_role(iam, "ci")
    other = await revoker.resolve("ci", kind=KeyKind.SHORT_TERM, account="main")
    assert revoker.plan(other, ["revoke_sessions"]).steps


async def test_the_bots_own_role_is_refused_for_removals_too(iam: Any, moto_aws: None) -> None:
    # An undo (allow_role, lift_session_revocation) on the role the bot runs as would remove a
    # guard someone else put there; IAM's ProtectRevokerRoles deny would refuse it after approval.
    create_role(iam, "Revoker")
    # IAM names ignore case: the session's ARN may spell the role otherwise than GetRole does.
    settings = make_settings(
        accounts={"main": {"account_id": "123456789012",
                           "role_arn": "arn:aws:iam::123456789012:role/revoker"}}
    )  # fmt: skip
    revoker = Revoker(settings, new_clients(settings), settle_delays=())
    target = await revoker.resolve("Revoker", kind=KeyKind.SHORT_TERM, account="main")
    assert target.facts is not None and target.facts.caller_role_name == "revoker"
    for action in ("allow_role", "lift_session_revocation", "deny_role"):
        with pytest.raises(Refused) as e:
            revoker.plan(target, [action])
        assert "the role this bot runs as" in e.value.message


async def test_the_revoker_roles_the_deploy_policy_protects_are_refused(
    iam: Any, revoker: Revoker
) -> None:
    # Not the role the bot runs as here, but one ProtectRevokerRoles covers (another replica's,
    # or the role it assumes in a target account): refused before anyone is asked to approve.
    for name in ("BedrockKeyRevoker", "bedrockkeyrevoker-staging"):
        create_role(iam, name)
        target = await revoker.resolve(name, kind=KeyKind.SHORT_TERM)
        for action in ("revoke_sessions", "deny_role", "allow_role", "lift_session_revocation"):
            with pytest.raises(Refused) as e:
                revoker.plan(target, [action])
            assert "one of this tool's own roles" in e.value.message


async def test_akia_signed_key_refuses_revoke_sessions_and_deny_user_works(
    iam: Any, revoker: Revoker
) -> None:
    iam.create_user(UserName="bob")
    leaked, access_key_id = short_term_key_from_user(iam, "bob")
    create_role(iam, "ci")
    target = await revoker.resolve(leaked, role="ci")  # even with a role given
    with pytest.raises(Refused) as e:
        revoker.plan(target, ["revoke_sessions"])
    assert e.value.suggestion is not None
    assert "deny_user on bob" in e.value.suggestion and access_key_id in e.value.suggestion
    report = await revoker.run(revoker.plan(target, ["deny_user"]))
    assert report.status == "completed"
    (name,) = iam.list_user_policies(UserName="bob")["PolicyNames"]
    assert name.startswith(policies.DENY_POLICY_NAME + "-")


async def test_session_signed_key_allows_revoke_sessions(iam: Any, revoker: Revoker) -> None:
    role = create_role(iam, "ci")
    target = await revoker.resolve(short_term_key_from_role(role["Arn"]), role="ci")
    plan = revoker.plan(target, ["revoke_sessions", "deny_role"])
    assert [s.action for s in plan.steps] == [Action.DENY_ROLE, Action.REVOKE_SESSIONS]
    assert any("works until" in n for n in plan.notes)


async def test_long_term_actions_refused_on_a_short_term_key(iam: Any, revoker: Revoker) -> None:
    role = create_role(iam, "ci")
    target = await revoker.resolve(short_term_key_from_role(role["Arn"]), role="ci")
    with pytest.raises(Refused):
        revoker.plan(target, ["delete"])


async def test_deny_user_over_the_user_inline_quota_is_refused(iam: Any, revoker: Revoker) -> None:
    key = create_long_term_key(iam, "alice")
    deny_size = policies.policy_size(policies.deny_bearer_token())
    # An existing inline policy that leaves one character too few for ours.
    room = policies.USER_INLINE_POLICY_QUOTA - deny_size + 1
    filler = {"Version": "2012-10-17", "Statement": [{"Sid": "", "Effect": "Allow",
              "Action": "s3:GetObject", "Resource": "*"}]}  # fmt: skip
    filler["Statement"][0]["Sid"] = "x" * (room - policies.policy_size(filler))  # type: ignore[index]
    assert policies.policy_size(filler) == room
    iam.put_user_policy(UserName="alice", PolicyName="app", PolicyDocument=json.dumps(filler))
    target = await revoker.resolve(key.key)
    with pytest.raises(Refused) as e:
        revoker.plan(target, ["deny_user"])
    assert "2048" in e.value.message
    assert e.value.suggestion and "Deactivate" in e.value.suggestion
    # Key-level actions are unaffected by the user's policy quota.
    assert revoker.plan(target, ["deactivate"]).steps


async def test_an_older_shared_deny_counts_against_the_quota(iam: Any, revoker: Revoker) -> None:
    # A request attaches its own deny beside one an older request attached under the shared
    # name, so that one takes room like any other policy: refused, naming it, not truncated.
    key = create_long_term_key(iam, "alice")
    deny = policies.deny_bearer_token()
    iam.put_user_policy(UserName="alice", PolicyName=policies.DENY_POLICY_NAME,
                        PolicyDocument=json.dumps(deny))  # fmt: skip
    room = policies.USER_INLINE_POLICY_QUOTA - policies.policy_size(deny)
    filler = {"Version": "2012-10-17", "Statement": [{"Sid": "", "Effect": "Allow",
              "Action": "s3:GetObject", "Resource": "*"}]}  # fmt: skip
    filler["Statement"][0]["Sid"] = "x" * (room - policies.policy_size(filler))  # type: ignore[index]
    iam.put_user_policy(UserName="alice", PolicyName="app", PolicyDocument=json.dumps(filler))
    target = await revoker.resolve(key.key)
    assert target.facts is not None and target.facts.user_denied
    with pytest.raises(Refused) as e:
        revoker.plan(target, ["deny_user"])
    assert policies.DENY_POLICY_NAME in e.value.message and "2048" in e.value.message
    assert revoker.plan(target, ["deactivate"]).steps


def outcomes_of(report: Any) -> list[str]:
    return [r.outcome.value for r in report.results]


async def test_revoke_sessions_leaves_the_consoles_later_cutoff_alone(
    iam: Any, revoker: Revoker
) -> None:
    create_role(iam, "ci")
    now = datetime.now(UTC).replace(microsecond=0)
    existing = now - timedelta(minutes=5)
    console = policies.revoke_older_sessions(existing, now=now)
    iam.put_role_policy(
        RoleName="ci", PolicyName="AWSRevokeOlderSessions", PolicyDocument=json.dumps(console)
    )
    target = await revoker.resolve("ci", kind=KeyKind.SHORT_TERM)
    assert target.facts is not None and target.facts.session_revocation_time == existing
    plan = revoker.plan(
        target, ["revoke_sessions"], revoke_before=now - timedelta(hours=1), now=now
    )
    (step,) = plan.steps
    assert step.params["PolicyName"].startswith(policies.SESSION_CUTOFF_POLICY_PREFIX + "-")
    assert (await revoker.run(plan)).status == "completed"
    held = iam.get_role_policy(RoleName="ci", PolicyName="AWSRevokeOlderSessions")
    assert policies.same_policy(held["PolicyDocument"], console)


async def test_user_with_two_keys_needs_a_credential_id(iam: Any, revoker: Revoker) -> None:
    a = create_long_term_key(iam, "alice")
    create_long_term_key(iam, "alice")
    target = await revoker.resolve("alice")
    with pytest.raises(Refused) as e:
        revoker.plan(target, ["delete"])
    assert e.value.suggestion and a.credential_id in e.value.suggestion
    by_id = await revoker.resolve(a.credential_id)
    assert (await revoker.run(revoker.plan(by_id, ["delete"]))).status == "completed"
