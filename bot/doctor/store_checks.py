"""The request store: SQLite or DynamoDB, read and written without keeping anything."""

from __future__ import annotations

import contextlib
import sqlite3
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import botocore.session
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from bot.aws import regional_session
from bot.config import Settings
from bot.doctor.aws_checks import NETWORK_FIX, aws_problem, unreachable
from bot.doctor.findings import Finding, fail, ok, timed_out
from bot.doctor.time_limits import CheckTimeout, off_loop, within
from bot.errors import RevokerError
from bot.revocation.iam_errors import error_code
from bot.services import open_configured_store
from bot.store import open_store

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

_SQLITE = "sqlite:///"
_DYNAMODB = "dynamodb://"
_PROBE = "bedrock-revoker-doctor-probe"
_STORE_PATH_FIX = (
    "point REVOKER_DATABASE_URL at a file in a directory the bot can write, e.g. "
    "sqlite:////data/bedrock-revoker.db"
)


def sqlite_file(database_url: str) -> str | None:
    """The file a `sqlite:///` URL names (`:memory:` included); None for other URLs."""
    url = database_url.strip()
    return url[len(_SQLITE) :] if url.startswith(_SQLITE) else None


async def check_store(settings: Settings, limit: float) -> Finding:
    url = settings.database_url.strip()
    path = sqlite_file(url)
    if path is not None:
        return await _check_sqlite(settings, path, limit)
    if url.startswith(_DYNAMODB):
        return await _check_dynamodb(settings, url[len(_DYNAMODB) :], limit)
    try:
        open_store(url)
    except RevokerError as exc:
        return fail("store", exc.message, "fix REVOKER_DATABASE_URL")
    return fail(
        "store", "REVOKER_DATABASE_URL has a form doctor cannot check", "fix REVOKER_DATABASE_URL"
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
        return timed_out("store", f"SQLite at {path}", limit, _STORE_PATH_FIX)


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


async def _check_dynamodb(settings: Settings, table: str, limit: float) -> Finding:
    fix = "grant the bot the DynamoDB permissions listed in deploy/README.md on the table"
    try:
        # Validates the table name and makes no call; the configured region, as serve uses it.
        await open_configured_store(settings).close()
    except RevokerError as exc:
        return fail("store", exc.message, "fix REVOKER_DATABASE_URL")
    session = regional_session(settings.aws_region)
    config = Config(
        retries={"mode": "standard", "max_attempts": 2},
        connect_timeout=settings.aws_connect_timeout,
        read_timeout=settings.aws_read_timeout,
    )
    try:
        return await off_loop(lambda: _dynamodb_probe(session, config, table, fix), limit)
    except CheckTimeout:
        return timed_out("store", f"DynamoDB table {table}", limit, fix)


def _dynamodb_probe(
    session: botocore.session.Session, config: Config, table: str, fix: str
) -> Finding:
    dynamodb = cast("DynamoDBClient", session.create_client("dynamodb", config=config))
    try:
        described = dynamodb.describe_table(TableName=table)["Table"]
    except ClientError as exc:
        if error_code(exc) == "ResourceNotFoundException":
            return fail(
                "store",
                f"DynamoDB table {table} does not exist (serve refuses to start without it)",
                "create it once with `bedrock-revoker store init`, or deploy "
                "deploy/cloudformation/bot.yaml",
            )
        return fail("store", aws_problem(exc, "DescribeTable", f"table {table}", "dynamodb"), fix)
    except BotoCoreError as exc:
        if (problem := unreachable(exc, "DynamoDB")) is not None:
            return fail("store", problem, NETWORK_FIX)
        return fail("store", aws_problem(exc, "DescribeTable", f"table {table}", "dynamodb"), fix)
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
            return fail("store", aws_problem(exc, operation, f"table {table}", "dynamodb"), fix)
    except BotoCoreError as exc:
        return fail("store", aws_problem(exc, "GetItem", f"table {table}", "dynamodb"), fix)
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
