"""The sandbox's CloudTrail event history and STS additions, through the real boto3 clients.

Every test runs twice: moto in-process and a moto server over HTTP (the end-to-end tests' way).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from bot.sandbox import cloudtrail
from bot.sandbox import iam as sandbox

REGION = "us-east-1"
ACCOUNT = sandbox.DEFAULT_ACCOUNT_ID
NO_RETRY = Config(retries={"total_max_attempts": 1})
TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
)


@pytest.fixture(autouse=True)
def _fake_aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    for var in ("AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_BEARER_TOKEN_BEDROCK"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture(scope="module")
def server_url() -> Iterator[str]:
    with sandbox.sandbox_server() as url:
        yield url


class Aws:
    def __init__(self, endpoint_url: str | None) -> None:
        self.endpoint_url = endpoint_url

    def client(self, service: str, region: str = REGION, **creds: str) -> Any:
        return boto3.client(
            service,
            region_name=region,
            endpoint_url=self.endpoint_url,
            config=NO_RETRY,
            **creds,
        )

    def session_client(self, service: str, credentials: dict[str, Any]) -> Any:
        return self.client(
            service,
            aws_access_key_id=credentials["AccessKeyId"],
            aws_secret_access_key=credentials["SecretAccessKey"],
            aws_session_token=credentials["SessionToken"],
        )

    def bearer(self, key: str, **kw: Any) -> int:
        return cloudtrail.bearer_token_call(key, endpoint_url=self.endpoint_url, **kw)


@pytest.fixture(params=["in_process", "server"])
def aws(request: pytest.FixtureRequest, _fake_aws_env: None) -> Iterator[Aws]:
    if request.param == "in_process":
        with sandbox.mock_iam():
            yield Aws(None)
    else:
        url: str = request.getfixturevalue("server_url")
        sandbox.reset()
        yield Aws(url)
        sandbox.reset()


def _assume(aws: Aws, role: str, session: str = "app", path: str = "/") -> dict[str, Any]:
    arn = aws.client("iam").create_role(RoleName=role, Path=path, AssumeRolePolicyDocument=TRUST)[
        "Role"
    ]["Arn"]
    creds: dict[str, Any] = aws.client("sts").assume_role(RoleArn=arn, RoleSessionName=session)[
        "Credentials"
    ]
    return creds


def _lookup(aws: Aws, access_key_id: str, **kw: Any) -> list[dict[str, Any]]:
    answer = aws.client("cloudtrail").lookup_events(
        LookupAttributes=[{"AttributeKey": "AccessKeyId", "AttributeValue": access_key_id}], **kw
    )
    events: list[dict[str, Any]] = answer["Events"]
    return events


def _short_term_key(credentials: dict[str, Any], session_token: bool = True) -> str:
    from aws_bedrock_token_generator import BedrockTokenGenerator
    from botocore.credentials import Credentials

    signing = Credentials(
        credentials["AccessKeyId"],
        credentials["SecretAccessKey"],
        credentials.get("SessionToken") if session_token else None,
    )
    token: str = BedrockTokenGenerator().get_token(signing, REGION)
    return token


def test_a_role_sessions_calls_are_found_by_its_access_key_with_the_role_as_issuer(
    aws: Aws,
) -> None:
    creds = _assume(aws, "ci-runner", path="/apps/")
    before = datetime.now(UTC) - timedelta(seconds=1)
    aws.session_client("sts", creds).get_caller_identity()
    aws.session_client("iam", creds).list_users()

    events = _lookup(aws, creds["AccessKeyId"])
    assert [e["EventName"] for e in events] == ["ListUsers", "GetCallerIdentity"]  # newest first
    newest = events[0]
    assert newest["AccessKeyId"] == creds["AccessKeyId"]
    assert newest["ReadOnly"] == "true"
    assert newest["EventSource"] == "iam.amazonaws.com"
    assert newest["Username"] == "app"
    assert newest["EventTime"] >= before  # boto3 parses the epoch number into a datetime
    record = json.loads(newest["CloudTrailEvent"])
    who = record["userIdentity"]
    assert who["type"] == "AssumedRole"
    assert who["arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/ci-runner/app"
    issuer = who["sessionContext"]["sessionIssuer"]
    assert issuer == {
        "type": "Role",
        "principalId": issuer["principalId"],
        "arn": f"arn:aws:iam::{ACCOUNT}:role/apps/ci-runner",
        "accountId": ACCOUNT,
        "userName": "ci-runner",
    }
    created = datetime.fromisoformat(who["sessionContext"]["attributes"]["creationDate"])
    assert before - timedelta(seconds=5) <= created <= datetime.now(UTC)
    assert record["awsRegion"] == REGION and record["eventCategory"] == "Management"
    # Another key's lookup does not see these.
    assert _lookup(aws, "ASIAXXXXXXXXXXXXXXXX") == []


def test_a_bearer_token_call_is_recorded_under_the_signing_session(aws: Aws) -> None:
    creds = _assume(aws, "ci-runner")
    key = _short_term_key(creds)
    assert aws.bearer(key, source_ip="203.0.113.7", user_agent="leaked-client/1.0") == 200

    (event,) = _lookup(aws, creds["AccessKeyId"])
    record = json.loads(event["CloudTrailEvent"])
    assert event["EventName"] == "InvokeModel"
    assert event["EventSource"] == "bedrock.amazonaws.com"
    assert record["additionalEventData"] == {"callWithBearerToken": True}
    assert record["sourceIPAddress"] == "203.0.113.7"
    assert "leaked-client/1.0" in record["userAgent"]
    assert record["requestParameters"]["modelId"].startswith("anthropic.")
    assert record["userIdentity"]["sessionContext"]["sessionIssuer"]["userName"] == "ci-runner"
    assert key not in event["CloudTrailEvent"]


def test_get_session_token_issues_a_distinct_asia_key_recorded_as_the_user(aws: Aws) -> None:
    iam = aws.client("iam")
    iam.create_user(UserName="dev")
    ak = iam.create_access_key(UserName="dev")["AccessKey"]
    user_sts = aws.client(
        "sts", aws_access_key_id=ak["AccessKeyId"], aws_secret_access_key=ak["SecretAccessKey"]
    )
    first = user_sts.get_session_token()["Credentials"]
    second = user_sts.get_session_token(DurationSeconds=900)["Credentials"]
    assert first["AccessKeyId"].startswith("ASIA") and second["AccessKeyId"].startswith("ASIA")
    assert first["AccessKeyId"] != second["AccessKeyId"]

    aws.bearer(_short_term_key(first))
    (event,) = _lookup(aws, first["AccessKeyId"])
    who = json.loads(event["CloudTrailEvent"])["userIdentity"]
    assert who["type"] == "IAMUser"
    assert who["arn"] == f"arn:aws:iam::{ACCOUNT}:user/dev"
    assert who["userName"] == "dev" and event["Username"] == "dev"
    assert "creationDate" in who["sessionContext"]["attributes"]

    # A session cannot make another session (STS answers AccessDenied).
    with pytest.raises(ClientError) as denied:
        aws.session_client("sts", first).get_session_token()
    assert denied.value.response["Error"]["Code"] == "AccessDenied"


def test_calls_with_a_users_long_term_access_key_are_recorded_as_the_user(aws: Aws) -> None:
    iam = aws.client("iam")
    iam.create_user(UserName="ci-bot")
    ak = iam.create_access_key(UserName="ci-bot")["AccessKey"]
    key = _short_term_key(ak, session_token=False)
    aws.bearer(key)
    (event,) = _lookup(aws, ak["AccessKeyId"])
    who = json.loads(event["CloudTrailEvent"])["userIdentity"]
    assert who["type"] == "IAMUser" and who["userName"] == "ci-bot"
    assert "sessionContext" not in who


def test_lookups_by_user_by_key_and_by_event_name_find_the_same_calls(aws: Aws) -> None:
    iam = aws.client("iam")
    for user in ("ci-bot", "dev"):
        iam.create_user(UserName=user)
    ak = iam.create_access_key(UserName="ci-bot")["AccessKey"]
    as_ci_bot = aws.client(
        "iam", aws_access_key_id=ak["AccessKeyId"], aws_secret_access_key=ak["SecretAccessKey"]
    )
    as_ci_bot.list_users()
    as_ci_bot.list_roles()
    trail = aws.client("cloudtrail")

    def names(key: str, value: str) -> list[str]:
        answer = trail.lookup_events(
            LookupAttributes=[{"AttributeKey": key, "AttributeValue": value}]
        )
        return [e["EventName"] for e in answer["Events"] if e["Username"] == "ci-bot"]

    assert names("Username", "ci-bot") == ["ListRoles", "ListUsers"]  # newest first
    assert names("AccessKeyId", ak["AccessKeyId"]) == ["ListRoles", "ListUsers"]
    assert names("EventName", "ListRoles") == ["ListRoles"]
    assert names("Username", "dev") == [] and names("AccessKeyId", "AKIAIOSFODNN7EXAMPLE") == []


def test_get_access_key_info_names_the_account_of_sessions_and_user_keys(aws: Aws) -> None:
    creds = _assume(aws, "ci-runner")
    sts = aws.client("sts")
    assert sts.get_access_key_info(AccessKeyId=creds["AccessKeyId"])["Account"] == ACCOUNT
    iam = aws.client("iam")
    iam.create_user(UserName="dev")
    ak = iam.create_access_key(UserName="dev")["AccessKey"]
    assert sts.get_access_key_info(AccessKeyId=ak["AccessKeyId"])["Account"] == ACCOUNT


def test_lookup_events_pages_with_a_token_bound_to_its_parameters(aws: Aws) -> None:
    creds = _assume(aws, "ci-runner")
    sts = aws.session_client("sts", creds)
    for _ in range(5):
        sts.get_caller_identity()
    ct = aws.client("cloudtrail")
    query = {
        "LookupAttributes": [
            {"AttributeKey": "AccessKeyId", "AttributeValue": creds["AccessKeyId"]}
        ]
    }
    first = ct.lookup_events(MaxResults=2, **query)
    assert len(first["Events"]) == 2 and first["NextToken"]
    seen = [e["EventId"] for e in first["Events"]]
    token = first["NextToken"]
    while token:
        page = ct.lookup_events(MaxResults=2, NextToken=token, **query)
        seen += [e["EventId"] for e in page["Events"]]
        token = page.get("NextToken")
    assert len(seen) == len(set(seen)) == 5

    with pytest.raises(ClientError) as other_params:
        ct.lookup_events(MaxResults=3, NextToken=first["NextToken"], **query)
    assert other_params.value.response["Error"]["Code"] == "InvalidNextTokenException"


def test_lookup_events_refuses_what_cloudtrail_refuses(aws: Aws) -> None:
    ct = aws.client("cloudtrail")
    two = [
        {"AttributeKey": "AccessKeyId", "AttributeValue": "ASIA1"},
        {"AttributeKey": "EventName", "AttributeValue": "InvokeModel"},
    ]
    for kwargs, code in (
        ({"LookupAttributes": two}, "InvalidLookupAttributesException"),
        ({"MaxResults": 51}, "InvalidMaxResultsException"),
        (
            {"StartTime": datetime.now(UTC), "EndTime": datetime.now(UTC) - timedelta(hours=1)},
            "InvalidTimeRangeException",
        ),
    ):
        with pytest.raises(ClientError) as refused:
            ct.lookup_events(**kwargs)
        assert refused.value.response["Error"]["Code"] == code


def test_lookup_events_honours_the_time_window_and_region(aws: Aws) -> None:
    creds = _assume(aws, "ci-runner")
    aws.session_client("sts", creds).get_caller_identity()
    ct = aws.client("cloudtrail")
    later = datetime.now(UTC) + timedelta(minutes=5)
    query = [{"AttributeKey": "AccessKeyId", "AttributeValue": creds["AccessKeyId"]}]
    assert ct.lookup_events(LookupAttributes=query, StartTime=later)["Events"] == []
    # STS's global endpoint logs in us-east-1, not in another Region's history.
    elsewhere = aws.client("cloudtrail", region="eu-west-1")
    assert elsewhere.lookup_events(LookupAttributes=query)["Events"] == []


def test_a_failed_call_is_recorded_with_its_error_code(aws: Aws) -> None:
    creds = _assume(aws, "ci-runner")
    with pytest.raises(ClientError):
        aws.session_client("iam", creds).get_role(RoleName="nope")
    (event,) = _lookup(aws, creds["AccessKeyId"])
    assert json.loads(event["CloudTrailEvent"])["errorCode"] == "NoSuchEntity"


def test_an_injected_cloudtrail_error_is_a_json_error(aws: Aws) -> None:
    sandbox.inject_error("LookupEvents", "AccessDeniedException", service="cloudtrail")
    with pytest.raises(ClientError) as denied:
        aws.client("cloudtrail").lookup_events()
    assert denied.value.response["Error"]["Code"] == "AccessDeniedException"
    assert denied.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert aws.client("cloudtrail").lookup_events()["Events"] is not None


def test_a_reset_forgets_the_events(aws: Aws) -> None:
    creds = _assume(aws, "ci-runner")
    aws.session_client("sts", creds).get_caller_identity()
    assert cloudtrail.events(ACCOUNT, REGION)
    sandbox.reset()
    assert cloudtrail.events(ACCOUNT, REGION) == []
