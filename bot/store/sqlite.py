"""The embedded store: one SQLite file, no server.

One connection behind a lock, used from worker threads (`asyncio.to_thread`) so the event loop never
waits on disk. Several processes may share the file: WAL lets readers run beside the writer, and
compare-and-set is a single `UPDATE ... WHERE version = ?` whose row count says who won.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable, Sequence
from typing import TypeVar

from bot.audit import AuditEvent
from bot.requests import RequestStatus, RevocationRequest
from bot.store.base import check_events, sortable_time, stored, target_key
from bot.store.decoded import DecodedRequests

T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS requests (
    id         TEXT PRIMARY KEY,
    version    INTEGER NOT NULL,
    status     TEXT NOT NULL,
    target     TEXT,
    created_at TEXT NOT NULL,
    body       TEXT NOT NULL,
    active     INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS requests_status ON requests (status);
CREATE INDEX IF NOT EXISTS requests_target ON requests (target, created_at);
CREATE INDEX IF NOT EXISTS requests_created ON requests (created_at);
CREATE TABLE IF NOT EXISTS audit_events (
    request_id TEXT NOT NULL,
    seq        INTEGER NOT NULL,
    body       TEXT NOT NULL,
    PRIMARY KEY (request_id, seq)
);
"""


class SqliteStore:
    def __init__(self, path: str) -> None:
        self.path = path
        self._decoded = DecodedRequests()
        # isolation_level=None: no implicit transactions; writes say BEGIN IMMEDIATE themselves.
        self._db = sqlite3.connect(
            path, check_same_thread=False, isolation_level=None, timeout=10.0
        )
        self._lock = threading.Lock()
        with self._lock:
            if path != ":memory:":
                self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
            _add_active_column(self._db)

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        def locked() -> T:
            with self._lock:
                return fn(self._db)

        return await asyncio.to_thread(locked)

    # --- requests ---------------------------------------------------------------------------------

    async def create(self, request: RevocationRequest, events: Sequence[AuditEvent] = ()) -> bool:
        check_events(request.id, events)

        def write(db: sqlite3.Connection) -> bool:
            body = request.model_dump_json()
            db.execute(
                "INSERT INTO requests (id, version, status, target, created_at, body, active)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    request.id,
                    request.version,
                    request.status.value,
                    target_key(request),
                    sortable_time(request.created_at),
                    body,
                    int(request.is_active),
                ),
            )
            _insert_events(db, events)
            self._decoded.remember(body, request)
            return True

        return await self._run(lambda db: _atomically(db, lambda: write(db)))

    async def get(self, request_id: str) -> RevocationRequest | None:
        def read(db: sqlite3.Connection) -> RevocationRequest | None:
            row = db.execute("SELECT body FROM requests WHERE id = ?", (request_id,)).fetchone()
            return self._decoded.decode(request_id, row[0]) if row else None

        return await self._run(read)

    async def compare_and_set(
        self,
        old: RevocationRequest,
        new: RevocationRequest,
        events: Sequence[AuditEvent] = (),
    ) -> bool:
        new = stored(old, new)
        check_events(old.id, events)

        def write(db: sqlite3.Connection) -> bool:
            body = new.model_dump_json()
            cur = db.execute(
                "UPDATE requests SET version = ?, status = ?, target = ?, body = ?, active = ?"
                " WHERE id = ? AND version = ? AND status = ?",
                (
                    new.version,
                    new.status.value,
                    target_key(new),
                    body,
                    int(new.is_active),
                    old.id,
                    old.version,
                    old.status.value,
                ),
            )
            if cur.rowcount != 1:
                return False
            _insert_events(db, events)
            self._decoded.remember(body, new)
            return True

        return await self._run(lambda db: _atomically(db, lambda: write(db)))

    async def list_pending(self) -> list[RevocationRequest]:
        return await self._select(
            "SELECT id, body FROM requests WHERE status = ? ORDER BY created_at",
            (RequestStatus.PENDING.value,),
        )

    async def list_active(self) -> list[RevocationRequest]:
        return await self._select(
            "SELECT id, body FROM requests WHERE active = 1 ORDER BY created_at", ()
        )

    async def list_recent(
        self, target: str | None = None, limit: int = 20
    ) -> list[RevocationRequest]:
        if target is None:
            return await self._select(
                "SELECT id, body FROM requests ORDER BY created_at DESC LIMIT ?", (limit,)
            )
        return await self._select(
            "SELECT id, body FROM requests WHERE target = ? ORDER BY created_at DESC LIMIT ?",
            (target.lower(), limit),
        )

    async def _select(self, sql: str, params: tuple[object, ...]) -> list[RevocationRequest]:
        def read(db: sqlite3.Connection) -> list[RevocationRequest]:
            rows = db.execute(sql, params).fetchall()
            return [self._decoded.decode(r[0], r[1]) for r in rows]

        return await self._run(read)

    # --- audit ------------------------------------------------------------------------------------

    async def last_event(self, request_id: str) -> AuditEvent | None:
        def read(db: sqlite3.Connection) -> AuditEvent | None:
            row = db.execute(
                "SELECT body FROM audit_events WHERE request_id = ? ORDER BY seq DESC LIMIT 1",
                (request_id,),
            ).fetchone()
            return AuditEvent.model_validate_json(row[0]) if row else None

        return await self._run(read)

    async def events(self, request_id: str | None = None) -> list[AuditEvent]:
        def read(db: sqlite3.Connection) -> list[AuditEvent]:
            if request_id is None:
                rows = db.execute(
                    "SELECT body FROM audit_events ORDER BY request_id, seq"
                ).fetchall()
            else:
                rows = db.execute(
                    "SELECT body FROM audit_events WHERE request_id = ? ORDER BY seq",
                    (request_id,),
                ).fetchall()
            return [AuditEvent.model_validate_json(r[0]) for r in rows]

        return await self._run(read)

    async def close(self) -> None:
        await self._run(lambda db: db.close())


def _add_active_column(db: sqlite3.Connection) -> None:
    """Files made before requests had an outbox and a runner lack `active`: add it, marking the
    requests that were still undecided or running, so a runner finds them after the upgrade."""
    columns = {row[1] for row in db.execute("PRAGMA table_info(requests)")}
    if "active" not in columns:
        db.execute("ALTER TABLE requests ADD COLUMN active INTEGER NOT NULL DEFAULT 0")
        db.execute(
            "UPDATE requests SET active = 1 WHERE status IN ('pending', 'approved', 'executing')"
        )
    db.execute("CREATE INDEX IF NOT EXISTS requests_active ON requests (active, created_at)")


def _atomically(db: sqlite3.Connection, body: Callable[[], bool]) -> bool:
    """Run `body` in one transaction; commit only if it returns True.

    An IntegrityError (the id is taken, or an event with that seq exists) means someone else wrote
    first: roll back and report False, like a failed version check.
    """
    # IMMEDIATE takes the write lock up front, so a writer in another process waits (busy timeout)
    # instead of failing half-way through.
    db.execute("BEGIN IMMEDIATE")
    try:
        ok = body()
    except sqlite3.IntegrityError:
        ok = False
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT" if ok else "ROLLBACK")
    return ok


def _insert_events(db: sqlite3.Connection, events: Sequence[AuditEvent]) -> None:
    db.executemany(
        "INSERT INTO audit_events (request_id, seq, body) VALUES (?, ?, ?)",
        [(e.request_id, e.seq, e.line()) for e in events],
    )
