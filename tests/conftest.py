"""Shared fixtures: AWS on moto (in-process or as a local server), settings, clients, revoker;
requests (a plan, a request, a clock the test moves, a SQLite store).

moto lacks the service-specific credential operations; `bot.sandbox.iam.install()` adds them
(and fault injection) before any mock starts. The real boto3 client is used throughout.
"""

from __future__ import annotations

import base64
import contextlib
import shutil
import socket
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import botocore.loaders
import botocore.session
import pytest
from hypothesis import HealthCheck, settings

from bot.aws import AwsClients
from bot.config import Settings
from bot.requests import RequestService, RevocationRequest, new_request_id
from bot.revocation.model import Action, Credential, IamCall, KeyKind, RevocationPlan, Role, Target
from bot.revocation.service import Revoker
from bot.sandbox import iam as sandbox
from bot.sandbox.harness import Sandbox
from bot.sandbox.harness import sandbox as app_sandbox
from bot.store import RequestStore, open_store

# Hypothesis profiles: `ci` (the default) keeps every property test, the app fuzzing included,
# to seconds; `long` (`pytest -m fuzz --hypothesis-profile=long`) runs thousands of examples.
# Tests that set max_examples themselves keep their own count.
settings.register_profile(
    "ci", deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
settings.register_profile("long", parent=settings.get_profile("ci"), max_examples=3000)
settings.load_profile("ci")

BEDROCK = "bedrock.amazonaws.com"
ACCOUNT_ID = "123456789012"  # moto's default account
REGION = "us-east-1"


def free_port() -> int:
    """A TCP port on 127.0.0.1 nothing listens on (for a server the test starts)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def serve_command() -> list[str]:
    """`bedrock-revoker` as installed in this interpreter's venv (add the subcommand)."""
    script = shutil.which("bedrock-revoker", path=str(Path(sys.executable).parent))
    return [script] if script else [sys.executable, "-m", "bot"]


def clean_aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials and region; nothing from the shell or ~/.aws reaches a real account."""
    for name in (
        "AWS_PROFILE",
        "AWS_SESSION_TOKEN",
        "AWS_SECURITY_TOKEN",
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_IAM",
        "AWS_ENDPOINT_URL_STS",
        "AWS_ENDPOINT_URL_DYNAMODB",
        "AWS_BEARER_TOKEN_BEDROCK",
        "AWS_ROLE_ARN",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
    # No instance-metadata lookups on a laptop or CI runner.
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials and region in the environment; nothing from the developer's ~/.aws."""
    clean_aws_env(monkeypatch)


@pytest.fixture
def moto_aws(aws_env: None) -> Iterator[None]:
    """In-process moto (IAM, STS, Secrets Manager ...) with the sandbox's IAM additions."""
    sandbox.install()
    from moto import mock_aws

    with mock_aws():
        yield


@pytest.fixture(scope="session")
def moto_server_url() -> Iterator[str]:
    """One local moto server for the session, on 127.0.0.1 and a free port."""
    with sandbox.sandbox_server() as url:
        yield url


@pytest.fixture
def aws_server(moto_server_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """moto over HTTP: AWS_ENDPOINT_URL points every client at the local server, state is fresh.

    For end-to-end tests (the Slack app in the same process reaches AWS over real HTTP).
    """
    clean_aws_env(monkeypatch)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server_url)
    sandbox.reset()
    yield moto_server_url
    sandbox.reset()


# One model loader for every session the tests create: loading IAM's service model costs ~0.2 s
# per new session, which would otherwise dominate the suite.
_LOADER = botocore.loaders.create_loader()


def core_session() -> botocore.session.Session:
    """A fresh botocore session (credentials and endpoint from the environment), models shared."""
    core = botocore.session.get_session()
    core.register_component("data_loader", _LOADER)
    core.set_config_variable("region", REGION)
    return core


def boto_session() -> boto3.Session:
    """A fresh boto3 session on `core_session()`, for tests' own calls to moto."""
    return boto3.Session(botocore_session=core_session(), region_name=REGION)


def new_clients(settings: Settings, **kwargs: Any) -> AwsClients:
    """AwsClients as production builds them, on a session that shares the loaded models."""
    return AwsClients(settings, session=core_session(), **kwargs)


def make_settings(**overrides: Any) -> Settings:
    # _env_file=None: a developer's .env must not change what the tests see.
    return Settings(_env_file=None, **overrides)  # type: ignore[call-arg]


@pytest.fixture
def settings() -> Settings:
    return make_settings()


@pytest.fixture
def iam(moto_aws: None) -> Any:
    """A plain boto3 IAM client for arranging state (not the code under test)."""
    return boto_session().client("iam")


@pytest.fixture
def clients(moto_aws: None, settings: Settings) -> AwsClients:
    return new_clients(settings)


@pytest.fixture
def revoker(clients: AwsClients, settings: Settings) -> Revoker:
    # No settle pauses: moto is consistent at once, and tests never sleep.
    return Revoker(settings, clients, settle_delays=())


@dataclass(frozen=True)
class LongTermKey:
    user_name: str
    credential_id: str
    alias: str
    key: str  # the whole leaked key string, as a responder would paste it


def create_long_term_key(iam: Any, user_name: str, *, create_user: bool = True) -> LongTermKey:
    """An IAM user with a Bedrock API key, and the key string that would leak."""
    if create_user:
        with contextlib.suppress(iam.exceptions.EntityAlreadyExistsException):
            iam.create_user(UserName=user_name)
    cred = iam.create_service_specific_credential(UserName=user_name, ServiceName=BEDROCK)[
        "ServiceSpecificCredential"
    ]
    # The API key a user copies is ServiceCredentialSecret itself: ABSK + base64(alias:secret).
    key = cred["ServiceCredentialSecret"]
    alias = cred["ServiceCredentialAlias"]
    assert base64.b64decode(key[4:]).decode().startswith(f"{alias}:")
    return LongTermKey(user_name, cred["ServiceSpecificCredentialId"], alias, key)


TRUST = (
    '{"Version":"2012-10-17","Statement":[{"Effect":"Allow",'
    '"Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":"sts:AssumeRole"}]}'
)


def create_role(iam: Any, name: str, *, path: str = "/") -> dict[str, Any]:
    role: dict[str, Any] = iam.create_role(
        RoleName=name, Path=path, AssumeRolePolicyDocument=TRUST
    )["Role"]
    return role


def short_term_key_from_role(role_arn: str) -> str:
    """A genuine short-term key signed by a session (ASIA...) of the role."""
    from aws_bedrock_token_generator import BedrockTokenGenerator
    from botocore.credentials import Credentials

    sts = boto_session().client("sts")
    creds = sts.assume_role(RoleArn=role_arn, RoleSessionName="leaker")["Credentials"]
    signing = Credentials(creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])
    token: str = BedrockTokenGenerator().get_token(signing, REGION)
    return token


def use_key(key: str, *, endpoint_url: str | None = None, **kwargs: Any) -> None:
    """A call made with the key (InvokeModel, bearer token), which CloudTrail records under its
    signer: how the sandbox's event history comes to know who signed a key."""
    from bot.sandbox.cloudtrail import bearer_token_call

    assert bearer_token_call(key, endpoint_url=endpoint_url, **kwargs) == 200


def short_term_key_from_user_session(iam: Any, user_name: str) -> tuple[str, str]:
    """A genuine short-term key signed by a GetSessionToken session (ASIA...) of the user."""
    from aws_bedrock_token_generator import BedrockTokenGenerator
    from botocore.credentials import Credentials

    ak = iam.create_access_key(UserName=user_name)["AccessKey"]
    sts = boto_session().client(
        "sts", aws_access_key_id=ak["AccessKeyId"], aws_secret_access_key=ak["SecretAccessKey"]
    )
    creds = sts.get_session_token()["Credentials"]
    signing = Credentials(creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])
    token: str = BedrockTokenGenerator().get_token(signing, REGION)
    return token, creds["AccessKeyId"]


def short_term_key_from_user(iam: Any, user_name: str) -> tuple[str, str]:
    """A genuine short-term key signed with the user's long-term access key (AKIA...)."""
    from aws_bedrock_token_generator import BedrockTokenGenerator
    from botocore.credentials import Credentials

    ak = iam.create_access_key(UserName=user_name)["AccessKey"]
    signing = Credentials(ak["AccessKeyId"], ak["SecretAccessKey"])
    token: str = BedrockTokenGenerator().get_token(signing, REGION)
    return token, ak["AccessKeyId"]


@pytest.fixture
async def sb(aws_server: str, tmp_path: Path) -> AsyncIterator[Sandbox]:
    """The real app on loopback; Slack is the stand-in plus a signed driver; AWS is moto."""
    async with app_sandbox(database_dir=tmp_path) as box:
        yield box


# --- requests -------------------------------------------------------------------------------------

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


class Clock:
    """A clock the test moves by hand; it starts at `start` (T0 unless told)."""

    def __init__(self, start: datetime = T0) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


def make_plan(user: str = "alice", role: str | None = None) -> RevocationPlan:
    """A small real plan: deactivate one long-term key (or deny a role, given `role`)."""
    if role is not None:
        target = Target(
            kind=KeyKind.SHORT_TERM,
            role=Role(name=role, arn=f"arn:aws:iam::123456789012:role/{role}", path="/"),
        )
        return RevocationPlan(
            target=target,
            actions=(Action.DENY_ROLE,),
            steps=(
                IamCall(
                    action=Action.DENY_ROLE,
                    operation="PutRolePolicy",
                    params={"RoleName": role, "PolicyName": "deny", "PolicyDocument": {}},
                    summary=f"Deny API-key use to role {role}",
                ),
            ),
            created_at=T0,
        )
    cred = Credential(
        credential_id="ACCA" + "X" * 17, user_name=user, status="Active", created_at=T0
    )
    target = Target(kind=KeyKind.LONG_TERM, user_name=user, credential=cred)
    return RevocationPlan(
        target=target,
        actions=(Action.DEACTIVATE,),
        steps=(
            IamCall(
                action=Action.DEACTIVATE,
                operation="UpdateServiceSpecificCredential",
                params={
                    "UserName": user,
                    "ServiceSpecificCredentialId": cred.credential_id,
                    "Status": "Inactive",
                },
                summary=f"Set key {cred.credential_id[:8]}… of {user} to Inactive",
            ),
        ),
        created_at=T0,
    )


def make_request(
    *, user: str = "alice", role: str | None = None, created_at: datetime = T0
) -> RevocationRequest:
    return RevocationRequest(
        id=new_request_id(),
        requester="U_REQ",
        channel_id="C1",
        reason="INC-1 key in a public gist",
        plan=make_plan(user, role),
        created_at=created_at,
        expires_at=created_at + timedelta(hours=1),
    )


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[RequestStore]:
    """A request store on a fresh SQLite file (test_store.py runs on every backend instead)."""
    s = open_store(f"sqlite:///{tmp_path}/revoker.db")
    yield s
    await s.close()


# --- the hub on that store, for runner, bulk and audit tests ----------------------------------

LEASE = timedelta(seconds=30)
DEAD = "dead-host:1:000000"  # a runner that died holding a lease


class Approvers:
    """is_approver: U_APPROVER only."""

    async def __call__(self, user_id: str) -> bool:
        return user_id == "U_APPROVER"


@pytest.fixture
def hub(store: RequestStore, clock: Clock) -> RequestService:
    return RequestService(store, clock=clock)
