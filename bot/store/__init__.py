"""Request stores: SQLite for one process (the default), DynamoDB for several replicas.

`open_store(url)` reads REVOKER_DATABASE_URL's forms: `sqlite:///relative.db`,
`sqlite:////absolute/path.db`, `sqlite:///:memory:` (one process, gone on exit) and
`dynamodb://table-name`.
"""

from __future__ import annotations

import re
import sqlite3

from bot.errors import InvalidInput
from bot.store.base import RequestStore
from bot.store.sqlite import SqliteStore

__all__ = ["RequestStore", "open_store"]

_DYNAMODB_TABLE = re.compile(r"[A-Za-z0-9_.-]{3,255}")


def _bad(why: str) -> InvalidInput:
    return InvalidInput(
        f"REVOKER_DATABASE_URL {why}. Use sqlite:///path/to/file.db or dynamodb://table-name.",
        field="REVOKER_DATABASE_URL",
    )


def open_store(
    database_url: str,
    *,
    region: str | None = None,
    connect_timeout: float = 5.0,
    read_timeout: float = 15.0,
) -> RequestStore:
    """The store for `database_url`. SQLite opens (and creates its tables) at once, so a bad path
    stops start-up; DynamoDB checks its table on first use (`store init` creates it)."""
    url = database_url.strip()
    if url.startswith("sqlite:///"):
        path = url[len("sqlite:///") :]
        if not path:
            raise _bad("has no file path after sqlite:///")
        try:
            return SqliteStore(path)
        except sqlite3.Error as exc:
            raise _bad(f"names {path!r}, which cannot be opened ({exc})") from None
    if url.startswith("dynamodb://"):
        table = url[len("dynamodb://") :]
        if not _DYNAMODB_TABLE.fullmatch(table):
            raise _bad("needs a DynamoDB table name (3-255 of letters, digits, '_', '-', '.')")
        # Imported here so the SQLite default does not pay for loading botocore's DynamoDB model.
        from bot.store.dynamodb import DynamoDbStore

        return DynamoDbStore(
            table, region=region, connect_timeout=connect_timeout, read_timeout=read_timeout
        )
    # Not echoed: an unknown URL form might carry a password.
    raise _bad("is not a supported database URL")
