"""The DynamoDB table the store needs: one definition for `bedrock-revoker store init`, the
store's own check that its table exists, and the test that compares the CloudFormation stack's
table with it.

    pk = request id, sk = "request"          the request: version, status, body (JSON), created_at,
                                             target, kind="request", pending="1" while pending
    pk = request id, sk = "event#<seq>"      one audit event: body (its canonical JSON line)

    GSI pending   (pending, created_at)  sparse: only pending requests carry `pending`
    GSI active    (active, created_at)   sparse: requests with work left (undecided, running, or
                                         notices not yet delivered to Slack): runners' and
                                         outbox drainers' work list
    GSI by_target (target, created_at)   `list <user-or-role>`
    GSI recent    (kind, created_at)     `list` without a name (requests are few: one partition)
"""

from __future__ import annotations

from typing import Any

from bot.errors import RevokerError

ATTRIBUTES = ("pk", "sk", "pending", "active", "target", "kind", "created_at")
KEY_SCHEMA = (("pk", "HASH"), ("sk", "RANGE"))
# Index name -> its hash key; every index sorts on created_at and carries the body.
INDEXES = {"pending": "pending", "active": "active", "by_target": "target", "recent": "kind"}
INDEX_SORT_KEY = "created_at"
INDEX_ATTRIBUTES = ("body",)


class TableMissing(RevokerError):
    """The store's table does not exist: nothing creates it silently."""


def missing_table_message(table: str, region: str | None) -> str:
    where = f" in {region}" if region else ""
    return (
        f"DynamoDB table {table!r} does not exist{where}. Create it once with "
        "`bedrock-revoker store init` (same REVOKER_DATABASE_URL and AWS settings), or deploy "
        "deploy/cloudformation/bot.yaml, which creates it."
    )


def create_table_input(table: str) -> dict[str, Any]:
    """The CreateTable parameters: on-demand billing, the keys and indexes above."""

    def index(name: str, hash_key: str) -> dict[str, Any]:
        return {
            "IndexName": name,
            "KeySchema": [
                {"AttributeName": hash_key, "KeyType": "HASH"},
                {"AttributeName": INDEX_SORT_KEY, "KeyType": "RANGE"},
            ],
            "Projection": {
                "ProjectionType": "INCLUDE",
                "NonKeyAttributes": list(INDEX_ATTRIBUTES),
            },
        }

    return {
        "TableName": table,
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [{"AttributeName": n, "AttributeType": "S"} for n in ATTRIBUTES],
        "KeySchema": [{"AttributeName": n, "KeyType": t} for n, t in KEY_SCHEMA],
        "GlobalSecondaryIndexes": [index(name, key) for name, key in INDEXES.items()],
    }
