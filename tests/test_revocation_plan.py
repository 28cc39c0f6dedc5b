"""Planning and guards: pure, on hand-made targets (no AWS)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot import policies
from bot.errors import InvalidInput, Refused
from bot.revocation.model import (
    Action,
    Credential,
    DecodedKey,
    Facts,
    InlinePolicy,
    KeyKind,
    RevocationPlan,
    Role,
    Target,
)
from bot.revocation.planner import ORDER, parse_actions, plan, undo_actions

NOW = datetime(2025, 6, 1, 12, 0, 0, tzinfo=UTC)
CID = "ACCAEXAMPLE000000001"


def cred(cid: str = CID, status: str = "Active", expires_at: datetime | None = None) -> Credential:
    return Credential(credential_id=cid, user_name="alice", status=status, expires_at=expires_at)


def facts(**kw: object) -> Facts:
    return Facts(resolved_at=NOW, **kw)  # type: ignore[arg-type]


def long_target(**kw: object) -> Target:
    base: dict[str, object] = {
        "kind": KeyKind.LONG_TERM,
        "user_name": "alice",
        "credential": cred(),
        "facts": facts(caller_arn="arn:aws:sts::123456789012:assumed-role/revoker/s",
                       caller_role_name="revoker"),
    }  # fmt: skip
    base.update(kw)
    return Target(**base)  # type: ignore[arg-type]


def role_target(name: str = "ci", path: str = "/", **kw: object) -> Target:
    base: dict[str, object] = {
        "kind": KeyKind.SHORT_TERM,
        "role": Role(name=name, arn=f"arn:aws:iam::123456789012:role{path}{name}", path=path),
        "facts": facts(caller_role_name="revoker"),
    }
    base.update(kw)
    return Target(**base)  # type: ignore[arg-type]


def akia_key() -> DecodedKey:
    return DecodedKey(
        kind=KeyKind.SHORT_TERM,
        fingerprint="deadbeef",
        access_key_id="AKIAEXAMPLEEXAMPLE12",
        signed_by="user",
        region="us-east-1",
        issued_at=NOW,
        expires_at=NOW + timedelta(hours=12),
        expired=False,
    )


# -- each action's call ------------------------------------------------------------------------


def test_deactivate_is_update_inactive_with_user_name() -> None:
    p = plan(long_target(), ["deactivate"], now=NOW)
    (step,) = p.steps
    assert step.operation == "UpdateServiceSpecificCredential"
    assert step.params == {"UserName": "alice", "ServiceSpecificCredentialId": CID,
                           "Status": "Inactive"}  # fmt: skip
    assert p.actions == (Action.DEACTIVATE,)


def test_reactivate_is_update_active() -> None:
    (step,) = plan(long_target(credential=cred(status="Inactive")), ["reactivate"], now=NOW).steps
    assert step.params["Status"] == "Active"
    assert step.params["UserName"] == "alice"


def test_reset_and_delete_pass_user_name() -> None:
    (reset,) = plan(long_target(), ["reset"], now=NOW).steps
    (delete,) = plan(long_target(), ["delete"], now=NOW).steps
    assert reset.operation == "ResetServiceSpecificCredential"
    assert delete.operation == "DeleteServiceSpecificCredential"
    for step in (reset, delete):
        assert step.params == {"UserName": "alice", "ServiceSpecificCredentialId": CID}


def test_deny_user_attaches_the_full_deny_policy() -> None:
    p = plan(long_target(), ["deny_user"], now=NOW)
    (step,) = p.steps
    assert step.operation == "PutUserPolicy"
    assert step.params["UserName"] == "alice"
    # The request's own policy: its undo removes it and nothing another request attached.
    assert step.params["PolicyName"] == policies.deny_policy_name(p.plan_id[:12])
    assert step.policy_document == policies.deny_bearer_token()
    assert any("bedrock-mantle:CallWithBearerToken" in n for n in p.notes)


def test_deny_actions_come_from_settings_or_argument() -> None:
    p = plan(long_target(), ["deny_user"], now=NOW, deny_actions=["bedrock:CallWithBearerToken"])
    assert p.steps[0].policy_document == policies.deny_bearer_token(["bedrock:CallWithBearerToken"])


def test_deny_role_and_revoke_sessions() -> None:
    p = plan(role_target(), ["revoke_sessions", "deny_role"], now=NOW)
    deny, revoke = p.steps
    assert (deny.operation, deny.params["RoleName"]) == ("PutRolePolicy", "ci")
    assert deny.params["PolicyName"] == policies.deny_policy_name(p.plan_id[:12])
    assert revoke.params["PolicyName"] == policies.session_cutoff_policy_name(p.plan_id[:12])
    assert revoke.policy_document == policies.revoke_older_sessions(NOW, now=NOW)
    assert p.revoke_before == NOW
    assert any("EVERY action to EVERY session of role ci" in n for n in p.notes)


def test_revoke_sessions_at_a_chosen_time() -> None:
    before = NOW - timedelta(hours=2)
    p = plan(role_target(), ["revoke_sessions"], now=NOW, revoke_before=before)
    assert policies.session_revocation_time(p.steps[0].params["PolicyDocument"]) == before


def test_revoke_sessions_in_the_future_is_refused() -> None:
    with pytest.raises(InvalidInput):
        plan(role_target(), ["revoke_sessions"], now=NOW, revoke_before=NOW + timedelta(hours=1))


def test_naive_times_are_refused() -> None:
    with pytest.raises(InvalidInput):
        plan(role_target(), ["revoke_sessions"], now=NOW, revoke_before=datetime(2025, 1, 1))
    with pytest.raises(InvalidInput):
        plan(role_target(), ["revoke_sessions"], now=datetime(2025, 1, 1))


def test_reversals_remove_exactly_the_policies_the_undone_request_attached() -> None:
    denied = plan(long_target(), ["deny_user"], now=NOW)
    allow_user = plan(long_target(), ["allow_user"], now=NOW, undoing=denied).steps[0]
    assert allow_user.operation == "DeleteUserPolicy"
    assert allow_user.params == {
        "UserName": "alice",
        "PolicyName": denied.steps[0].params["PolicyName"],
    }
    contained = plan(role_target(), ["deny_role", "revoke_sessions"], now=NOW)
    steps = plan(
        role_target(), ["allow_role", "lift_session_revocation"], now=NOW, undoing=contained
    ).steps
    tag = contained.plan_id[:12]
    assert [(s.operation, s.params["PolicyName"]) for s in steps] == [
        ("DeleteRolePolicy", policies.session_cutoff_policy_name(tag)),
        ("DeleteRolePolicy", policies.deny_policy_name(tag)),
    ]
    # An older request wrote the shared names: its undo removes those, as it put them.
    legacy = contained.model_copy(
        update={
            "steps": tuple(
                s.model_copy(update={"params": {**s.params, "PolicyName": name}})
                for s, name in zip(
                    contained.steps,
                    (policies.DENY_POLICY_NAME, policies.REVOKE_SESSIONS_POLICY_NAME),
                    strict=True,
                )
            )
        }
    )
    steps = plan(role_target(), ["allow_role"], now=NOW, undoing=legacy).steps
    assert [s.params["PolicyName"] for s in steps] == [policies.DENY_POLICY_NAME]


# -- order, parsing, undo -----------------------------------------------------------------------


def test_combined_long_term_order_is_deny_then_deactivate_then_delete() -> None:
    p = plan(long_target(), ["delete", "deactivate", "deny_user"], now=NOW)
    assert [s.action for s in p.steps] == [Action.DENY_USER, Action.DEACTIVATE, Action.DELETE]


def test_reset_is_dropped_when_delete_is_asked() -> None:
    p = plan(long_target(), ["reset", "delete"], now=NOW)
    assert [s.action for s in p.steps] == [Action.DELETE]
    assert any("reset is not planned" in n for n in p.notes)


def test_parse_actions_rejects_unknown_and_empty() -> None:
    with pytest.raises(InvalidInput) as e:
        parse_actions(["deactivate", "nuke"])
    assert e.value.field == "actions"
    with pytest.raises(InvalidInput):
        parse_actions([])
    assert parse_actions(["delete", "deny_user", "delete"]) == (Action.DENY_USER, Action.DELETE)


def test_undo_actions_of_a_completed_plan() -> None:
    p = plan(long_target(), ["deactivate", "deny_user", "delete"], now=NOW)
    assert undo_actions(p) == (Action.ALLOW_USER, Action.REACTIVATE)
    p = plan(role_target(), ["deny_role", "revoke_sessions"], now=NOW)
    assert undo_actions(p) == (Action.LIFT_SESSION_REVOCATION, Action.ALLOW_ROLE)
    assert undo_actions(plan(long_target(), ["reset"], now=NOW)) == ()


def test_undo_plan_reverses_the_plan() -> None:
    done = plan(long_target(), ["deactivate", "deny_user"], now=NOW)
    undo = plan(
        long_target(credential=cred(status="Inactive")), undo_actions(done), now=NOW, undoing=done
    )
    assert [s.operation for s in undo.steps] == [
        "DeleteUserPolicy",
        "UpdateServiceSpecificCredential",
    ]


def test_plan_round_trips_through_json() -> None:
    p = plan(role_target(), ["deny_role", "revoke_sessions"], now=NOW)
    again = RevocationPlan.model_validate_json(p.model_dump_json())
    assert again == p
    assert json.loads(p.model_dump_json())["steps"][1]["params"]["PolicyDocument"]["Statement"]


@given(st.sets(st.sampled_from([Action.DEACTIVATE, Action.RESET, Action.DELETE,
                                Action.DENY_USER]), min_size=1))  # fmt: skip
def test_any_long_term_combination_follows_order_and_names_the_user(
    actions: set[Action],
) -> None:
    p = plan(long_target(), actions, now=NOW)
    indexes = [ORDER.index(s.action) for s in p.steps]
    assert indexes == sorted(indexes)
    assert all(s.params["UserName"] == "alice" for s in p.steps)


# -- guards -------------------------------------------------------------------------------------


def test_actions_must_fit_the_key_type() -> None:
    with pytest.raises(Refused) as e:
        plan(long_target(), ["revoke_sessions"], now=NOW)
    assert e.value.suggestion and "deactivate" in e.value.suggestion
    with pytest.raises(Refused) as e:
        plan(role_target(), ["deactivate"], now=NOW)
    assert e.value.suggestion and "deny_role" in e.value.suggestion


def test_contradictory_actions_are_refused() -> None:
    with pytest.raises(Refused):
        plan(long_target(), ["deny_user", "allow_user"], now=NOW)


def test_identity_center_roles_are_refused() -> None:
    for target in (
        role_target("AWSReservedSSO_Admin_0123456789abcdef"),
        role_target("Admin", path="/aws-reserved/sso.amazonaws.com/"),
    ):
        for action in ("deny_role", "revoke_sessions", "allow_role"):
            with pytest.raises(Refused) as e:
                plan(target, [action], now=NOW)
            assert "Identity Center" in e.value.message
            assert e.value.suggestion


def test_service_linked_roles_are_refused() -> None:
    target = role_target(
        "AWSServiceRoleForSupport", path="/aws-service-role/support.amazonaws.com/"
    )
    with pytest.raises(Refused) as e:
        plan(target, ["deny_role"], now=NOW)
    assert "service-linked" in e.value.message


def test_the_bots_own_role_is_refused() -> None:
    for action in ("deny_role", "revoke_sessions"):
        with pytest.raises(Refused) as e:
            plan(role_target("revoker"), [action], now=NOW)
        assert "the role this bot runs as" in e.value.message
    # Giving back is refused too: it cannot lock the bot out, but a session revocation or deny on
    # the bot's own role may be someone's guard against the bot's leaked credentials (and the
    # deploy policy's ProtectRevokerRoles makes IAM refuse DeleteRolePolicy there anyway).
    for action in ("allow_role", "lift_session_revocation"):
        with pytest.raises(Refused) as e:
            plan(role_target("revoker"), [action], now=NOW)
        assert "the role this bot runs as" in e.value.message
    denied = plan(role_target("ci"), ["deny_role"], now=NOW)
    assert plan(role_target("ci"), ["allow_role"], now=NOW, undoing=denied).steps


def test_revoke_sessions_refused_for_akia_signed_key_suggests_deny_user() -> None:
    target = role_target(key=akia_key(), user_name="bob")
    with pytest.raises(Refused) as e:
        plan(target, ["revoke_sessions"], now=NOW)
    assert e.value.suggestion and "deny_user on bob" in e.value.suggestion
    assert "AKIAEXAMPLEEXAMPLE12" in e.value.suggestion
    # ... and what it suggests is accepted for that target.
    p = plan(target, ["deny_user"], now=NOW)
    assert p.steps[0].params["UserName"] == "bob"
    assert any("until it is deactivated (deactivate_access_key)" in n for n in p.notes)


def test_akia_signed_key_without_a_known_user_is_refused() -> None:
    target = Target(kind=KeyKind.SHORT_TERM, key=akia_key(), facts=facts())
    with pytest.raises(Refused) as e:
        plan(target, ["deny_user"], now=NOW)
    assert e.value.field == "identifier"


def test_role_actions_need_a_role() -> None:
    with pytest.raises(Refused) as e:
        plan(Target(kind=KeyKind.SHORT_TERM), ["deny_role"], now=NOW)
    assert e.value.field == "role"


def test_reset_of_an_expired_key_is_refused_suggesting_delete() -> None:
    for expired in (cred(status="Expired"), cred(expires_at=NOW - timedelta(days=1))):
        with pytest.raises(Refused) as e:
            plan(long_target(credential=expired), ["reset"], now=NOW)
        assert e.value.suggestion and "delete" in e.value.suggestion.lower()
    assert plan(long_target(credential=cred(status="Expired")), ["delete"], now=NOW).steps


def test_reactivate_of_an_expired_key_is_refused() -> None:
    with pytest.raises(Refused):
        plan(long_target(credential=cred(status="Expired")), ["reactivate"], now=NOW)


def test_key_actions_on_a_user_with_two_keys_list_them() -> None:
    two = (cred("ACCAEXAMPLE000000001"), cred("ACCAEXAMPLE000000002", status="Inactive"))
    target = long_target(credential=None, other_credentials=two)
    with pytest.raises(Refused) as e:
        plan(target, ["deactivate"], now=NOW)
    assert e.value.suggestion
    assert "ACCAEXAMPLE000000001" in e.value.suggestion
    assert "ACCAEXAMPLE000000002" in e.value.suggestion
    assert plan(target, ["deny_user"], now=NOW).steps  # the user-level action still works


def test_deny_user_over_the_2048_quota_is_refused() -> None:
    deny_size = policies.policy_size(policies.deny_bearer_token())
    room = policies.USER_INLINE_POLICY_QUOTA - deny_size
    fits = facts(user_inline_policies=(InlinePolicy(name="app", size=room),))
    assert plan(long_target(facts=fits), ["deny_user"], now=NOW).steps
    over = facts(user_inline_policies=(InlinePolicy(name="app", size=room + 1),))
    with pytest.raises(Refused) as e:
        plan(long_target(facts=over), ["deny_user"], now=NOW)
    assert "2048" in e.value.message and "app" in e.value.message
    assert e.value.suggestion


def test_quota_counts_another_requests_deny_policy() -> None:
    # Each request attaches its own deny, so another request's deny takes room like any policy.
    theirs = InlinePolicy(name=policies.deny_policy_name("0123456789ab"), size=1900)
    small = InlinePolicy(name="app", size=100)
    with pytest.raises(Refused) as e:
        plan(long_target(facts=facts(user_inline_policies=(theirs, small))), ["deny_user"],
             now=NOW)  # fmt: skip
    assert policies.deny_policy_name("0123456789ab") in e.value.message


def test_role_quota_is_checked_too() -> None:
    big = facts(role_inline_policies=(InlinePolicy(name="huge", size=10_200),))
    with pytest.raises(Refused) as e:
        plan(role_target(facts=big), ["deny_role"], now=NOW)
    assert "10240" in e.value.message


def test_revoke_sessions_adds_its_own_cutoff_beside_an_earlier_one() -> None:
    existing = NOW - timedelta(minutes=10)
    target = role_target(facts=facts(session_revocation_time=existing))
    p = plan(target, ["revoke_sessions"], now=NOW)
    assert p.revoke_before == NOW
    (note,) = [n for n in p.notes if "already revokes sessions" in n]
    assert policies.format_time(existing) in note and "changes no other" in note


def test_revoke_sessions_beside_a_later_cutoff_moves_nothing_backwards() -> None:
    # Another cutoff, later than this request's, stays as it is and still applies: this request
    # writes its own policy and never touches another's, so nothing is moved back.
    later = NOW + timedelta(minutes=3)
    target = role_target(facts=facts(session_revocation_time=later))
    p = plan(
        target, ["deny_role", "revoke_sessions"], now=NOW, revoke_before=NOW - timedelta(hours=1)
    )
    assert [s.action for s in p.steps] == [Action.DENY_ROLE, Action.REVOKE_SESSIONS]
    assert any("(later; it still applies)" in n for n in p.notes)


def test_reset_destination_is_part_of_the_plan() -> None:
    p = plan(long_target(), ["reset"], now=NOW, reset_secret_destination="secretsmanager")
    assert p.reset_secret_destination == "secretsmanager"
    assert any(f"bedrock-key-revoker/alice/{CID}" in n for n in p.notes)
    assert plan(long_target(), ["reset"], now=NOW).reset_secret_destination == "discard"
