"""The deployment files: the IAM policy covers every AWS call the code makes, the Slack manifest
has what the app needs, and the Dockerfile keeps its promises (non-root, no secrets, health check).

The policy check scans the source instead of trusting a hand-kept list, so adding a boto3 call
under bot/ or handlers/ without granting it in deploy/iam-policy.json fails here, not in an
incident.
"""

from __future__ import annotations

import ast
import functools
import http.server
import json
import os
import re
import socket
import subprocess
import sys
import threading
import tomllib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import botocore.session
import pytest
import yaml
from botocore import xform_name

from bot.doctor import REQUIRED_SCOPES

ROOT = Path(__file__).resolve().parent.parent
POLICY_PATH = ROOT / "deploy" / "iam-policy.json"

# boto3 service name -> IAM action prefix; None = deliberately outside deploy/iam-policy.json
# (the DynamoDB store's table permissions are documented separately in deploy/README.md).
SERVICES: dict[str, str | None] = {
    "iam": "iam",
    "sts": "sts",
    "secretsmanager": "secretsmanager",
    "cloudtrail": "cloudtrail",
    "dynamodb": None,
}

# Calls AWS authorises for every caller: no policy statement can grant or deny them.
NO_PERMISSION_NEEDED = frozenset({"sts:GetCallerIdentity"})

# Actions that support no resource-level permissions (Service Authorization Reference: no
# resource type): a policy can only grant them on "*".
NO_RESOURCE_LEVEL = frozenset({"cloudtrail:LookupEvents", "sts:GetAccessKeyInfo"})

# Code that never talks to a real account, with the reason. Keep this list short.
NOT_SCANNED = {
    "bot/sandbox": "drives the embedded moto stand-in for the demo, never a real account",
}

# Receiver names that tell which client a method is called on, for operation names that exist
# in more than one service (e.g. tag_resource in Secrets Manager and DynamoDB).
_RECEIVER_HINTS = (
    ("secretsmanager", re.compile(r"secret|(^|_)sm($|_)")),
    ("dynamodb", re.compile(r"dynamo|ddb|table")),
    ("sts", re.compile(r"(^|_)sts($|_)")),
    ("iam", re.compile(r"(^|_)iam($|_)")),
)

# Client methods that name an operation in their first argument. (Waiter names are not
# operations; the operation a waiter polls is granted through the code's own call of it.)
_OPERATION_BY_NAME_METHODS = frozenset({"get_paginator", "can_paginate"})


# --- the botocore models ------------------------------------------------------------------------


@functools.cache
def _models() -> dict[str, dict[str, str]]:
    """Per service: snake_case method name -> PascalCase operation name, from botocore."""
    session = botocore.session.get_session()
    return {
        service: {xform_name(op): op for op in session.get_service_model(service).operation_names}
        for service in SERVICES
    }


@functools.cache
def _requires_input(service: str, op_name: str) -> bool:
    shape = botocore.session.get_session().get_service_model(service).operation_model(op_name)
    return bool(shape.input_shape and shape.input_shape.required_members)


def _could_be_client_call(call: ast.Call, service: str, method: str) -> bool:
    """False when the call's arguments rule out a boto3 client method.

    Client methods take keyword arguments only, and refuse a call without the operation's
    required parameters; `settings.slack_bot_token.get_secret_value()` (pydantic's SecretStr) is
    therefore not Secrets Manager's GetSecretValue.
    """
    if call.args:
        return False
    return bool(call.keywords) or not _requires_input(service, _models()[service][method])


Prefixes = dict[str, str | None]


def _actions(services: Iterable[str], op_name: str, prefixes: Prefixes) -> set[str]:
    out = set()
    for service in services:
        prefix = prefixes[service]
        if prefix is not None:
            out.add(f"{prefix}:{op_name}")
    return out


# --- the scanner --------------------------------------------------------------------------------


@dataclass
class ScanResult:
    actions: set[str] = field(default_factory=set)
    # "file:line: what" for every client whose service the scanner cannot map to a policy prefix
    unknown_clients: list[str] = field(default_factory=list)


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    if isinstance(node, ast.Call):
        return _dotted(node.func) + "()"
    return ""


def _services_for_method(method: str, receiver: str) -> list[str]:
    candidates = [s for s, ops in _models().items() if method in ops]
    if len(candidates) > 1:
        last = receiver.rsplit(".", 1)[-1].removesuffix("()").lower()
        for service, pattern in _RECEIVER_HINTS:
            if service in candidates and pattern.search(last):
                return [service]
    # Ambiguous and unhinted: require every candidate's permission rather than guess.
    return candidates


def _client_service(call: ast.Call) -> ast.expr | None:
    if call.args:
        return call.args[0]
    for kw in call.keywords:
        if kw.arg == "service_name":
            return kw.value
    return None


def scan_source(
    source: str, filename: str = "<snippet>", prefixes: Prefixes = SERVICES
) -> ScanResult:
    """The AWS actions a module's code can perform, found three ways:

    - a call of a client method named like an operation: `iam.put_role_policy(...)`;
    - an operation named in a string: `get_paginator("list_role_policies")`, or a PascalCase
      constant such as a plan step's `operation="PutRolePolicy"` that an executor dispatches;
    - a `client("<service>")` / `resource("<service>")` for a service outside SERVICES, which is
      reported so the scanner and the policy get extended instead of silently missing calls.
    """
    tree = ast.parse(source, filename)
    models = _models()
    pascal: dict[str, list[str]] = {}
    for service, ops in models.items():
        for op in ops.values():
            pascal.setdefault(op, []).append(service)
    uses_boto = bool(re.search(r"^\s*(import|from)\s+(boto3|botocore|aioboto)", source, re.M))

    result = ScanResult()
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            if node.value in pascal:
                result.actions |= _actions(pascal[node.value], node.value, prefixes)
            continue
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
            continue
        method, receiver = node.func.attr, _dotted(node.func.value)
        if method in _OPERATION_BY_NAME_METHODS and node.args:
            arg = node.args[0]
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                for service in _services_for_method(arg.value, receiver):
                    result.actions |= _actions([service], models[service][arg.value], prefixes)
        elif method in ("client", "resource") and uses_boto:
            arg = _client_service(node)
            where = f"{filename}:{node.lineno}"
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                if arg.value not in SERVICES:
                    result.unknown_clients.append(f"{where}: {method}({arg.value!r})")
            elif arg is not None:
                result.unknown_clients.append(f"{where}: {method}(<not a literal>)")
        else:
            for service in _services_for_method(method, receiver):
                if _could_be_client_call(node, service, method):
                    result.actions |= _actions([service], models[service][method], prefixes)
    return result


def scan_tree(*roots: Path, prefixes: Prefixes = SERVICES) -> ScanResult:
    total = ScanResult()
    skipped = [ROOT / p for p in NOT_SCANNED]
    for root in roots:
        for path in sorted(root.rglob("*.py")):
            if any(path.is_relative_to(s) for s in skipped):
                continue
            rel = path.relative_to(ROOT).as_posix()
            found = scan_source(path.read_text(encoding="utf-8"), rel, prefixes)
            total.actions |= found.actions
            total.unknown_clients += found.unknown_clients
    return total


# --- the policy check ---------------------------------------------------------------------------


def _as_list(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def _action_pattern(action: str) -> re.Pattern[str]:
    # IAM action names are case-insensitive; `*` and `?` are the only wildcards.
    body = re.escape(action).replace(r"\*", ".*").replace(r"\?", ".")
    return re.compile(body, re.IGNORECASE)


def not_allowed(policy: dict[str, Any], actions: Iterable[str]) -> set[str]:
    """The actions `policy` does not allow on at least some resource.

    Action-level only: an Allow on any resource counts, and only a Deny on every resource
    (`"Resource": "*"`) takes an action away. Resource scoping is reviewed by people, in
    deploy/README.md.
    """
    allowed: list[re.Pattern[str]] = []
    denied: list[re.Pattern[str]] = []
    for statement in _as_list_of_statements(policy):
        if "NotAction" in statement or "NotResource" in statement:
            raise NotImplementedError("NotAction/NotResource: extend not_allowed() first")
        patterns = [_action_pattern(a) for a in _as_list(statement["Action"])]
        if statement["Effect"] == "Allow":
            allowed += patterns
        elif "*" in _as_list(statement["Resource"]):
            denied += patterns
    return {
        action
        for action in actions
        if action not in NO_PERMISSION_NEEDED
        and (
            not any(p.fullmatch(action) for p in allowed)
            or any(p.fullmatch(action) for p in denied)
        )
    }


def _as_list_of_statements(policy: dict[str, Any]) -> list[dict[str, Any]]:
    statements = policy["Statement"]
    return [statements] if isinstance(statements, dict) else list(statements)


@pytest.fixture(scope="module")
def policy() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(POLICY_PATH.read_text(encoding="utf-8"))
    return loaded


# --- scanner unit tests -------------------------------------------------------------------------

SNIPPET = '''
import boto3

class Executor:
    """Mentions GetUser and iam.create_user() in prose only; neither is a call."""

    def __init__(self, session):
        self._iam = session.client("iam")
        self._sm = session.client("secretsmanager")
        self.table = boto3.resource("dynamodb").Table("t")

    def run(self, step):
        self._iam.attach_role_policy(RoleName="r", PolicyArn="arn")
        for page in self._iam.get_paginator("list_role_policies").paginate(RoleName="r"):
            pass
        getattr(self._iam, xform_name(step.operation))(**step.params)
        self._sm.tag_resource(SecretId="x", Tags=[])
        self.table.put_item(Item={})
        self.cache.get("key")
        self.clients.sts().get_caller_identity()
        token = self.settings.slack_bot_token.get_secret_value()
        self.store.delete_secret("not boto3: positional")
        return IamCall(operation="DeleteRolePolicy", params={})
'''


def test_scanner_finds_method_calls_paginators_and_operation_strings() -> None:
    found = scan_source(SNIPPET)
    assert found.actions == {
        "iam:AttachRolePolicy",
        "iam:ListRolePolicies",
        "iam:DeleteRolePolicy",
        "secretsmanager:TagResource",  # the receiver hint keeps DynamoDB's TagResource out
        "sts:GetCallerIdentity",
    }
    assert found.unknown_clients == []


def test_scanner_requires_every_candidate_for_an_unhinted_shared_name() -> None:
    found = scan_source("def f(client):\n    client.tag_resource(ResourceArn='a', Tags=[])\n")
    assert found.actions == {"secretsmanager:TagResource"}  # dynamodb's is out of scope anyway


def test_scanner_reports_clients_it_cannot_map() -> None:
    source = (
        "import boto3\n"
        "trail = boto3.client('ec2')\n"
        "kms = boto3.Session().client(service_name='kms')\n"
        "dyn = boto3.client(name)\n"
    )
    found = scan_source(source, "bot/x.py")
    assert found.unknown_clients == [
        "bot/x.py:2: client('ec2')",
        "bot/x.py:3: client('kms')",
        "bot/x.py:4: client(<not a literal>)",
    ]


def test_a_new_ungranted_call_is_caught(policy: dict[str, Any]) -> None:
    found = scan_source("def f(iam):\n    iam.attach_role_policy(RoleName='r', PolicyArn='a')\n")
    assert not_allowed(policy, found.actions) == {"iam:AttachRolePolicy"}


def test_policy_matcher_wildcards_case_and_denies() -> None:
    doc = {
        "Statement": [
            {"Effect": "Allow", "Action": ["iam:Get*", "sts:assumerole"], "Resource": "*"},
            {"Effect": "Allow", "Action": "secretsmanager:?utSecretValue", "Resource": "x"},
            {"Effect": "Deny", "Action": "iam:GetUserPolicy", "Resource": "*"},
            {"Effect": "Deny", "Action": "iam:GetRole", "Resource": "arn:aws:iam::*:role/Me"},
        ]
    }
    asked = {
        "iam:GetRole",
        "iam:GetUserPolicy",
        "iam:ListRoles",
        "sts:AssumeRole",
        "sts:GetCallerIdentity",
        "secretsmanager:PutSecretValue",
    }
    assert not_allowed(doc, asked) == {"iam:GetUserPolicy", "iam:ListRoles"}
    with pytest.raises(NotImplementedError):
        not_allowed({"Statement": {"Effect": "Allow", "NotAction": "iam:*"}}, asked)


# --- the real code against the real policy ------------------------------------------------------


def test_every_aws_call_in_the_code_is_allowed_by_the_policy(policy: dict[str, Any]) -> None:
    found = scan_tree(ROOT / "bot", ROOT / "handlers")
    assert found.unknown_clients == [], (
        "boto3 clients for services the scanner does not know; add the service to SERVICES "
        "and its permissions to deploy/iam-policy.json"
    )
    missing = not_allowed(policy, found.actions)
    assert not missing, f"deploy/iam-policy.json does not allow {sorted(missing)}"


# Granted although no code calls them yet, each with its reason. Anything else the policy allows
# must be called somewhere, so grants do not outlive the code that needed them.
GRANTED_WITHOUT_A_CALL: dict[str, str] = {}


def test_policy_grants_nothing_the_code_does_not_use(policy: dict[str, Any]) -> None:
    used = scan_tree(ROOT / "bot", ROOT / "handlers").actions
    granted = {
        action
        for statement in _as_list_of_statements(policy)
        if statement["Effect"] == "Allow"
        for action in _as_list(statement["Action"])
    }
    unused = granted - used - set(GRANTED_WITHOUT_A_CALL)
    assert not unused, f"no code calls {sorted(unused)}: remove from deploy/iam-policy.json"


def test_policy_names_only_real_operations(policy: dict[str, Any]) -> None:
    session = botocore.session.get_session()
    known = {
        prefix: set(session.get_service_model(service).operation_names)
        for service, prefix in SERVICES.items()
        if prefix
    }
    for statement in _as_list_of_statements(policy):
        for action in _as_list(statement["Action"]):
            prefix, _, name = action.partition(":")
            # A misspelt action grants nothing and IAM accepts it silently.
            assert name in known[prefix], f"{action} is not an operation of {prefix}"


def test_policy_is_least_privilege_shaped(policy: dict[str, Any]) -> None:
    statements = _as_list_of_statements(policy)
    sids = [s["Sid"] for s in statements]
    assert len(sids) == len(set(sids))
    assert {
        "ServiceSpecificCredentials",
        "UserInlinePolicies",
        "RoleInlinePolicies",
        "AssumeConfiguredAccounts",
        "ResetSecretDelivery",
    } <= set(sids)
    for statement in statements:
        if statement["Effect"] != "Allow":
            continue
        for action in _as_list(statement["Action"]):
            assert "*" not in action, f"{statement['Sid']}: wildcard action {action}"
        for resource in _as_list(statement["Resource"]):
            if resource == "*":
                # Only actions IAM cannot scope to a resource may have Resource "*".
                unscoped = set(_as_list(statement["Action"])) - NO_RESOURCE_LEVEL
                assert not unscoped, f"{statement['Sid']}: Resource '*' for {unscoped}"
                continue
            assert resource.startswith(("arn:aws:iam::", "arn:aws:secretsmanager:")), resource
    by_sid = {s["Sid"]: s for s in statements}
    assert _as_list(by_sid["ResetSecretDelivery"]["Resource"]) == [
        "arn:aws:secretsmanager:*:*:secret:bedrock-key-revoker/*"
    ]
    # Never able to lock itself out: revoke_sessions on its own role would deny the bot too.
    protect = by_sid["ProtectRevokerRoles"]
    assert protect["Effect"] == "Deny"
    assert {"iam:PutRolePolicy", "iam:DeleteRolePolicy"} <= set(_as_list(protect["Action"]))
    # The guards refuse the same roles before an approver is asked.
    from bot.revocation.guards import REVOKER_ROLE_PREFIX

    assert _as_list(protect["Resource"]) == [f"arn:aws:iam::*:role/{REVOKER_ROLE_PREFIX}*"]


def test_target_account_trust_policy_requires_the_external_id() -> None:
    doc = json.loads((ROOT / "deploy" / "target-account-role.json").read_text(encoding="utf-8"))
    (statement,) = _as_list_of_statements(doc)
    assert statement["Action"] == "sts:AssumeRole"
    assert statement["Principal"]["AWS"].endswith(":role/BedrockKeyRevoker")
    assert "sts:ExternalId" in statement["Condition"]["StringEquals"]


def test_deploy_readme_explains_every_statement(policy: dict[str, Any]) -> None:
    readme = (ROOT / "deploy" / "README.md").read_text(encoding="utf-8")
    for statement in _as_list_of_statements(policy):
        assert f"`{statement['Sid']}`" in readme


# TransactWriteItems has no IAM action of its own: each item is authorised as the single-item
# action it performs (a "Put" item needs dynamodb:PutItem, and so on).
_TRANSACT_ITEM_ACTIONS = {
    "Put": "dynamodb:PutItem",
    "Update": "dynamodb:UpdateItem",
    "Delete": "dynamodb:DeleteItem",
    "ConditionCheck": "dynamodb:ConditionCheckItem",
}


def dynamodb_actions(root: Path) -> set[str]:
    """The IAM actions the DynamoDB store needs, from its source."""
    with_dynamodb: Prefixes = {**{s: None for s in SERVICES}, "dynamodb": "dynamodb"}
    actions = scan_tree(root, prefixes=with_dynamodb).actions
    if actions & {"dynamodb:TransactWriteItems", "dynamodb:TransactGetItems"}:
        keys = {
            node.value
            for path in root.rglob("*.py")
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
            if isinstance(node, ast.Constant) and isinstance(node.value, str)
        }
        actions |= {action for key, action in _TRANSACT_ITEM_ACTIONS.items() if key in keys}
        if "dynamodb:TransactGetItems" in actions:
            actions.add("dynamodb:GetItem")
        actions -= {"dynamodb:TransactWriteItems", "dynamodb:TransactGetItems"}
    return actions


def test_deploy_readme_lists_the_dynamodb_store_permissions() -> None:
    readme = (ROOT / "deploy" / "README.md").read_text(encoding="utf-8")
    needed = dynamodb_actions(ROOT / "bot" / "store") | {
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:Query",
        "dynamodb:DescribeTable",
        "dynamodb:CreateTable",
    }
    missing = sorted(a for a in needed if f"`{a}`" not in readme)
    assert not missing, f"deploy/README.md does not list {missing} for the DynamoDB store"


# --- Slack manifest -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def manifest() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "manifest.yml").read_text(encoding="utf-8"))
    return loaded


def test_manifest_declares_the_command_scopes_and_socket_mode(manifest: dict[str, Any]) -> None:
    assert manifest["_metadata"]["major_version"] == 1
    assert manifest["display_information"]["name"] == "Bedrock Key Revoker"
    assert len(manifest["display_information"]["description"]) <= 140
    (command,) = manifest["features"]["slash_commands"]
    assert command["command"] == "/revoke-bedrock-key"
    assert len(command["command"]) <= 32
    assert command["description"] and command["usage_hint"].startswith("[help |")
    assert command["should_escape"] is False
    assert "url" not in command  # Socket Mode: Slack rejects a URL it will never call
    assert set(manifest["oauth_config"]["scopes"]["bot"]) == {
        "commands",
        "chat:write",
        "users:read",
        "usergroups:read",
        "channels:history",
        "groups:history",
    }
    assert set(manifest["oauth_config"]["scopes"]["bot"]) == set(REQUIRED_SCOPES)
    settings = manifest["settings"]
    assert settings["interactivity"]["is_enabled"] is True
    assert settings["socket_mode_enabled"] is True
    assert settings["org_deploy_enabled"] is False
    assert settings["token_rotation_enabled"] is False
    assert manifest["features"]["bot_user"]["always_online"] is True


# --- Dockerfile ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Instruction:
    keyword: str
    args: str


@functools.cache
def _dockerfile() -> tuple[Instruction, ...]:
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    joined = re.sub(r"\\\n", " ", text)
    out = []
    for line in joined.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            keyword, _, args = stripped.partition(" ")
            out.append(Instruction(keyword.upper(), args.strip()))
    return tuple(out)


def _final_stage() -> list[Instruction]:
    instructions = list(_dockerfile())
    last_from = max(i for i, ins in enumerate(instructions) if ins.keyword == "FROM")
    return instructions[last_from:]


def test_dockerfile_runs_as_a_fixed_non_root_user_with_the_contract_entrypoint() -> None:
    final = _final_stage()
    (user,) = [i.args for i in final if i.keyword == "USER"]
    uid = user.split(":")[0]
    assert uid.isdigit() and int(uid) != 0
    assert "EXPOSE" in {i.keyword for i in final}
    assert [i.args for i in final if i.keyword == "EXPOSE"] == ["3000"]
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"][
        "scripts"
    ]
    (entrypoint,) = [json.loads(i.args) for i in final if i.keyword == "ENTRYPOINT"]
    assert entrypoint == ["bedrock-revoker"] and "bedrock-revoker" in scripts
    assert [json.loads(i.args) for i in final if i.keyword == "CMD"] == [["serve"]]


def test_dockerfile_bakes_in_no_secrets_and_installs_no_test_extras() -> None:
    for ins in _dockerfile():
        if ins.keyword in ("ENV", "ARG"):
            assert not re.search(r"TOKEN|SECRET|PASSWORD|AWS_ACCESS|AWS_SESSION", ins.args, re.I)
        if ins.keyword == "RUN" and "pip install" in ins.args:
            assert "[" not in ins.args and "--no-cache-dir" in ins.args
    env = " ".join(i.args for i in _final_stage() if i.keyword == "ENV")
    assert "REVOKER_DATABASE_URL=sqlite:////data/" in env
    assert "PYTHONUNBUFFERED=1" in env and "PYTHONDONTWRITEBYTECODE=1" in env


def test_dockerignore_keeps_local_state_out_of_the_context() -> None:
    lines = (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    patterns = {line.strip() for line in lines if line.strip() and not line.startswith("#")}
    for needed in ("**/.venv", "**/.git", "**/.pytest_cache", "**/*.db", "**/.env"):
        assert needed in patterns


def _healthcheck_argv() -> list[str]:
    (check,) = [i.args for i in _final_stage() if i.keyword == "HEALTHCHECK"]
    options, _, exec_form = check.partition(" CMD ")
    assert "--timeout=" in options and exec_form.startswith("[")  # exec form: no shell needed
    argv: list[str] = json.loads(exec_form)
    assert argv[:2] == ["python", "-c"]
    return [sys.executable, *argv[1:]]


class _Healthz(http.server.BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        self.send_response(self.status if self.path == "/healthz" else 404)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def healthz_port() -> Iterator[int]:
    server = http.server.HTTPServer(("127.0.0.1", 0), _Healthz)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def _run_healthcheck(**env: str) -> int:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("REVOKER_", "SLACK_"))}
    result = subprocess.run(
        _healthcheck_argv(), env={**clean, **env}, capture_output=True, timeout=30, check=False
    )
    return result.returncode


def test_healthcheck_passes_when_http_healthz_answers(healthz_port: int) -> None:
    assert _run_healthcheck(REVOKER_PORT=str(healthz_port)) == 0


def test_healthcheck_fails_when_healthz_fails(healthz_port: int) -> None:
    _Healthz.status = 503
    try:
        assert _run_healthcheck(REVOKER_PORT=str(healthz_port)) != 0
    finally:
        _Healthz.status = 200


def test_healthcheck_fails_when_nothing_listens() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    assert _run_healthcheck(REVOKER_PORT=str(closed)) != 0


@pytest.mark.parametrize("env", [{"REVOKER_MODE": "socket"}, {"SLACK_APP_TOKEN": "xapp-1"}])
def test_healthcheck_asks_healthz_in_socket_mode_too(
    healthz_port: int, env: dict[str, str]
) -> None:
    # Socket Mode serves /healthz as well (503 while its websocket is down): no free pass.
    assert _run_healthcheck(REVOKER_PORT=str(healthz_port), **env) == 0
    assert _run_healthcheck(REVOKER_PORT="1", **env) != 0
