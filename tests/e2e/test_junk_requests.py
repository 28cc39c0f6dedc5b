"""Junk at POST /slack/events, from outside the workspace or with a leaked signing secret: a 4xx,
one INFO line, no traceback, and nothing done. The signature is checked before the body is read
as text or parsed, so an unsigned request never reaches a parser."""

from __future__ import annotations

import json
import logging
from urllib.parse import quote

import pytest

from bot.sandbox import iam as aws
from bot.sandbox.harness import CHANNEL, REQUESTER, Sandbox

FORM = "application/x-www-form-urlencoded"
INTAKE_LOGGER = "handlers.intake"


def _payload(value: object) -> bytes:
    return f"payload={quote(json.dumps(value))}".encode()


def _message_click(action: dict[str, object], **more: object) -> bytes:
    """A click on a button of a message in the channel, with `more` fields."""
    return _payload(
        {
            "type": "block_actions",
            "user": {"id": "U0ALICE"},
            "container": {"type": "message", "message_ts": "1.2", "channel_id": CHANNEL},
            "channel": {"id": CHANNEL},
            "message": {"ts": "1.2"},
            "actions": [action],
            **more,
        }
    )


BLOCK_ACTIONS_WITHOUT_USER = _payload(
    {
        "type": "block_actions",
        "team": {"id": "T0001", "domain": "sandbox"},
        "channel": {"id": CHANNEL},
        "actions": [{"action_id": "approve", "block_id": "b", "type": "button", "value": "x"}],
        "trigger_id": "1.2.3",
        "api_app_id": "A0001",
    }
)

# (name, body, content type): each correctly signed with the app's secret.
SIGNED_JUNK = [
    ("non-utf-8 body", b"text=\xff\xfe\xfd&user_id=U1", FORM),
    ("unknown charset", b"command=%2Frevoke-bedrock-key&text=help", f"{FORM}; charset=klingon"),
    ("latin-1 charset", b"command=%2Frevoke-bedrock-key&text=caf\xe9", f"{FORM}; charset=latin-1"),
    ("payload not json", b"payload=%7Bnot-json", FORM),
    ("payload a json list", _payload([1, 2, 3]), FORM),
    ("payload a json string", _payload("block_actions"), FORM),
    ("json body a list", b"[1, 2]", "application/json"),
    ("block_actions without user", BLOCK_ACTIONS_WITHOUT_USER, FORM),
    (
        "user not an object",
        _payload({"type": "block_actions", "user": "U0ALICE", "actions": []}),
        FORM,
    ),
    ("command without user", b"command=%2Frevoke-bedrock-key&text=help&channel_id=C1", FORM),
    # Bolt passes the team id on to Slack (auth.test, and team_id in every Web API call).
    (
        "team id that is not one",
        b"command=%2Frevoke-bedrock-key&text=&user_id=U0ALICE&channel_id=C0INCIDENT&team_id=ABSKx",
        FORM,
    ),
    # Found by tests/e2e/test_fuzz.py: Bolt answered these with 500.
    (
        "block_actions with actions null",
        _payload({"type": "block_actions", "user": {"id": "U0ALICE"}, "actions": None}),
        FORM,
    ),
    (
        "view_submission with view empty",
        _payload({"type": "view_submission", "user": {"id": "U0ALICE"}, "view": ""}),
        FORM,
    ),
    # Found by the long fuzz run: listeners read these, and Slack always sends them.
    (
        "a message click without its channel",
        _payload(
            {
                "type": "block_actions",
                "user": {"id": "U0ALICE"},
                "container": {"type": "message", "message_ts": "1.2", "channel_id": CHANNEL},
                "message": {"ts": "1.2"},
                "actions": [{"action_id": "approve_request", "value": "R-00000000"}],
            }
        ),
        FORM,
    ),
    (
        "a submission without its state",
        _payload(
            {
                "type": "view_submission",
                "user": {"id": "U0ALICE"},
                "view": {"callback_id": "revoke_request", "private_metadata": "{}", "state": None},
            }
        ),
        FORM,
    ),
    # Found by the second long fuzz run.
    (
        "an action value that is not a string",
        _message_click({"action_id": "approve_request", "value": 1}),
        FORM,
    ),
    (
        "a submission state element that is not an object",
        _payload(
            {
                "type": "view_submission",
                "user": {"id": "U0ALICE"},
                "view": {
                    "callback_id": "revoke_request",
                    "private_metadata": "{}",
                    "state": {"values": {"kind": {"kind_choice": "long_term"}}},
                },
            }
        ),
        FORM,
    ),
    # Found by the fuzz suite (2026-11-30): with a click no listener handles, Bolt's own warning
    # read the null view and failed (500); with a form's switch, a traceback after the ack.
    *(
        (
            f"a click with a null view ({what})",
            _message_click({"action_id": action_id, "value": "R-1"}, view=None),
            FORM,
        )
        for what, action_id in (("no listener", ""), ("the key-type switch", "kind_choice"))
    ),
    (
        "made-up trigger id",
        b"command=%2Frevoke-bedrock-key&user_id=U0ALICE&trigger_id=<!here>",
        FORM,
    ),
]


def _trouble(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        f"{r.levelname} {r.name}: {r.getMessage()}"
        for r in caplog.records
        if r.levelno >= logging.WARNING or r.exc_info or r.exc_text
    ]


def _intake_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == INTAKE_LOGGER]


@pytest.mark.parametrize(
    ("name", "body", "content_type"), SIGNED_JUNK, ids=[c[0] for c in SIGNED_JUNK]
)
async def test_signed_junk_gets_400_and_one_info_line(
    sb: Sandbox, caplog: pytest.LogCaptureFixture, name: str, body: bytes, content_type: str
) -> None:
    caplog.set_level(logging.DEBUG)
    calls, aws_calls = len(sb.api.calls()), len(aws.calls())

    response = await sb.driver.post_raw(
        body, {"Content-Type": content_type, **sb.driver.sign(body)}
    )

    assert response.status == 400, (response.status, response.text)
    assert _trouble(caplog) == []
    (line,) = _intake_lines(caplog)
    assert line.levelno == logging.INFO
    assert [c.method for c in sb.api.calls()[calls:] if c.method != "auth.test"] == []
    assert aws.calls()[aws_calls:] == []


@pytest.mark.parametrize(
    ("name", "headers"),
    [
        (
            "timestamp not a number",
            {"X-Slack-Request-Timestamp": "soon", "X-Slack-Signature": "v0=0"},
        ),
        ("timestamp empty", {"X-Slack-Request-Timestamp": "", "X-Slack-Signature": "v0=0"}),
        ("no headers", {}),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
@pytest.mark.parametrize("body", [b"text=\xff\xfe", b"payload=[1]", b"command=%2Fx&text=help"])
async def test_unsigned_junk_gets_401_before_any_parsing(
    sb: Sandbox,
    caplog: pytest.LogCaptureFixture,
    name: str,
    headers: dict[str, str],
    body: bytes,
) -> None:
    caplog.set_level(logging.DEBUG)
    calls = len(sb.api.calls())

    response = await sb.driver.post_raw(body, {"Content-Type": FORM, **headers})

    assert response.status == 401, (response.status, response.text)
    assert _trouble(caplog) == []
    assert len(_intake_lines(caplog)) == 1
    assert sb.api.calls()[calls:] == []


async def test_a_genuine_command_still_gets_through(sb: Sandbox) -> None:
    response = await sb.driver.slash_command(REQUESTER, CHANNEL, text="help")
    assert response.status == 200 and response.json()["response_type"] == "ephemeral"


@pytest.mark.parametrize("action_id", ["kind_choice", "scope_choice"])
async def test_a_form_action_without_its_modal_is_acked_and_ignored(
    sb: Sandbox, caplog: pytest.LogCaptureFixture, action_id: str
) -> None:
    """Found by a long fuzz run: the key-type switch clicked on a message (no modal) made a 500.
    (With `view: null` it is junk: a 400, above.)"""
    caplog.set_level(logging.DEBUG)
    payload: dict[str, object] = {
        "type": "block_actions",
        "team": {"id": "T0001", "domain": "sandbox"},
        "user": {"id": REQUESTER, "team_id": "T0001"},
        "api_app_id": "A0REVOKER",
        "container": {"type": "message", "message_ts": "1.2", "channel_id": CHANNEL},
        "channel": {"id": CHANNEL},
        "message": {"ts": "1.2", "text": "request", "blocks": []},
        "actions": [{"type": "button", "action_id": action_id, "value": "R-FZV5A930"}],
        "trigger_id": "1.2.3",
    }
    body = _payload(payload)
    calls = len(sb.api.calls())

    response = await sb.driver.post_raw(body, {"Content-Type": FORM, **sb.driver.sign(body)})
    await sb.app.settle()

    assert response.status == 200, (response.status, response.text)
    assert _trouble(caplog) == []
    assert [c.method for c in sb.api.calls()[calls:] if c.method != "auth.test"] == []
