"""The audit log: hash chain, export filters, and verification catching tampering."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from conftest import T0, Clock, make_plan

from bot import keys
from bot.audit import (
    GENESIS,
    EventType,
    export_lines,
    new_event,
    verify_lines,
)
from bot.requests import RequestService, RevocationRequest
from bot.store import RequestStore

LONG_TERM_KEY = "ABSK" + "QmVkcm9ja0FQSUtleS1hbGljZS1hdC0xMjM0NTY3ODkwMTI6c2VjcmV0c2VjcmV0"
SHORT_TERM_KEY = (
    "bedrock-api-key-YmVkcm9jay5hbWF6b25hd3MuY29tLz9BY3Rpb249Q2FsbFdpdGhCZWFyZXJUb2tlbg=="
)
SLACK_TOKEN = "xoxb-1234567890-0987654321-abcdefghijklmnop"


async def allow(_user: str) -> bool:
    return True


async def approved_request(hub: RequestService, reason: str = "INC-9") -> RevocationRequest:
    req = await hub.create(make_plan(), "U_REQ", "C1", reason)
    await hub.claim_outbox(req.id, "runner", timedelta(seconds=30))
    await hub.delivered(req.id, "runner", 1, timedelta(seconds=30), "1700000000.000100")
    await hub.approve(req.id, "U_APP", allow)
    return req


# --- the chain ------------------------------------------------------------------------------------


def test_events_chain_by_hash() -> None:
    first = new_event(None, "R-AAAAAAAA", EventType.REQUESTED, "U1", T0, {"reason": "x"})
    second = new_event(first, "R-AAAAAAAA", EventType.APPROVED, "U2", T0)
    assert (first.seq, first.prev) == (1, GENESIS)
    assert (second.seq, second.prev) == (2, first.hash)
    assert len(first.hash) == 64 and first.hash != second.hash
    assert verify_lines([first.line(), second.line()]) == []


def test_an_event_chains_only_onto_its_own_request() -> None:
    first = new_event(None, "R-AAAAAAAA", EventType.REQUESTED, "U1", T0)
    with pytest.raises(ValueError, match="same request"):
        new_event(first, "R-BBBBBBBB", EventType.APPROVED, "U2", T0)


def test_data_is_hashed_as_json_so_a_round_trip_keeps_it_valid() -> None:
    e = new_event(None, "R-AAAAAAAA", EventType.STEP, "system", T0, {"when": T0, "ids": ("a", "b")})
    assert e.data == {"when": "2025-03-01T12:00:00Z", "ids": ["a", "b"]}
    assert verify_lines([json.dumps(json.loads(e.line()), indent=None)]) == []


async def test_the_hub_writes_a_verifiable_chain_through_the_store(
    hub: RequestService, store: RequestStore
) -> None:
    req = await approved_request(hub)
    lines = await export_lines(store, req.id)
    assert [json.loads(x)["type"] for x in lines] == ["requested", "posted", "approved"]
    assert [json.loads(x)["actor"] for x in lines] == ["U_REQ", "system", "U_APP"]
    assert verify_lines(lines) == []


# --- export filters -------------------------------------------------------------------------------


async def test_export_everything_groups_chains_oldest_request_first(
    hub: RequestService, store: RequestStore, clock: Clock
) -> None:
    first = await approved_request(hub)
    clock.now = T0 + timedelta(hours=2)
    second = await hub.create(make_plan(user="bob"), "U_REQ", "C1", "INC-10")
    lines = await export_lines(store)
    ids = [json.loads(x)["request_id"] for x in lines]
    assert ids == [first.id] * 3 + [second.id]
    assert verify_lines(lines) == []


async def test_export_one_request(hub: RequestService, store: RequestStore) -> None:
    a = await approved_request(hub)
    await approved_request(hub)
    lines = await export_lines(store, request_id=a.id)
    assert {json.loads(x)["request_id"] for x in lines} == {a.id}
    assert len(lines) == 3


async def test_export_since_keeps_whole_chains_of_recently_active_requests(
    hub: RequestService, store: RequestStore, clock: Clock
) -> None:
    quiet = await approved_request(hub)
    busy = await hub.create(make_plan(user="bob"), "U_REQ", "C1", "INC-11")
    clock.now = T0 + timedelta(minutes=50)
    await hub.reject(busy.id, "U_APP", allow, note="dup of INC-9")

    lines = await export_lines(store, since=T0 + timedelta(minutes=30))
    events = [json.loads(x) for x in lines]
    assert {e["request_id"] for e in events} == {busy.id}
    # The whole chain, including its first event from before `since`, so it still verifies.
    assert [e["type"] for e in events] == ["requested", "rejected"]
    assert verify_lines(lines) == []
    assert quiet.id not in "".join(lines)
    assert await export_lines(store, since=T0 + timedelta(days=1)) == []


# --- verification catches tampering ---------------------------------------------------------------


@pytest.fixture
async def lines(hub: RequestService, store: RequestStore) -> list[str]:
    req = await approved_request(hub)
    await hub.claim(req.id, "runner", timedelta(seconds=30))
    out = await export_lines(store)
    assert len(out) == 4 and verify_lines(out) == []
    return out


def test_verify_detects_an_edited_line(lines: list[str]) -> None:
    edited = lines.copy()
    edited[2] = edited[2].replace('"actor":"U_APP"', '"actor":"U_OTHER"')
    assert edited[2] != lines[2]
    problems = verify_lines(edited)
    assert len(problems) == 1 and "line 3" in problems[0] and "altered" in problems[0]


def test_verify_detects_an_edit_whose_hash_was_recomputed(lines: list[str]) -> None:
    from bot.audit import _digest

    obj = json.loads(lines[1])
    obj["data"]["message_ts"] = "1.2"
    body = {k: v for k, v in obj.items() if k != "hash"}
    obj["hash"] = _digest(body)
    forged = [lines[0], json.dumps(obj), *lines[2:]]
    problems = verify_lines(forged)
    assert len(problems) == 1 and "line 3" in problems[0] and "does not link" in problems[0]


def test_verify_detects_a_deleted_line(lines: list[str]) -> None:
    problems = verify_lines([lines[0], *lines[2:]])
    assert problems and "event 3 found where event 2 was expected" in problems[0]


def test_verify_detects_a_deleted_first_line(lines: list[str]) -> None:
    problems = verify_lines(lines[1:])
    assert problems and "event 2 found where event 1 was expected" in problems[0]


def test_verify_detects_reordered_lines(lines: list[str]) -> None:
    problems = verify_lines([lines[0], lines[2], lines[1], lines[3]])
    assert problems and "out of order" in problems[0]


def test_verify_reports_garbage_lines(lines: list[str]) -> None:
    problems = verify_lines([*lines, "not json", '{"a": 1}', ""])
    assert problems == ["line 5: not JSON", "line 6: not an audit event"]


# --- secret hygiene -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("secret", "label"),
    [
        (LONG_TERM_KEY, "Bedrock API key"),
        (SHORT_TERM_KEY, "Bedrock API key"),
        (SLACK_TOKEN, "Slack token"),
    ],
)
def test_redact_secrets(secret: str, label: str) -> None:
    out = keys.redact_secrets(f"leaked: {secret} (see gist)")
    assert secret not in out
    assert out == f"leaked: [{label} {keys.fingerprint(secret)}] (see gist)"


def test_redact_leaves_ordinary_text_alone() -> None:
    text = "INC-42: AKIAIOSFODNN7EXAMPLE user alice, credential ACCA1234567890ABCDEFG"
    assert keys.redact_secrets(text) == text


async def test_no_secret_reaches_the_audit(hub: RequestService, store: RequestStore) -> None:
    req = await approved_request(hub, reason=f"key {LONG_TERM_KEY} was in a gist")
    other = await hub.create(make_plan(user="bob"), "U_REQ", "C1", "INC-12")
    await hub.reject(other.id, "U_APP", allow, note=f"same as {SHORT_TERM_KEY}")
    text = "\n".join(await export_lines(store))
    assert LONG_TERM_KEY not in text and SHORT_TERM_KEY not in text
    assert req.id in text and f"[Bedrock API key {keys.fingerprint(LONG_TERM_KEY)}]" in text
