"""The security rules, end to end: only Slack's signed requests get in; a leaked key goes nowhere
(no Slack call, no log line, no database row); user-typed text cannot ping or link."""

from __future__ import annotations

import base64
import contextlib
import io
import json
import logging
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode

import pytest
from conftest import BEDROCK, create_role, short_term_key_from_role
from slack_flow import open_modal, request_message, wait_final
from slack_sdk.signature import SignatureVerifier

from bot import keys
from bot.logs import NOISY_LOGGERS, configure_logging
from bot.sandbox.harness import APPROVER, BYSTANDER, CHANNEL, REQUESTER, Sandbox, sandbox
from bot.sandbox.slack_api import View
from bot.sandbox.slack_driver import Response, checkboxes, plain_text_input
from bot.views import ids
from handlers.app import ConfigurationError

JsonDict = dict[str, Any]
FORM = "application/x-www-form-urlencoded"
FIVE_MINUTES = 5 * 60
SHORT_KEY_IN_REASON = 450


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


def _forged_signature(body: bytes, timestamp: int) -> str:
    """A well-formed v0 signature made with a secret that is not the app's."""
    verifier = SignatureVerifier("not-the-signing-secret")
    return verifier.generate_signature(timestamp=str(timestamp), body=body) or ""


def _command_body(sb: Sandbox, text: str = "") -> bytes:
    """A slash command's form body, as Slack would send it now (fresh trigger and response_url)."""
    return urlencode(
        {
            "team_id": sb.driver.team_id,
            "channel_id": CHANNEL,
            "user_id": REQUESTER,
            "user_name": "alice",
            "command": "/revoke-bedrock-key",
            "text": text,
            "response_url": sb.api.issue_response_url(channel=CHANNEL, user=REQUESTER),
            "trigger_id": sb.api.issue_trigger_id(user=REQUESTER),
        }
    ).encode()


async def _barrier(sb: Sandbox) -> None:
    """A genuine request answered after the one under test: it makes no Web API call itself."""
    response = await sb.driver.slash_command(BYSTANDER, CHANNEL, text="help")
    assert response.status == 200 and response.json()["response_type"] == "ephemeral"


def _calls_since(sb: Sandbox, since: int) -> list[str]:
    # Bolt's once-per-process auth.test may fall here; it acts on nothing.
    return [c.method for c in sb.api.calls()[since:] if c.method != "auth.test"]


async def _pending_request(sb: Sandbox) -> tuple[str, Any]:
    """A posted, pending request to deactivate a fresh key: (request id, its message)."""
    iam = sb.iam()
    iam.create_user(UserName="BedrockAPIKey-sec")
    iam.create_service_specific_credential(UserName="BedrockAPIKey-sec", ServiceName=BEDROCK)
    view = await open_modal(sb, text="BedrockAPIKey-sec")
    response = await sb.driver.view_submission(
        REQUESTER,
        view_id=view.id,
        values={ids.REASON_BLOCK: {ids.REASON_ACTION: plain_text_input("INC-1: test")}},
    )
    assert response.status == 200 and response.text == ""
    message = await request_message(sb)
    (req,) = await sb.services.requests.list_recent()
    return req.id, message


def _credential_statuses(sb: Sandbox, user: str) -> list[str]:
    listed = sb.iam().list_service_specific_credentials(UserName=user)
    return [c["Status"] for c in listed["ServiceSpecificCredentials"]]


# --------------------------------------------------------------------------------------------
# request signatures


async def test_forged_signature_on_a_command_is_rejected_and_does_nothing(sb: Sandbox) -> None:
    before = len(sb.api.calls())
    now = int(time.time())
    body = _command_body(sb)
    headers = {
        "Content-Type": FORM,
        "X-Slack-Request-Timestamp": str(now),
        "X-Slack-Signature": _forged_signature(body, now),
    }

    response = await sb.driver.post_raw(body, headers)
    await _barrier(sb)

    assert response.status == 401
    assert _calls_since(sb, before) == []
    assert sb.api.views() == []
    assert [e.user for e in sb.api.ephemerals()] == [BYSTANDER]  # the barrier's help only


async def test_forged_signature_on_a_modal_submission_stores_nothing(sb: Sandbox) -> None:
    view = await open_modal(sb, text="alice")
    before = len(sb.api.calls())
    values = {ids.REASON_BLOCK: {ids.REASON_ACTION: plain_text_input("INC-1: forged")}}

    response = await sb.driver.view_submission(
        REQUESTER, view_id=view.id, values=values, signature="v0=" + "0" * 64
    )
    await _barrier(sb)

    assert response.status == 401
    assert not sb.api.view(view.id).closed
    assert _calls_since(sb, before) == []
    assert await sb.services.requests.list_recent() == []
    assert sb.api.messages(CHANNEL) == []


async def test_forged_approve_click_changes_nothing(sb: Sandbox) -> None:
    request_id, message = await _pending_request(sb)
    events = await sb.services.requests.history(request_id)
    before = len(sb.api.calls())

    response = await sb.driver.block_action(
        APPROVER,
        channel_id=CHANNEL,
        message_ts=message.ts,
        action_id=ids.APPROVE_ACTION,
        signature="v0=" + "f" * 64,
    )
    await _barrier(sb)

    assert response.status == 401
    assert _calls_since(sb, before) == []
    req = await sb.services.requests.get(request_id)
    assert req is not None and req.status == "pending" and req.approvals == ()
    assert _credential_statuses(sb, "BedrockAPIKey-sec") == ["Active"]
    assert sb.api.message(CHANNEL, message.ts) == message
    assert await sb.services.requests.history(request_id) == events


@pytest.mark.parametrize("skew", [-(FIVE_MINUTES + 60), FIVE_MINUTES + 60])
async def test_request_signed_more_than_five_minutes_off_is_rejected(
    sb: Sandbox, skew: int
) -> None:
    before = len(sb.api.calls())

    # Correctly signed, with the app's own secret, but for a moment too far from now: a replay.
    response = await sb.driver.slash_command(REQUESTER, CHANNEL, timestamp=int(time.time()) + skew)
    await _barrier(sb)

    assert response.status == 401
    assert _calls_since(sb, before) == []
    assert sb.api.views() == []


async def test_request_signed_within_five_minutes_is_accepted(sb: Sandbox) -> None:
    response = await sb.driver.slash_command(
        REQUESTER, CHANNEL, timestamp=int(time.time()) - FIVE_MINUTES + 30
    )

    assert response.status == 200
    await sb.api.wait_for(lambda: sb.api.calls("views.open"), what="views.open")


@pytest.mark.parametrize(
    "dropped",
    [
        ("X-Slack-Signature",),
        ("X-Slack-Request-Timestamp",),
        ("X-Slack-Signature", "X-Slack-Request-Timestamp"),
    ],
    ids=["no-signature", "no-timestamp", "neither"],
)
async def test_request_without_signature_headers_is_rejected(
    sb: Sandbox, dropped: tuple[str, ...]
) -> None:
    before = len(sb.api.calls())
    body = _command_body(sb)
    headers = {"Content-Type": FORM, **sb.driver.sign(body)}
    for name in dropped:
        del headers[name]

    response = await sb.driver.post_raw(body, headers)
    await _barrier(sb)

    assert response.status == 401
    assert _calls_since(sb, before) == []
    assert sb.api.views() == []


async def test_a_socket_mode_app_is_never_served_over_http(aws_server: str, tmp_path: Path) -> None:
    # Socket Mode turns Bolt's signature check off (its events come over the websocket). Served
    # at /slack/events anyway, that app would run any unsigned POST: it must refuse to be.
    with pytest.raises(ConfigurationError, match="does not verify request signatures"):
        async with sandbox(database_dir=tmp_path, mode="socket", slack_app_token="xapp-1-A-1-x"):
            pass


# --------------------------------------------------------------------------------------------
# a leaked key goes nowhere


@dataclass(frozen=True)
class Leak:
    key: str
    secrets: tuple[str, ...]  # the key and every part of it that would let someone use it
    fingerprint: str


def _long_term_leak(sb: Sandbox) -> Leak:
    iam = sb.iam()
    iam.create_user(UserName="BedrockAPIKey-leak")
    cred = iam.create_service_specific_credential(
        UserName="BedrockAPIKey-leak", ServiceName=BEDROCK
    )["ServiceSpecificCredential"]
    key = cred["ServiceCredentialSecret"]
    secret = base64.b64decode(key.removeprefix(keys.LONG_TERM_PREFIX)).decode().split(":", 1)[1]
    return Leak(key, (key, secret), keys.fingerprint(key))


def _short_term_leak(sb: Sandbox) -> Leak:
    create_role(sb.iam(), "ci-runner")
    key = short_term_key_from_role(sb.iam().get_role(RoleName="ci-runner")["Role"]["Arn"])
    payload = key.removeprefix(keys.SHORT_TERM_PREFIX)
    url = base64.b64decode(payload + "=" * (-len(payload) % 4)).decode()
    query = dict(parse_qsl(url.split("?", 1)[1]))
    token = query["X-Amz-Security-Token"]
    signature = query["X-Amz-Signature"]
    raw_token = url.split("X-Amz-Security-Token=", 1)[1].split("&", 1)[0]
    assert unquote(raw_token) == token
    # The session token alone, URL-encoded or not, or the signature: each is enough to matter.
    # SHORT_KEY_IN_REASON: the most of the key the reason field takes (it holds 500 characters).
    parts = (key, payload, token, raw_token, signature, key[:SHORT_KEY_IN_REASON])
    return Leak(key, parts, keys.fingerprint(key))


async def _submit_field(sb: Sandbox, view: View, values: dict[str, dict[str, JsonDict]]) -> Any:
    """Submit with values keyed by block; each goes to the element the block shows now."""
    current = sb.api.view(view.id)
    placed: dict[str, dict[str, JsonDict]] = {}
    for block_id, value in values.items():
        block = next(b for b in current.blocks if b.get("block_id") == block_id)
        placed[block_id] = {block["element"]["action_id"]: value}
    return await sb.driver.view_submission(REQUESTER, view_id=view.id, values=placed)


async def _switch(sb: Sandbox, view: View, kind: str) -> None:
    updates = len(sb.api.calls("views.update"))
    response = await sb.driver.block_action_in_view(
        REQUESTER,
        view_id=view.id,
        action_id=ids.KIND_ACTION,
        block_id=ids.KIND_BLOCK,
        selected_option=kind,
    )
    assert response.status == 200
    await sb.api.wait_for(lambda: sb.api.calls("views.update")[updates:], what="views.update")


def _identifier_action(sb: Sandbox, view: View) -> str:
    block = next(b for b in sb.api.view(view.id).blocks if b["block_id"] == ids.IDENTIFIER_BLOCK)
    return str(block["element"]["action_id"])


async def _run_long_term_flow(sb: Sandbox, leak: Leak) -> list[Response]:
    answers = [await sb.driver.slash_command(REQUESTER, CHANNEL, text=leak.key)]
    (view,) = await sb.api.wait_for(lambda: sb.api.views(), what="views.open")
    # The requester also pastes it into the field, and into the reason, then flips the key type
    # back and forth: each views.update must leave the key out.
    sb.api.set_view_state(
        view.id, ids.IDENTIFIER_BLOCK, _identifier_action(sb, view), plain_text_input(leak.key)
    )
    sb.api.set_view_state(
        view.id,
        ids.REASON_BLOCK,
        ids.REASON_ACTION,
        plain_text_input(f"found {leak.key} in a gist"),
    )
    await _switch(sb, view, "short_term")
    await _switch(sb, view, "long_term")
    answers.append(
        await _submit_field(
            sb,
            view,
            {
                ids.IDENTIFIER_BLOCK: plain_text_input(leak.key),
                ids.ACTIONS_BLOCK: checkboxes("deactivate"),
                ids.REASON_BLOCK: plain_text_input(f"INC-7: {leak.key} was in a public gist"),
            },
        )
    )
    return answers


async def _run_short_term_flow(sb: Sandbox, leak: Leak) -> list[Response]:
    typed_part = leak.key[:SHORT_KEY_IN_REASON]
    answers = [await sb.driver.slash_command(REQUESTER, CHANNEL, text=leak.key)]
    (view,) = await sb.api.wait_for(lambda: sb.api.views(), what="views.open")
    answers.append(
        await _submit_field(
            sb,
            view,
            {
                ids.IDENTIFIER_BLOCK: plain_text_input("ci-runner"),
                ids.KEY_TEXT_BLOCK: plain_text_input(leak.key),
                ids.ACTIONS_BLOCK: checkboxes("deny_role"),
                ids.REASON_BLOCK: plain_text_input(f"INC-8: {typed_part} in CI logs"),
            },
        )
    )
    return answers


def _database_text(sb: Sandbox) -> str:
    path = sb.settings.database_url.removeprefix("sqlite:///")
    db = sqlite3.connect(path)
    try:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        assert {"requests", "audit_events"} <= set(tables), tables
        cells: list[str] = []
        for table in tables:
            for row in db.execute(f'SELECT * FROM "{table}"'):  # noqa: S608 (names from sqlite)
                for cell in row:
                    text = cell.decode(errors="replace") if isinstance(cell, bytes) else str(cell)
                    cells.append(text)
    finally:
        db.close()
    return "\n".join(cells)


@contextlib.contextmanager
def _served_logging(caplog: pytest.LogCaptureFixture) -> Iterator[io.StringIO]:
    """Logging as `serve` sets it up, at its most verbose level, written to a buffer.

    pytest's capture handler stays first on the root logger, so `caplog` sees every record as
    it was logged, before the production handler's redaction filter touches it.
    """
    root = logging.getLogger()
    saved = root.level, {name: logging.getLogger(name).level for name in NOISY_LOGGERS}
    out = io.StringIO()
    handler = configure_logging("json", level="DEBUG", stream=out)
    assert root.handlers.index(caplog.handler) < root.handlers.index(handler)
    try:
        yield out
    finally:
        root.removeHandler(handler)
        handler.close()
        root.setLevel(saved[0])
        for name, level in saved[1].items():
            logging.getLogger(name).setLevel(level)


def _log_text(caplog: pytest.LogCaptureFixture) -> str:
    lines = []
    for record in caplog.records:
        lines.append(record.getMessage())
        lines.append(record.exc_text or "")
        lines.append(_json({k: v for k, v in vars(record).items() if k not in ("msg", "args")}))
    return "\n".join(lines)


@pytest.mark.parametrize("kind", ["long_term", "short_term"])
async def test_leaked_key_reaches_no_slack_call_log_line_or_database_row(
    sb: Sandbox, caplog: pytest.LogCaptureFixture, kind: str
) -> None:
    leak = _long_term_leak(sb) if kind == "long_term" else _short_term_leak(sb)
    caplog.set_level(logging.DEBUG)

    with _served_logging(caplog) as served:
        run = _run_long_term_flow if kind == "long_term" else _run_short_term_flow
        answers = await run(sb, leak)
        assert [a.status for a in answers] == [200, 200], [a.text for a in answers]
        message = await request_message(sb)
        await sb.driver.block_action(
            APPROVER, channel_id=CHANNEL, message_ts=message.ts, action_id=ids.APPROVE_ACTION
        )
        final = await wait_final(sb, message)
        (req,) = await sb.services.requests.list_recent()
        status = await sb.driver.slash_command(REQUESTER, CHANNEL, text=f"status {req.id}")
        answers.append(status)
        await sb.api.wait_for(lambda: sb.api.ephemerals(user=REQUESTER), what="status reply")

    assert ": completed." in final.text.lower()
    slack = "\n".join(
        # What the app sent: every call's parameters (Slack's answers echo the user's own input).
        [_json(c.params) for c in sb.api.calls()]
        + [_json(m.to_api("T")) + _json(m.history) for m in sb.api.messages(CHANNEL)]
        + [
            _json(r.to_api("T"))
            for m in sb.api.messages(CHANNEL)
            for r in sb.api.thread(CHANNEL, m.ts)
        ]
        + [_json(vars(e)) for e in sb.api.ephemerals()]
        + [_json(v.versions) for v in sb.api.views()]
        + [a.text for a in answers]
    )
    logs = _log_text(caplog) + "\n" + served.getvalue()
    stored = _database_text(sb)
    # Positive controls: each place was searched and holds the flow, identified by fingerprint.
    assert leak.fingerprint in slack and leak.fingerprint in stored
    assert req.id in stored and req.id in served.getvalue()
    assert {"request created", "request finished: completed"} <= {
        r.getMessage() for r in caplog.records
    }
    assert sb.api.calls("views.update") or kind == "short_term"
    for secret in leak.secrets:
        assert secret not in slack, "a Slack call carries the leaked key"
        assert secret not in logs, "a log line carries the leaked key"
        assert secret not in stored, "the database holds the leaked key"


# --------------------------------------------------------------------------------------------
# user-typed text is escaped


async def test_reason_cannot_ping_the_channel_or_mention_anyone(sb: Sandbox) -> None:
    sb.iam().create_user(UserName="alice")
    view = await open_modal(sb, text="alice")
    reason = "INC-9 <!channel> & <@U0CAROL> see <https://evil.example|the runbook>"

    response = await sb.driver.view_submission(
        REQUESTER,
        view_id=view.id,
        values={
            ids.ACTIONS_BLOCK: {ids.ACTIONS_ACTION: checkboxes("deny_user")},
            ids.REASON_BLOCK: {ids.REASON_ACTION: plain_text_input(reason)},
        },
    )

    assert response.status == 200 and response.text == ""
    message = await request_message(sb)
    shown = _json(message.blocks)
    assert "INC-9 &lt;!channel&gt; &amp; &lt;@U0CAROL&gt; see &lt;https://evil.example|the" in shown
    sent = "\n".join(
        _json(c.params) for c in sb.api.calls() if c.method in ("chat.postMessage", "chat.update")
    )
    for raw in ("<!channel>", "<@U0CAROL>", "<https://evil.example"):
        assert raw not in sent, raw
    assert "<@U0ALICE>" in shown  # the bot's own mentions still work
