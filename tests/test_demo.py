"""`bedrock-revoker demo`: the real flow on the embedded stand-ins, run in-process via the CLI.

Each test calls `cli.main([...])` and reads what the user would read (stdout, stderr). The key the
story leaked is captured from `bot.demo.run`'s result, so the tests can prove it is printed
nowhere.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest

from bot import cli, demo
from bot.demo import DemoResult
from bot.sandbox import iam as sandbox_iam

KEY_SHAPES = re.compile(r"ABSK[A-Za-z0-9+/=]{16,}|bedrock-api-key-[A-Za-z0-9+/=]{16,}")


@pytest.fixture
def results(monkeypatch: pytest.MonkeyPatch) -> list[DemoResult]:
    """Every DemoResult the CLI produced (the CLI calls `demo.run` through the module)."""
    seen: list[DemoResult] = []
    real_run = demo.run

    def recording_run(**kwargs: Any) -> DemoResult:
        result = real_run(**kwargs)
        seen.append(result)
        return result

    monkeypatch.setattr(demo, "run", recording_run)
    return seen


def assert_no_key(text: str, key: str) -> None:
    assert key not in text
    assert not KEY_SHAPES.search(text), KEY_SHAPES.search(text)


def assert_common_story(out: str) -> None:
    assert "*The plan* for `R-" in out
    assert "You made this request, so you cannot approve it" in out
    assert "Approved by @Bob Approver" in out
    assert ":white_check_mark: *Completed*" in out  # the request message's final status
    assert "*Verification*: all" in out


def test_demo_deactivates_the_long_term_key_and_never_prints_it(
    results: list[DemoResult], capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["demo"]) == 0
    out, err = capsys.readouterr()

    assert_common_story(out)
    assert "`UpdateServiceSpecificCredential`" in out
    assert "is now Inactive (was Active)" in out
    # The refusal is what alice alone saw, under its own heading, not in the channel.
    alice_saw = out.split("What only @alice saw", 1)[1].split("IAM, read back", 1)[0]
    assert "only visible to you" in alice_saw and "cannot approve it" in alice_saw
    read_back = out.split("IAM, read back with boto3 after the flow", 1)[1]
    assert "iam.list_service_specific_credentials(UserName='BedrockAPIKey-demo')" in read_back
    assert "Status: Inactive" in read_back and "Status: Active" not in read_back
    # The deny policy: attached, and its JSON in full in the thread's plan, as the mission says.
    assert "iam.list_user_policies(UserName='BedrockAPIKey-demo')" in read_back
    assert "BedrockKeyRevokerDenyBearerToken" in read_back
    channel = out.split("as everyone in the channel reads it", 1)[1].split("What only @alice")[0]
    assert "`PutUserPolicy`" in channel
    assert '"Action": [' in channel and '"bedrock:CallWithBearerToken"' in channel
    assert '"Effect": "Deny"' in channel

    [result] = results
    assert result.request_id in out and result.fingerprint in out
    assert_no_key(out + err, result.leaked_key)
    assert result.leaked_key not in repr(result)


def test_demo_short_term_revokes_the_role_sessions_and_never_prints_the_key(
    results: list[DemoResult], capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["demo", "--short-term"]) == 0
    out, err = capsys.readouterr()

    assert_common_story(out)
    assert "short-term key, fingerprint" in out
    # The signer was found in CloudTrail, from the leaked key's own use, and prefilled.
    modal = out.split("The modal, as @alice submitted it", 1)[1].split("#incident-4242", 1)[0]
    assert "Signed by role incident-app-role" in modal
    assert "InvokeModel (bedrock.amazonaws.com, with the Bedrock API key)" in modal
    assert "[arn:aws:iam::123456789012:role/incident-app-role]" in modal
    # The plan and the closing reply show the request's own session cutoff in full.
    thread = out.split("as everyone in the channel reads it", 1)[1].split("What only @alice", 1)[0]
    assert "`PolicyName`: `BedrockKeyRevokerRevokeOlderSessions-" in thread
    assert thread.count('"aws:TokenIssueTime"') >= 2
    assert "*The policies as attached:*" in thread
    read_back = out.split("IAM, read back with boto3 after the flow", 1)[1]
    for name in ("BedrockKeyRevokerRevokeOlderSessions-", "BedrockKeyRevokerDenyBearerToken-"):
        assert f"iam.get_role_policy(RoleName='incident-app-role', PolicyName='{name}" in read_back
    assert '"aws:TokenIssueTime"' in read_back
    assert '"bedrock:CallWithBearerToken"' in read_back

    [result] = results
    assert result.leaked_key.startswith("bedrock-api-key-")
    assert_no_key(out + err, result.leaked_key)


def test_demo_ignores_real_aws_slack_and_revoker_settings_and_restores_them(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Each of these would break the demo, or send it somewhere real, if it were used.
    hostile = {
        "AWS_PROFILE": "production-admin",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
        "AWS_ACCESS_KEY_ID": "AKIAREALLOOKINGKEY00",
        "AWS_SECRET_ACCESS_KEY": "real-looking-secret",
        "SLACK_BOT_TOKEN": "xoxb-not-for-the-demo",
        "SLACK_API_URL": "http://127.0.0.1:9/api/",
        "REVOKER_ALLOWED_CHANNEL_IDS": "C0SOMEWHERE",
        "REVOKER_APPROVER_USER_IDS": "U0ALICE",
        "REVOKER_DENY_ACTIONS": "bedrock:CallWithBearerToken",
    }
    for name, value in hostile.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)

    assert cli.main(["demo"]) == 0
    out, _ = capsys.readouterr()
    assert ":white_check_mark: *Completed*" in out

    for name, value in hostile.items():
        assert os.environ[name] == value
    assert "AWS_DEFAULT_REGION" not in os.environ
    assert "AWS_CONFIG_FILE" not in os.environ


def test_demo_fails_loudly_when_the_revocation_fails(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    arrange = demo._LongTermFlow.arrange

    def arrange_then_deny(self: Any, iam: Any) -> str:
        key = arrange(self, iam)
        # Inside the mock (its start clears faults): IAM refuses the deactivation.
        sandbox_iam.inject_error("UpdateServiceSpecificCredential", "AccessDenied", times=None)
        return key

    monkeypatch.setattr(demo._LongTermFlow, "arrange", arrange_then_deny)

    assert cli.main(["demo"]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert "error: the demo did not complete" in err
    assert "the key is Active in IAM, not Inactive" in err
    assert not KEY_SHAPES.search(err)


def test_demo_without_the_demo_extra_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(demo, "_importable", lambda module: module != "moto")

    assert cli.main(["demo"]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert "error: the demo needs moto" in err and "pip install -e '.[demo]'" in err


def test_demo_keeps_its_store_for_audit_export_and_verify(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    kept = tmp_path / "demo-store"
    assert cli.main(["demo", "--keep-store", str(kept)]) == 0
    out, _ = capsys.readouterr()
    url = f"sqlite:///{kept.resolve() / 'revoker.db'}"
    assert f"REVOKER_DATABASE_URL={url} bedrock-revoker audit export > audit.jsonl" in out
    for name in [n for n in os.environ if n.startswith(("REVOKER_", "SLACK_"))]:
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("REVOKER_DATABASE_URL", url)
    assert cli.main(["audit", "export"]) == 0
    exported, _ = capsys.readouterr()
    assert '"type":"completed"' in exported
    (tmp_path / "audit.jsonl").write_text(exported)
    assert cli.main(["audit", "verify", str(tmp_path / "audit.jsonl")]) == 0
    assert capsys.readouterr().out.startswith("ok: ")
    # A second run into the same folder would mix two stories: refused.
    assert cli.main(["demo", "--keep-store", str(kept)]) == 1
    assert "already holds a request store" in capsys.readouterr().err
