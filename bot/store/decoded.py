"""Requests as a store last decoded them, each with the exact stored text it came from.

A bulk request carries a thousand keys and their results (~200 KB of JSON): parsing and
validating it took ~17 ms on every read, and the runner and the outbox read it before each of
their writes, on the event loop's side of the GIL. A read whose text is unchanged now costs a
string comparison. The text itself is the key, not the version, so a body changed behind the
store's back (another replica, a hand edit) is decoded afresh.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from bot.requests import RevocationRequest

CAPACITY = 256  # requests; the active ones are what is read again and again


class DecodedRequests:
    def __init__(self, capacity: int = CAPACITY) -> None:
        self._capacity = capacity
        # Stores decode in their worker threads.
        self._lock = threading.Lock()
        self._by_id: OrderedDict[str, tuple[str, RevocationRequest]] = OrderedDict()

    def decode(self, request_id: str, body: str) -> RevocationRequest:
        """The request stored as `body` under `request_id`."""
        with self._lock:
            known = self._by_id.get(request_id)
            if known is not None and known[0] == body:
                self._by_id.move_to_end(request_id)
                return known[1]
        request = RevocationRequest.model_validate_json(body)
        self.remember(body, request)
        return request

    def remember(self, body: str, request: RevocationRequest) -> None:
        """`request` is stored as `body`."""
        with self._lock:
            self._by_id[request.id] = (body, request)
            self._by_id.move_to_end(request.id)
            while len(self._by_id) > self._capacity:
                self._by_id.popitem(last=False)
