"""A store that reports the audit events it has committed (for the metrics), and otherwise is the
store it wraps. Counting after the write succeeds, not where events are made, is what keeps a
lost compare-and-set (another replica won) from being counted twice."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, cast

from bot.audit import AuditEvent
from bot.requests import RevocationRequest
from bot.store.base import RequestStore

Committed = Callable[[Sequence[AuditEvent]], None]


class MeteredStore:
    def __init__(self, inner: RequestStore, committed: Committed) -> None:
        self.inner = inner
        self._committed = committed

    async def create(self, request: RevocationRequest, events: Sequence[AuditEvent] = ()) -> bool:
        done = await self.inner.create(request, events)
        if done:
            self._committed(events)
        return done

    async def compare_and_set(
        self,
        old: RevocationRequest,
        new: RevocationRequest,
        events: Sequence[AuditEvent] = (),
    ) -> bool:
        done = await self.inner.compare_and_set(old, new, events)
        if done:
            self._committed(events)
        return done

    def __getattr__(self, name: str) -> Any:
        # Reads, close and whatever else the store offers: the wrapped store's own.
        return getattr(self.inner, name)


def metered(store: RequestStore, committed: Committed) -> RequestStore:
    # The cast: every method the protocol names is here or reached through __getattr__.
    return cast(RequestStore, MeteredStore(store, committed))
