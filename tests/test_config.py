"""Settings from the environment: lists, JSON accounts, validation that names the variable."""

from __future__ import annotations

import pytest

from bot.config import DEFAULT_DENY_ACTIONS, SettingsError, load_settings
from bot.errors import InvalidInput


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    import os

    for name in list(os.environ):
        if name.startswith(("REVOKER_", "SLACK_")):
            monkeypatch.delenv(name)
    monkeypatch.chdir(str(tmp_path))  # no developer .env


def test_defaults_are_the_documented_ones() -> None:
    s = load_settings()
    expected = ("0.0.0.0", 3000, 1, 60)  # noqa: S104 (the documented container default)
    assert (s.host, s.port, s.required_approvals, s.request_ttl_minutes) == expected
    assert s.database_url == "sqlite:///bedrock-revoker.db"
    assert s.slack_api_url == "https://slack.com/api/"
    assert s.deny_actions == DEFAULT_DENY_ACTIONS
    assert s.reset_secret_destination == "discard"
    assert s.accounts == {}


def test_lists_are_comma_separated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REVOKER_APPROVER_USER_IDS", " U1, U2 ,,")
    monkeypatch.setenv("REVOKER_ALLOWED_CHANNEL_IDS", "C1")
    monkeypatch.setenv("REVOKER_DENY_ACTIONS", "bedrock:CallWithBearerToken")
    s = load_settings()
    assert s.approver_user_ids == ("U1", "U2")
    assert s.allowed_channel_ids == ("C1",)
    assert s.deny_actions == ("bedrock:CallWithBearerToken",)


def test_accounts_are_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "REVOKER_ACCOUNTS",
        '{"prod": {"account_id": "111122223333", '
        '"role_arn": "arn:aws:iam::111122223333:role/BedrockKeyRevoker", "external_id": "x-1"}}',
    )
    s = load_settings()
    assert s.accounts["prod"].account_id == "111122223333"
    assert "x-1" not in repr(s.accounts["prod"])  # the external id is a SecretStr
    assert s.account("prod") is s.accounts["prod"]
    assert s.account(None) is None
    with pytest.raises(InvalidInput) as unknown:
        s.account("staging")
    assert unknown.value.field == "account"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("REVOKER_DENY_ACTIONS", "iam:*"),
        ("REVOKER_REQUIRED_APPROVALS", "0"),
        ("REVOKER_REQUEST_TTL_MINUTES", "-5"),
        ("REVOKER_MODE", "websocket"),
        ("REVOKER_RESET_SECRET_DESTINATION", "email"),
    ],
)
def test_a_wrong_value_names_its_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as bad:
        load_settings()
    assert name in str(bad.value)


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("https://bot:hunter2@slack.example/api/", "must not carry a user name or password"),
        ("slack.com/api/", "must be an http(s) URL"),
        ("ftp://slack.com/api/", "must be an http(s) URL"),
    ],
)
def test_slack_api_url_is_checked_without_being_echoed(
    monkeypatch: pytest.MonkeyPatch, value: str, problem: str
) -> None:
    monkeypatch.setenv("SLACK_API_URL", value)
    with pytest.raises(SettingsError) as bad:
        load_settings()
    assert "SLACK_API_URL" in str(bad.value) and problem in str(bad.value)
    assert "hunter2" not in str(bad.value)


def test_slack_api_url_gets_its_trailing_slash(monkeypatch: pytest.MonkeyPatch) -> None:
    # slack_sdk appends method names: without the slash /api + auth.test would be /apiauth.test.
    monkeypatch.setenv("SLACK_API_URL", "http://127.0.0.1:8080/api")
    assert load_settings().slack_api_url == "http://127.0.0.1:8080/api/"


def test_secrets_never_print(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-1234-secret")
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "signing-secret-value")
    s = load_settings()
    assert "xoxb-1234-secret" not in repr(s) and "signing-secret-value" not in str(s)
