"""All configuration, from the environment (and an optional `.env`), validated at start-up.

Every setting has an env var and a default; secrets are SecretStr so they never print. Lists are
comma-separated. Every wrong value is reported at once, each with its variable and its fix, before
anything (a database file, a connection) is created.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bot import validation
from bot.errors import InvalidInput

DEFAULT_DENY_ACTIONS = ("bedrock:CallWithBearerToken", "bedrock-mantle:CallWithBearerToken")

CommaList = Annotated[tuple[str, ...], NoDecode]

# Slack's id shapes: members U… (W… in Enterprise Grid), user groups S…, channels C… (public),
# G… (private, older workspaces) and D… (direct messages).
SLACK_USER_ID = re.compile(r"[UW][A-Z0-9]+")
SLACK_USERGROUP_ID = re.compile(r"S[A-Z0-9]+")
SLACK_CHANNEL_ID = re.compile(r"[CGD][A-Z0-9]+")
DYNAMODB_TABLE = re.compile(r"[A-Za-z0-9_.-]{3,255}")

# What to do about a wrong value, by variable: printed after the problem.
_FIXES = {
    "SLACK_BOT_TOKEN": "use the Bot User OAuth Token (xoxb-…) from the app's OAuth & Permissions "
    "page",
    "SLACK_APP_TOKEN": "use an app-level token (xapp-…) with connections:write from the app's "
    "Basic Information page, or unset it and set REVOKER_MODE=http",
    "SLACK_SIGNING_SECRET": "copy the Signing Secret from the app's Basic Information page",
    "SLACK_API_URL": "unset it (https://slack.com/api/ is the default)",
    "REVOKER_MODE": "set socket or http, or unset it (socket when SLACK_APP_TOKEN is set)",
    "REVOKER_APPROVER_USER_IDS": "list Slack member ids such as U012AB3CD, comma-separated "
    "(a profile's ⋮ menu > Copy member ID)",
    "REVOKER_APPROVER_USERGROUP_IDS": "list user group ids such as S012AB3CD, comma-separated",
    "REVOKER_ALLOWED_CHANNEL_IDS": "list channel ids such as C012AB3CD, comma-separated (a "
    "channel's details, at the bottom of About)",
    "REVOKER_ACCOUNTS": 'give JSON such as {"prod": {"account_id": "111122223333", "role_arn": '
    '"arn:aws:iam::111122223333:role/bedrock-key-revoker", "external_id": "…"}}',
    "REVOKER_DATABASE_URL": "use sqlite:///path/to/file.db or dynamodb://table-name",
    "REVOKER_DENY_ACTIONS": "unset it for the default, or list <service>:CallWithBearerToken "
    "actions",
}
_DEFAULT_FIX = "see the Configuration table in README.md"


def _shaped(values: tuple[str, ...], pattern: re.Pattern[str], what: str) -> tuple[str, ...]:
    wrong = [v for v in values if not pattern.fullmatch(v)]
    if wrong:
        # Ids are not secret, and naming the wrong one is what makes the message useful; cut
        # short in case a token was pasted into the wrong variable.
        shown = ", ".join(repr(v[:12] + ("…" if len(v) > 12 else "")) for v in wrong)
        raise ValueError(f"{shown} {'is' if len(wrong) == 1 else 'are'} not {what}")
    return values


class AccountConfig(BaseModel):
    """One target account: the role the tool assumes there."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    account_id: str
    role_arn: str
    external_id: SecretStr | None = None

    @field_validator("account_id")
    @classmethod
    def _account_id(cls, v: str) -> str:
        if not validation.ACCOUNT_ID.fullmatch(v):
            raise ValueError("not an AWS account id (12 digits)")
        return v

    @field_validator("role_arn")
    @classmethod
    def _role_arn(cls, v: str) -> str:
        if not validation.ROLE_ARN.fullmatch(v):
            raise ValueError("not an IAM role ARN (arn:aws:iam::<12 digits>:role/<name>)")
        return v


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        frozen=True,
        populate_by_name=True,
    )

    # Slack
    slack_bot_token: SecretStr | None = Field(default=None, validation_alias="SLACK_BOT_TOKEN")
    slack_signing_secret: SecretStr | None = Field(
        default=None, validation_alias="SLACK_SIGNING_SECRET"
    )
    slack_app_token: SecretStr | None = Field(default=None, validation_alias="SLACK_APP_TOKEN")
    slack_api_url: str = Field(default="https://slack.com/api/", validation_alias="SLACK_API_URL")

    # Serving
    mode: Literal["socket", "http"] | None = Field(default=None, validation_alias="REVOKER_MODE")
    host: str = Field(default="0.0.0.0", validation_alias="REVOKER_HOST")  # noqa: S104 (container)
    port: int = Field(default=3000, ge=1, le=65535, validation_alias="REVOKER_PORT")
    log_format: Literal["json", "text"] | None = Field(
        default=None, validation_alias="REVOKER_LOG_FORMAT"
    )

    # Who may approve, where
    approver_user_ids: CommaList = Field(default=(), validation_alias="REVOKER_APPROVER_USER_IDS")
    approver_usergroup_ids: CommaList = Field(
        default=(), validation_alias="REVOKER_APPROVER_USERGROUP_IDS"
    )
    required_approvals: int = Field(
        default=1, ge=1, le=5, validation_alias="REVOKER_REQUIRED_APPROVALS"
    )
    allowed_channel_ids: CommaList = Field(
        default=(), validation_alias="REVOKER_ALLOWED_CHANNEL_IDS"
    )
    request_ttl_minutes: int = Field(
        default=60, ge=1, le=24 * 60, validation_alias="REVOKER_REQUEST_TTL_MINUTES"
    )

    # State
    # A runner holds an execution (and a drainer a request's notices) for this long without
    # renewing; a replica that dies is taken over by another once it lapses.
    lease_seconds: float = Field(
        default=30.0, ge=1, le=600, validation_alias="REVOKER_LEASE_SECONDS"
    )
    # How often a replica looks in the store for work another replica left behind.
    runner_poll_seconds: float = Field(
        default=5.0, gt=0, le=300, validation_alias="REVOKER_RUNNER_POLL_SECONDS"
    )
    # Worker threads of one bulk request's IAM calls. IAM's write API is throttled per account
    # (well under a hundred calls a second); eight keeps a run near that pace while adaptive
    # retries absorb the throttling the rest of the account causes.
    bulk_concurrency: int = Field(
        default=8, ge=1, le=64, validation_alias="REVOKER_BULK_CONCURRENCY"
    )
    database_url: str = Field(
        default="sqlite:///bedrock-revoker.db", validation_alias="REVOKER_DATABASE_URL"
    )

    # AWS
    # NoDecode: our validator parses the JSON, so a typo is reported like any other bad setting.
    accounts: Annotated[dict[str, AccountConfig], NoDecode] = Field(
        default_factory=dict, validation_alias="REVOKER_ACCOUNTS"
    )
    aws_region: str = Field(default="us-east-1", validation_alias="AWS_DEFAULT_REGION")
    aws_connect_timeout: float = Field(
        default=5.0, gt=0, validation_alias="REVOKER_AWS_CONNECT_TIMEOUT"
    )
    aws_read_timeout: float = Field(default=15.0, gt=0, validation_alias="REVOKER_AWS_READ_TIMEOUT")
    deny_actions: CommaList = Field(
        default=DEFAULT_DENY_ACTIONS, validation_alias="REVOKER_DENY_ACTIONS"
    )
    reset_secret_destination: Literal["discard", "secretsmanager"] = Field(
        default="discard", validation_alias="REVOKER_RESET_SECRET_DESTINATION"
    )

    @field_validator(
        "approver_user_ids",
        "approver_usergroup_ids",
        "allowed_channel_ids",
        "deny_actions",
        mode="before",
    )
    @classmethod
    def _comma_list(cls, v: Any) -> Any:
        if isinstance(v, str):
            return tuple(part.strip() for part in v.split(",") if part.strip())
        return v

    @field_validator("slack_bot_token")
    @classmethod
    def _bot_token(cls, v: SecretStr | None) -> SecretStr | None:
        if v is not None and not v.get_secret_value().startswith("xoxb-"):
            raise ValueError("is not a bot token (they start with xoxb-)")
        return v

    @field_validator("slack_app_token")
    @classmethod
    def _app_token(cls, v: SecretStr | None) -> SecretStr | None:
        if v is not None and not v.get_secret_value().startswith("xapp-"):
            raise ValueError("is not an app-level token (they start with xapp-)")
        return v

    @field_validator("approver_user_ids")
    @classmethod
    def _user_ids(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        return _shaped(v, SLACK_USER_ID, "a Slack member id (U… or W…)")

    @field_validator("approver_usergroup_ids")
    @classmethod
    def _usergroup_ids(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        return _shaped(v, SLACK_USERGROUP_ID, "a Slack user group id (S…)")

    @field_validator("allowed_channel_ids")
    @classmethod
    def _channel_ids(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        return _shaped(v, SLACK_CHANNEL_ID, "a Slack channel id (C…, G… or D…)")

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, v: str) -> str:
        # The value is not echoed: an unknown URL form might carry a password.
        url = v.strip()
        if url.startswith("sqlite:///"):
            if not url[len("sqlite:///") :]:
                raise ValueError("has no file path after sqlite:///")
            return url
        if url.startswith("dynamodb://"):
            if not DYNAMODB_TABLE.fullmatch(url[len("dynamodb://") :]):
                raise ValueError(
                    "needs a DynamoDB table name (3-255 of letters, digits, '_', '-', '.')"
                )
            return url
        raise ValueError("is not a supported database URL")

    @field_validator("slack_api_url")
    @classmethod
    def _slack_api_url(cls, v: str) -> str:
        # The value is not echoed: a URL with user:password in it would put the password in logs.
        url = urlsplit(v.strip())
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ValueError("must be an http(s) URL such as https://slack.com/api/")
        if url.username or url.password:
            raise ValueError("must not carry a user name or password")
        # slack_sdk joins method names onto it: without the slash, /api + auth.test = /apiauth.test.
        return v.strip() if v.strip().endswith("/") else v.strip() + "/"

    @field_validator("accounts", mode="before")
    @classmethod
    def _accounts_json(cls, v: Any) -> Any:
        if isinstance(v, str):
            if not v.strip():
                return {}
            try:
                return json.loads(v)
            except json.JSONDecodeError as exc:
                raise ValueError(f"not valid JSON ({exc.msg})") from None
        return v

    @field_validator("deny_actions")
    @classmethod
    def _deny_actions(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        if not v:
            raise ValueError("at least one action to deny is needed")
        for action in v:
            if not action.endswith(":CallWithBearerToken"):
                raise ValueError(f"{action!r} is not a <service>:CallWithBearerToken action")
        return v

    @property
    def serve_mode(self) -> Literal["socket", "http"]:
        if self.mode:
            return self.mode
        return "socket" if self.slack_app_token else "http"

    def account(self, name: str | None) -> AccountConfig | None:
        """The configured account called `name`; None means the tool's own account."""
        if name is None or name == "":
            return None
        try:
            return self.accounts[name]
        except KeyError:
            raise InvalidInput(
                f"No account named {name!r} is configured.", field="account"
            ) from None


_ENV_NAMES = {
    name: (field.validation_alias if isinstance(field.validation_alias, str) else name.upper())
    for name, field in Settings.model_fields.items()
}
_FIELD_BY_ENV = {env: name for name, env in _ENV_NAMES.items()}


@dataclass(frozen=True)
class ConfigProblem:
    """One wrong or missing setting: its variable, what is wrong, and what to do."""

    variable: str
    problem: str
    fix: str

    def line(self) -> str:
        return f"{self.variable}: {self.problem} — fix: {self.fix}"


class SettingsError(Exception):
    """Settings are missing or wrong; the message names every variable and its fix."""

    def __init__(self, problems: list[ConfigProblem]) -> None:
        self.problems = problems
        count = f"{len(problems)} problem{'s' if len(problems) != 1 else ''}"
        super().__init__(
            f"Invalid configuration ({count}):\n  " + "\n  ".join(p.line() for p in problems)
        )


def serving_problems(settings: Settings) -> list[ConfigProblem]:
    """What `serve` cannot run without, beyond each value's own shape: approvers, the bot token,
    and the serving mode's own secret."""
    problems = []
    if not (settings.approver_user_ids or settings.approver_usergroup_ids):
        problems.append(
            ConfigProblem(
                "REVOKER_APPROVER_USER_IDS",
                "no approver is configured, so nobody could approve a request",
                "set REVOKER_APPROVER_USER_IDS to Slack member ids (U…) and/or "
                "REVOKER_APPROVER_USERGROUP_IDS to user group ids (S…), comma-separated",
            )
        )
    if settings.slack_bot_token is None:
        problems.append(ConfigProblem("SLACK_BOT_TOKEN", "is not set", _FIXES["SLACK_BOT_TOKEN"]))
    if settings.serve_mode == "http" and settings.slack_signing_secret is None:
        problems.append(
            ConfigProblem(
                "SLACK_SIGNING_SECRET",
                "HTTP mode needs it to verify Slack's requests",
                _FIXES["SLACK_SIGNING_SECRET"] + ", or use Socket Mode: set SLACK_APP_TOKEN",
            )
        )
    if settings.serve_mode == "socket" and settings.slack_app_token is None:
        problems.append(
            ConfigProblem("SLACK_APP_TOKEN", "Socket Mode needs it", _FIXES["SLACK_APP_TOKEN"])
        )
    return problems


def load_settings(*, serving: bool = False, **overrides: Any) -> Settings:
    """Settings from the environment (and `.env`). Every problem is reported in one
    SettingsError; with `serving`, so is what `serve` cannot run without."""
    problems: list[ConfigProblem] = []
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        wrong: set[str] = set()
        for err in exc.errors():
            loc = str(err["loc"][0]) if err["loc"] else "?"
            # Pydantic names the variable (the alias); the retry below needs the field.
            field = _FIELD_BY_ENV.get(loc, loc)
            wrong.add(field)
            env = _ENV_NAMES.get(field, loc)
            inner = ".".join(str(part) for part in err["loc"][1:])
            where = f"{env} ({inner})" if inner else env
            # The input is not echoed: a misplaced secret must not reach a terminal or a log.
            problem = err["msg"].removeprefix("Value error, ")
            problems.append(ConfigProblem(where, problem, _FIXES.get(env, _DEFAULT_FIX)))
        # The other settings, with each wrong one at its default, so what is missing is reported
        # in the same run as what is wrong.
        defaults = {
            name: Settings.model_fields[name].get_default(call_default_factory=True)
            for name in wrong
            if name in Settings.model_fields
        }
        settings = Settings(**{**overrides, **defaults})
        if "slack_app_token" in wrong and settings.mode is None:
            # A wrong app token still says Socket Mode was meant: no signing secret is missing.
            settings = settings.model_copy(update={"mode": "socket"})
        reported = {p.variable.split(" ")[0] for p in problems}
        if serving:
            problems += [p for p in serving_problems(settings) if p.variable not in reported]
        raise SettingsError(problems) from None
    if serving and (problems := serving_problems(settings)):
        raise SettingsError(problems)
    return settings


def settings_source(settings_file: str | Path = ".env") -> str:
    """Where settings come from, for doctor and the start-up line: `.env` is read when present
    (the environment wins over it)."""
    env_file = Path(settings_file)
    if env_file.is_file():
        return f"the environment and {env_file.resolve()}"
    return "the environment (no .env file here)"


def _count(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def startup_line(settings: Settings, version: str) -> str:
    """The one line `serve` logs as it starts: what runs, against what, for whom. Counts and
    names only: no token, secret, external id or URL."""
    store = "dynamodb" if settings.database_url.startswith("dynamodb://") else "sqlite"
    accounts = (
        f"own + {len(settings.accounts)} ({', '.join(sorted(settings.accounts))})"
        if settings.accounts
        else "own only"
    )
    approvers = (
        f"{_count(len(settings.approver_user_ids), 'user')} and "
        f"{_count(len(settings.approver_usergroup_ids), 'user group')}, "
        f"{_count(settings.required_approvals, 'approval')} per request"
    )
    channels = (
        _count(len(settings.allowed_channel_ids), "channel")
        if settings.allowed_channel_ids
        else "any"
    )
    return (
        f"bedrock-revoker {version} starting: mode={settings.serve_mode} store={store} "
        f"accounts={accounts} approvers={approvers} channels={channels} "
        f"region={settings.aws_region}; settings from {settings_source()}"
    )
