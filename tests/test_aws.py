"""bot.aws: per-account clients, assume-role with cached credentials, endpoint, bearer env."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from conftest import REGION, Clock, make_settings, new_clients, short_term_key_from_role

from bot.aws import AwsClients, CallerIdentity, session_name
from bot.config import Settings
from bot.errors import AwsError, InvalidInput
from bot.revocation.service import Revoker

PROD = {
    "account_id": "111111111111",
    "role_arn": "arn:aws:iam::111111111111:role/revoker",
    "external_id": "ext-4242",
}


class Recorder:
    """Observes calls through botocore's event system (no behaviour is changed)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def before_call(self, model: Any, params: Any, **_: Any) -> None:
        self.calls.append((model.name, params))

    def before_parameter_build(self, model: Any, params: Any, **_: Any) -> None:
        self.calls.append((model.name, dict(params)))

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]


def test_clients_are_created_once_per_account(moto_aws: None) -> None:
    clients = new_clients(make_settings(accounts={"prod": PROD}))
    assert clients.iam() is clients.iam()
    assert clients.sts() is clients.sts(None)
    assert clients.iam("prod", request_id="R-AAAAAA") is clients.iam("prod", request_id="R-AAAAAA")
    assert clients.iam("prod", request_id="R-AAAAAA") is not clients.iam()
    assert clients.secretsmanager() is clients.secretsmanager()


def test_client_config_has_standard_retries_and_the_configured_timeouts(moto_aws: None) -> None:
    settings = make_settings(aws_connect_timeout=2.5, aws_read_timeout=7.0)
    for client in (
        new_clients(settings).iam(),
        new_clients(settings).sts(),
        new_clients(settings).secretsmanager(),
    ):
        config = client.meta.config
        assert config.retries and config.retries["mode"] == "standard"
        assert config.connect_timeout == 2.5
        assert config.read_timeout == 7.0
        if client.meta.service_model.service_name != "iam":  # IAM is global
            assert client.meta.region_name == REGION


def test_unknown_account_is_invalid_input(moto_aws: None) -> None:
    with pytest.raises(InvalidInput) as e:
        new_clients(make_settings()).iam("nope")
    assert e.value.field == "account"


def test_aws_endpoint_url_is_honoured(aws_server: str) -> None:
    clients = new_clients(make_settings())
    assert clients.iam().meta.endpoint_url == aws_server
    assert clients.sts().meta.endpoint_url == aws_server
    clients.iam().create_user(UserName="over-http")
    users = boto3.client("iam", region_name=REGION, endpoint_url=aws_server).list_users()
    assert [u["UserName"] for u in users["Users"]] == ["over-http"]


def test_bearer_token_in_env_is_ignored_and_calls_are_sigv4(
    moto_aws: None, iam: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    role = iam.create_role(RoleName="r", AssumeRolePolicyDocument="{}")["Role"]
    monkeypatch.setenv("AWS_BEARER_TOKEN_BEDROCK", short_term_key_from_role(role["Arn"]))
    clients = new_clients(make_settings())
    seen: list[str] = []

    def capture(request: Any, **_: Any) -> None:
        seen.append(request.headers.get("Authorization", b"").decode()
                    if isinstance(request.headers.get("Authorization"), bytes)
                    else str(request.headers.get("Authorization")))  # fmt: skip

    for client in (clients.iam(), clients.sts(), clients.secretsmanager()):
        client.meta.events.register("before-send", capture)
    clients.iam().list_users()
    clients.sts().get_caller_identity()
    clients.secretsmanager().list_secrets()
    import os

    access_key = os.environ["AWS_ACCESS_KEY_ID"]
    assert len(seen) == 3
    for header in seen:
        assert header.startswith(f"AWS4-HMAC-SHA256 Credential={access_key}/")
        assert "Bearer" not in header
        assert "bedrock-api-key-" not in header


async def test_bearer_token_alone_is_not_a_credential(
    aws_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    monkeypatch.setenv("AWS_BEARER_TOKEN_BEDROCK", "bedrock-api-key-YmVkcm9jay5hbWF6b25hd3MuY29t")
    settings = make_settings()
    revoker = Revoker(settings, new_clients(settings), settle_delays=())
    with pytest.raises(AwsError) as e:
        await revoker.resolve("alice")
    assert e.value.code == "NoCredentials"
    assert "AWS_BEARER_TOKEN_BEDROCK" in e.value.message
    assert "YmVkcm9j" not in e.value.message


def _multi_account(clock: Clock) -> tuple[AwsClients, Recorder]:
    clients = new_clients(make_settings(accounts={"prod": PROD}), clock=clock)
    recorder = Recorder()
    # AssumeRole goes out on the base (own-account) STS client.
    clients.sts().meta.events.register(
        "before-parameter-build.sts.AssumeRole", recorder.before_parameter_build
    )
    return clients, recorder


def test_assume_role_per_account_with_session_name_and_external_id(moto_aws: None) -> None:
    clients, recorder = _multi_account(Clock(datetime.now(UTC)))
    prod_iam = clients.iam("prod", request_id="R-7KQ2M9")
    prod_iam.create_user(UserName="only-in-prod")
    me = clients.caller_identity("prod", request_id="R-7KQ2M9")
    assert me.account_id == "111111111111"
    assert me.arn == "arn:aws:sts::111111111111:assumed-role/revoker/bedrock-revoker-R-7KQ2M9"
    assert me.role_name == "revoker"
    # The user exists in the prod account only.
    own = [u["UserName"] for u in clients.iam().list_users()["Users"]]
    assert "only-in-prod" not in own
    (_name, params), *_ = recorder.calls
    assert params["RoleArn"] == PROD["role_arn"]
    assert params["RoleSessionName"] == "bedrock-revoker-R-7KQ2M9"
    assert params["ExternalId"] == "ext-4242"


def test_assumed_credentials_are_cached_until_near_expiry(moto_aws: None) -> None:
    clock = Clock(datetime.now(UTC))
    clients, recorder = _multi_account(clock)
    for _ in range(3):
        clients.iam("prod", request_id="R-AAAAAA").list_users()
        clients.secretsmanager("prod", request_id="R-AAAAAA").list_secrets()
    assert recorder.names() == ["AssumeRole"]
    # Credentials last an hour; 50 minutes on they are still used ...
    clock.now += timedelta(minutes=50)
    clients.iam("prod", request_id="R-AAAAAA").list_users()
    assert recorder.names() == ["AssumeRole"]
    # ... and within five minutes of expiry they are refreshed before the call.
    clock.now += timedelta(minutes=6)
    clients.iam("prod", request_id="R-AAAAAA").list_users()
    assert recorder.names() == ["AssumeRole", "AssumeRole"]


def test_caller_identity_is_cached(moto_aws: None) -> None:
    clients = new_clients(make_settings())
    recorder = Recorder()
    clients.sts().meta.events.register("before-call", recorder.before_call)
    first = clients.caller_identity()
    assert clients.caller_identity() == first
    assert recorder.names() == ["GetCallerIdentity"]


def test_without_accounts_the_own_credentials_are_used(moto_aws: None, settings: Settings) -> None:
    clients = new_clients(settings)
    recorder = Recorder()
    clients.sts().meta.events.register("before-call", recorder.before_call)
    assert clients.caller_identity().account_id == "123456789012"
    assert "AssumeRole" not in recorder.names()


@pytest.mark.parametrize(
    ("arn", "role"),
    [
        ("arn:aws:sts::123456789012:assumed-role/revoker/bedrock-revoker", "revoker"),
        ("arn:aws:iam::123456789012:role/path/ci", "ci"),
        ("arn:aws:iam::123456789012:user/alice", None),
        ("arn:aws:sts::123456789012:federated-user/bob", None),
    ],
)
def test_caller_role_name(arn: str, role: str | None) -> None:
    assert CallerIdentity(account_id="123456789012", arn=arn, user_id="X").role_name == role


def test_session_name_is_safe_and_bounded() -> None:
    assert session_name(None) == "bedrock-revoker"
    assert session_name("R-7KQ2M9") == "bedrock-revoker-R-7KQ2M9"
    assert session_name("R 7/K") == "bedrock-revoker-R-7-K"
    assert len(session_name("R-" + "X" * 100)) == 64


async def test_a_whole_revocation_over_http_with_a_server_side_fault(aws_server: str) -> None:
    from conftest import boto_session, create_long_term_key

    from bot.revocation.model import StepOutcome
    from bot.sandbox import iam as sandbox

    settings = make_settings()
    revoker = Revoker(settings, new_clients(settings), settle_delays=())
    key = create_long_term_key(boto_session().client("iam"), "alice")
    plan = revoker.plan(await revoker.resolve(key.key), ["deny_user", "deactivate"])
    sandbox.inject_error("PutUserPolicy", "AccessDenied")
    report = await revoker.run(plan)
    assert [r.outcome for r in report.results] == [StepOutcome.ERROR, StepOutcome.OK]
    assert report.results[0].error_code == "AccessDenied" and report.results[0].request_id
    assert report.status == "partial"
    assert (await revoker.run(plan)).status == "completed"


def test_assumed_credentials_and_external_id_never_reach_debug_logs(
    moto_aws: None, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    caplog.set_level(logging.DEBUG)  # botocore dumps bodies and headers at DEBUG
    clients, _ = _multi_account(Clock(datetime.now(UTC)))
    issued: list[dict[str, Any]] = []
    clients.sts().meta.events.register(
        "after-call.sts.AssumeRole", lambda parsed, **_: issued.append(parsed["Credentials"])
    )
    clients.iam("prod", request_id="R-LOGS01").list_users()
    (creds,) = issued
    text = caplog.text + "".join(repr(r.args) for r in caplog.records)
    assert creds["SecretAccessKey"] not in text
    assert creds["SessionToken"] not in text
    assert "ext-4242" not in text
    assert "message withheld, it carried a secret" in text
