"""moto's DynamoDB made as atomic as the real one for the store's conditional writes.

DynamoDB evaluates a condition and applies the write as one step: two conditional writes on an
item cannot both pass. moto checks the condition and writes in separate Python steps, and its
TransactWriteItems rolls back by restoring a deep copy of the whole table, so concurrent requests
(the stand-in serves them on threads, the store calls boto3 from worker threads) can both "win"
or undo each other. One lock around moto's writes restores the guarantee the store relies on.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any

_WRITES = ("put_item", "update_item", "delete_item", "transact_write_items")
_INSTALLED_ATTR = "_bedrock_revoker_atomic_writes"
_LOCK = threading.RLock()


def _serialised(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def write(*args: Any, **kwargs: Any) -> Any:
        with _LOCK:
            return method(*args, **kwargs)

    return write


def install() -> None:
    """Serialise moto's DynamoDB writes. Safe to call any number of times."""
    from moto.dynamodb.models import DynamoDBBackend

    with _LOCK:
        if DynamoDBBackend.__dict__.get(_INSTALLED_ATTR):
            return
        for name in _WRITES:
            setattr(DynamoDBBackend, name, _serialised(getattr(DynamoDBBackend, name)))
        setattr(DynamoDBBackend, _INSTALLED_ATTR, True)
