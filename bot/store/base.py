"""The request store's interface: what the hub needs, and all either backend implements.

A request and its audit events are written together, in one conditional write, so the audit can
never miss a state change nor record one that did not happen.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Protocol

from bot.audit import AuditEvent
from bot.requests import RevocationRequest


class RequestStore(Protocol):
    async def create(self, request: RevocationRequest, events: Sequence[AuditEvent] = ()) -> bool:
        """Store a new request (and its first events); False if the id is taken."""
        ...

    async def get(self, request_id: str) -> RevocationRequest | None: ...

    async def compare_and_set(
        self,
        old: RevocationRequest,
        new: RevocationRequest,
        events: Sequence[AuditEvent] = (),
    ) -> bool:
        """Replace `old` by `new` (stored with version old.version + 1) and append `events`.

        Succeeds only if the stored request still has old's version and status; otherwise
        writes nothing and returns False (someone else changed it first).
        """
        ...

    async def list_pending(self) -> list[RevocationRequest]: ...

    async def list_active(self) -> list[RevocationRequest]:
        """Requests with work left (`RevocationRequest.is_active`), oldest first: what runners
        and outbox drainers look through. DynamoDB's index behind it may lag a write by a moment;
        the compare-and-set that claims the work is what decides."""
        ...

    async def list_recent(
        self, target: str | None = None, limit: int = 20
    ) -> list[RevocationRequest]:
        """Newest first; with `target`, only requests on that IAM user or role (any case)."""
        ...

    async def last_event(self, request_id: str) -> AuditEvent | None:
        """The newest audit event of a request: what its next event chains onto."""
        ...

    async def events(self, request_id: str | None = None) -> list[AuditEvent]:
        """Audit events in chain order per request; all requests when `request_id` is None."""
        ...

    async def close(self) -> None: ...


def stored(old: RevocationRequest, new: RevocationRequest) -> RevocationRequest:
    """`new` as compare_and_set stores it: the same request, its version following old's."""
    if new.id != old.id:
        raise ValueError("compare_and_set cannot change a request's id")
    if new.version == old.version + 1:
        return new
    return new.model_copy(update={"version": old.version + 1})


def sortable_time(t: datetime) -> str:
    # Fixed-width UTC text sorts in time order, as a database column or a DynamoDB sort key.
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def target_key(request: RevocationRequest) -> str | None:
    # IAM user and role names are unique regardless of case, so match them that way.
    name = request.target_name
    return name.lower() if name else None


MAX_EVENTS_PER_WRITE = 90  # DynamoDB transactions hold at most 100 items; leave headroom


def check_events(request_id: str, events: Sequence[AuditEvent]) -> None:
    """Refuse a write whose events would land in another request's chain, or not fit in one."""
    if any(e.request_id != request_id for e in events):
        raise ValueError("events must belong to the request being written")
    if len(events) > MAX_EVENTS_PER_WRITE:
        raise ValueError(f"at most {MAX_EVENTS_PER_WRITE} events per write")
