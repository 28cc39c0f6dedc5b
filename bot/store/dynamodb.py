"""The store for several replicas: one DynamoDB table, every write a conditional transaction.

The table's layout is in `bot.store.dynamodb_schema`; `bedrock-revoker store init` (or the
CloudFormation stack) creates it, and the store refuses to run without it rather than creating
one silently in whatever account and region the credentials point at.

A request and its new events go in one TransactWriteItems whose request Put is conditioned on the
stored version and status, so the audit moves in lockstep with the state. The client (botocore's)
is synchronous: every call runs in a worker thread.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar, cast

from botocore.config import Config
from botocore.exceptions import ClientError

from bot.audit import AuditEvent
from bot.aws import regional_session
from bot.requests import RequestStatus, RevocationRequest
from bot.store.base import check_events, sortable_time, stored, target_key
from bot.store.decoded import DecodedRequests
from bot.store.dynamodb_schema import TableMissing, create_table_input, missing_table_message

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import (
        AttributeValueTypeDef,
        QueryInputTypeDef,
        TransactWriteItemTypeDef,
    )

T = TypeVar("T")

_REQUEST_SK = "request"
_EVENT_PREFIX = "event#"
# Losing a race shows up as one of these per item; anything else is a real error.
_LOST_RACE = {"None", "ConditionalCheckFailed", "TransactionConflict"}


def _event_sk(seq: int) -> str:
    return f"{_EVENT_PREFIX}{seq:010d}"


class DynamoDbStore:
    def __init__(
        self,
        table: str,
        *,
        region: str | None = None,
        connect_timeout: float = 5.0,
        read_timeout: float = 15.0,
    ) -> None:
        self.table = table
        self._decoded = DecodedRequests()
        config = Config(
            retries={"mode": "standard", "max_attempts": 5},
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
        )
        # The endpoint comes from the standard AWS variables (AWS_ENDPOINT_URL...) botocore reads.
        self._client = cast(
            "DynamoDBClient", regional_session(region).create_client("dynamodb", config=config)
        )
        self._ready = False
        self._ready_lock = threading.Lock()

    async def _run(self, fn: Callable[[], T]) -> T:
        def call() -> T:
            self._ensure_table()
            return fn()

        return await asyncio.to_thread(call)

    def _ensure_table(self) -> None:
        if self._ready:
            return
        with self._ready_lock:
            if self._ready:
                return
            try:
                self._client.describe_table(TableName=self.table)
            except ClientError as exc:
                if _code(exc) == "ResourceNotFoundException":
                    raise TableMissing(
                        missing_table_message(self.table, self._client.meta.region_name)
                    ) from None
                raise
            self._client.get_waiter("table_exists").wait(TableName=self.table)
            self._ready = True

    def create_table(self) -> bool:
        """Create the table (`store init`) and wait until it is active. False if it existed."""
        created = True
        try:
            self._client.create_table(**create_table_input(self.table))
        except ClientError as exc:
            if _code(exc) != "ResourceInUseException":
                raise
            created = False
        self._client.get_waiter("table_exists").wait(TableName=self.table)
        return created

    # --- requests ---------------------------------------------------------------------------------

    async def create(self, request: RevocationRequest, events: Sequence[AuditEvent] = ()) -> bool:
        item = _request_item(request)
        put: TransactWriteItemTypeDef = {
            "Put": {
                "TableName": self.table,
                "Item": item,
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        }
        return await self._run(lambda: self._transact(put, (_body(item), request), events))

    async def get(self, request_id: str) -> RevocationRequest | None:
        def read() -> RevocationRequest | None:
            resp = self._client.get_item(
                TableName=self.table,
                Key={"pk": {"S": request_id}, "sk": {"S": _REQUEST_SK}},
                ConsistentRead=True,
            )
            item = resp.get("Item")
            return self._decoded.decode(request_id, item["body"]["S"]) if item else None

        return await self._run(read)

    async def compare_and_set(
        self,
        old: RevocationRequest,
        new: RevocationRequest,
        events: Sequence[AuditEvent] = (),
    ) -> bool:
        new = stored(old, new)
        item = _request_item(new)
        put: TransactWriteItemTypeDef = {
            "Put": {
                "TableName": self.table,
                "Item": item,
                "ConditionExpression": "version = :v AND #status = :s",
                "ExpressionAttributeNames": {"#status": "status"},
                "ExpressionAttributeValues": {
                    ":v": {"N": str(old.version)},
                    ":s": {"S": old.status.value},
                },
            }
        }
        return await self._run(lambda: self._transact(put, (_body(item), new), events))

    def _transact(
        self,
        request_put: TransactWriteItemTypeDef,
        written: tuple[str, RevocationRequest],
        events: Sequence[AuditEvent],
    ) -> bool:
        """Put the request (`written`: its body and itself) and append `events`, all or
        nothing."""
        check_events(written[1].id, events)
        items: list[TransactWriteItemTypeDef] = [request_put]
        for e in events:
            items.append(
                {
                    "Put": {
                        "TableName": self.table,
                        "Item": {
                            "pk": {"S": e.request_id},
                            "sk": {"S": _event_sk(e.seq)},
                            "body": {"S": e.line()},
                        },
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                }
            )
        try:
            # The token makes a retried transaction (timeout, throttling) count once instead of
            # failing its own condition and looking like a lost race.
            self._client.transact_write_items(
                TransactItems=items, ClientRequestToken=str(uuid.uuid4())
            )
        except ClientError as exc:
            if _code(exc) == "ConditionalCheckFailedException":
                return False
            if _code(exc) == "TransactionCanceledException":
                reasons = exc.response.get("CancellationReasons", [])
                if all(r.get("Code", "None") in _LOST_RACE for r in reasons):
                    return False
            raise
        self._decoded.remember(*written)
        return True

    async def list_pending(self) -> list[RevocationRequest]:
        return await self._query_index("pending", "pending", "1", newest_first=False, limit=None)

    async def list_active(self) -> list[RevocationRequest]:
        return await self._query_index("active", "active", "1", newest_first=False, limit=None)

    async def list_recent(
        self, target: str | None = None, limit: int = 20
    ) -> list[RevocationRequest]:
        if target is None:
            return await self._query_index("recent", "kind", _REQUEST_SK, True, limit)
        return await self._query_index("by_target", "target", target.lower(), True, limit)

    async def _query_index(
        self, index: str, key: str, value: str, newest_first: bool, limit: int | None
    ) -> list[RevocationRequest]:
        def read() -> list[RevocationRequest]:
            query: QueryInputTypeDef = {
                "TableName": self.table,
                "IndexName": index,
                "KeyConditionExpression": "#k = :v",
                "ExpressionAttributeNames": {"#k": key},
                "ExpressionAttributeValues": {":v": {"S": value}},
                "ScanIndexForward": not newest_first,
            }
            if limit is not None:
                query["Limit"] = limit
            items = self._query_all(query, limit)
            return [self._decoded.decode(i["pk"]["S"], i["body"]["S"]) for i in items]

        return await self._run(read)

    def _query_all(
        self, query: QueryInputTypeDef, limit: int | None = None
    ) -> list[dict[str, AttributeValueTypeDef]]:
        items: list[dict[str, AttributeValueTypeDef]] = []
        while True:
            resp = self._client.query(**query)
            items.extend(resp.get("Items", []))
            last = resp.get("LastEvaluatedKey")
            if not last or (limit is not None and len(items) >= limit):
                return items[:limit] if limit is not None else items
            query["ExclusiveStartKey"] = last

    # --- audit ------------------------------------------------------------------------------------

    async def last_event(self, request_id: str) -> AuditEvent | None:
        def read() -> AuditEvent | None:
            query = self._events_query(request_id)
            query["ScanIndexForward"] = False
            query["Limit"] = 1
            resp = self._client.query(**query)
            items = resp.get("Items", [])
            return AuditEvent.model_validate_json(items[0]["body"]["S"]) if items else None

        return await self._run(read)

    async def events(self, request_id: str | None = None) -> list[AuditEvent]:
        def read() -> list[AuditEvent]:
            if request_id is not None:
                items = self._query_all(self._events_query(request_id))
            else:
                items = []
                kwargs: dict[str, Any] = {
                    "TableName": self.table,
                    "FilterExpression": "begins_with(sk, :p)",
                    "ExpressionAttributeValues": {":p": {"S": _EVENT_PREFIX}},
                    "ConsistentRead": True,
                }
                while True:
                    resp = self._client.scan(**kwargs)
                    items.extend(resp.get("Items", []))
                    if "LastEvaluatedKey" not in resp:
                        break
                    kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]
            events = [AuditEvent.model_validate_json(i["body"]["S"]) for i in items]
            return sorted(events, key=lambda e: (e.request_id, e.seq))

        return await self._run(read)

    def _events_query(self, request_id: str) -> QueryInputTypeDef:
        return {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :p)",
            "ExpressionAttributeValues": {":pk": {"S": request_id}, ":p": {"S": _EVENT_PREFIX}},
            "ConsistentRead": True,
        }

    async def close(self) -> None:
        await asyncio.to_thread(self._client.close)


def _request_item(request: RevocationRequest) -> dict[str, AttributeValueTypeDef]:
    item: dict[str, AttributeValueTypeDef] = {
        "pk": {"S": request.id},
        "sk": {"S": _REQUEST_SK},
        "kind": {"S": _REQUEST_SK},
        "version": {"N": str(request.version)},
        "status": {"S": request.status.value},
        "created_at": {"S": sortable_time(request.created_at)},
        "body": {"S": request.model_dump_json()},
    }
    if request.status is RequestStatus.PENDING:
        item["pending"] = {"S": "1"}
    if request.is_active:
        item["active"] = {"S": "1"}
    if (target := target_key(request)) is not None:
        item["target"] = {"S": target}
    return item


def _body(item: dict[str, AttributeValueTypeDef]) -> str:
    return item["body"]["S"]


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))
