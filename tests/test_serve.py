"""`bedrock-revoker serve` as an operator runs it: a real process, configured by environment."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.config import Settings


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _command() -> list[str]:
    script = shutil.which("bedrock-revoker", path=str(Path(sys.executable).parent))
    return [script] if script else [sys.executable, "-m", "bot"]


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
    port = _free_port()
    env = _env(
        tmp_path,
        SLACK_BOT_TOKEN="xoxb-not-a-real-token",
        SLACK_SIGNING_SECRET="0123456789abcdef0123456789abcdef",
        REVOKER_APPROVER_USER_IDS="U0BOB",
        REVOKER_HOST="127.0.0.1",
        REVOKER_PORT=str(port),
    )
    proc = subprocess.Popen(
        [*_command(), "serve"], env=env, stderr=subprocess.PIPE, text=True, cwd=tmp_path
    )
    try:
        assert proc.stderr is not None
        # Ready when it says so: the log line is written after the port is bound.
        for line in proc.stderr:
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
        [*_command(), "serve"],
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
