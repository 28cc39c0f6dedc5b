"""`bedrock-revoker serve` as an operator runs it: a real process, configured by environment."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import free_port, serve_command

from bot.config import Settings


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    keep = ("PATH", "HOME", "LANG", "SYSTEMROOT")
    env = {k: v for k, v in os.environ.items() if k in keep}
    env.update(
        {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "REVOKER_DATABASE_URL": f"sqlite:///{tmp_path / 'revoker.db'}",
            "REVOKER_LOG_FORMAT": "json",
        }
    )
    env.update(extra)
    return env


@pytest.fixture
def http_server(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], int]]:
    port = free_port()
    env = _env(
        tmp_path,
        SLACK_BOT_TOKEN="xoxb-not-a-real-token",
        SLACK_SIGNING_SECRET="0123456789abcdef0123456789abcdef",
        REVOKER_APPROVER_USER_IDS="U0BOB",
        REVOKER_HOST="127.0.0.1",
        REVOKER_PORT=str(port),
    )
    proc = subprocess.Popen(
        [*serve_command(), "serve"], env=env, stderr=subprocess.PIPE, text=True, cwd=tmp_path
    )
    proc.log = []  # type: ignore[attr-defined]
    try:
        assert proc.stderr is not None
        # Ready when it says so: the log line is written after the port is bound.
        for line in proc.stderr:
            proc.log.append(line)  # type: ignore[attr-defined]
            if "serving Slack over HTTP" in line:
                assert json.loads(line)["level"] == "INFO"
                break
        else:
            pytest.fail(f"serve exited with {proc.wait(10)} before serving")
        yield proc, port
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)


def test_http_mode_serves_health_and_verifies_signatures(
    http_server: tuple[subprocess.Popen[str], int],
) -> None:
    proc, port = http_server
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as resp:
        assert resp.status == 200
        assert json.loads(resp.read()) == {"ok": True}

    unsigned = urllib.request.Request(
        f"http://127.0.0.1:{port}/slack/events",
        data=b"command=%2Frevoke-bedrock-key&text=help",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(unsigned, timeout=5)
    assert refused.value.code == 401

    proc.send_signal(signal.SIGTERM)
    assert proc.wait(10) == 0


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"SLACK_BOT_TOKEN": "xoxb-x", "SLACK_SIGNING_SECRET": "s"}, "REVOKER_APPROVER_USER_IDS"),
        ({"SLACK_BOT_TOKEN": "xoxb-x", "REVOKER_APPROVER_USER_IDS": "U1"}, "SLACK_SIGNING_SECRET"),
        ({"SLACK_SIGNING_SECRET": "s", "REVOKER_APPROVER_USER_IDS": "U1"}, "SLACK_BOT_TOKEN"),
        (
            {
                "SLACK_BOT_TOKEN": "xoxb-x",
                "REVOKER_APPROVER_USER_IDS": "U1",
                "REVOKER_MODE": "socket",
            },
            "SLACK_APP_TOKEN",
        ),
        ({"REVOKER_PORT": "http"}, "REVOKER_PORT"),
        ({"REVOKER_ACCOUNTS": "{not json"}, "REVOKER_ACCOUNTS"),
        (
            {"REVOKER_ACCOUNTS": '{"prod": {"account_id": "1", "role_arn": "r"}}'},
            "REVOKER_ACCOUNTS (prod.account_id): not an AWS account id",
        ),
    ],
)
def test_serve_refuses_to_start_misconfigured(
    tmp_path: Path, env: dict[str, str], named: str
) -> None:
    done = subprocess.run(
        [*serve_command(), "serve"],
        env=_env(tmp_path, **env),
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert done.returncode == 2
    assert named in done.stderr
    assert "xoxb-x" not in done.stderr + done.stdout


def test_mode_follows_the_app_token_unless_forced() -> None:
    base = {"_env_file": None}
    assert Settings(**base).serve_mode == "http"  # type: ignore[arg-type]
    assert Settings(**base, slack_app_token="xapp-1").serve_mode == "socket"  # type: ignore[arg-type]
    forced = Settings(**base, slack_app_token="xapp-1", mode="http")  # type: ignore[arg-type]
    assert forced.serve_mode == "http"


def test_serve_logs_one_start_up_line_without_secrets(
    http_server: tuple[subprocess.Popen[str], int],
) -> None:
    proc, _ = http_server
    log: list[str] = proc.log  # type: ignore[attr-defined]
    (start,) = [json.loads(line) for line in log if "starting" in line]
    version = subprocess.run(
        [*serve_command(), "--version"], capture_output=True, text=True, check=True
    ).stdout.split()[-1]
    assert start["level"] == "INFO"
    assert start["message"] == (
        f"bedrock-revoker {version} starting: mode=http store=sqlite accounts=own only "
        "approvers=1 user and 0 user groups, 1 approval per request channels=any "
        "region=us-east-1; settings from the environment (no .env file here)"
    )
    text = "".join(log)
    assert "xoxb-not-a-real-token" not in text and "0123456789abcdef" not in text


def _serve_until_it_exits(env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """`serve` that is expected to refuse to start (a minute at most)."""
    return subprocess.run(
        [*serve_command(), "serve"], env=env, capture_output=True, text=True, timeout=60, cwd=cwd
    )


def test_serve_reports_every_problem_at_once_before_creating_anything(tmp_path: Path) -> None:
    env = _env(
        tmp_path,
        SLACK_APP_TOKEN="xoxb-pasted-in-the-wrong-place",
        REVOKER_APPROVER_USERGROUP_IDS="secops",
        REVOKER_ALLOWED_CHANNEL_IDS="C0INCIDENT,#incidents",
        REVOKER_PORT="http",
    )
    done = _serve_until_it_exits(env, tmp_path)
    assert done.returncode == 2
    lines = done.stderr.splitlines()
    assert lines[0] == "error: Invalid configuration (6 problems):"
    named = [line.strip().split(":")[0] for line in lines[1:]]
    assert named == [
        "SLACK_APP_TOKEN",
        "REVOKER_PORT",
        "REVOKER_APPROVER_USERGROUP_IDS",
        "REVOKER_ALLOWED_CHANNEL_IDS",
        "REVOKER_APPROVER_USER_IDS",  # no approver is left once the group id is set aside
        "SLACK_BOT_TOKEN",
    ]
    assert all(" — fix: " in line for line in lines[1:])
    assert "xoxb-pasted" not in done.stderr
    assert not (tmp_path / "revoker.db").exists()  # nothing was created
    assert list(tmp_path.iterdir()) == []


def test_serve_on_a_missing_dynamodb_table_names_store_init(
    aws_server: str, tmp_path: Path
) -> None:
    import boto3

    env = _env(
        tmp_path,
        SLACK_BOT_TOKEN="xoxb-not-a-real-token",
        SLACK_SIGNING_SECRET="0123456789abcdef0123456789abcdef",
        REVOKER_APPROVER_USER_IDS="U0BOB",
        REVOKER_DATABASE_URL="dynamodb://revoker-requests",
        AWS_ENDPOINT_URL=aws_server,
        REVOKER_PORT=str(free_port()),
    )
    done = _serve_until_it_exits(env, tmp_path)
    assert done.returncode == 1
    assert done.stderr.splitlines()[-1] == (
        "error: DynamoDB table 'revoker-requests' does not exist in us-east-1. Create it once "
        "with `bedrock-revoker store init` (same REVOKER_DATABASE_URL and AWS settings), or "
        "deploy deploy/cloudformation/bot.yaml, which creates it."
    )
    assert boto3.client("dynamodb", endpoint_url=aws_server).list_tables()["TableNames"] == []
