"""The CloudFormation templates, deployed into moto's CloudFormation and read back through the
real boto3 clients: the table is the one the DynamoDB store expects, the task role holds exactly
deploy/iam-policy.json (and only the table access the store's code needs), the target-account role
trusts the bot's role alone with the external id and holds the statements a target account needs,
and the Slack tokens reach the container as secrets, never as plain parameters."""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from test_deploy_files import dynamodb_actions

from bot.store import dynamodb_schema

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = ROOT / "deploy" / "cloudformation"
IAM_POLICY = json.loads((ROOT / "deploy" / "iam-policy.json").read_text(encoding="utf-8"))
TRUST_JSON = json.loads((ROOT / "deploy" / "target-account-role.json").read_text(encoding="utf-8"))
BOT_ACCOUNT = "123456789012"  # moto's default account
TARGET_ACCOUNT = "210987654321"
EXTERNAL_ID = "ext-7f3a9c-prod"
STALE = "run python3 deploy/cloudformation/embed_policy.py after changing deploy/iam-policy.json"
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/bedrock-key-revoker@sha256:" + "0" * 64


def inline_policy(iam: Any, role: str, name: str) -> Any:
    document = iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
    # IAM answers with the JSON document (boto3 decodes it); moto's CloudFormation stores an
    # inline role policy as the Python repr of the template's mapping instead.
    return ast.literal_eval(document) if isinstance(document, str) else document


def template(name: str) -> str:
    return (TEMPLATES / name).read_text(encoding="utf-8")


@pytest.fixture
def aws(moto_aws: None) -> Iterator[boto3.Session]:
    yield boto3.Session(region_name="us-east-1")


def network(session: boto3.Session) -> tuple[str, list[str]]:
    ec2 = session.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=zone)["Subnet"][
            "SubnetId"
        ]
        for i, zone in enumerate(("us-east-1a", "us-east-1b"))
    ]
    return vpc, subnets


def secret(session: boto3.Session, name: str) -> str:
    arn: str = session.client("secretsmanager").create_secret(Name=name, SecretString="x")["ARN"]
    return arn


def deploy(
    session: boto3.Session, name: str, body: str, parameters: dict[str, str]
) -> dict[str, str]:
    """Create the stack, wait for it, and return its resources' physical ids by logical id."""
    cfn = session.client("cloudformation")
    cfn.create_stack(
        StackName=name,
        TemplateBody=body,
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
        Capabilities=["CAPABILITY_NAMED_IAM"],
    )
    (stack,) = cfn.describe_stacks(StackName=name)["Stacks"]
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack.get("StackStatusReason")
    summaries = cfn.list_stack_resources(StackName=name)["StackResourceSummaries"]
    return {r["LogicalResourceId"]: r["PhysicalResourceId"] for r in summaries}


def bot_stack(session: boto3.Session, mode: str) -> dict[str, str]:
    vpc, subnets = network(session)
    parameters = {
        "ImageUri": IMAGE,
        "Mode": mode,
        "SlackBotTokenSecretArn": secret(session, "slack-bot-token"),
        "SlackModeSecretArn": secret(session, f"slack-{mode}-secret"),
        "ApproverUserIds": "U012AB3CD",
        "ApproverUsergroupIds": "S012AB3CD",
        "TargetAccountsSecretArn": secret(session, "revoker-accounts"),
        "VpcId": vpc,
        "TaskSubnetIds": ",".join(subnets),
    }
    if mode == "http":
        parameters["LoadBalancerSubnetIds"] = ",".join(subnets)
        acm = session.client("acm")
        parameters["CertificateArn"] = acm.request_certificate(DomainName="revoker.example.com")[
            "CertificateArn"
        ]
    return deploy(session, "bedrock-key-revoker", template("bot.yaml"), parameters)


# --- bot.yaml -------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["socket", "http"])
def test_the_table_is_the_one_the_dynamodb_store_creates(aws: boto3.Session, mode: str) -> None:
    created = bot_stack(aws, mode)
    dynamodb = aws.client("dynamodb")
    table = dynamodb.describe_table(TableName=created["RequestTable"])["Table"]
    expected = dynamodb_schema.create_table_input(created["RequestTable"])

    def key(schema: list[Any]) -> list[tuple[str, str]]:
        return [(k["AttributeName"], k["KeyType"]) for k in schema]

    assert key(table["KeySchema"]) == key(expected["KeySchema"])
    assert sorted(
        (a["AttributeName"], a["AttributeType"]) for a in table["AttributeDefinitions"]
    ) == sorted((a["AttributeName"], a["AttributeType"]) for a in expected["AttributeDefinitions"])
    indexes = {
        i["IndexName"]: (key(i["KeySchema"]), i["Projection"])
        for i in table["GlobalSecondaryIndexes"]
    }
    assert indexes == {
        i["IndexName"]: (key(i["KeySchema"]), i["Projection"])
        for i in expected["GlobalSecondaryIndexes"]
    }
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert table["DeletionProtectionEnabled"] is True
    # moto's CloudFormation ignores PointInTimeRecoverySpecification: read from the template.
    properties = resources("bot.yaml")["RequestTable"]["Properties"]
    assert properties["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}


def test_the_task_role_holds_exactly_the_iam_policy_and_the_table(aws: boto3.Session) -> None:
    created = bot_stack(aws, "socket")
    iam = aws.client("iam")
    role = iam.get_role(RoleName="BedrockKeyRevoker")["Role"]
    assert created["TaskRole"] == "BedrockKeyRevoker"
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "ecs-tasks.amazonaws.com"}
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": BOT_ACCOUNT}}
    assert sorted(iam.list_role_policies(RoleName="BedrockKeyRevoker")["PolicyNames"]) == [
        "BedrockKeyRevoker",
        "RequestStore",
    ]
    assert inline_policy(iam, "BedrockKeyRevoker", "BedrockKeyRevoker") == IAM_POLICY, STALE
    assert iam.list_attached_role_policies(RoleName="BedrockKeyRevoker")["AttachedPolicies"] == []

    (statement,) = inline_policy(iam, "BedrockKeyRevoker", "RequestStore")["Statement"]
    # What the store's code calls at run time; CreateTable is `store init`'s, not the bot's.
    needed = dynamodb_actions(ROOT / "bot" / "store") - {"dynamodb:CreateTable"}
    assert set(statement["Action"]) == needed
    table_arn = f"arn:aws:dynamodb:us-east-1:{BOT_ACCOUNT}:table/{created['RequestTable']}"
    assert statement["Resource"] == [table_arn, f"{table_arn}/index/*"]


@pytest.mark.parametrize("mode", ["socket", "http"])
def test_the_service_runs_two_tasks_with_the_tokens_as_secrets(
    aws: boto3.Session, mode: str
) -> None:
    created = bot_stack(aws, mode)
    ecs = aws.client("ecs")
    (service,) = ecs.describe_services(cluster=created["Cluster"], services=[created["Service"]])[
        "services"
    ]
    assert service["desiredCount"] == 2
    # moto's CloudFormation drops the launch type and network configuration: from the template.
    declared = resources("bot.yaml")["Service"]["Properties"]
    assert declared["LaunchType"] == "FARGATE"
    assert declared["NetworkConfiguration"]["AwsvpcConfiguration"]["AssignPublicIp"] == "DISABLED"
    task = ecs.describe_task_definition(taskDefinition=service["taskDefinition"])["taskDefinition"]
    # moto's CloudFormation drops the task's roles and network mode: from the template.
    declared_task = resources("bot.yaml")["TaskDefinition"]["Properties"]
    assert declared_task["TaskRoleArn"] == {"Fn::GetAtt": "TaskRole.Arn"}
    assert declared_task["NetworkMode"] == "awsvpc"
    assert declared_task["RequiresCompatibilities"] == ["FARGATE"]
    (container,) = task["containerDefinitions"]
    environment = {e["name"]: e["value"] for e in container["environment"]}
    assert environment["REVOKER_MODE"] == mode
    assert environment["REVOKER_DATABASE_URL"] == f"dynamodb://{created['RequestTable']}"
    mode_secret = "SLACK_APP_TOKEN" if mode == "socket" else "SLACK_SIGNING_SECRET"
    assert sorted(s["name"] for s in container["secrets"]) == sorted(
        ["SLACK_BOT_TOKEN", mode_secret, "REVOKER_ACCOUNTS"]
    )
    assert not {"SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "SLACK_SIGNING_SECRET"} & set(environment)
    assert "/healthz" in " ".join(container["healthCheck"]["command"])
    assert container["logConfiguration"]["logDriver"] == "awslogs"
    assert declared["LoadBalancers"]["Fn::If"][0] == "IsHttp"  # moto drops them too
    if mode == "http":
        elb = aws.client("elbv2")
        (group,) = elb.describe_target_groups(TargetGroupArns=[created["TargetGroup"]])[
            "TargetGroups"
        ]
        assert (group["Port"], group["TargetType"]) == (3000, "ip")
        assert group["HealthCheckPath"] == "/readyz"
        (listener,) = elb.describe_listeners(LoadBalancerArn=created["LoadBalancer"])["Listeners"]
        assert (listener["Protocol"], listener["Port"]) == ("HTTPS", 443)
    else:
        # Socket Mode: nothing listens for Slack.
        assert not {"LoadBalancer", "TargetGroup", "HttpsListener"} & set(created)


class _TemplateLoader(yaml.SafeLoader):
    """Reads CloudFormation's short-form tags (!Ref x) as their long form ({"Ref": x})."""


def _intrinsic(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = suffix if suffix == "Ref" else f"Fn::{suffix}"
    if isinstance(node, yaml.ScalarNode):
        return {name: loader.construct_scalar(node)}
    if isinstance(node, yaml.SequenceNode):
        return {name: loader.construct_sequence(node, deep=True)}
    return {name: loader.construct_mapping(node, deep=True)}  # type: ignore[arg-type]


_TemplateLoader.add_multi_constructor("!", _intrinsic)


def parsed(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.load(template(name), Loader=_TemplateLoader)  # noqa: S506
    return loaded


def resources(name: str) -> dict[str, Any]:
    found: dict[str, Any] = parsed(name)["Resources"]
    return found


def test_no_parameter_carries_a_slack_token() -> None:
    parameters = parsed("bot.yaml")["Parameters"]
    for name, spec in parameters.items():
        if "Slack" in name:
            assert name.endswith("SecretArn") and spec["AllowedPattern"].startswith("arn:aws")


def test_logs_are_kept_for_a_bounded_time(aws: boto3.Session) -> None:
    created = bot_stack(aws, "socket")
    (group,) = aws.client("logs").describe_log_groups(logGroupNamePrefix=created["LogGroup"])[
        "logGroups"
    ]
    assert group["retentionInDays"] == 365


# --- target-account-role.yaml -----------------------------------------------------------------


def target_account_session() -> boto3.Session:
    """Credentials in another moto account, as a StackSet deploys into each member account."""
    creds = boto3.client("sts", region_name="us-east-1").assume_role(
        RoleArn=f"arn:aws:iam::{TARGET_ACCOUNT}:role/OrganizationAccountAccessRole",
        RoleSessionName="stackset",
    )["Credentials"]
    return boto3.Session(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
        region_name="us-east-1",
    )


def test_the_target_role_trusts_the_bot_role_alone_with_the_external_id(
    aws: boto3.Session,
) -> None:
    target = target_account_session()
    created = deploy(
        target,
        "bedrock-key-revoker-target",
        template("target-account-role.yaml"),
        {"BotAccountId": BOT_ACCOUNT, "ExternalId": EXTERNAL_ID},
    )
    iam = target.client("iam")
    role = iam.get_role(RoleName="BedrockKeyRevoker")["Role"]
    assert role["Arn"] == f"arn:aws:iam::{TARGET_ACCOUNT}:role/BedrockKeyRevoker"
    assert created["RevokerRole"] == "BedrockKeyRevoker"
    # deploy/target-account-role.json, with its two placeholders filled in.
    filled = json.loads(
        json.dumps(TRUST_JSON)
        .replace("111111111111", BOT_ACCOUNT)
        .replace("REPLACE-WITH-THE-EXTERNAL-ID-FROM-REVOKER_ACCOUNTS", EXTERNAL_ID)
    )
    assert role["AssumeRolePolicyDocument"] == filled


def test_the_target_role_holds_the_policy_statements_narrowed_to_its_account(
    aws: boto3.Session,
) -> None:
    target = target_account_session()
    deploy(
        target,
        "bedrock-key-revoker-target",
        template("target-account-role.yaml"),
        {"BotAccountId": BOT_ACCOUNT, "ExternalId": EXTERNAL_ID},
    )
    policy = inline_policy(target.client("iam"), "BedrockKeyRevoker", "BedrockKeyRevoker")
    # deploy/README.md: a target account needs every statement but AssumeConfiguredAccounts
    # (the bot's) and ResetSecretDelivery, with * as the account narrowed to that account.
    expected = [
        {**s, "Resource": s["Resource"].replace("::*:", f"::{TARGET_ACCOUNT}:")}
        for s in IAM_POLICY["Statement"]
        if s["Sid"] not in {"AssumeConfiguredAccounts", "ResetSecretDelivery"}
    ]
    assert policy == {"Version": "2012-10-17", "Statement": expected}, STALE


# --- deploy/README.md -----------------------------------------------------------------------------


def test_the_deploy_commands_name_real_templates_and_every_required_parameter() -> None:
    readme = (ROOT / "deploy" / "README.md").read_text(encoding="utf-8")
    commands = re.findall(r"aws cloudformation deploy \\\n(.*?)\n```", readme, re.S)
    assert len(commands) == 2
    for command in commands:
        (path,) = re.findall(r"--template-file (\S+)", command)
        assert "--capabilities CAPABILITY_NAMED_IAM" in command
        spec = parsed(Path(path).name)["Parameters"]
        given = set(re.findall(r"\b([A-Z][A-Za-z]+)=", command.split("--parameter-overrides")[1]))
        assert given <= set(spec), f"{path}: unknown parameters {given - set(spec)}"
        required = {name for name, p in spec.items() if "Default" not in p}
        assert required <= given, f"{path}: the command leaves out {required - given}"
