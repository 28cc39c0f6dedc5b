from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aws_bedrock_token_generator import BedrockTokenGenerator
from botocore.credentials import Credentials

from bot import cli, policies

SECRET = "Zx9kQ2mN7pL4vR8sT1uW3yA5bC6dE0fGhJ2kL4mN6pQ8r="
LONG_TERM = (
    "ABSK" + base64.b64encode(f"BedrockAPIKey-7q2x+1-at-123456789012:{SECRET}".encode()).decode()
)
SESSION_TOKEN = "IQoJb3JpZ2luX2VjEXAMPLEsessionTOKENvalue0123456789"
SHORT_TERM = BedrockTokenGenerator().get_token(
    Credentials("ASIAQEXAMPLE7XK2M9PZ", "sk", SESSION_TOKEN), "us-west-2"
)


class FakeStdin(io.StringIO):
    def __init__(self, text: str, *, tty: bool = False) -> None:
        super().__init__(text)
        self._tty = tty

    def isatty(self) -> bool:
        return self._tty


def run(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    stdin: str = "",
    *,
    tty: bool = False,
) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "stdin", FakeStdin(stdin, tty=tty))
    code = cli.main(argv)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # The policy command reads the configuration; keep the developer's own out of the tests.
    for name in list(os.environ):
        if name.startswith(("REVOKER_", "SLACK_")):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def test_inspect_long_term_key(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(monkeypatch, capsys, ["inspect-key"], f'"{LONG_TERM}"\n')
    assert code == 0, err
    assert json.loads(out) == {
        "kind": "long_term",
        "account_id": "123456789012",
        "alias": "BedrockAPIKey-7q2x+1-at-123456789012",
        "user_name": "BedrockAPIKey-7q2x",
        "fingerprint": hashlib.sha256(LONG_TERM.encode()).hexdigest()[:8],
    }
    assert list(json.loads(out)) == sorted(json.loads(out))
    assert SECRET not in out + err and LONG_TERM not in out + err
    assert err == ""


def test_inspect_short_term_key(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(monkeypatch, capsys, ["inspect-key"], SHORT_TERM + "\n")
    assert code == 0, err
    got = json.loads(out)
    assert got["kind"] == "short_term"
    assert got["access_key_id"] == "ASIAQEXAMPLE7XK2M9PZ"
    assert got["signed_by"] == "session"
    assert got["region"] == "us-west-2"
    assert got["expired"] is False
    issued = datetime.fromisoformat(got["issued_at"])
    assert datetime.fromisoformat(got["expires_at"]) - issued == timedelta(hours=12)
    assert issued.utcoffset() == timedelta(0)
    assert set(got) == {
        "kind", "access_key_id", "signed_by", "region", "issued_at", "expires_at", "expired",
        "fingerprint",
    }  # fmt: skip
    assert SESSION_TOKEN not in out and SHORT_TERM not in out


@pytest.mark.parametrize(
    ("stdin", "message"),
    [
        ("", "no key was given"),
        ("sk-live-abc123\n", "must start with ABSK or bedrock-api-key-"),
        (LONG_TERM[:-7], "truncated"),
        (SHORT_TERM[:-4], "truncated"),
        (SHORT_TERM[:-40], "X-Amz-Signature is not 64 hex"),
    ],
)
def test_inspect_bad_key(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], stdin: str, message: str
) -> None:
    code, out, err = run(monkeypatch, capsys, ["inspect-key"], stdin)
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("error: ")
    assert message in err
    if stdin:
        assert stdin.strip() not in err
    assert SECRET[:12] not in err


def test_inspect_hints_when_reading_a_terminal(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(monkeypatch, capsys, ["inspect-key"], LONG_TERM, tty=True)
    assert code == 0
    assert "paste the key and press Ctrl-D" in err
    assert json.loads(out)["kind"] == "long_term"


@pytest.mark.parametrize(
    "argv",
    [
        ["inspect-key", LONG_TERM],
        ["inspect-key", SHORT_TERM],
        [LONG_TERM],
        ["policy", "deny-bearer-token", f"--action={LONG_TERM}"],
    ],
)
def test_key_on_command_line_is_refused_without_echo(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    code, out, err = run(monkeypatch, capsys, argv)
    assert code == 2
    assert "never taken from the command line" in err
    assert LONG_TERM not in out + err and SHORT_TERM not in out + err
    assert LONG_TERM[4:20] not in err and SHORT_TERM[16:40] not in err


def test_policy_deny_bearer_token_default(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(monkeypatch, capsys, ["policy", "deny-bearer-token"])
    assert code == 0, err
    assert out == policies.to_json(policies.deny_bearer_token()) + "\n"


def test_policy_deny_bearer_token_follows_configuration(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("REVOKER_DENY_ACTIONS", "bedrock:CallWithBearerToken")
    code, out, _ = run(monkeypatch, capsys, ["policy", "deny-bearer-token"])
    assert code == 0
    assert json.loads(out)["Statement"][0]["Action"] == ["bedrock:CallWithBearerToken"]

    monkeypatch.setenv("REVOKER_DENY_ACTIONS", "s3:GetObject")
    code, out, err = run(monkeypatch, capsys, ["policy", "deny-bearer-token"])
    assert code == 2 and out == ""
    assert "REVOKER_DENY_ACTIONS" in err


def test_policy_deny_bearer_token_actions(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["policy", "deny-bearer-token", "--action", "bedrock-mantle:CallWithBearerToken"]
    code, out, _ = run(monkeypatch, capsys, [*argv, "--action", "bedrock:CallWithBearerToken"])
    assert code == 0
    assert json.loads(out)["Statement"][0]["Action"] == [
        "bedrock-mantle:CallWithBearerToken",
        "bedrock:CallWithBearerToken",
    ]
    code, out, err = run(monkeypatch, capsys, ["policy", "deny-bearer-token", "--action", "s3:*"])
    assert code == 2 and out == ""
    assert err.startswith("error: ") and "CallWithBearerToken" in err


@pytest.mark.parametrize(
    ("before", "expected"),
    [
        ("2025-01-31T12:00:00Z", "2025-01-31T12:00:00Z"),
        ("2025-01-31T14:00:00+02:00", "2025-01-31T12:00:00Z"),
        ("2025-01-31T07:00:00.250-05:00", "2025-01-31T12:00:01Z"),
    ],
)
def test_policy_revoke_sessions(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], before: str, expected: str
) -> None:
    code, out, err = run(monkeypatch, capsys, ["policy", "revoke-sessions", "--before", before])
    assert code == 0, err
    doc = json.loads(out)
    assert doc["Statement"][0]["Condition"] == {"DateLessThan": {"aws:TokenIssueTime": expected}}
    assert out == policies.to_json(doc) + "\n"


def test_policy_revoke_sessions_defaults_to_now(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    start = datetime.now(UTC).replace(microsecond=0)
    code, out, _ = run(monkeypatch, capsys, ["policy", "revoke-sessions"])
    assert code == 0
    cutoff = policies.session_revocation_time(out)
    assert cutoff is not None
    assert start <= cutoff <= datetime.now(UTC) + timedelta(seconds=1)


@pytest.mark.parametrize(
    ("before", "message"),
    [
        ("2025-01-31T12:00:00", "needs a timezone"),
        ("2025-01-31", "needs a timezone"),
        ("yesterday", "not an ISO-8601 time"),
        ("2999-01-01T00:00:00Z", "future"),
    ],
)
def test_policy_revoke_sessions_refuses(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], before: str, message: str
) -> None:
    code, out, err = run(monkeypatch, capsys, ["policy", "revoke-sessions", "--before", before])
    assert code == 2
    assert out == ""
    assert err.startswith("error: ") and message in err


def test_usage_errors_return_codes(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(monkeypatch, capsys, [])[0] == 2
    assert run(monkeypatch, capsys, ["no-such-command"])[0] == 2
    assert run(monkeypatch, capsys, ["policy"])[0] == 2
    code, out, _ = run(monkeypatch, capsys, ["--help"])
    assert code == 0 and "inspect-key" in out and "policy" in out
    code, out, _ = run(monkeypatch, capsys, ["--version"])
    assert code == 0 and out.startswith("bedrock-revoker ")


def _script() -> str:
    found = shutil.which("bedrock-revoker") or str(Path(sys.executable).parent / "bedrock-revoker")
    assert Path(found).exists(), "install the package: pip install -e '.[test]'"
    return found


def test_console_script_end_to_end(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REVOKER_", "SLACK_"))}
    done = subprocess.run(
        [_script(), "inspect-key"],
        input=f"  {SHORT_TERM}\n",
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=tmp_path,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["access_key_id"] == "ASIAQEXAMPLE7XK2M9PZ"
    assert SHORT_TERM not in done.stdout + done.stderr

    bad = subprocess.run(
        [_script(), "inspect-key"],
        input="ABSK!!!!",
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=tmp_path,
        check=False,
    )
    assert bad.returncode == 2
    assert bad.stderr == "error: the key is truncated or not valid base64\n"


def test_python_dash_m_bot(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bot", "policy", "deny-bearer-token"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env={k: v for k, v in os.environ.items() if not k.startswith("REVOKER_")},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert policies.same_policy(done.stdout, policies.deny_bearer_token())


def test_a_reader_that_goes_away_is_not_an_error_with_a_traceback(tmp_path: Path) -> None:
    # `bedrock-revoker policy deny-bearer-token | head -c 1`: the reader is gone before the write.
    reader, writer = os.pipe()
    os.close(reader)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "bot", "policy", "deny-bearer-token"],
            stdout=writer,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
            cwd=tmp_path,
            env={k: v for k, v in os.environ.items() if not k.startswith("REVOKER_")},
            check=False,
        )
    finally:
        os.close(writer)
    assert done.stderr == ""
    assert done.returncode == 141
