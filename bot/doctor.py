"""`bedrock-revoker doctor`: is this deployment able to do its job? One line per check.

The checks are the things that, when wrong, are otherwise discovered during an incident: the
configuration, the Slack token and its scopes, approver user groups, the AWS identity and its IAM
read access in every configured account, and the request store. Each line says what was found and,
for a failure, what to change:

    ok   <check>: <detail>
    FAIL <check>: <problem> — fix: <what to do>
    skip <check>: <why it does not apply>

Everything that can block (boto3, SQLite, files) runs in a worker thread, and every check has a
time limit. The worker threads are daemons, so a check that never returns cannot keep the process
alive once its time-out has been reported.

No line ever carries a secret: checks word their own messages (never an exception's text, which
may echo parameters), and every line is scrubbed of the configured secret values and of anything
shaped like a token or key before it is printed.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import os
import sqlite3
import sys
import tempfile
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO, TypeVar
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot import keys
from bot.aws import AwsClients
from bot.config import Settings, SettingsError, load_settings
from bot.errors import RevokerError
from bot.logs import redact
from bot.revocation.iam_errors import ACCESS_DENIED_CODES, error_code, explain
from bot.store import open_store

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

T = TypeVar("T")

DEFAULT_TIMEOUT = 15.0
BEDROCK_SERVICE = "bedrock.amazonaws.com"
# The bot scopes manifest.yml asks for; a token missing one fails in the middle of a request.
REQUIRED_SCOPES = ("commands", "chat:write", "users:read", "usergroups:read")
SCOPES_HEADER = "x-oauth-scopes"
BEARER_ENV = "AWS_BEARER_TOKEN_BEDROCK"
_SLACK_AUTH_ERRORS = frozenset(
    {"invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired"}
)
_SCRUBBED = "[redacted]"
# Env vars whose values are secrets even when the settings never read them.
_SECRET_ENV = (
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    BEARER_ENV,
    "SLACK_BOT_TOKEN",
    "SLACK_SIGNING_SECRET",
    "SLACK_APP_TOKEN",
)
_SLACK_AUTH_FIX = (
    "copy the Bot User OAuth Token (xoxb-…) from the app's OAuth & Permissions page into "
    "SLACK_BOT_TOKEN; reinstall the app if the token was revoked"
)
_CREDENTIALS_FIX = (
    "give the bot SigV4 credentials: an IAM role (instance profile, ECS task role, EKS pod "
    "identity), AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
)
_POLICY_FIX = "attach deploy/iam-policy.json to the bot's role or user"


class Status(StrEnum):
    OK = "ok"
    FAIL = "FAIL"
    SKIP = "skip"


@dataclass(frozen=True)
class Finding:
    status: Status
    check: str
    detail: str
    fix: str | None = None

    def line(self) -> str:
        text = f"{self.status.value:<4} {self.check}: {self.detail}"
        return f"{text} — fix: {self.fix}" if self.fix else text

    def scrubbed(self, scrub: Callable[[str], str]) -> Finding:
        # Part by part: a whole line reads as `<check> token: <value>` to a pattern that redacts
        # labelled values, and would lose the detail of every check named "... token".
        return Finding(
            self.status,
            scrub(self.check),
            scrub(self.detail),
            scrub(self.fix) if self.fix is not None else None,
        )


def ok(check: str, detail: str) -> Finding:
    return Finding(Status.OK, check, detail)


def fail(check: str, problem: str, fix: str) -> Finding:
    return Finding(Status.FAIL, check, problem, fix)


def skip(check: str, why: str) -> Finding:
    return Finding(Status.SKIP, check, why)


class CheckTimeout(Exception):
    """A check did not finish within its time limit."""


# --- running checks -------------------------------------------------------------------------------


async def off_loop(fn: Callable[[], T], limit: float) -> T:
    """`fn()` in a daemon thread, awaited for at most `limit` seconds.

    Not `asyncio.to_thread`: its executor is joined when the loop shuts down, so one hung boto3
    call would hold the whole command long after its time-out had been reported.
    """
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def settle(outcome: Callable[[], None]) -> None:
        if not future.done():  # a timed-out wait has already given up on this future
            outcome()

    def work() -> None:
        deliver: Callable[[], None]
        try:
            deliver = functools.partial(future.set_result, fn())
        except BaseException as exc:
            deliver = functools.partial(future.set_exception, exc)
        # The loop is closed when the command finished without waiting for this thread.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(settle, deliver)

    context = contextvars.copy_context()
    threading.Thread(target=context.run, args=(work,), name="doctor-check", daemon=True).start()
    return await within(future, limit)


async def within(awaitable: Awaitable[T], limit: float) -> T:
    try:
        return await asyncio.wait_for(awaitable, limit)
    except TimeoutError:
        raise CheckTimeout from None


def _timed_out(check: str, what: str, limit: float, fix: str) -> Finding:
    return fail(check, f"{what} did not answer within {limit:g}s", fix)


# --- secrets --------------------------------------------------------------------------------------


class Scrubber:
    """Removes known secret values, and anything secret-shaped, from output lines."""

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        # Longest first, so a secret containing another is replaced whole. Very short values
        # would mangle ordinary words and are no secret worth the name.
        self._values = sorted({s for s in secrets if s and len(s) >= 6}, key=len, reverse=True)

    def add(self, *secrets: str | None) -> None:
        self._values = sorted(
            {*self._values, *(s for s in secrets if s and len(s) >= 6)}, key=len, reverse=True
        )

    def __call__(self, text: str) -> str:
        for value in self._values:
            text = text.replace(value, _SCRUBBED)
        return redact(text)


def _settings_secrets(settings: Settings) -> list[str | None]:
    values = [
        s.get_secret_value() if s is not None else None
        for s in (settings.slack_bot_token, settings.slack_signing_secret, settings.slack_app_token)
    ]
    values += [
        a.external_id.get_secret_value() for a in settings.accounts.values() if a.external_id
    ]
    return values


# --- configuration --------------------------------------------------------------------------------


def check_configuration(settings: Settings) -> list[Finding]:
    """Approvers and the serving mode's own secret: what `serve` would refuse to start without."""
    findings: list[Finding] = []
    users, groups = settings.approver_user_ids, settings.approver_usergroup_ids
    if users or groups:
        parts = []
        if users:
            parts.append(f"{len(users)} user{'s' if len(users) != 1 else ''}")
        if groups:
            parts.append(f"{len(groups)} user group{'s' if len(groups) != 1 else ''}")
        approvals = settings.required_approvals
        findings.append(
            ok(
                "approvers",
                f"{' and '.join(parts)}; {approvals} approval{'s' if approvals != 1 else ''} "
                "needed per request",
            )
        )
    else:
        findings.append(
            fail(
                "approvers",
                "nobody can approve a request (serve refuses to start)",
                "set REVOKER_APPROVER_USER_IDS to Slack user ids (U…), comma-separated, "
                "or REVOKER_APPROVER_USERGROUP_IDS to user group ids (S…)",
            )
        )

    mode = settings.serve_mode
    if mode == "http":
        if settings.slack_signing_secret is None:
            findings.append(
                fail(
                    "serving",
                    "HTTP mode, but SLACK_SIGNING_SECRET is not set, so no request from Slack "
                    "can be verified",
                    "set SLACK_SIGNING_SECRET from the app's Basic Information page, or use "
                    "Socket Mode by setting SLACK_APP_TOKEN (xapp-…)",
                )
            )
        else:
            findings.append(
                ok(
                    "serving",
                    f"HTTP on {settings.host}:{settings.port} (POST /slack/events, "
                    "GET /healthz); signing secret set",
                )
            )
    else:
        app_token = settings.slack_app_token
        if app_token is None:
            findings.append(
                fail(
                    "serving",
                    "Socket Mode (REVOKER_MODE=socket), but SLACK_APP_TOKEN is not set",
                    "create an app-level token with connections:write under Basic Information "
                    "and set SLACK_APP_TOKEN, or set REVOKER_MODE=http",
                )
            )
        elif not app_token.get_secret_value().startswith("xapp-"):
            findings.append(
                fail(
                    "serving",
                    "Socket Mode, but SLACK_APP_TOKEN is not an app-level token (xapp-…)",
                    "use the app-level token from Basic Information > App-Level Tokens, "
                    "not the bot token",
                )
            )
        else:
            findings.append(ok("serving", "Socket Mode; app-level token set"))
    return findings


# --- Slack ----------------------------------------------------------------------------------------


def missing_scopes(headers: Mapping[str, Any] | None, needed: Iterable[str]) -> list[str] | None:
    """Scopes from `needed` the token lacks, per the `x-oauth-scopes` header; None if unreported."""
    if not headers:
        return None
    value = next((v for k, v in headers.items() if str(k).lower() == SCOPES_HEADER), None)
    if value is None:
        return None
    if isinstance(value, list | tuple):  # some clients keep repeated headers as lists
        value = ",".join(str(v) for v in value)
    granted = {s.strip() for s in str(value).split(",") if s.strip()}
    return [s for s in needed if s not in granted]


def _shown_url(url: str) -> str:
    """The URL without any user:password part."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit(parts._replace(netloc=netloc))


async def check_slack(settings: Settings, limit: float) -> AsyncIterator[Finding]:
    token = settings.slack_bot_token
    if token is None or not token.get_secret_value():
        yield fail("slack token", "SLACK_BOT_TOKEN is not set", _SLACK_AUTH_FIX)
        yield skip("slack auth, scopes and user groups", "no bot token")
        return
    if not token.get_secret_value().startswith("xoxb-"):
        yield fail(
            "slack token",
            "SLACK_BOT_TOKEN is not a bot token (bot tokens start with xoxb-)",
            _SLACK_AUTH_FIX,
        )
    else:
        yield ok("slack token", "SLACK_BOT_TOKEN is set (xoxb-…)")

    api = _shown_url(settings.slack_api_url)
    client = AsyncWebClient(
        token=token.get_secret_value(),
        base_url=settings.slack_api_url,
        timeout=max(1, int(limit)),
    )
    unreachable_fix = f"check network access to {api} (SLACK_API_URL) and Slack's status page"
    try:
        auth = await within(client.auth_test(), limit)
    except SlackApiError as exc:
        code = _slack_error(exc)
        if code in _SLACK_AUTH_ERRORS:
            yield fail("slack auth", f"Slack rejected SLACK_BOT_TOKEN ({code})", _SLACK_AUTH_FIX)
        else:
            yield fail("slack auth", f"auth.test failed ({code})", unreachable_fix)
        yield skip("slack scopes and user groups", "auth.test did not succeed")
        return
    except CheckTimeout:
        yield _timed_out("slack auth", f"Slack at {api}", limit, unreachable_fix)
        yield skip("slack scopes and user groups", "auth.test did not succeed")
        return
    except (aiohttp.ClientError, OSError) as exc:
        yield fail(
            "slack auth", f"could not reach Slack at {api} ({type(exc).__name__})", unreachable_fix
        )
        yield skip("slack scopes and user groups", "auth.test did not succeed")
        return
    team, team_id = auth.get("team"), auth.get("team_id")
    user, user_id = auth.get("user"), auth.get("user_id")
    yield ok("slack auth", f"workspace {team} ({team_id}) as bot user {user} ({user_id})")

    missing = missing_scopes(auth.headers, REQUIRED_SCOPES)
    if missing is None:
        yield skip("slack scopes", "scopes not reported by the Slack API (no x-oauth-scopes)")
    elif missing:
        yield fail(
            "slack scopes",
            f"the bot token lacks {', '.join(missing)}",
            "add the scopes under OAuth & Permissions > Bot Token Scopes (manifest.yml lists "
            "them) and reinstall the app to the workspace",
        )
    else:
        yield ok("slack scopes", ", ".join(REQUIRED_SCOPES))

    groups = settings.approver_usergroup_ids
    if not groups:
        yield skip("slack user groups", "none configured (REVOKER_APPROVER_USERGROUP_IDS)")
        return
    for group in groups:
        yield await _check_usergroup(client, group, settings, limit, unreachable_fix)


async def _check_usergroup(
    client: AsyncWebClient, group: str, settings: Settings, limit: float, unreachable_fix: str
) -> Finding:
    check = f"slack user group {group}"
    try:
        answer = await within(client.usergroups_users_list(usergroup=group), limit)
    except SlackApiError as exc:
        code = _slack_error(exc)
        if code == "plan_upgrade_required":
            return fail(
                check,
                "this workspace cannot list user group members (plan_upgrade_required)",
                "user groups need a paid plan; use REVOKER_APPROVER_USER_IDS",
            )
        if code in ("no_such_subteam", "subteam_not_found"):
            return fail(
                check,
                f"no such user group in this workspace ({code})",
                "check REVOKER_APPROVER_USERGROUP_IDS: ids start with S (the group's id, "
                "not its @handle)",
            )
        if code == "missing_scope":
            return fail(
                check,
                "the bot token lacks usergroups:read (missing_scope)",
                "add usergroups:read under OAuth & Permissions and reinstall the app",
            )
        return fail(check, f"usergroups.users.list failed ({code})", unreachable_fix)
    except CheckTimeout:
        return _timed_out(check, "usergroups.users.list", limit, unreachable_fix)
    except (aiohttp.ClientError, OSError) as exc:
        return fail(check, f"could not reach Slack ({type(exc).__name__})", unreachable_fix)
    users = answer.get("users") or []
    if users:
        return ok(check, f"{len(users)} member{'s' if len(users) != 1 else ''}")
    if settings.approver_user_ids:
        return ok(check, "no members yet; REVOKER_APPROVER_USER_IDS still names approvers")
    return fail(
        check,
        "the group has no members, so nobody can approve",
        "add the approvers to the group in Slack, or set REVOKER_APPROVER_USER_IDS",
    )


def _slack_error(exc: SlackApiError) -> str:
    try:
        return str(exc.response.get("error") or "unknown_error")
    except Exception:  # a response that is not Slack's JSON (a proxy's error page)
        return "unexpected_response"


# --- AWS ------------------------------------------------------------------------------------------


def _aws_problem(exc: BaseException, operation: str, resource: str, service: str = "iam") -> str:
    # explain() words its messages itself and quotes AWS only for service errors, whose text
    # names resources, never secrets.
    return explain(exc, operation=operation, resource=resource, service=service).message


def _list_bedrock_keys(clients: AwsClients, account: str | None) -> None:
    clients.iam(account).list_service_specific_credentials(
        AllUsers=True, ServiceName=BEDROCK_SERVICE, MaxItems=1
    )


async def check_aws(
    settings: Settings,
    limit: float,
    environ: Mapping[str, str],
    scrubber: Scrubber,
    session: boto3.Session | None = None,
) -> AsyncIterator[Finding]:
    session = session or boto3.Session(region_name=settings.aws_region)
    creds_check = "aws credentials"
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        if keys.looks_like_key(environ.get(name, "")):
            yield fail(
                creds_check,
                f"{name} holds a Bedrock API key, not an AWS access key",
                "revoke that key if it was shared, and " + _CREDENTIALS_FIX,
            )
            yield skip("aws identity", "no usable AWS credentials")
            return
    bearer = bool(environ.get(BEARER_ENV))
    try:
        found = await off_loop(session.get_credentials, limit)
    except CheckTimeout:
        yield _timed_out(creds_check, "the AWS credential chain", limit, _CREDENTIALS_FIX)
        yield skip("aws identity", "no usable AWS credentials")
        return
    except BotoCoreError as exc:
        # Profiles, SSO and web identity can fail to load; the class names the cause.
        yield fail(
            creds_check, f"loading credentials failed ({type(exc).__name__})", _CREDENTIALS_FIX
        )
        yield skip("aws identity", "no usable AWS credentials")
        return
    if found is None:
        if bearer:
            yield fail(
                creds_check,
                f"only {BEARER_ENV} is set: that is a Bedrock API key, which botocore uses for "
                "Bedrock alone; IAM and STS calls need SigV4 credentials",
                _CREDENTIALS_FIX,
            )
        else:
            yield fail(creds_check, "no AWS credentials found", _CREDENTIALS_FIX)
        yield skip("aws identity", "no usable AWS credentials")
        return
    # Temporary credentials fetched from a provider (SSO, a container endpoint) are secrets too.
    with contextlib.suppress(Exception):
        frozen = found.get_frozen_credentials()
        scrubber.add(frozen.secret_key, frozen.token)
    note = f"; {BEARER_ENV} is also set and is not used for IAM or STS" if bearer else ""
    yield ok(creds_check, f"from {found.method}{note}")

    clients = AwsClients(settings, session=session)
    try:
        identity = await off_loop(clients.caller_identity, limit)
    except CheckTimeout:
        yield _timed_out("aws identity", "sts:GetCallerIdentity", limit, _CREDENTIALS_FIX)
        yield skip("aws iam read", "no working AWS identity")
        return
    except Exception as exc:
        yield fail(
            "aws identity",
            _aws_problem(exc, "GetCallerIdentity", "the caller", service="sts"),
            _CREDENTIALS_FIX,
        )
        yield skip("aws iam read", "no working AWS identity")
        return
    yield ok("aws identity", identity.arn)

    yield await _check_iam_read(clients, None, "aws iam read", limit, _POLICY_FIX)

    for name, account in settings.accounts.items():
        check = f"aws account {name}"
        trust_fix = (
            f"let {identity.arn} assume {account.role_arn}: the role's trust policy "
            "(deploy/target-account-role.json) with the configured external id, and "
            "sts:AssumeRole in the bot's own policy"
        )
        try:
            assumed = await off_loop(functools.partial(clients.caller_identity, name), limit)
        except CheckTimeout:
            yield _timed_out(check, f"assuming {account.role_arn}", limit, trust_fix)
            continue
        except ClientError as exc:
            if exc.operation_name == "AssumeRole":
                code = error_code(exc) or "error"
                yield fail(check, f"cannot assume {account.role_arn} ({code})", trust_fix)
            else:
                problem = _aws_problem(exc, "GetCallerIdentity", account.role_arn, service="sts")
                yield fail(check, problem, trust_fix)
            continue
        except Exception as exc:
            problem = _aws_problem(exc, "AssumeRole", account.role_arn, service="sts")
            yield fail(check, problem, trust_fix)
            continue
        role_fix = f"attach deploy/iam-policy.json to {account.role_arn}"
        read = await _check_iam_read(clients, name, check, limit, role_fix)
        if read.status is Status.OK:
            yield ok(check, f"assumed {assumed.arn}; {read.detail}")
        else:
            yield read


async def _check_iam_read(
    clients: AwsClients, account: str | None, check: str, limit: float, fix: str
) -> Finding:
    operation = "ListServiceSpecificCredentials"
    try:
        await off_loop(lambda: _list_bedrock_keys(clients, account), limit)
    except CheckTimeout:
        return _timed_out(check, f"iam:{operation}", limit, fix)
    except Exception as exc:
        problem = _aws_problem(exc, operation, "Bedrock API keys of all users")
        if error_code(exc) not in ACCESS_DENIED_CODES:
            fix = "check the AWS endpoint and network, then run doctor again"
        return fail(check, problem, fix)
    return ok(check, f"iam:{operation} allowed (all users' Bedrock API keys)")


# --- store ----------------------------------------------------------------------------------------

_SQLITE = "sqlite:///"
_DYNAMODB = "dynamodb://"
_PROBE = "bedrock-revoker-doctor-probe"


def sqlite_file(database_url: str) -> str | None:
    """The file a `sqlite:///` URL names (`:memory:` included); None for other URLs."""
    url = database_url.strip()
    return url[len(_SQLITE) :] if url.startswith(_SQLITE) else None


async def check_store(
    settings: Settings, limit: float, session: boto3.Session | None = None
) -> Finding:
    url = settings.database_url.strip()
    path = sqlite_file(url)
    if path is not None:
        return await _check_sqlite(settings, path, limit)
    if url.startswith(_DYNAMODB):
        return await _check_dynamodb(settings, url[len(_DYNAMODB) :], limit, session)
    try:
        open_store(url)
    except RevokerError as exc:
        return fail("store", exc.message, "fix REVOKER_DATABASE_URL")
    return fail(
        "store", "REVOKER_DATABASE_URL has a form doctor cannot check", "fix REVOKER_DATABASE_URL"
    )


_STORE_PATH_FIX = (
    "point REVOKER_DATABASE_URL at a file in a directory the bot can write, e.g. "
    "sqlite:////data/bedrock-revoker.db"
)


async def _check_sqlite(settings: Settings, path: str, limit: float) -> Finding:
    if path == ":memory:":
        return ok("store", "in-memory SQLite: requests are lost on restart and not shared")
    if not path:
        return fail("store", "REVOKER_DATABASE_URL has no file after sqlite:///", _STORE_PATH_FIX)
    file = Path(path)
    try:
        exists = await off_loop(file.exists, limit)
        if not exists:
            return await off_loop(lambda: _sqlite_directory(file), limit)
        return await _sqlite_round_trip(settings.database_url, file, limit)
    except CheckTimeout:
        return _timed_out("store", f"SQLite at {path}", limit, _STORE_PATH_FIX)


def _sqlite_directory(file: Path) -> Finding:
    """A store file that does not exist yet: can the bot create it? Checked with a temp file."""
    directory = file.parent
    if not directory.exists():
        return fail(
            "store",
            f"SQLite file {file} cannot be created: its directory {directory} does not exist",
            f"create {directory} (the bot creates only the file), or " + _STORE_PATH_FIX,
        )
    if not directory.is_dir():
        return fail("store", f"{directory} is not a directory", _STORE_PATH_FIX)
    try:
        with tempfile.NamedTemporaryFile(dir=directory, prefix=f".{_PROBE}-"):
            pass
    except OSError as exc:
        return fail(
            "store",
            f"cannot create files in {directory} ({exc.strerror or type(exc).__name__})",
            f"make {directory} writable by the bot's user, or " + _STORE_PATH_FIX,
        )
    return ok("store", f"SQLite {file} does not exist yet; its directory is writable")


async def _sqlite_round_trip(database_url: str, file: Path, limit: float) -> Finding:
    try:
        store = await off_loop(lambda: open_store(database_url), limit)
    except RevokerError:
        return fail("store", f"SQLite file {file} cannot be opened", _STORE_PATH_FIX)
    try:
        pending = await within(store.list_pending(), limit)
    except sqlite3.Error as exc:
        return fail("store", f"reading {file} failed ({exc})", _STORE_PATH_FIX)
    except CheckTimeout:
        raise
    except Exception as exc:  # a row that no longer parses: not the bot's database, or damaged
        return fail(
            "store",
            f"{file} holds data the bot cannot read ({type(exc).__name__})",
            "check that REVOKER_DATABASE_URL names the bot's own database",
        )
    finally:
        with contextlib.suppress(Exception):
            await within(store.close(), limit)
    try:
        await off_loop(lambda: _sqlite_write_probe(file), limit)
    except sqlite3.Error as exc:
        return fail(
            "store",
            f"{file} can be read but not written ({exc})",
            f"make {file} and its directory writable by the bot's user, or " + _STORE_PATH_FIX,
        )
    return ok(
        "store",
        f"SQLite {file}: read ok ({len(pending)} pending), write ok (rolled back, nothing kept)",
    )


def _sqlite_write_probe(file: Path) -> None:
    # The store's interface has no delete, so the write goes through a separate connection in a
    # transaction that is rolled back: the same locks and pages as a real write, nothing kept.
    db = sqlite3.connect(file, isolation_level=None, timeout=5.0)
    try:
        db.execute("BEGIN IMMEDIATE")
        try:
            table = _PROBE.replace("-", "_")
            db.execute(f"CREATE TABLE {table} (x INTEGER)")
            db.execute(f"INSERT INTO {table} (x) VALUES (1)")  # noqa: S608 (a constant name)
            (value,) = db.execute(f"SELECT x FROM {table}").fetchone()  # noqa: S608
            if value != 1:
                raise sqlite3.DatabaseError("the probe row did not read back")
        finally:
            db.execute("ROLLBACK")
    finally:
        db.close()


async def _check_dynamodb(
    settings: Settings, table: str, limit: float, session: boto3.Session | None
) -> Finding:
    fix = "grant the bot the DynamoDB permissions listed in deploy/README.md on the table"
    try:
        open_store(settings.database_url)  # validates the table name; makes no call
    except RevokerError as exc:
        return fail("store", exc.message, "fix REVOKER_DATABASE_URL")
    session = session or boto3.Session(region_name=settings.aws_region)
    config = Config(
        retries={"mode": "standard", "max_attempts": 2},
        connect_timeout=settings.aws_connect_timeout,
        read_timeout=settings.aws_read_timeout,
    )
    try:
        return await off_loop(lambda: _dynamodb_probe(session, config, table, fix), limit)
    except CheckTimeout:
        return _timed_out("store", f"DynamoDB table {table}", limit, fix)


def _dynamodb_probe(session: boto3.Session, config: Config, table: str, fix: str) -> Finding:
    dynamodb: DynamoDBClient = session.client("dynamodb", config=config)
    try:
        described = dynamodb.describe_table(TableName=table)["Table"]
    except ClientError as exc:
        if error_code(exc) == "ResourceNotFoundException":
            return ok(
                "store",
                f"DynamoDB table {table} does not exist yet; the bot creates it on first start "
                "(that needs dynamodb:CreateTable)",
            )
        return fail("store", _aws_problem(exc, "DescribeTable", f"table {table}", "dynamodb"), fix)
    except BotoCoreError as exc:
        return fail("store", _aws_problem(exc, "DescribeTable", f"table {table}", "dynamodb"), fix)
    status = described.get("TableStatus", "UNKNOWN")
    if status not in ("ACTIVE", "UPDATING"):
        return fail("store", f"DynamoDB table {table} is {status}", "wait for it to be ACTIVE")
    key = _probe_key(described)
    try:
        dynamodb.get_item(TableName=table, Key=key)
        # A put conditioned on an item that does not exist: IAM authorises the write before the
        # condition is evaluated, so ConditionalCheckFailed proves write access and stores nothing.
        dynamodb.put_item(
            TableName=table,
            Item=key,
            ConditionExpression="attribute_exists(#k)",
            ExpressionAttributeNames={"#k": next(iter(key))},
        )
    except ClientError as exc:
        if error_code(exc) != "ConditionalCheckFailedException":
            operation = exc.operation_name or "GetItem"
            return fail("store", _aws_problem(exc, operation, f"table {table}", "dynamodb"), fix)
    except BotoCoreError as exc:
        return fail("store", _aws_problem(exc, "GetItem", f"table {table}", "dynamodb"), fix)
    else:
        return fail(
            "store",
            f"a conditional write to {table} that should have been refused was accepted",
            "check that REVOKER_DATABASE_URL names the bot's own table",
        )
    return ok("store", f"DynamoDB table {table} {status}: read ok, write allowed (nothing kept)")


def _probe_key(table: Mapping[str, Any]) -> dict[str, Any]:
    """A key of the table's own schema that no real item uses."""
    types = {d["AttributeName"]: d["AttributeType"] for d in table["AttributeDefinitions"]}
    samples = {"S": {"S": _PROBE}, "N": {"N": "-1"}, "B": {"B": _PROBE.encode()}}
    return {k["AttributeName"]: samples[types[k["AttributeName"]]] for k in table["KeySchema"]}


# --- all checks -----------------------------------------------------------------------------------


async def diagnose(
    settings: Settings | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    limit: float = DEFAULT_TIMEOUT,
    scrubber: Scrubber | None = None,
    session: boto3.Session | None = None,
) -> AsyncIterator[Finding]:
    """Every check in order, each finding as soon as it is known.

    Without `settings`, they are loaded from the environment as `serve` loads them; a settings
    error is reported and nothing else is checked (every other check depends on them).
    """
    environ = os.environ if environ is None else environ
    scrubber = scrubber if scrubber is not None else Scrubber()
    scrubber.add(*(environ.get(name) for name in _SECRET_ENV))
    if settings is None:
        try:
            settings = load_settings()
        except SettingsError as exc:
            problems = str(exc).splitlines()[1:] or [str(exc)]
            yield fail(
                "settings",
                "; ".join(p.strip() for p in problems),
                "correct the environment variable(s) named (or the .env file)",
            )
            yield skip("other checks", "they need valid settings")
            return
    scrubber.add(*_settings_secrets(settings))
    yield ok("settings", "loaded from the environment")
    for finding in check_configuration(settings):
        yield finding
    async for finding in check_slack(settings, limit):
        yield finding
    async for finding in check_aws(settings, limit, environ, scrubber, session):
        yield finding
    yield await check_store(settings, limit, session)


async def _report(out: TextIO, limit: float) -> int:
    scrubber = Scrubber()
    failed = 0
    async for finding in diagnose(limit=limit, scrubber=scrubber):
        failed += finding.status is Status.FAIL
        print(finding.scrubbed(scrubber).line(), file=out, flush=True)
    summary = (
        f"{failed} check{'s' if failed != 1 else ''} failed" if failed else "all checks passed"
    )
    print(summary, file=out)
    return 1 if failed else 0


def run(out: TextIO | None = None, timeout: float = DEFAULT_TIMEOUT) -> int:
    """The `doctor` command: print the findings; 1 if any check failed, else 0."""
    return asyncio.run(_report(out or sys.stdout, timeout))
