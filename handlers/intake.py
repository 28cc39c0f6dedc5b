"""What may reach Bolt from POST /slack/events: a request Slack signed, whose body is what Slack
sends (UTF-8; a form or JSON object; the user who acted).

The signature is checked on the raw bytes first, so nothing from an unsigned request is decoded
or parsed. Anything else that would make Bolt or a listener fail (and answer 500 with a
traceback in the log) is refused here with 400 and one INFO line. Bolt checks the signature
again; that costs one HMAC.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from slack_bolt.request.async_request import AsyncBoltRequest

log = logging.getLogger(__name__)

# The payload types Slack sends for what a person did; each names the person in `user.id`.
_INTERACTIVE = frozenset(
    {"block_actions", "view_submission", "view_closed", "shortcut", "message_action"}
)
# Fields Slack always sends as objects (or leaves out) in interactive payloads; a listener reads
# into them.
_OBJECT_FIELDS = ("team", "channel", "container", "message", "view", "enterprise", "state")
_SLASH_COMMAND_STRINGS = ("command", "user_id", "channel_id", "text", "trigger_id", "team_id")
_TEXT_CHARSETS = frozenset({None, "utf-8", "utf8", "us-ascii"})
MAX_SKEW_SECONDS = 5 * 60  # Slack's own rule against replays
_ID_SHAPES = {
    "user": re.compile(r"[UW][A-Z0-9]{2,39}"),
    "team": re.compile(r"T[A-Z0-9]{2,39}"),
    "enterprise": re.compile(r"E[A-Z0-9]{2,39}"),
    "channel": re.compile(r"[CGD][A-Z0-9]{2,39}"),
}
_TRIGGER_ID = re.compile(r"[0-9]{1,20}\.[0-9]{1,20}\.[0-9a-f]{1,64}")


@dataclass(frozen=True)
class Refusal:
    status: int
    reason: str  # fixed words, never input

    def response(self) -> web.Response:
        log.info("refused a request at the Slack endpoint (%d): %s", self.status, self.reason)
        return web.Response(status=self.status, text=self.reason)


async def screen(request: web.Request, signature: Signature) -> AsyncBoltRequest | Refusal:
    """The request for Bolt, or why it is refused."""
    raw = await request.read()
    if not signature.valid(raw, request.headers):
        return Refusal(401, "not signed by Slack")
    if request.charset not in _TEXT_CHARSETS:
        return Refusal(400, "unsupported charset")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return Refusal(400, "body is not UTF-8")
    # Bolt parses the body once, here (a click's body carries the whole message: ~0.5 ms to
    # parse), and what it parsed is screened before any listener sees it.
    try:
        screened = AsyncBoltRequest(
            body=text,
            query=request.query_string,
            headers=request.headers,  # type: ignore[arg-type]
        )
    except json.JSONDecodeError:
        return Refusal(400, "payload is not JSON")
    except Exception:  # Bolt reads ids out of the body; whatever it cannot read is malformed
        return Refusal(400, "body is not a Slack request")
    problem = _body_problem(screened.body)
    if problem:
        return Refusal(400, problem)
    return screened


class Signature:
    """Slack's v0 request signature: HMAC-SHA256 of `v0:<timestamp>:<body bytes>` with the signing
    secret, the timestamp within five minutes of now. Computed on the bytes as received
    (slack_sdk's verifier decodes them as UTF-8 first, and raises on a body that is not)."""

    def __init__(self, signing_secret: str | None, clock: Callable[[], float] = time.time) -> None:
        # No secret (a Socket Mode app): nothing is ever valid.
        self._secret = signing_secret.encode() if signing_secret else None
        self._clock = clock

    def valid(self, raw: bytes, headers: Mapping[str, str]) -> bool:
        if self._secret is None:
            return False
        timestamp = headers.get("X-Slack-Request-Timestamp", "")
        signature = headers.get("X-Slack-Signature", "")
        # Anything but digits cannot have been signed by Slack: unsigned, not an error.
        if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12):
            return False
        if abs(self._clock() - int(timestamp)) > MAX_SKEW_SECONDS:
            return False
        base = b"v0:" + timestamp.encode() + b":" + raw
        expected = "v0=" + hmac.new(self._secret, base, hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected.encode(), signature.encode("utf-8", "replace"))


def _body_problem(body: Any) -> str | None:
    if not isinstance(body, dict):
        return "body is not an object"
    if "command" in body:
        if not all(isinstance(body.get(f, ""), str) for f in _SLASH_COMMAND_STRINGS):
            return "slash command field of the wrong type"
        if not body.get("user_id"):
            return "slash command without a user"
        ids = {
            "user": body.get("user_id"),
            "team": body.get("team_id"),
            "enterprise": body.get("enterprise_id"),
            "channel": body.get("channel_id"),
        }
        return _ids_problem(ids) or _trigger_problem(body.get("trigger_id"))
    if body.get("type") in _INTERACTIVE:
        user = body.get("user")
        if not isinstance(user, dict) or not isinstance(user.get("id"), str) or not user["id"]:
            return "interactive payload without a user"
        if any(body.get(f) is not None and not isinstance(body[f], dict) for f in _OBJECT_FIELDS):
            return "interactive payload field of the wrong type"
        if "view" in body and body["view"] is None:
            # Slack leaves it out of a message click; Bolt's warning about a click no listener
            # handles reads a null one and fails (an answer of 500).
            return "interactive payload field of the wrong type"
        problem = _shape_problem(body)
        if problem:
            return problem
        ids = {
            "user": user.get("id"),
            "team": (body.get("team") or {}).get("id") or user.get("team_id"),
            "enterprise": (body.get("enterprise") or {}).get("id"),
            "channel": (body.get("channel") or {}).get("id")
            or (body.get("container") or {}).get("channel_id"),
        }
        view = body.get("view") or {}
        if view.get("team_id") is not None:
            ids["view team"] = view.get("team_id")
        return _ids_problem(ids) or _trigger_problem(body.get("trigger_id"))
    return None


def _shape_problem(body: Mapping[str, Any]) -> str | None:
    """What Slack always sends with each payload type, and Bolt matches listeners on."""
    kind = body.get("type")
    if kind == "block_actions":
        actions = body.get("actions")
        if not isinstance(actions, list) or not actions:
            return "block_actions without actions"
        for action in actions:
            if not isinstance(action, dict) or not isinstance(action.get("action_id"), str):
                return "an action without an action_id"
            if not isinstance(action.get("block_id", ""), str):
                return "an action's block_id of the wrong type"
            if not isinstance(action.get("value", ""), str):
                return "an action's value of the wrong type"
            if not isinstance(action.get("selected_option") or {}, dict):
                return "an action's selected option of the wrong type"
        # A click in a message comes with its channel and message, one in a modal with its view.
        container = body.get("container") or {}
        if container.get("type") == "message":
            if not isinstance((body.get("channel") or {}).get("id"), str):
                return "a message click without its channel"
            if not isinstance(body.get("message"), dict):
                return "a message click without its message"
        elif container.get("type") == "view":
            if not isinstance(body.get("view"), dict):
                return "a modal click without its view"
        else:
            return "a click from an unknown place"
    if kind in ("view_submission", "view_closed"):
        view = body.get("view")
        if not isinstance(view, dict) or not isinstance(view.get("callback_id", ""), str):
            return "view payload without a view"
        if not isinstance(view.get("private_metadata", ""), str):
            return "private_metadata of the wrong type"
        state = view.get("state")
        if kind == "view_submission" and not (
            isinstance(state, dict) and isinstance(state.get("values"), dict)
        ):
            return "a submission without its state"
        # {block_id: {action_id: element state}}: the listeners read each element as an object.
        values = (state or {}).get("values") or {}
        if not all(
            isinstance(block, dict) and all(isinstance(e, dict) for e in block.values())
            for block in values.values()
        ):
            return "a submission's state of the wrong shape"
    return None


def _ids_problem(ids: Mapping[str, object]) -> str | None:
    """Slack's ids have fixed shapes; Bolt passes the team and enterprise ids on to Slack in
    its own Web API calls, so nothing else may stand in them."""
    for kind, value in ids.items():
        if value is None or value == "":
            continue
        if not isinstance(value, str) or not _ID_SHAPES[kind.split()[-1]].fullmatch(value):
            return f"malformed {kind} id"
    return None


def _trigger_problem(trigger_id: object) -> str | None:
    # Sent to views.open as it came: Slack's own shape or nothing.
    if trigger_id is None or trigger_id == "" or _TRIGGER_ID.fullmatch(str(trigger_id)):
        return None
    return "malformed trigger id"
