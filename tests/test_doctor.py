"""`bedrock-revoker doctor` against the stand-ins: moto in-process and the Slack Web API stand-in.

The command runs in a worker thread with its own event loop, as from a shell, while the test's
loop serves the Slack stand-in.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import sys
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot import cli, doctor
from bot.config import Settings
from bot.sandbox import iam as sandbox
from bot.sandbox.slack_api import SlackApiStandIn
from bot.store import open_store

BOT_TOKEN = "xoxb-1111-2222-doctorbottokenvalue"
SIGNING_SECRET = "8f14e45fceea167a5a36dedd4bea2543"
APP_TOKEN = "xapp-1-A0REVOKER-3333-doctorapptokenvalue"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYdoctorSECRET"
EXTERNAL_ID = "ext-id-doctor-7f3a9c"
BEARER = "ABSKQmVkcm9ja0FQSUtleS1kb2N0b3I6c2VjcmV0c2VjcmV0c2VjcmV0"
SECRETS = (BOT_TOKEN, SIGNING_SECRET, APP_TOKEN, AWS_SECRET, EXTERNAL_ID, BEARER)

PROD_ROLE = "arn:aws:iam::210987654321:role/bedrock-revoker"
DEV_ROLE = "arn:aws:iam::109876543210:role/bedrock-revoker"
ACCOUNTS = json.dumps(
    {
        "prod": {"account_id": "210987654321", "role_arn": PROD_ROLE, "external_id": EXTERNAL_ID},
        "dev": {"account_id": "109876543210", "role_arn": DEV_ROLE},
    }
)


@pytest.fixture
async def api() -> AsyncIterator[SlackApiStandIn]:
    async with SlackApiStandIn(bot_token=BOT_TOKEN) as stand_in:
        stand_in.set_usergroup("S0APPROVERS", ["U_ALICE", "U_BOB"], handle="revoke-approvers")
        yield stand_in


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "revoker.db"


@pytest.fixture(autouse=True)
def healthy_env(
    moto_aws: None,
    api: SlackApiStandIn,
    db_path: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A deployment with nothing wrong; each test breaks one thing."""
    for name in list(os.environ):
        if name.startswith(("REVOKER_", "SLACK_")):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no developer .env
    db_path.parent.mkdir()
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", AWS_SECRET)
    monkeypatch.setenv("SLACK_BOT_TOKEN", BOT_TOKEN)
    monkeypatch.setenv("SLACK_SIGNING_SECRET", SIGNING_SECRET)
    monkeypatch.setenv("SLACK_API_URL", api.base_url)
    monkeypatch.setenv("REVOKER_APPROVER_USER_IDS", "U0CAROL")
    monkeypatch.setenv("REVOKER_APPROVER_USERGROUP_IDS", "S0APPROVERS")
    monkeypatch.setenv("REVOKER_ACCOUNTS", ACCOUNTS)
    monkeypatch.setenv("REVOKER_DATABASE_URL", f"sqlite:///{db_path}")


async def run_doctor(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[str]]:
    code = await asyncio.to_thread(cli.main, ["doctor", "--timeout", "20", *args])
    out, err = capsys.readouterr()
    assert err == ""
    for secret in SECRETS:
        assert secret not in out
    lines = out.splitlines()
    assert lines[-1] == ("all checks passed" if code == 0 else lines[-1])
    return code, lines[:-1]


def line(lines: list[str], check: str) -> str:
    (found,) = [ln for ln in lines if ln[5:].startswith(f"{check}: ")]
    return found


def failures(lines: list[str]) -> list[str]:
    return [ln for ln in lines if ln.startswith("FAIL")]


def assert_one_failure(code: int, lines: list[str], check: str, *phrases: str) -> str:
    assert code == 1
    (failed,) = failures(lines)
    assert failed.startswith(f"FAIL {check}: ")
    assert " — fix: " in failed
    for phrase in phrases:
        assert phrase in failed
    return failed


# --- all good -------------------------------------------------------------------------------------


async def test_a_healthy_deployment_passes_every_check(
    api: SlackApiStandIn, capsys: pytest.CaptureFixture[str]
) -> None:
    code, lines = await run_doctor(capsys)
    assert code == 0, "\n".join(lines)
    assert not failures(lines)
    assert line(lines, "settings").startswith("ok ")
    assert "1 user and 1 user group" in line(lines, "approvers")
    assert "HTTP on 0.0.0.0:3000" in line(lines, "serving")
    assert "workspace Sandbox (T0001) as bot user revoker (U0BOT)" in line(lines, "slack auth")
    assert line(lines, "slack scopes") == (
        "ok   slack scopes: commands, chat:write, users:read, usergroups:read, channels:history, "
        "groups:history"
    )
    assert line(lines, "slack user group S0APPROVERS") == (
        "ok   slack user group S0APPROVERS: 2 members"
    )
    assert line(lines, "aws credentials") == "ok   aws credentials: from env"
    assert line(lines, "aws identity") == "ok   aws identity: arn:aws:sts::123456789012:user/moto"
    assert "iam:ListServiceSpecificCredentials allowed" in line(lines, "aws iam read")
    assert "assumed arn:aws:sts::210987654321:assumed-role/bedrock-revoker/" in line(
        lines, "aws account prod"
    )
    assert line(lines, "aws account dev").startswith("ok   aws account dev: assumed ")
    assert "does not exist yet; its directory is writable" in line(lines, "store")
    # Only reads: nothing was posted to Slack.
    assert {c.method for c in api.calls()} == {"auth.test", "usergroups.users.list"}


async def test_an_existing_store_gets_a_round_trip_that_leaves_nothing(
    db_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    await open_store(f"sqlite:///{db_path}").close()

    def schema() -> list[tuple[str, str]]:
        with sqlite3.connect(db_path) as db:
            return db.execute("SELECT type, name FROM sqlite_master ORDER BY name").fetchall()

    before, files = schema(), sorted(p.name for p in db_path.parent.iterdir())
    code, lines = await run_doctor(capsys)
    assert code == 0, "\n".join(lines)
    assert "read ok (0 pending), write ok (rolled back, nothing kept)" in line(lines, "store")
    assert schema() == before
    assert sorted(p.name for p in db_path.parent.iterdir()) == files


async def test_socket_mode_with_an_app_token_needs_no_signing_secret(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("SLACK_SIGNING_SECRET")
    monkeypatch.setenv("SLACK_APP_TOKEN", APP_TOKEN)
    code, lines = await run_doctor(capsys)
    assert code == 0
    assert line(lines, "serving") == "ok   serving: Socket Mode; app-level token set"


# --- configuration --------------------------------------------------------------------------------


async def test_invalid_settings_name_the_variable_and_stop(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("REVOKER_PORT", "not-a-port")
    code, lines = await run_doctor(capsys)
    failed = assert_one_failure(code, lines, "settings REVOKER_PORT", "valid integer")
    assert "fix: see the Configuration table in README.md" in failed
    assert lines[1] == (
        "skip other checks: they need valid settings (read from the environment (no .env file "
        "here))"
    )


async def test_every_wrong_shape_is_reported_in_one_run_with_its_fix(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("REVOKER_APPROVER_USER_IDS", "U0CAROL,carol@example.com")
    monkeypatch.setenv("REVOKER_APPROVER_USERGROUP_IDS", "U0NOTAGROUP")
    monkeypatch.setenv("REVOKER_ALLOWED_CHANNEL_IDS", "#incidents")
    monkeypatch.setenv("SLACK_BOT_TOKEN", APP_TOKEN)  # the app-level token in the wrong place
    code, lines = await run_doctor(capsys)
    assert code == 1
    assert [ln.split(":")[0] for ln in failures(lines)] == [
        "FAIL settings SLACK_BOT_TOKEN",
        "FAIL settings REVOKER_APPROVER_USER_IDS",
        "FAIL settings REVOKER_APPROVER_USERGROUP_IDS",
        "FAIL settings REVOKER_ALLOWED_CHANNEL_IDS",
    ]
    assert "is not a bot token (they start with xoxb-)" in line(lines, "settings SLACK_BOT_TOKEN")
    users = line(lines, "settings REVOKER_APPROVER_USER_IDS")
    assert "'carol@exampl…' is not a Slack member id (U… or W…)" in users
    assert "U0CAROL" not in users.split(" — fix: ")[0]  # only the wrong one is named
    assert "Copy member ID" in users
    groups = line(lines, "settings REVOKER_APPROVER_USERGROUP_IDS")
    assert "'U0NOTAGROUP' is not a Slack user group id (S…)" in groups
    channels = line(lines, "settings REVOKER_ALLOWED_CHANNEL_IDS")
    assert "'#incidents' is not a Slack channel id (C…, G… or D…)" in channels


async def test_settings_from_a_dotenv_file_say_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / ".env").write_text("REVOKER_REQUIRED_APPROVALS=1\n")
    code, lines = await run_doctor(capsys)
    assert code == 0, lines
    assert line(lines, "settings") == (
        f"ok   settings: loaded from the environment and {(tmp_path / '.env').resolve()}"
    )


async def test_no_approvers(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("REVOKER_APPROVER_USER_IDS")
    monkeypatch.delenv("REVOKER_APPROVER_USERGROUP_IDS")
    code, lines = await run_doctor(capsys)
    assert_one_failure(code, lines, "approvers", "nobody can approve", "REVOKER_APPROVER_USER_IDS")
    assert line(lines, "slack user groups").startswith("skip")


async def test_http_mode_without_a_signing_secret(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("SLACK_SIGNING_SECRET")
    code, lines = await run_doctor(capsys)
    assert_one_failure(
        code, lines, "serving", "SLACK_SIGNING_SECRET is not set", "fix: set SLACK_SIGNING_SECRET"
    )


async def test_socket_mode_with_a_bot_token_as_app_token(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("REVOKER_MODE", "socket")
    monkeypatch.setenv("SLACK_APP_TOKEN", BOT_TOKEN)
    code, lines = await run_doctor(capsys)
    assert_one_failure(
        code, lines, "settings SLACK_APP_TOKEN", "not an app-level token (they start with xapp-)"
    )


# --- Slack ----------------------------------------------------------------------------------------


async def test_missing_bot_token(
    api: SlackApiStandIn, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("SLACK_BOT_TOKEN")
    code, lines = await run_doctor(capsys)
    assert_one_failure(
        code, lines, "slack token", "SLACK_BOT_TOKEN is not set", "Bot User OAuth Token"
    )
    assert line(lines, "slack auth, scopes and user groups") == (
        "skip slack auth, scopes and user groups: no bot token"
    )
    assert api.calls() == []


async def test_rejected_bot_token(api: SlackApiStandIn, capsys: pytest.CaptureFixture[str]) -> None:
    api.fail("auth.test", error="invalid_auth")
    code, lines = await run_doctor(capsys)
    assert_one_failure(
        code, lines, "slack auth", "Slack rejected SLACK_BOT_TOKEN (invalid_auth)", "reinstall"
    )
    assert line(lines, "slack scopes and user groups").startswith("skip")


async def test_user_groups_on_a_free_plan(
    api: SlackApiStandIn, capsys: pytest.CaptureFixture[str]
) -> None:
    api.usergroups_plan = False
    code, lines = await run_doctor(capsys)
    assert_one_failure(
        code,
        lines,
        "slack user group S0APPROVERS",
        "plan_upgrade_required",
        "fix: user groups need a paid plan; use REVOKER_APPROVER_USER_IDS",
    )


async def test_unknown_user_group(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("REVOKER_APPROVER_USERGROUP_IDS", "S0APPROVERS,S0TYPO")
    code, lines = await run_doctor(capsys)
    assert_one_failure(code, lines, "slack user group S0TYPO", "no_such_subteam")
    assert line(lines, "slack user group S0APPROVERS").startswith("ok")


async def test_an_empty_group_as_the_only_approvers(
    api: SlackApiStandIn, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    api.set_usergroup("S0APPROVERS", [])
    monkeypatch.delenv("REVOKER_APPROVER_USER_IDS")
    code, lines = await run_doctor(capsys)
    assert_one_failure(code, lines, "slack user group S0APPROVERS", "no members")


async def test_unreachable_slack(
    api: SlackApiStandIn, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket_without_listener() as url:
        monkeypatch.setenv("SLACK_API_URL", url)
        code, lines = await run_doctor(capsys)
    assert_one_failure(code, lines, "slack auth", "could not reach Slack", "SLACK_API_URL")


def socket_without_listener() -> _ClosedPort:
    return _ClosedPort()


class _ClosedPort:
    """A local port that refuses connections: bound, never listening."""

    def __enter__(self) -> str:
        import socket

        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{self._sock.getsockname()[1]}/api/"

    def __exit__(self, *exc: object) -> None:
        self._sock.close()


def test_scopes_come_from_the_response_header() -> None:
    needed = doctor.REQUIRED_SCOPES
    assert doctor.missing_scopes({"X-OAuth-Scopes": "commands, chat:write"}, needed) == [
        "users:read",
        "usergroups:read",
        "channels:history",
        "groups:history",
    ]
    assert doctor.missing_scopes({"x-oauth-scopes": ",".join(needed)}, needed) == []
    assert doctor.missing_scopes({"x-oauth-scopes": ["commands,chat:write"]}, ["users:read"]) == [
        "users:read"
    ]
    assert doctor.missing_scopes({"Content-Type": "application/json"}, needed) is None
    assert doctor.missing_scopes(None, needed) is None


# --- AWS ------------------------------------------------------------------------------------------


async def test_only_a_bedrock_api_key_for_aws(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    monkeypatch.setenv("AWS_BEARER_TOKEN_BEDROCK", BEARER)
    code, lines = await run_doctor(capsys)
    assert_one_failure(
        code,
        lines,
        "aws credentials",
        "only AWS_BEARER_TOKEN_BEDROCK is set",
        "need SigV4 credentials",
        "fix: give the bot SigV4 credentials",
    )
    assert line(lines, "aws identity").startswith("skip")


async def test_no_aws_credentials(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    code, lines = await run_doctor(capsys)
    assert_one_failure(code, lines, "aws credentials", "no AWS credentials found")


async def test_a_bedrock_key_pasted_as_the_aws_secret(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", BEARER)
    code, lines = await run_doctor(capsys)
    assert_one_failure(
        code, lines, "aws credentials", "AWS_SECRET_ACCESS_KEY holds a Bedrock API key"
    )


async def test_bearer_token_beside_real_credentials_is_noted(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AWS_BEARER_TOKEN_BEDROCK", BEARER)
    code, lines = await run_doctor(capsys)
    assert code == 0
    assert "AWS_BEARER_TOKEN_BEDROCK is also set and is not used" in line(lines, "aws credentials")


async def test_no_iam_read_access(capsys: pytest.CaptureFixture[str]) -> None:
    sandbox.inject_error("ListServiceSpecificCredentials", "AccessDenied", times=None)
    code, lines = await run_doctor(capsys)
    assert code == 1
    failed = line(lines, "aws iam read")
    assert failed.startswith("FAIL aws iam read: ")
    assert "lacks iam:ListServiceSpecificCredentials" in failed
    assert failed.endswith("fix: attach deploy/iam-policy.json to the bot's role or user")
    # Every account's role is read with the same call, so each is reported with its own fix.
    assert line(lines, "aws account prod").endswith(
        f"fix: attach deploy/iam-policy.json to {PROD_ROLE}"
    )


async def test_an_account_whose_role_cannot_be_assumed(capsys: pytest.CaptureFixture[str]) -> None:
    sandbox.inject_error(
        "AssumeRole", "AccessDenied", service="sts", times=None, when={"RoleArn": DEV_ROLE}
    )
    code, lines = await run_doctor(capsys)
    failed = assert_one_failure(
        code, lines, "aws account dev", f"cannot assume {DEV_ROLE} (AccessDenied)"
    )
    assert "trust policy (deploy/target-account-role.json)" in failed
    assert line(lines, "aws account prod").startswith("ok")


async def test_rejected_aws_credentials(capsys: pytest.CaptureFixture[str]) -> None:
    sandbox.inject_error("GetCallerIdentity", "InvalidClientTokenId", service="sts", times=None)
    code, lines = await run_doctor(capsys)
    assert_one_failure(code, lines, "aws identity", "InvalidClientTokenId")
    assert line(lines, "aws iam read").startswith("skip")


async def test_unreachable_aws_is_said_as_such_not_blamed_on_credentials(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket_without_listener() as url:
        monkeypatch.setenv("AWS_ENDPOINT_URL", url.removesuffix("/api/"))
        code, lines = await run_doctor(capsys)
    assert code == 1
    failed = [ln for ln in failures(lines) if "aws identity" in ln]
    assert failed == [
        "FAIL aws identity: AWS STS cannot be reached from here (EndpointConnectionError) — fix: "
        "check the network path to AWS from here (proxy, NAT or VPC endpoints for STS and IAM) "
        "and AWS_ENDPOINT_URL if it is set, then run doctor again"
    ]
    assert "SigV4" not in "\n".join(lines)
    assert line(lines, "aws iam read") == "skip aws iam read: AWS cannot be reached"


# --- store ----------------------------------------------------------------------------------------


async def test_store_in_a_missing_directory(
    db_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = db_path.parent / "nope" / "revoker.db"
    monkeypatch.setenv("REVOKER_DATABASE_URL", f"sqlite:///{missing}")
    code, lines = await run_doctor(capsys)
    assert_one_failure(code, lines, "store", "does not exist", f"fix: create {missing.parent}")
    assert not missing.parent.exists()


async def test_store_under_a_file(
    db_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = db_path.parent / "not-a-dir"
    blocker.write_text("")
    monkeypatch.setenv("REVOKER_DATABASE_URL", f"sqlite:///{blocker}/revoker.db")
    code, lines = await run_doctor(capsys)
    assert_one_failure(code, lines, "store", "is not a directory", "REVOKER_DATABASE_URL")


@pytest.mark.skipif(sys.platform == "win32" or os.geteuid() == 0, reason="root writes anywhere")
async def test_store_in_a_read_only_directory(
    db_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db_path.parent.chmod(0o500)
    try:
        code, lines = await run_doctor(capsys)
    finally:
        db_path.parent.chmod(0o700)
    assert_one_failure(code, lines, "store", "cannot create files in", "make")


async def test_store_directory_that_refuses_new_files(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # What a read-only mount or directory answers; as root, chmod alone would not show it.
    def refuse(*args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(doctor.tempfile, "NamedTemporaryFile", refuse)
    code, lines = await run_doctor(capsys)
    assert_one_failure(
        code, lines, "store", "cannot create files in", "(Permission denied)", "writable by"
    )


async def test_store_that_is_not_a_database(
    db_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    await asyncio.to_thread(db_path.write_text, "these are notes, not a database\n" * 50)
    code, lines = await run_doctor(capsys)
    assert_one_failure(code, lines, "store", str(db_path))


async def test_dynamodb_store_that_does_not_exist_is_not_created_and_names_store_init(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import boto3

    monkeypatch.setenv("REVOKER_DATABASE_URL", "dynamodb://revoker-requests")
    code, lines = await run_doctor(capsys)
    assert_one_failure(
        code, lines, "store", "revoker-requests does not exist", "bedrock-revoker store init"
    )
    assert boto3.client("dynamodb").list_tables()["TableNames"] == []


async def test_dynamodb_store_without_a_region_in_the_environment(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Settings default the region (as serve uses it); doctor used to crash with NoRegionError.
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.setenv("REVOKER_DATABASE_URL", "dynamodb://revoker-requests")
    code, lines = await run_doctor(capsys)
    assert_one_failure(code, lines, "store", "revoker-requests does not exist")


async def test_dynamodb_store_gets_a_write_that_keeps_nothing(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import boto3

    monkeypatch.setenv("REVOKER_DATABASE_URL", "dynamodb://revoker-requests")

    assert await asyncio.to_thread(cli.main, ["store", "init"]) == 0  # as an operator would
    assert "created" in capsys.readouterr().out
    code, lines = await run_doctor(capsys)
    assert code == 0, "\n".join(lines)
    assert "read ok, write allowed (nothing kept)" in line(lines, "store")
    assert boto3.client("dynamodb").scan(TableName="revoker-requests")["Count"] == 0


# --- mechanics ------------------------------------------------------------------------------------


async def test_a_check_that_hangs_is_cut_off() -> None:
    release = threading.Event()
    try:
        with pytest.raises(doctor.CheckTimeout):
            await doctor.off_loop(release.wait, 0.05)
    finally:
        release.set()
    assert await doctor.off_loop(lambda: 42, 5) == 42
    with pytest.raises(ZeroDivisionError):
        await doctor.off_loop(lambda: 1 // 0, 5)


def test_scrubber_removes_configured_values_and_secret_shapes() -> None:
    scrub = doctor.Scrubber([SIGNING_SECRET, None, "short"])
    scrub.add(AWS_SECRET)
    text = scrub(f"a {SIGNING_SECRET} b {AWS_SECRET} c {BOT_TOKEN} d short")
    assert text == "a [redacted] b [redacted] c [REDACTED] d short"


def test_findings_print_as_one_line_each() -> None:
    assert doctor.ok("store", "fine").line() == "ok   store: fine"
    assert doctor.skip("x", "n/a").line() == "skip x: n/a"
    assert doctor.fail("x", "broken", "mend it").line() == "FAIL x: broken — fix: mend it"


async def test_diagnose_takes_settings_directly(api: SlackApiStandIn) -> None:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_API_URL=api.base_url,
        REVOKER_MODE="socket",
        SLACK_APP_TOKEN=APP_TOKEN,
        REVOKER_APPROVER_USER_IDS="U0CAROL",
        REVOKER_DATABASE_URL="sqlite:///:memory:",
    )
    found = [f async for f in doctor.diagnose(settings, limit=10)]
    assert [f.check for f in found if f.status is doctor.Status.FAIL] == []
    assert found[-1].detail.startswith("in-memory SQLite")


@pytest.mark.parametrize("value", ["0", "-1", "601"])
def test_timeout_must_be_sensible(value: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["doctor", "--timeout", value]) == 2
    assert capsys.readouterr().err.startswith("error: --timeout must be")
