"""The sandbox's service-specific-credential operations, driven through the real boto3 client.

Every test runs twice: against moto in-process (`mock_aws`) and against a moto server over HTTP,
because the bot's tests use the first and the demo and end-to-end tests use the second.
"""

from __future__ import annotations

import base64
import re
import types
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import botocore.endpoint
import pytest
from botocore.client import BaseClient
from botocore.config import Config
from botocore.exceptions import ClientError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.sandbox import iam as sandbox

BEDROCK = "bedrock.amazonaws.com"
CODECOMMIT = "codecommit.amazonaws.com"
ACCOUNT = sandbox.DEFAULT_ACCOUNT_ID
NO_RETRY = Config(retries={"total_max_attempts": 1})
POLICY = '{"Version":"2012-10-17","Statement":{"Effect":"Deny","Action":"*","Resource":"*"}}'


@pytest.fixture(autouse=True)
def _fake_aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    for var in ("AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_BEARER_TOKEN_BEDROCK"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture(scope="module")
def server_url() -> Iterator[str]:
    with sandbox.sandbox_server() as url:
        yield url


@pytest.fixture(params=["in_process", "server"])
def make_client(
    request: pytest.FixtureRequest, _fake_aws_env: None
) -> Iterator[Callable[..., BaseClient]]:
    """A factory of real boto3 clients bound to one fresh sandbox."""
    if request.param == "in_process":
        with sandbox.mock_iam():
            yield lambda service="iam", **kw: _client(service, None, **kw)
    else:
        url: str = request.getfixturevalue("server_url")
        sandbox.reset()
        yield lambda service="iam", **kw: _client(service, url, **kw)
        sandbox.reset()


@pytest.fixture
def iam(make_client: Callable[..., BaseClient]) -> BaseClient:
    return make_client()


def _client(service: str, endpoint_url: str | None, config: Config = NO_RETRY, **kw: Any) -> Any:
    return boto3.client(
        service, region_name="us-east-1", endpoint_url=endpoint_url, config=config, **kw
    )


def _create(iam: Any, user: str, service: str = BEDROCK, **kw: Any) -> dict[str, Any]:
    cred: dict[str, Any] = iam.create_service_specific_credential(
        UserName=user, ServiceName=service, **kw
    )["ServiceSpecificCredential"]
    return cred


def _error(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, int]:
    response: Any = exc.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]


def _list_all(iam: Any, **kw: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    marker: str | None = None
    for _ in range(100):  # a marker that never advances must fail the test, not hang it
        page = iam.list_service_specific_credentials(**kw, **({"Marker": marker} if marker else {}))
        out.extend(page["ServiceSpecificCredentials"])
        if not page["IsTruncated"]:
            assert "Marker" not in page
            return out
        assert page["Marker"] != marker
        marker = page["Marker"]
    raise AssertionError("paging did not end")


def _decode_bedrock_key(key: str) -> tuple[str, str]:
    assert key.startswith("ABSK")
    alias, sep, secret = base64.b64decode(key[4:], validate=True).decode().partition(":")
    assert sep == ":"
    return alias, secret


# ------------------------------------------------------------------------------------- create


def test_create_bedrock_key_looks_like_a_real_one(iam: Any) -> None:
    iam.create_user(UserName="alice")
    before = datetime.now(UTC).replace(microsecond=0)

    cred = _create(iam, "alice")

    assert re.fullmatch(r"ACCA[A-Z0-9]{17}", cred["ServiceSpecificCredentialId"])
    assert re.fullmatch(r"[\w]{20,128}", cred["ServiceSpecificCredentialId"])
    assert cred["UserName"] == "alice"
    assert cred["ServiceName"] == BEDROCK
    assert cred["Status"] == "Active"
    assert cred["ServiceCredentialAlias"] == f"alice-at-{ACCOUNT}"
    assert "ExpirationDate" not in cred
    assert "ServicePassword" not in cred
    assert before <= cred["CreateDate"] <= datetime.now(UTC) + timedelta(seconds=1)
    alias, secret = _decode_bedrock_key(cred["ServiceCredentialSecret"])
    assert alias == cred["ServiceCredentialAlias"]
    assert len(secret) >= 32


def test_second_key_gets_its_own_alias_and_a_third_is_refused(iam: Any) -> None:
    iam.create_user(UserName="alice")
    first, second = _create(iam, "alice"), _create(iam, "alice")

    with pytest.raises(ClientError) as exc:
        _create(iam, "alice")

    assert _error(exc) == ("LimitExceeded", 409)
    assert second["ServiceCredentialAlias"] == f"alice+1-at-{ACCOUNT}"
    assert first["ServiceSpecificCredentialId"] != second["ServiceSpecificCredentialId"]
    assert _decode_bedrock_key(second["ServiceCredentialSecret"])[0] == f"alice+1-at-{ACCOUNT}"
    # The limit is per service and per user.
    _create(iam, "alice", CODECOMMIT)
    iam.create_user(UserName="bob")
    _create(iam, "bob")


def test_inactive_and_expired_keys_still_count_toward_the_limit(iam: Any) -> None:
    iam.create_user(UserName="alice")
    a, b = _create(iam, "alice"), _create(iam, "alice", CredentialAgeDays=1)
    iam.update_service_specific_credential(
        UserName="alice",
        ServiceSpecificCredentialId=a["ServiceSpecificCredentialId"],
        Status="Inactive",
    )
    sandbox.expire_credential(ACCOUNT, b["ServiceSpecificCredentialId"])

    with pytest.raises(ClientError) as exc:
        _create(iam, "alice")

    assert _error(exc) == ("LimitExceeded", 409)


def test_codecommit_credential_has_a_user_name_and_password(iam: Any) -> None:
    iam.create_user(UserName="carol")

    cred = _create(iam, "carol", CODECOMMIT)

    assert cred["ServiceUserName"] == f"carol-at-{ACCOUNT}"
    assert len(cred["ServicePassword"]) >= 32
    assert "ServiceCredentialSecret" not in cred
    assert "ServiceCredentialAlias" not in cred


def test_create_for_an_unknown_user_is_no_such_entity(iam: Any) -> None:
    with pytest.raises(ClientError) as exc:
        _create(iam, "ghost")
    assert _error(exc) == ("NoSuchEntity", 404)


def test_create_for_an_unsupported_service_is_refused(iam: Any) -> None:
    iam.create_user(UserName="alice")
    with pytest.raises(ClientError) as exc:
        _create(iam, "alice", "s3.amazonaws.com")
    assert _error(exc) == ("NotSupportedService", 404)


def test_credential_age_days_sets_the_expiration_date(iam: Any) -> None:
    iam.create_user(UserName="alice")

    cred = _create(iam, "alice", CredentialAgeDays=7)

    assert cred["ExpirationDate"] - cred["CreateDate"] == timedelta(days=7)
    listed = iam.list_service_specific_credentials(UserName="alice")["ServiceSpecificCredentials"]
    assert listed[0]["ExpirationDate"] == cred["ExpirationDate"]
    assert listed[0]["Status"] == "Active"


@pytest.mark.parametrize("days", [0, 36601, -5])
def test_credential_age_days_out_of_range_is_a_validation_error(
    make_client: Callable[..., BaseClient], days: int
) -> None:
    # botocore checks the minimum itself; switch that off so the server's own check is exercised.
    iam: Any = make_client(
        config=Config(parameter_validation=False, retries={"total_max_attempts": 1})
    )
    iam.create_user(UserName="alice")

    with pytest.raises(ClientError) as exc:
        _create(iam, "alice", CredentialAgeDays=days)

    assert _error(exc) == ("ValidationError", 400)
    assert (
        iam.list_service_specific_credentials(UserName="alice")["ServiceSpecificCredentials"] == []
    )


def test_credential_age_days_bounds_are_accepted(iam: Any) -> None:
    iam.create_user(UserName="alice")
    short, long = (
        _create(iam, "alice", CredentialAgeDays=1),
        _create(iam, "alice", CredentialAgeDays=36600),
    )
    assert short["ExpirationDate"] - short["CreateDate"] == timedelta(days=1)
    assert long["ExpirationDate"] - long["CreateDate"] == timedelta(days=36600)


def test_credential_age_days_is_only_for_api_key_services(iam: Any) -> None:
    iam.create_user(UserName="alice")
    with pytest.raises(ClientError) as exc:
        _create(iam, "alice", CODECOMMIT, CredentialAgeDays=3)
    assert _error(exc) == ("InvalidInput", 400)


# --------------------------------------------------------------------------------------- list


def test_list_never_shows_a_secret(iam: Any) -> None:
    iam.create_user(UserName="alice")
    created = [_create(iam, "alice"), _create(iam, "alice", CODECOMMIT)]

    listed = iam.list_service_specific_credentials(UserName="alice")["ServiceSpecificCredentials"]

    assert [c["ServiceSpecificCredentialId"] for c in listed] == [
        c["ServiceSpecificCredentialId"] for c in created
    ]
    for item in listed:
        assert "ServiceCredentialSecret" not in item
        assert "ServicePassword" not in item
    assert listed[0]["ServiceCredentialAlias"] == f"alice-at-{ACCOUNT}"
    assert listed[1]["ServiceUserName"] == f"alice-at-{ACCOUNT}"


def test_list_filters_by_service_name(iam: Any) -> None:
    iam.create_user(UserName="alice")
    bedrock = _create(iam, "alice")
    _create(iam, "alice", CODECOMMIT)

    listed = iam.list_service_specific_credentials(UserName="alice", ServiceName=BEDROCK)

    assert [c["ServiceSpecificCredentialId"] for c in listed["ServiceSpecificCredentials"]] == [
        bedrock["ServiceSpecificCredentialId"]
    ]
    assert listed["IsTruncated"] is False


def test_list_for_an_unknown_user_is_no_such_entity(iam: Any) -> None:
    with pytest.raises(ClientError) as exc:
        iam.list_service_specific_credentials(UserName="ghost")
    assert _error(exc) == ("NoSuchEntity", 404)


def test_list_with_an_unsupported_service_is_refused(iam: Any) -> None:
    iam.create_user(UserName="alice")
    with pytest.raises(ClientError) as exc:
        iam.list_service_specific_credentials(UserName="alice", ServiceName="s3.amazonaws.com")
    assert _error(exc) == ("NotSupportedService", 404)


def test_all_users_lists_every_users_keys_for_the_service(iam: Any) -> None:
    for user in ("alice", "bob", "carol"):
        iam.create_user(UserName=user)
    ids = {_create(iam, u)["ServiceSpecificCredentialId"] for u in ("alice", "bob", "bob")}
    _create(iam, "carol", CODECOMMIT)

    listed = _list_all(iam, AllUsers=True, ServiceName=BEDROCK)

    assert {c["ServiceSpecificCredentialId"] for c in listed} == ids
    assert {c["UserName"] for c in listed} == {"alice", "bob"}
    assert len(_list_all(iam, AllUsers=True)) == 4


def test_all_users_together_with_user_name_is_invalid_input(iam: Any) -> None:
    iam.create_user(UserName="alice")
    with pytest.raises(ClientError) as exc:
        iam.list_service_specific_credentials(UserName="alice", AllUsers=True)
    assert _error(exc) == ("InvalidInput", 400)


def test_paging_with_max_items_and_marker_returns_every_key_once_in_order(iam: Any) -> None:
    created: list[str] = []
    for user in ("u1", "u2", "u3", "u4"):
        iam.create_user(UserName=user)
        created += [_create(iam, user)["ServiceSpecificCredentialId"] for _ in range(2)]

    first = iam.list_service_specific_credentials(AllUsers=True, ServiceName=BEDROCK, MaxItems=3)
    assert first["IsTruncated"] is True
    assert len(first["ServiceSpecificCredentials"]) == 3
    assert 1 <= len(first["Marker"]) <= 320

    pages = _list_all(iam, AllUsers=True, ServiceName=BEDROCK, MaxItems=3)
    assert [c["ServiceSpecificCredentialId"] for c in pages] == created


def test_a_marker_survives_deletion_of_keys_already_returned(iam: Any) -> None:
    iam.create_user(UserName="alice")
    iam.create_user(UserName="bob")
    ids = [_create(iam, u)["ServiceSpecificCredentialId"] for u in ("alice", "alice", "bob")]

    first = iam.list_service_specific_credentials(AllUsers=True, MaxItems=2)
    for cred in first["ServiceSpecificCredentials"]:
        iam.delete_service_specific_credential(
            UserName=cred["UserName"],
            ServiceSpecificCredentialId=cred["ServiceSpecificCredentialId"],
        )
    rest = iam.list_service_specific_credentials(AllUsers=True, Marker=first["Marker"])

    assert [c["ServiceSpecificCredentialId"] for c in rest["ServiceSpecificCredentials"]] == ids[2:]
    assert rest["IsTruncated"] is False


def test_a_forged_marker_is_invalid_input(iam: Any) -> None:
    iam.create_user(UserName="alice")
    with pytest.raises(ClientError) as exc:
        iam.list_service_specific_credentials(UserName="alice", Marker="not-a-marker")
    assert _error(exc) == ("InvalidInput", 400)


def test_max_items_above_the_model_maximum_is_a_validation_error(iam: Any) -> None:
    iam.create_user(UserName="alice")
    with pytest.raises(ClientError) as exc:
        iam.list_service_specific_credentials(UserName="alice", MaxItems=1001)
    assert _error(exc) == ("ValidationError", 400)


def test_without_user_name_the_calling_users_keys_are_used(
    make_client: Callable[..., BaseClient],
) -> None:
    admin: Any = make_client()
    admin.create_user(UserName="alice")
    mine = _create(admin, "alice")
    key = admin.create_access_key(UserName="alice")["AccessKey"]
    as_alice: Any = make_client(
        aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"]
    )

    listed = as_alice.list_service_specific_credentials()["ServiceSpecificCredentials"]
    as_alice.update_service_specific_credential(
        ServiceSpecificCredentialId=mine["ServiceSpecificCredentialId"], Status="Inactive"
    )

    assert [c["ServiceSpecificCredentialId"] for c in listed] == [
        mine["ServiceSpecificCredentialId"]
    ]
    again = admin.list_service_specific_credentials(UserName="alice")["ServiceSpecificCredentials"]
    assert again[0]["Status"] == "Inactive"


def test_without_user_name_non_user_credentials_are_refused(iam: Any) -> None:
    with pytest.raises(ClientError) as exc:
        iam.list_service_specific_credentials()
    assert _error(exc) == ("ValidationError", 400)


# ------------------------------------------------------------------------ update/reset/delete


def test_update_deactivates_and_reactivates(iam: Any) -> None:
    iam.create_user(UserName="alice")
    cred_id = _create(iam, "alice")["ServiceSpecificCredentialId"]

    statuses = []
    for status in ("Inactive", "Active"):
        iam.update_service_specific_credential(
            UserName="alice", ServiceSpecificCredentialId=cred_id, Status=status
        )
        listed = iam.list_service_specific_credentials(UserName="alice")
        statuses.append(listed["ServiceSpecificCredentials"][0]["Status"])

    assert statuses == ["Inactive", "Active"]


@pytest.mark.parametrize(
    ("status", "code"), [("Expired", "InvalidInput"), ("Gone", "ValidationError")]
)
def test_update_refuses_a_status_that_cannot_be_set(iam: Any, status: str, code: str) -> None:
    iam.create_user(UserName="alice")
    cred_id = _create(iam, "alice")["ServiceSpecificCredentialId"]

    with pytest.raises(ClientError) as exc:
        iam.update_service_specific_credential(
            UserName="alice", ServiceSpecificCredentialId=cred_id, Status=status
        )

    assert _error(exc) == (code, 400)
    listed = iam.list_service_specific_credentials(UserName="alice")
    assert listed["ServiceSpecificCredentials"][0]["Status"] == "Active"


@pytest.mark.parametrize("operation", ["update", "reset", "delete"])
def test_unknown_user_or_credential_is_no_such_entity(iam: Any, operation: str) -> None:
    iam.create_user(UserName="alice")
    iam.create_user(UserName="bob")
    bobs = _create(iam, "bob")["ServiceSpecificCredentialId"]
    call = {
        "update": lambda **kw: iam.update_service_specific_credential(Status="Inactive", **kw),
        "reset": iam.reset_service_specific_credential,
        "delete": iam.delete_service_specific_credential,
    }[operation]

    for user, cred_id in [("ghost", bobs), ("alice", "ACCA" + "Z" * 17), ("alice", bobs)]:
        with pytest.raises(ClientError) as exc:
            call(UserName=user, ServiceSpecificCredentialId=cred_id)
        assert _error(exc) == ("NoSuchEntity", 404), (user, cred_id)

    listed = iam.list_service_specific_credentials(UserName="bob")["ServiceSpecificCredentials"]
    assert listed[0]["Status"] == "Active"


def test_reset_gives_a_new_secret_under_the_same_alias_and_status(iam: Any) -> None:
    iam.create_user(UserName="alice")
    created = _create(iam, "alice")
    cred_id = created["ServiceSpecificCredentialId"]
    iam.update_service_specific_credential(
        UserName="alice", ServiceSpecificCredentialId=cred_id, Status="Inactive"
    )

    reset = iam.reset_service_specific_credential(
        UserName="alice", ServiceSpecificCredentialId=cred_id
    )["ServiceSpecificCredential"]

    assert reset["ServiceSpecificCredentialId"] == cred_id
    assert reset["ServiceCredentialAlias"] == created["ServiceCredentialAlias"]
    assert reset["ServiceCredentialSecret"] != created["ServiceCredentialSecret"]
    old_alias, old_secret = _decode_bedrock_key(created["ServiceCredentialSecret"])
    new_alias, new_secret = _decode_bedrock_key(reset["ServiceCredentialSecret"])
    assert new_alias == old_alias and new_secret != old_secret
    assert reset["Status"] == "Inactive"
    assert reset["CreateDate"] == created["CreateDate"]


def test_reset_of_a_codecommit_credential_returns_a_new_password(iam: Any) -> None:
    iam.create_user(UserName="alice")
    created = _create(iam, "alice", CODECOMMIT)
    reset = iam.reset_service_specific_credential(
        UserName="alice", ServiceSpecificCredentialId=created["ServiceSpecificCredentialId"]
    )["ServiceSpecificCredential"]
    assert reset["ServicePassword"] != created["ServicePassword"]
    assert reset["ServiceUserName"] == created["ServiceUserName"]


def test_an_expired_key_is_listed_expired_cannot_be_reset_but_can_be_deleted(iam: Any) -> None:
    iam.create_user(UserName="alice")
    cred_id = _create(iam, "alice", CredentialAgeDays=1)["ServiceSpecificCredentialId"]

    when = sandbox.expire_credential(ACCOUNT, cred_id)

    listed = iam.list_service_specific_credentials(UserName="alice")["ServiceSpecificCredentials"]
    assert listed[0]["Status"] == "Expired"
    assert listed[0]["ExpirationDate"] == when
    with pytest.raises(ClientError) as exc:
        iam.reset_service_specific_credential(UserName="alice", ServiceSpecificCredentialId=cred_id)
    assert _error(exc) == ("InvalidInput", 400)
    iam.delete_service_specific_credential(UserName="alice", ServiceSpecificCredentialId=cred_id)
    assert (
        iam.list_service_specific_credentials(UserName="alice")["ServiceSpecificCredentials"] == []
    )


def test_expire_credential_can_also_expire_a_key_created_without_an_age(iam: Any) -> None:
    iam.create_user(UserName="alice")
    cred_id = _create(iam, "alice")["ServiceSpecificCredentialId"]
    sandbox.expire_credential(ACCOUNT, cred_id)
    listed = iam.list_service_specific_credentials(UserName="alice")["ServiceSpecificCredentials"]
    assert listed[0]["Status"] == "Expired"
    with pytest.raises(KeyError):
        sandbox.expire_credential(ACCOUNT, "ACCA" + "Q" * 17)


def test_delete_removes_the_key_and_frees_a_slot_with_a_fresh_alias(iam: Any) -> None:
    iam.create_user(UserName="alice")
    first, _ = _create(iam, "alice"), _create(iam, "alice")

    iam.delete_service_specific_credential(
        UserName="alice", ServiceSpecificCredentialId=first["ServiceSpecificCredentialId"]
    )
    third = _create(iam, "alice")

    listed = iam.list_service_specific_credentials(UserName="alice")["ServiceSpecificCredentials"]
    assert first["ServiceSpecificCredentialId"] not in {
        c["ServiceSpecificCredentialId"] for c in listed
    }
    assert len(listed) == 2
    # An alias is never handed out twice, so an old leaked key never names a new one.
    assert third["ServiceCredentialAlias"] == f"alice+2-at-{ACCOUNT}"
    with pytest.raises(ClientError) as exc:
        iam.delete_service_specific_credential(
            UserName="alice", ServiceSpecificCredentialId=first["ServiceSpecificCredentialId"]
        )
    assert _error(exc) == ("NoSuchEntity", 404)


def test_a_user_with_keys_cannot_be_deleted_until_they_are(iam: Any) -> None:
    iam.create_user(UserName="alice")
    cred_id = _create(iam, "alice")["ServiceSpecificCredentialId"]

    with pytest.raises(ClientError) as exc:
        iam.delete_user(UserName="alice")
    assert _error(exc) == ("DeleteConflict", 409)

    iam.delete_service_specific_credential(UserName="alice", ServiceSpecificCredentialId=cred_id)
    iam.delete_user(UserName="alice")
    iam.create_user(UserName="alice")
    assert (
        iam.list_service_specific_credentials(UserName="alice")["ServiceSpecificCredentials"] == []
    )


# ---------------------------------------------------------------------------- fault injection


def test_injected_access_denied_reaches_boto3_once(iam: Any) -> None:
    iam.create_role(RoleName="r", AssumeRolePolicyDocument="{}")
    fault = sandbox.inject_error("PutRolePolicy", "AccessDenied", "not allowed here")

    with pytest.raises(ClientError) as exc:
        iam.put_role_policy(RoleName="r", PolicyName="p", PolicyDocument=POLICY)

    assert _error(exc) == ("AccessDenied", 403)
    assert exc.value.response["Error"]["Message"] == "not allowed here"
    assert exc.value.response["ResponseMetadata"]["RequestId"]
    assert fault.hits == 1 and sandbox.faults() == []
    iam.put_role_policy(RoleName="r", PolicyName="p", PolicyDocument=POLICY)
    assert iam.list_role_policies(RoleName="r")["PolicyNames"] == ["p"]


def test_injected_error_on_our_own_operation_changes_nothing(iam: Any) -> None:
    iam.create_user(UserName="alice")
    cred_id = _create(iam, "alice")["ServiceSpecificCredentialId"]
    sandbox.inject_error("UpdateServiceSpecificCredential", "AccessDenied")

    with pytest.raises(ClientError) as exc:
        iam.update_service_specific_credential(
            UserName="alice", ServiceSpecificCredentialId=cred_id, Status="Inactive"
        )

    assert _error(exc) == ("AccessDenied", 403)
    listed = iam.list_service_specific_credentials(UserName="alice")["ServiceSpecificCredentials"]
    assert listed[0]["Status"] == "Active"


def test_injected_throttling_persists_until_cleared(iam: Any) -> None:
    iam.create_user(UserName="alice")
    sandbox.inject_error(
        "ListServiceSpecificCredentials", "Throttling", "Rate exceeded", times=None
    )

    for _ in range(3):
        with pytest.raises(ClientError) as exc:
            iam.list_service_specific_credentials(UserName="alice")
        assert _error(exc) == ("Throttling", 400)

    sandbox.clear_faults()
    assert iam.list_service_specific_credentials(UserName="alice")["IsTruncated"] is False


def test_boto3_retries_through_injected_throttling(
    make_client: Callable[..., BaseClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    slept: list[float] = []
    # botocore sleeps between retries; record the back-off instead of waiting for it.
    monkeypatch.setattr(botocore.endpoint, "time", types.SimpleNamespace(sleep=slept.append))
    iam: Any = make_client(config=Config(retries={"mode": "standard", "max_attempts": 3}))
    iam.create_user(UserName="alice")
    fault = sandbox.inject_error("ListServiceSpecificCredentials", "Throttling", times=2)

    page = iam.list_service_specific_credentials(UserName="alice")

    assert page["ResponseMetadata"]["RetryAttempts"] == 2
    assert len(slept) == 2
    assert fault.hits == 2


def test_fault_matches_only_the_given_parameters(iam: Any) -> None:
    for user in ("alice", "bob"):
        iam.create_user(UserName=user)
    sandbox.inject_error("CreateServiceSpecificCredential", when={"UserName": "bob"}, times=None)

    _create(iam, "alice")
    with pytest.raises(ClientError) as exc:
        _create(iam, "bob")

    assert _error(exc) == ("AccessDenied", 403)
    assert len(sandbox.faults()) == 1


def test_faults_work_for_sts_too(make_client: Callable[..., BaseClient]) -> None:
    sts: Any = make_client("sts")
    sandbox.inject_error("GetCallerIdentity", "ExpiredToken", "The security token is expired")

    with pytest.raises(ClientError) as exc:
        sts.get_caller_identity()

    assert _error(exc) == ("ExpiredToken", 400)
    assert sts.get_caller_identity()["Account"] == ACCOUNT


def test_a_fault_for_one_service_does_not_fire_on_another(
    make_client: Callable[..., BaseClient],
) -> None:
    sandbox.inject_error("GetCallerIdentity", service="iam")
    assert make_client("sts").get_caller_identity()["Account"] == ACCOUNT
    assert len(sandbox.faults()) == 1


def test_inject_error_rejects_a_non_positive_count() -> None:
    with pytest.raises(ValueError):
        sandbox.inject_error("PutRolePolicy", times=0)


# ------------------------------------------------------------------------------ state & setup


def test_reset_clears_users_credentials_and_faults(iam: Any) -> None:
    iam.create_user(UserName="alice")
    _create(iam, "alice")
    sandbox.inject_error("ListUsers", times=None)

    sandbox.reset()

    assert sandbox.faults() == []
    assert iam.list_users()["Users"] == []
    iam.create_user(UserName="alice")
    assert (
        iam.list_service_specific_credentials(UserName="alice")["ServiceSpecificCredentials"] == []
    )


def test_moto_reset_endpoint_clears_faults_too(server_url: str) -> None:
    sandbox.inject_error("ListUsers", times=None)
    # The URL is the local test server's, never user input.
    request = urllib.request.Request(f"{server_url}/moto-api/reset", method="POST")
    with urllib.request.urlopen(request) as response:
        assert response.status == 200
    assert sandbox.faults() == []


def test_install_is_idempotent(iam: Any) -> None:
    from moto.iam.responses import IamResponse

    before = IamResponse.call_action
    sandbox.install()
    sandbox.install()
    assert IamResponse.call_action is before
    iam.create_user(UserName="alice")
    fault = sandbox.inject_error("ListUsers", times=None)
    with pytest.raises(ClientError):
        iam.list_users()
    assert fault.hits == 1  # a doubly-wrapped dispatcher would count twice


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    per_user=st.lists(st.integers(min_value=0, max_value=2), min_size=1, max_size=5),
    max_items=st.integers(min_value=1, max_value=4),
)
def test_paging_property_every_key_exactly_once(
    _fake_aws_env: None, per_user: list[int], max_items: int
) -> None:
    with sandbox.mock_iam():
        iam: Any = _client("iam", None)
        expected: list[str] = []
        for i, count in enumerate(per_user):
            iam.create_user(UserName=f"user{i}")
            expected += [
                _create(iam, f"user{i}")["ServiceSpecificCredentialId"] for _ in range(count)
            ]

        listed = _list_all(iam, AllUsers=True, ServiceName=BEDROCK, MaxItems=max_items)

        assert [c["ServiceSpecificCredentialId"] for c in listed] == expected
