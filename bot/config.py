"""All configuration, from the environment (and an optional `.env`), validated at start-up.

Every setting has an env var and a default; secrets are SecretStr so they never print. Lists are
comma-separated. A wrong value stops start-up with a message naming the variable.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bot import validation
from bot.errors import InvalidInput

DEFAULT_DENY_ACTIONS = ("bedrock:CallWithBearerToken", "bedrock-mantle:CallWithBearerToken")

CommaList = Annotated[tuple[str, ...], NoDecode]


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


class SettingsError(Exception):
    """A setting is missing or wrong; the message names the environment variable(s)."""


def load_settings(**overrides: Any) -> Settings:
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            loc = err["loc"][0] if err["loc"] else "?"
            env = _ENV_NAMES.get(str(loc), str(loc))
            inner = ".".join(str(part) for part in err["loc"][1:])
            where = f"{env} ({inner})" if inner else env
            # The input is not echoed: a misplaced secret must not reach a terminal or a log.
            lines.append(f"{where}: {err['msg'].removeprefix('Value error, ')}")
        raise SettingsError("Invalid configuration:\n  " + "\n  ".join(lines)) from None
