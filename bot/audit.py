"""Append-only audit events, hash-chained per request: an edited, dropped or reordered event shows.

Each request has its own chain: event `seq` 1, 2, 3... and each event's `hash` is the SHA-256 of its
canonical JSON, which includes `prev` (the hash of the event before it; 64 zeros for the first).
Chains are per request rather than global so that appending needs no global counter: an event is
written in the same conditional write as the request's state change, and the request's version
already serialises those writes.

A hash chain is tamper-evident, not tamper-proof: someone who can rewrite the whole store can
recompute every hash, and dropping a chain's last events leaves a valid (shorter) chain. Keep
exports somewhere the bot cannot write if that matters.

Events never hold secrets: ids, fingerprints, Slack user ids, IAM operation names and error codes.
Free text that people type goes through `bot.keys.redact_secrets` first.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from pydantic import AwareDatetime, BaseModel, ConfigDict

GENESIS = "0" * 64
SYSTEM_ACTOR = "system"  # the bot itself: expiry, execution


class EventType(StrEnum):
    REQUESTED = "requested"
    POSTED = "posted"  # the request message exists in Slack (channel, ts)
    APPROVAL = "approval"  # one approval of several; the request is still pending
    APPROVED = "approved"  # the approval that made the request approved
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    EXECUTION_STARTED = "execution_started"
    RESUMED = "resumed"  # a runner took over an execution whose runner died
    STEP_ATTEMPTED = "step_attempted"  # an irreversible step's call is about to be made
    STEP = "step"
    VERIFIED = "verified"
    COMPLETED = "completed"
    PARTIAL = "partial"
    FAILED = "failed"


class AuditEvent(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    request_id: str
    seq: int
    at: AwareDatetime
    actor: str
    type: EventType
    data: dict[str, Any]
    prev: str
    hash: str

    def line(self) -> str:
        """The event as one canonical JSON line: what is exported and what `hash` covers."""
        return _canonical(self.model_dump(mode="json"))


def _canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _digest(payload: dict[str, Any]) -> str:
    return hashlib.sha256(_canonical(payload).encode("utf-8")).hexdigest()


def new_event(
    prev: AuditEvent | None,
    request_id: str,
    type: EventType,
    actor: str,
    at: datetime,
    data: dict[str, Any] | None = None,
) -> AuditEvent:
    """The next event of `request_id`'s chain after `prev` (None: the first event)."""
    if prev is not None and prev.request_id != request_id:
        raise ValueError("an event chains only onto an event of the same request")
    payload: dict[str, Any] = {
        "request_id": request_id,
        "seq": 1 if prev is None else prev.seq + 1,
        "at": at,
        "actor": actor,
        "type": type,
        "data": data or {},
        "prev": GENESIS if prev is None else prev.hash,
    }
    # Hash the JSON form, exactly what a reader parses back from the store or an export (tuples
    # become lists, datetimes ISO strings), so a round trip never changes the hash.
    body = AuditEvent.model_validate({**payload, "hash": ""}).model_dump(mode="json")
    del body["hash"]
    return AuditEvent.model_validate({**body, "hash": _digest(body)})


# --- export and verification ----------------------------------------------------------------------


class EventSource(Protocol):
    async def events(self, request_id: str | None = None) -> list[AuditEvent]: ...


async def export_lines(
    store: EventSource, request_id: str | None = None, since: datetime | None = None
) -> list[str]:
    """Audit events as JSON lines, grouped per request in chain order.

    `since` selects requests with any event at or after it, and exports their whole chains, so
    that every exported chain starts at its first event and `verify_lines` can check it end to end.
    """
    events = await store.events(request_id)
    by_request: dict[str, list[AuditEvent]] = defaultdict(list)
    for e in events:
        by_request[e.request_id].append(e)
    chains = [sorted(es, key=lambda e: e.seq) for es in by_request.values()]
    if since is not None:
        chains = [es for es in chains if any(e.at >= since for e in es)]
    chains.sort(key=lambda es: (es[0].at, es[0].request_id))
    return [e.line() for es in chains for e in es]


def verify_lines(lines: Iterable[str]) -> list[str]:
    """Problems found in exported lines; an empty list means every chain is intact.

    Detects an edited event (its hash no longer matches), a deleted or reordered one (a gap or a
    broken `prev` link), and a chain whose first event is missing.
    """
    problems: list[str] = []
    last: dict[str, tuple[int, str]] = {}  # request_id -> (seq, hash) of the last good event
    for n, raw in enumerate(lines, start=1):
        raw = raw.strip()
        if not raw:
            continue
        try:
            obj = json.loads(raw)
        except json.JSONDecodeError:
            problems.append(f"line {n}: not JSON")
            continue
        if not isinstance(obj, dict) or not {"request_id", "seq", "prev", "hash"} <= obj.keys():
            problems.append(f"line {n}: not an audit event")
            continue
        rid, seq, prev, claimed = obj["request_id"], obj["seq"], obj["prev"], obj["hash"]
        body = {k: v for k, v in obj.items() if k != "hash"}
        if _digest(body) != claimed:
            problems.append(f"line {n}: {rid} event {seq} was altered (hash mismatch)")
        expected_seq, expected_prev = (
            (1, GENESIS) if rid not in last else (last[rid][0] + 1, last[rid][1])
        )
        if seq != expected_seq:
            problems.append(
                f"line {n}: {rid} event {seq} found where event {expected_seq} was expected "
                "(an event is missing or out of order)"
            )
        elif prev != expected_prev:
            problems.append(f"line {n}: {rid} event {seq} does not link to the event before it")
        # Continue from what this line claims so one bad line is reported once, not on every line.
        last[rid] = (seq if isinstance(seq, int) else expected_seq, str(claimed))
    return problems
