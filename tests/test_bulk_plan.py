"""Bulk scopes resolved into a snapshot plan: real boto3 against moto (with the sandbox's
service-specific credentials), and `bedrock-revoker bulk plan` against a moto server."""

from __future__ import annotations

import json
import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import ACCOUNT_ID, boto_session, create_long_term_key

from bot import cli, policies
from bot.aws import AwsClients
from bot.errors import InvalidInput, NotFound, Refused
from bot.revocation import bulk
from bot.revocation.model import Action, Credential
from bot.sandbox import iam as sandbox


def _keys(iam: Any, users: dict[str, int]) -> dict[str, list[str]]:
    """Users with that many Bedrock keys each (IAM allows two per user)."""
    made: dict[str, list[str]] = {}
    for user, n in users.items():
        made[user] = [create_long_term_key(iam, user).credential_id for _ in range(n)]
    return made


def _status(iam: Any, user: str) -> dict[str, str]:
    listed = iam.list_service_specific_credentials(UserName=user)["ServiceSpecificCredentials"]
    return {c["ServiceSpecificCredentialId"]: c["Status"] for c in listed}


def test_user_scope_is_a_snapshot_of_that_users_keys_only(iam: Any, clients: AwsClients) -> None:
    made = _keys(iam, {"alice": 2, "bob": 1})
    plan = bulk.resolve_sync(clients, bulk.parse_scope("user:alice"))

    assert {k.credential_id for k in plan.keys} == set(made["alice"])
    assert plan.users == ("alice",)
    assert plan.actions == (Action.DEACTIVATE,)  # the default
    calls = list(plan.calls())
    assert [c.operation for c in calls] == ["UpdateServiceSpecificCredential"] * 2
    assert {c.params["ServiceSpecificCredentialId"] for c in calls} == set(made["alice"])
    assert all(c.params == {**c.params, "UserName": "alice", "Status": "Inactive"} for c in calls)
    assert plan.account_id == ACCOUNT_ID
    # A key created after the snapshot is not in the plan: what is approved is what runs.
    iam.create_service_specific_credential(UserName="bob", ServiceName=sandbox.BEDROCK)
    assert len(plan.keys) == 2
    assert any("Run the same scope again" in n for n in plan.notes)


def test_account_scope_follows_every_page_of_all_users(iam: Any, clients: AwsClients) -> None:
    made = _keys(iam, {f"user-{i:02d}": 1 + i % 2 for i in range(12)})  # 18 keys on 12 users
    listed_before = sandbox.seen("ListServiceSpecificCredentials")

    plan = bulk.resolve_sync(clients, bulk.parse_scope("account"), page_size=5)

    every = {cid for ids in made.values() for cid in ids}
    assert [k.credential_id for k in plan.keys if k.credential_id in every] == [
        k.credential_id for k in plan.keys
    ]
    assert {k.credential_id for k in plan.keys} == every
    assert len(plan.keys) == 18  # each once
    assert sandbox.seen("ListServiceSpecificCredentials") - listed_before == 4  # 5+5+5+3
    assert len(plan.users) == 12


def test_resolution_changes_nothing_in_iam(iam: Any, clients: AwsClients) -> None:
    made = _keys(iam, {"alice": 2, "bob": 2})
    plan = bulk.resolve_sync(clients, bulk.parse_scope("account"), ["deny_user", "delete"])

    assert plan.call_count == 2 + 4
    assert sandbox.seen("UpdateServiceSpecificCredential") == 0
    assert sandbox.seen("DeleteServiceSpecificCredential") == 0
    assert sandbox.seen("PutUserPolicy") == 0
    for user, ids in made.items():
        assert _status(iam, user) == dict.fromkeys(ids, "Active")


def test_deny_user_once_per_user_then_each_key(iam: Any, clients: AwsClients) -> None:
    _keys(iam, {"alice": 2, "bob": 1})
    plan = bulk.resolve_sync(
        clients,
        bulk.parse_scope("account"),
        ["delete", "deny_user", "deactivate"],
        deny_actions=["bedrock:CallWithBearerToken"],
    )

    calls = list(plan.calls())
    ops = [(c.action, c.operation) for c in calls]
    assert ops == [
        (Action.DENY_USER, "PutUserPolicy"),
        (Action.DENY_USER, "PutUserPolicy"),
        *[(Action.DEACTIVATE, "UpdateServiceSpecificCredential")] * 3,
        *[(Action.DELETE, "DeleteServiceSpecificCredential")] * 3,
    ]
    assert [c.params["UserName"] for c in calls[:2]] == ["alice", "bob"]
    assert calls[0].policy_document == policies.deny_bearer_token(["bedrock:CallWithBearerToken"])
    # Call i is the same call however it is reached: derived, not stored one by one.
    assert [plan.call(i) for i in range(plan.call_count)] == calls
    assert [len(r) for _, r in plan.phases()] == [2, 3, 3]


def test_filters_narrow_the_snapshot(iam: Any, clients: AwsClients) -> None:
    made = _keys(iam, {"alice": 2, "BedrockAPIKey-7q2x": 1})
    iam.update_service_specific_credential(
        UserName="alice", ServiceSpecificCredentialId=made["alice"][0], Status="Inactive"
    )

    def resolved(**filters: Any) -> set[str]:
        scope = bulk.parse_scope("account", filters=bulk.ScopeFilters(**filters))
        return {k.credential_id for k in bulk.resolve_sync(clients, scope).keys}

    assert resolved(active_only=True) == {made["alice"][1], made["BedrockAPIKey-7q2x"][0]}
    assert resolved(console_users_only=True) == set(made["BedrockAPIKey-7q2x"])
    later = datetime.now(UTC) + timedelta(minutes=1)
    assert len(resolved(created_before=later)) == 3
    with pytest.raises(Refused, match="no Bedrock API key matches"):
        resolved(created_before=later - timedelta(days=1))


def test_created_before_is_strict_and_needs_a_creation_time() -> None:
    t = datetime(2026, 1, 1, tzinfo=UTC)
    f = bulk.ScopeFilters(created_before=t)

    def key(created: datetime | None) -> Credential:
        return Credential(
            credential_id="A" * 21, user_name="u", status="Active", created_at=created
        )

    assert f.admits(key(t - timedelta(seconds=1)))
    assert not f.admits(key(t))
    assert not f.admits(key(None))  # unknown age: not assumed old


def test_refusals_before_or_instead_of_changes(iam: Any, clients: AwsClients) -> None:
    _keys(iam, {"alice": 1})
    with pytest.raises(Refused, match="reset is not offered"):
        bulk.resolve_sync(clients, bulk.parse_scope("user:alice"), ["reset"])
    with pytest.raises(NotFound, match="no IAM user nobody"):
        bulk.resolve_sync(clients, bulk.parse_scope("user:nobody"))
    iam.create_user(UserName="carol")
    with pytest.raises(Refused, match="Nothing to do"):
        bulk.resolve_sync(clients, bulk.parse_scope("user:carol"))
    for bad in ("user:bad name", "user:", "users:alice", "everything", "user:" + "a" * 65):
        with pytest.raises(InvalidInput):
            bulk.parse_scope(bad)


# --- the command ---------------------------------------------------------------------------


@pytest.fixture
def cli_env(aws_server: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith(("REVOKER_", "SLACK_")):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def _run(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "stdin", None)
    code = cli.main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_bulk_plan_prints_the_snapshot_and_every_call_as_json(
    cli_env: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    iam = boto_session().client("iam")  # over HTTP, as the command reaches it
    made = _keys(iam, {"alice": 2, "bob": 1})

    code, out, err = _run(
        monkeypatch,
        capsys,
        ["bulk", "plan", "--scope", "account", "--action", "deny_user", "--action", "deactivate"],
    )

    assert (code, err) == (0, "")
    plan = json.loads(out)
    assert plan["scope"] == "account"
    assert plan["account_id"] == ACCOUNT_ID
    assert plan["actions"] == ["deny_user", "deactivate"]
    assert plan["counts"] == {"keys": 3, "users": 2, "calls": 5, "by_status": {"Active": 3}}
    assert {k["credential_id"] for k in plan["keys"]} == {c for ids in made.values() for c in ids}
    assert [c["operation"] for c in plan["calls"]] == ["PutUserPolicy"] * 2 + [
        "UpdateServiceSpecificCredential"
    ] * 3
    assert plan["calls"][0]["params"]["PolicyDocument"] == policies.deny_bearer_token()
    # Nothing changed: the command only reads.
    assert _status(iam, "alice") == dict.fromkeys(made["alice"], "Active")
    assert iam.list_user_policies(UserName="alice")["PolicyNames"] == []


def test_bulk_plan_filters_and_user_scope(
    cli_env: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    iam = boto_session().client("iam")
    made = _keys(iam, {"alice": 2, "bob": 1})
    iam.update_service_specific_credential(
        UserName="alice", ServiceSpecificCredentialId=made["alice"][0], Status="Inactive"
    )

    code, out, _ = _run(
        monkeypatch, capsys, ["bulk", "plan", "--scope", "user:alice", "--active-only"]
    )

    assert code == 0
    plan = json.loads(out)
    assert [k["credential_id"] for k in plan["keys"]] == [made["alice"][1]]
    assert plan["filters"]["active_only"] is True
    assert plan["calls"] == [
        {
            "action": "deactivate",
            "operation": "UpdateServiceSpecificCredential",
            "params": {
                "UserName": "alice",
                "ServiceSpecificCredentialId": made["alice"][1],
                "Status": "Inactive",
            },
        }
    ]


@pytest.mark.parametrize(
    ("argv", "code", "said"),
    [
        (["--scope", "user:bad name"], 2, "user name"),
        (["--scope", "all"], 2, "user:<IAM user name> or account"),
        (["--scope", "account", "--action", "reset"], 2, "reset is not offered"),
        (["--scope", "account", "--created-before", "yesterday"], 2, "ISO-8601"),
        (["--scope", "account", "--created-before", "2026-01-01T00:00:00"], 2, "timezone"),
        (["--scope", "account", "--account", "nope"], 2, "nope"),
        (["--scope", "user:ghost"], 1, "no IAM user ghost"),
        (["--scope", "account"], 1, "Nothing to do"),
    ],
)
def test_bulk_plan_refusals(
    cli_env: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    code: int,
    said: str,
) -> None:
    got, out, err = _run(monkeypatch, capsys, ["bulk", "plan", *argv])

    assert (got, out) == (code, "")
    assert err.startswith("error: ") and said in err
