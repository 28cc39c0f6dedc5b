"""One capture of everything the app emits while people work through the end-to-end scenarios
with real leaked keys pasted everywhere they could paste them, searched for every secret in
every encoding a leak could take: zero hits.

Captured: every log record (as logged, and as `serve` writes it), every Web API call the app
made and what Slack holds afterwards (messages, thread replies, ephemerals, modal versions), the
app's HTTP answers, every stored row of every table, and the exported audit chain.
Searched for: the long-term key and its secret; the short-term key, its base64 body, its session
token and its signature; each raw, wrapped (read back without the gaps), percent-encoded, and
base64-encoded.
"""

from __future__ import annotations

import base64
import json
import logging
import sqlite3
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, quote

import pytest
from conftest import BEDROCK, create_role, short_term_key_from_role
from slack_flow import click, newest_request, open_modal, submit, wait_final
from test_actions import reject_via_modal
from test_redaction import percent_encode, wrap
from test_security import _served_logging

from bot import keys
from bot.audit import export_lines
from bot.sandbox.harness import APPROVER, CHANNEL, GROUP_APPROVER, REQUESTER, Sandbox
from bot.sandbox.slack_driver import checkboxes, plain_text_input
from bot.views import ids

WINDOW = 12  # characters of a secret that count as a hit


@dataclass(frozen=True)
class Secret:
    name: str
    value: str


def _long_term(sb: Sandbox, user: str) -> tuple[str, list[Secret]]:
    iam = sb.iam()
    iam.create_user(UserName=user)
    key = iam.create_service_specific_credential(UserName=user, ServiceName=BEDROCK)[
        "ServiceSpecificCredential"
    ]["ServiceCredentialSecret"]
    body = key.removeprefix(keys.LONG_TERM_PREFIX)
    alias, _, secret = base64.b64decode(body).decode().partition(":")
    return key, [
        Secret(f"{user} key", _secret_tail(body, len(alias) + 1)),
        Secret(f"{user} secret", secret),
    ]


def _secret_tail(body: str, public_bytes: int) -> str:
    """The part of a key's base64 body that encodes only what follows its first `public_bytes`
    bytes (the alias, or the URL up to the session token): the prefix and those are no secret,
    and the app shows the prefix in its own words ("ABSK…")."""
    return body[(public_bytes // 3 + 1) * 4 :]


def _short_term(sb: Sandbox, role: str) -> tuple[str, list[Secret]]:
    arn = create_role(sb.iam(), role)["Arn"]
    key = short_term_key_from_role(arn)
    body = key.removeprefix(keys.SHORT_TERM_PREFIX)
    url = base64.b64decode(body + "=" * (-len(body) % 4)).decode()
    query = dict(parse_qsl(url.split("?", 1)[1]))
    token_at = url.index("X-Amz-Security-Token=") + len("X-Amz-Security-Token=")
    return key, [
        Secret("short-term key", _secret_tail(body, token_at)),
        Secret("session token", query["X-Amz-Security-Token"]),
        Secret("signature", query["X-Amz-Signature"]),
    ]


def _encodings(secret: Secret) -> dict[str, str]:
    """Each form a leak could take, searched for literally (wrapping is undone on the haystack)."""
    return {
        "raw": secret.value,
        "percent-encoded": quote(secret.value, safe=""),
        "base64": base64.b64encode(secret.value.encode()).decode(),
        "urlsafe base64": base64.urlsafe_b64encode(secret.value.encode()).decode().rstrip("="),
    }


def _hits(haystack: str, secrets: list[Secret]) -> list[str]:
    # Read as a person could read it back: line breaks, spaces and %2B/%2F/%3D taken out.
    readable = {"as emitted": haystack, "unwrapped": keys.normalize(haystack)}
    hits = []
    for secret in secrets:
        for encoding, value in _encodings(secret).items():
            for window in {value[i : i + WINDOW] for i in range(len(value) - WINDOW + 1)}:
                for reading, text in readable.items():
                    if window in text:
                        hits.append(f"{secret.name}, {encoding}, {reading}: …{window}…")
    return hits


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


def _slack_text(sb: Sandbox) -> str:
    api = sb.api
    return "\n".join(
        [_json(c.params) for c in api.calls()]
        + [_json(m.to_api("T")) + _json(m.history) for m in api.messages(CHANNEL)]
        + [_json(r.to_api("T")) for m in api.messages(CHANNEL) for r in api.thread(CHANNEL, m.ts)]
        + [_json(vars(e)) for e in api.ephemerals()]
        + [_json(v.versions) for v in api.views()]
    )


def _stored_text(sb: Sandbox) -> str:
    db = sqlite3.connect(sb.settings.database_url.removeprefix("sqlite:///"))
    try:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        assert {"requests", "audit_events"} <= set(tables), tables
        cells = [
            cell.decode(errors="replace") if isinstance(cell, bytes) else str(cell)
            for table in tables
            for row in db.execute(f'SELECT * FROM "{table}"')  # noqa: S608 (names from sqlite)
            for cell in row
        ]
    finally:
        db.close()
    return "\n".join(cells)


def _log_text(caplog: pytest.LogCaptureFixture, served: str) -> str:
    lines = [served]
    for record in caplog.records:
        lines.append(record.getMessage())
        lines.append(record.exc_text or "")
        lines.append(_json({k: v for k, v in vars(record).items() if k not in ("msg", "args")}))
    return "\n".join(lines)


async def _field_submit(sb: Sandbox, view: Any, values: dict[str, Any]) -> Any:
    """Submit with values keyed by block, each to the element the block shows now."""
    current = sb.api.view(view.id)
    placed = {}
    for block_id, value in values.items():
        block = next(b for b in current.blocks if b.get("block_id") == block_id)
        placed[block_id] = {block["element"]["action_id"]: value}
    return await sb.driver.view_submission(REQUESTER, view_id=view.id, values=placed)


async def test_no_secret_in_any_encoding_reaches_logs_slack_store_or_audit(
    sb: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    long_key, long_secrets = _long_term(sb, "BedrockAPIKey-cap1")
    other_key, other_secrets = _long_term(sb, "BedrockAPIKey-cap2")
    short_key, short_secrets = _short_term(sb, "ci-capture")
    secrets = long_secrets + other_secrets + short_secrets
    # From here on, only what the app does: the test's own signing of the short-term key above
    # is botocore's (its DEBUG lines carry the signature), not the app's.
    caplog.clear()
    caplog.set_level(logging.DEBUG)
    answers = []

    with _served_logging(caplog) as served:
        # 1. A long-term key pasted after the command, into the identifier and, wrapped by a
        #    terminal, into the reason; approved and executed; then status and list.
        before = len(sb.api.messages(CHANNEL))
        view = await open_modal(sb, text=long_key)
        answers.append(
            await _field_submit(
                sb,
                view,
                {
                    ids.IDENTIFIER_BLOCK: plain_text_input(long_key),
                    ids.ACTIONS_BLOCK: checkboxes("deactivate"),
                    ids.REASON_BLOCK: plain_text_input(f"INC-9 found\r\n{wrap(long_key, 40)}"),
                },
            )
        )
        first = await newest_request(sb, before)
        await click(sb, APPROVER, first, ids.APPROVE_ACTION)
        await wait_final(sb, first)
        (done,) = await sb.services.requests.list_recent()
        answers.append(await sb.driver.slash_command(REQUESTER, CHANNEL, text=f"status {done.id}"))
        answers.append(await sb.driver.slash_command(APPROVER, CHANNEL, text=f"list {other_key}"))

        # 2. A short-term key in its own field, percent-encoded in the reason; approved.
        before = len(sb.api.messages(CHANNEL))
        answers.append(await sb.driver.slash_command(REQUESTER, CHANNEL, text=short_key))
        (view,) = await sb.api.wait_for(lambda: sb.api.views()[1:2] or None, what="modal")
        answers.append(
            await _field_submit(
                sb,
                view,
                {
                    ids.IDENTIFIER_BLOCK: plain_text_input("ci-capture"),
                    ids.KEY_TEXT_BLOCK: plain_text_input(short_key),
                    ids.ACTIONS_BLOCK: checkboxes("deny_role"),
                    ids.REASON_BLOCK: plain_text_input(f"INC-10 {percent_encode(short_key)[:400]}"),
                },
            )
        )
        second = await newest_request(sb, before)
        await click(sb, GROUP_APPROVER, second, ids.APPROVE_ACTION)
        await wait_final(sb, second)

        # 3. Another key, spaced, in a request that an approver rejects with the key, spaced
        #    differently, in the note.
        before = len(sb.api.messages(CHANNEL))
        view = await open_modal(sb, text="BedrockAPIKey-cap2")
        answers.append(
            await submit(
                sb, view, actions=("deny_user",), reason=f"INC-11 {wrap(other_key, 8, ' ')}"
            )
        )
        third = await newest_request(sb, before)
        await reject_via_modal(sb, APPROVER, third, f"dup: {wrap(other_key, 5, chr(9))}")
        await sb.api.wait_for(
            lambda: any(m.text.startswith("Rejected by") for m in sb.api.thread(CHANNEL, third.ts)),
            what="rejection",
        )
        await sb.api.wait_for(lambda: sb.api.ephemerals(user=APPROVER), what="list reply")

    assert all(a.status == 200 for a in answers), [(a.status, a.text) for a in answers]
    slack = _slack_text(sb) + "\n" + "\n".join(a.text for a in answers)
    logs = _log_text(caplog, served.getvalue())
    stored = _stored_text(sb)
    audit = "\n".join(await export_lines(sb.services.store))
    # Positive controls: each place was captured and holds the scenarios, by fingerprint and id.
    for key in (long_key, short_key, other_key):
        assert keys.fingerprint(key) in slack and keys.fingerprint(key) in stored
    requests = await sb.services.requests.list_recent()
    assert len(requests) == 3 and all(r.id in audit for r in requests)
    assert keys.KEY_REMOVED_NOTE in audit and keys.KEY_REMOVED_NOTE in slack
    assert any(r.id in served.getvalue() for r in requests)

    for place, text in (("Slack", slack), ("logs", logs), ("store", stored), ("audit", audit)):
        assert _hits(text, secrets) == [], place
