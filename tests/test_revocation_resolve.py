"""Resolution against moto through the real boto3 client."""

from __future__ import annotations

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
from bot.aws import AwsClients
from bot.errors import AwsError, InvalidInput, InvalidKey, NotFound
from bot.revocation.model import IdentifierType, KeyKind
from bot.revocation.service import Revoker
from bot.revocation.targets import classify
from bot.sandbox import iam as sandbox


class CallCounter:
    """Counts every AWS call a client makes (botocore's before-call event: observation only)."""

    def __init__(self, *clients: Any) -> None:
        self.names: list[str] = []
        for client in clients:
            client.meta.events.register("before-call", self._seen)

    def _seen(self, model: Any, **_: Any) -> None:
        self.names.append(model.name)


def counter(clients: AwsClients) -> CallCounter:
    return CallCounter(clients.iam(), clients.sts(), clients.secretsmanager())


async def test_pasted_long_term_key_finds_its_credential(iam: Any, revoker: Revoker) -> None:
    key = create_long_term_key(iam, "alice")
    other = create_long_term_key(iam, "alice")
    target = await revoker.resolve(key.key)
    assert target.kind is KeyKind.LONG_TERM
    assert target.user_name == "alice"
    assert target.account_id == "123456789012"
    assert target.credential is not None
    assert target.credential.credential_id == key.credential_id
    assert target.credential.status == "Active"
    assert target.credential.created_at is not None
    assert [c.credential_id for c in target.other_credentials] == [other.credential_id]
    assert target.key is not None and target.key.alias == key.alias
    # The key itself is nowhere in the target.
    assert key.key not in target.model_dump_json()
    assert key.key.removeprefix("ABSK") not in repr(target)


async def test_pasted_key_of_a_deleted_credential_is_not_found(iam: Any, revoker: Revoker) -> None:
    key = create_long_term_key(iam, "alice")
    iam.delete_service_specific_credential(
        UserName="alice", ServiceSpecificCredentialId=key.credential_id
    )
    with pytest.raises(NotFound) as e:
        await revoker.resolve(key.key)
    assert "already deleted" in e.value.message


async def test_pasted_key_of_a_deleted_user_is_not_found(iam: Any, revoker: Revoker) -> None:
    key = create_long_term_key(iam, "alice")
    iam.delete_service_specific_credential(
        UserName="alice", ServiceSpecificCredentialId=key.credential_id
    )
    iam.delete_user(UserName="alice")
    with pytest.raises(NotFound) as e:
        await revoker.resolve(key.key)
    assert "no IAM user named alice" in e.value.message


async def test_credential_id_finds_its_owner_across_pages(iam: Any, revoker: Revoker) -> None:
    keys = [create_long_term_key(iam, f"user{i}") for i in range(5)]
    wanted = keys[-1]
    # Force small pages so the Marker has to be followed (real accounts have
    # hundreds of keys; botocore has no paginator for this call).
    sent: list[dict[str, Any]] = []

    def small_pages(params: dict[str, Any], **_: Any) -> None:
        if params.get("AllUsers"):
            params["MaxItems"] = 2
            sent.append(dict(params))

    revoker.clients.iam().meta.events.register(
        "provide-client-params.iam.ListServiceSpecificCredentials", small_pages
    )
    target = await revoker.resolve(wanted.credential_id)
    assert target.user_name == wanted.user_name
    assert target.credential is not None
    assert target.credential.credential_id == wanted.credential_id
    assert len(sent) >= 2 and any("Marker" in p for p in sent)


async def test_unknown_credential_id_is_not_found(iam: Any, revoker: Revoker) -> None:
    create_long_term_key(iam, "alice")
    with pytest.raises(NotFound):
        await revoker.resolve("ACCA0000000000000000X")


async def test_user_with_one_key_targets_it(iam: Any, revoker: Revoker) -> None:
    key = create_long_term_key(iam, "alice")
    target = await revoker.resolve("alice")
    assert target.credential is not None
    assert target.credential.credential_id == key.credential_id
    assert target.other_credentials == ()


async def test_user_with_two_keys_targets_the_user_and_lists_keys(
    iam: Any, revoker: Revoker
) -> None:
    a = create_long_term_key(iam, "alice")
    b = create_long_term_key(iam, "alice")
    target = await revoker.resolve("alice")
    assert target.credential is None
    assert {c.credential_id for c in target.other_credentials} == {a.credential_id, b.credential_id}


async def test_user_facts_include_inline_policy_sizes(iam: Any, revoker: Revoker) -> None:
    create_long_term_key(iam, "alice")
    doc = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*",
                                                   "Resource": "*"}]}  # fmt: skip
    iam.put_user_policy(UserName="alice", PolicyName="app", PolicyDocument=policies.to_json(doc))
    target = await revoker.resolve("alice")
    assert target.facts is not None
    (p,) = target.facts.user_inline_policies
    assert (p.name, p.size) == ("app", policies.policy_size(doc))
    assert target.facts.user_denied is False
    assert target.facts.caller_arn == "arn:aws:sts::123456789012:user/moto"


async def test_unknown_user_is_not_found_in_plain_words(iam: Any, revoker: Revoker) -> None:
    with pytest.raises(NotFound) as e:
        await revoker.resolve("ghost")
    assert e.value.message == "There is no IAM user named ghost in this account."


async def test_role_by_name_and_by_arn(iam: Any, revoker: Revoker) -> None:
    role = create_role(iam, "ci-runner", path="/build/")
    by_name = await revoker.resolve("ci-runner", kind=KeyKind.SHORT_TERM)
    by_arn = await revoker.resolve(role["Arn"])
    for target in (by_name, by_arn):
        assert target.kind is KeyKind.SHORT_TERM
        assert target.role is not None
        assert (target.role.name, target.role.path, target.role.arn) == (
            "ci-runner", "/build/", role["Arn"],
        )  # fmt: skip


async def test_role_facts_include_the_session_revocation_time(iam: Any, revoker: Revoker) -> None:
    from datetime import UTC, datetime

    create_role(iam, "ci")
    cutoff = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    doc = policies.revoke_older_sessions(cutoff, now=cutoff)
    iam.put_role_policy(RoleName="ci", PolicyName="AWSRevokeOlderSessions",
                        PolicyDocument=policies.to_json(doc))  # fmt: skip
    target = await revoker.resolve("ci", kind=KeyKind.SHORT_TERM)
    assert target.facts is not None
    assert target.facts.session_revocation_time == cutoff
    assert [p.name for p in target.facts.role_inline_policies] == ["AWSRevokeOlderSessions"]


async def test_unknown_role_is_not_found(moto_aws: None, revoker: Revoker) -> None:
    with pytest.raises(NotFound) as e:
        await revoker.resolve("arn:aws:iam::123456789012:role/ghost")
    assert "no IAM role named ghost" in e.value.message


async def test_short_term_key_never_used_needs_the_role_and_says_it_is_unconfirmed(
    iam: Any, revoker: Revoker
) -> None:
    role = create_role(iam, "ci")
    leaked = short_term_key_from_role(role["Arn"])  # no call made with it: CloudTrail has nothing
    with pytest.raises(InvalidInput) as e:
        await revoker.resolve(leaked)
    assert e.value.field == "identifier"
    assert "CloudTrail could not confirm" in e.value.message
    assert "no event made with that access key" in e.value.message
    target = await revoker.resolve(leaked, role="ci")
    assert target.role is not None and target.role.name == "ci"
    assert target.signer is not None and not target.signer.confirmed
    assert target.key is not None and target.key.signed_by == "session"
    assert target.key.access_key_id and target.key.access_key_id.startswith("ASIA")
    assert leaked not in target.model_dump_json()
    plan = revoker.plan(target, ["deny_role"])
    (note,) = [n for n in plan.notes if "could NOT be confirmed" in n]
    assert "Acting on role ci as the requester named it" in note


async def test_akia_signed_short_term_key_finds_its_user(iam: Any, revoker: Revoker) -> None:
    iam.create_user(UserName="bob")
    leaked, access_key_id = short_term_key_from_user(iam, "bob")
    target = await revoker.resolve(leaked)
    assert target.kind is KeyKind.SHORT_TERM
    assert target.user_name == "bob"
    assert target.role is None
    assert target.key is not None and target.key.access_key_id == access_key_id


async def test_access_denied_is_an_aws_error_with_code_and_request_id(
    iam: Any, revoker: Revoker
) -> None:
    create_role(iam, "ci")
    sandbox.inject_error("GetRole", "AccessDenied", "User is not authorized to perform iam:GetRole")
    with pytest.raises(AwsError) as e:
        await revoker.resolve("ci", kind=KeyKind.SHORT_TERM)
    assert e.value.code == "AccessDenied"
    assert e.value.request_id
    assert "lacks iam:GetRole on role ci" in e.value.message
    assert "arn:aws:sts::123456789012:user/moto" in e.value.message


@pytest.mark.parametrize(
    ("identifier", "kwargs", "field"),
    [
        ("", {}, "identifier"),
        ("   ", {}, "identifier"),
        ("alice smith", {}, "identifier"),
        ("a" * 65, {}, "identifier"),
        ("alice;rm", {}, "identifier"),
        ("ACCA!!", {"id_type": IdentifierType.CREDENTIAL_ID}, "identifier"),
        ("ACCASHORT", {"id_type": IdentifierType.CREDENTIAL_ID}, "identifier"),
        ("ci runner", {"kind": KeyKind.SHORT_TERM}, "identifier"),
        ("arn:aws:iam::12345:role/x", {}, "identifier"),
        ("alice", {"account": "nope"}, "account"),
        ("ci", {"kind": KeyKind.SHORT_TERM, "role": "bad role"}, "role"),
        ("arn:aws:iam::123456789012:role/ci", {"kind": KeyKind.LONG_TERM}, "kind"),
    ],
)
async def test_bad_inputs_are_refused_before_any_aws_call(
    moto_aws: None, revoker: Revoker, identifier: str, kwargs: dict[str, Any], field: str
) -> None:
    calls = counter(revoker.clients)
    with pytest.raises(InvalidInput) as e:
        await revoker.resolve(identifier, **kwargs)
    assert e.value.field == field
    assert calls.names == []


async def test_malformed_key_is_refused_before_any_aws_call(
    moto_aws: None, revoker: Revoker
) -> None:
    calls = counter(revoker.clients)
    with pytest.raises(InvalidKey) as e:
        await revoker.resolve("ABSK" + "!notbase64!")
    assert "notbase64" not in e.value.message
    assert calls.names == []


async def test_key_kind_must_match_the_chosen_kind(iam: Any, revoker: Revoker) -> None:
    key = create_long_term_key(iam, "alice")
    calls = counter(revoker.clients)
    with pytest.raises(InvalidInput) as e:
        await revoker.resolve(key.key, kind=KeyKind.SHORT_TERM)
    assert e.value.field == "kind"
    assert calls.names == []


async def test_key_of_another_account_is_refused(iam: Any, monkeypatch: Any) -> None:
    settings = make_settings(
        accounts={"prod": {"account_id": "111111111111",
                           "role_arn": "arn:aws:iam::111111111111:role/revoker"}}
    )  # fmt: skip
    revoker = Revoker(settings, new_clients(settings), settle_delays=())
    key = create_long_term_key(iam, "alice")  # in 123456789012
    calls = counter(revoker.clients)
    with pytest.raises(InvalidInput) as e:
        await revoker.resolve(key.key, account="prod")
    assert e.value.field == "account" and "123456789012" in e.value.message
    assert calls.names == []


async def test_key_picks_the_configured_account_it_belongs_to(moto_aws: None) -> None:
    settings = make_settings(
        accounts={"prod": {"account_id": "111111111111",
                           "role_arn": "arn:aws:iam::111111111111:role/revoker"}}
    )  # fmt: skip
    clients = new_clients(settings)
    revoker = Revoker(settings, clients, settle_delays=())
    prod_iam = clients.iam("prod")
    key = create_long_term_key(prod_iam, "carol")
    assert key.alias.endswith("-at-111111111111")
    target = await revoker.resolve(key.key)  # no account given
    assert target.account == "prod"
    assert target.account_id == "111111111111"
    assert target.credential is not None
    assert target.credential.credential_id == key.credential_id


async def test_role_arn_in_another_account_than_chosen_is_refused(moto_aws: None) -> None:
    settings = make_settings(
        accounts={"prod": {"account_id": "111111111111",
                           "role_arn": "arn:aws:iam::111111111111:role/revoker"}}
    )  # fmt: skip
    revoker = Revoker(settings, new_clients(settings), settle_delays=())
    with pytest.raises(InvalidInput) as e:
        await revoker.resolve("arn:aws:iam::222222222222:role/ci", account="prod")
    assert e.value.field == "account"


def test_classify() -> None:
    assert classify("ABSKYWJj") is IdentifierType.KEY
    assert classify("bedrock-api-key-xyz") is IdentifierType.KEY
    assert classify("arn:aws:iam::123456789012:role/x") is IdentifierType.ROLE
    assert classify("ci", kind=KeyKind.SHORT_TERM) is IdentifierType.ROLE
    assert classify("ACCAEXAMPLE000000001") is IdentifierType.CREDENTIAL_ID
    assert classify("alice") is IdentifierType.USER
    assert classify("a_very_long_user_name_with_20_chars") is IdentifierType.USER


async def test_a_key_whose_alias_does_not_name_its_user_is_found_by_its_exact_alias(
    iam: Any, revoker: Revoker
) -> None:
    # A user name may itself end in +N, which the usual reading takes for IAM's copy counter
    # (alias "bob+1-at-…" read as user "bob"): the key must still be found, not refused.
    iam.create_user(UserName="bob")
    create_long_term_key(iam, "bob")
    leaked = create_long_term_key(iam, "bob+1")
    assert leaked.alias == "bob+1-at-123456789012"
    target = await revoker.resolve(leaked.key)
    assert target.user_name == "bob+1"
    assert target.credential is not None
    assert target.credential.credential_id == leaked.credential_id
    plan = revoker.plan(target, ["deactivate"])
    (note,) = [n for n in plan.notes if "found by its exact alias" in n]
    assert "AllUsers=true" in note and "user bob, which the alias seemed to name" in note


async def test_a_key_gone_from_every_user_is_not_found(iam: Any, revoker: Revoker) -> None:
    leaked = create_long_term_key(iam, "carol")
    iam.delete_service_specific_credential(
        UserName="carol", ServiceSpecificCredentialId=leaked.credential_id
    )
    with pytest.raises(NotFound) as e:
        await revoker.resolve(leaked.key)
    assert "every user's keys were searched" in e.value.message
