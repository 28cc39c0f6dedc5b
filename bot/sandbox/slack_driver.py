"""Plays Slack's side toward the app: what a person does in Slack, delivered as Slack delivers it.

`SlackDriver` sends signed requests into the running app's `POST /slack/events` (HTTP mode);
`SocketDriver` sends the same payloads as envelopes over the app's Socket Mode websocket (the
stand-in's `socket`) and returns the app's ack. Both have the same methods and return a
`Response`, so a test reads the same in either mode.

Payloads are built from the Slack API stand-in's state (the message as last posted or updated,
the modal as last opened or updated, with the user's input so far), so a click or a submission
carries exactly what Slack would send at that moment, including stale messages in races.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self
from urllib.parse import urlencode

import aiohttp

from bot.sandbox.slack_api import JsonDict, SlackApiStandIn, View
from bot.sandbox.slack_socket import ACK_TIMEOUT_SECONDS, Envelope

# Slack still sends the deprecated verification token in every payload; Bolt ignores it.
VERIFICATION_TOKEN = "sandbox-verification-token"  # noqa: S105 (fake, documented as such)


class IncompleteSubmission(ValueError):
    """A modal submission Slack's own client would block (a required input is empty)."""


@dataclass(frozen=True)
class Response:
    """The app's HTTP answer to one request."""

    status: int
    text: str
    headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def body(self) -> Any:
        """Parsed JSON when the app answered JSON, else the text."""
        try:
            return json.loads(self.text) if self.text else None
        except json.JSONDecodeError:
            return self.text

    def json(self) -> Any:
        return json.loads(self.text)


@dataclass(frozen=True)
class SocketResponse(Response):
    """The app's ack of one Socket Mode envelope, read as an HTTP answer would be: `status` 200
    and `text` the ack's payload as JSON ("" when it carried none). `envelope` has the rest:
    ack latency, the whole ack message."""

    envelope: Envelope | None = None


class NoAck(TimeoutError):
    """The app did not ack an envelope within Slack's 3 s: the user would see an error."""


# ---------------------------------------------------------------------- value objects


def plain_text_input(value: str | None) -> JsonDict:
    """A plain_text_input's state as Slack reports it (`None` when left empty)."""
    return {"type": "plain_text_input", "value": value}


def option(value: str, text: str | None = None) -> JsonDict:
    return {"text": {"type": "plain_text", "text": text or value, "emoji": True}, "value": value}


def radio_buttons(value: str | None, text: str | None = None) -> JsonDict:
    return {
        "type": "radio_buttons",
        "selected_option": option(value, text) if value is not None else None,
    }


def static_select(value: str | None, text: str | None = None) -> JsonDict:
    return {
        "type": "static_select",
        "selected_option": option(value, text) if value is not None else None,
    }


def checkboxes(*values: str) -> JsonDict:
    return {"type": "checkboxes", "selected_options": [option(v) for v in values]}


# ---------------------------------------------------------------------- driver


class Driver:
    """What a person does in Slack (slash commands, button clicks, modal interactions) as the
    payloads Slack builds; a subclass delivers them (`_send_command`, `_send_payload`)."""

    def __init__(
        self,
        api: SlackApiStandIn,
        team_id: str = "T0001",
        *,
        team_domain: str = "sandbox",
        api_app_id: str | None = None,
    ) -> None:
        self.api = api
        self.team_id = team_id
        self.team_domain = team_domain
        self.api_app_id = api_app_id or api.app_id

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Release what the transport holds."""

    # ------------------------------------------------------------------ transport

    async def _send_command(
        self,
        fields: dict[str, str],
        *,
        signature: str | None,
        timestamp: int | None,
        retry_num: int | None,
    ) -> Response:
        raise NotImplementedError

    async def _send_payload(
        self,
        payload: JsonDict,
        *,
        signature: str | None,
        timestamp: int | None,
        retry_num: int | None,
    ) -> Response:
        raise NotImplementedError

    # ------------------------------------------------------------------ common payload parts

    def _user(self, user_id: str) -> JsonDict:
        user = self.api.user(user_id)
        name = user.name if user else user_id.lower()
        return {"id": user_id, "username": name, "name": name, "team_id": self.team_id}

    def _team(self) -> JsonDict:
        return {"id": self.team_id, "domain": self.team_domain}

    def _channel_name(self, channel_id: str) -> str:
        channel = self.api.channel(channel_id)
        return channel.name if channel else channel_id.lower()

    def _envelope(self, kind: str, user_id: str, trigger_id: str) -> JsonDict:
        return {
            "type": kind,
            "team": self._team(),
            "user": self._user(user_id),
            "api_app_id": self.api_app_id,
            "token": VERIFICATION_TOKEN,
            "trigger_id": trigger_id,
            "enterprise": None,
            "is_enterprise_install": False,
        }

    # ------------------------------------------------------------------ requests

    async def slash_command(
        self,
        user_id: str,
        channel_id: str,
        command: str = "/revoke-bedrock-key",
        text: str = "",
        *,
        signature: str | None = None,
        timestamp: int | None = None,
        retry_num: int | None = None,
    ) -> Response:
        user = self.api.user(user_id)
        fields = {
            "token": VERIFICATION_TOKEN,
            "team_id": self.team_id,
            "team_domain": self.team_domain,
            "channel_id": channel_id,
            "channel_name": self._channel_name(channel_id),
            "user_id": user_id,
            "user_name": user.name if user else user_id.lower(),
            "command": command,
            "text": text,
            "api_app_id": self.api_app_id,
            "is_enterprise_install": "false",
            "response_url": self.api.issue_response_url(channel=channel_id, user=user_id),
            "trigger_id": self.api.issue_trigger_id(user=user_id),
        }
        res = await self._send_command(
            fields, signature=signature, timestamp=timestamp, retry_num=retry_num
        )
        if res.status == 200:
            self.api.deliver_command_ack(channel=channel_id, user=user_id, body=res.body)
        return res

    async def block_action(
        self,
        user_id: str,
        *,
        channel_id: str,
        message_ts: str,
        action_id: str,
        block_id: str | None = None,
        value: str | None = None,
        view: JsonDict | None = None,
        message: JsonDict | None = None,
        signature: str | None = None,
        timestamp: int | None = None,
        retry_num: int | None = None,
    ) -> Response:
        """A button click on a channel message.

        The message is the one the stand-in holds now; pass `message=` to click on a stale
        copy (a second person whose client has not refreshed yet). `block_id`/`value` default
        to the clicked button's own.
        """
        current = message or self.api.message_api(channel_id, message_ts)
        if current is None:
            raise LookupError(f"no message {message_ts} in {channel_id} to click on")
        found_block, button = _find_element(current.get("blocks") or [], action_id, block_id)
        action: JsonDict = {
            "type": str(button.get("type", "button")) if button else "button",
            "action_id": action_id,
            "block_id": block_id or found_block or "",
            "text": button.get("text")
            if button
            else {"type": "plain_text", "text": action_id, "emoji": True},
            "value": value if value is not None else (button or {}).get("value", ""),
            "action_ts": f"{time.time():.6f}",
        }
        if button and button.get("style"):
            action["style"] = button["style"]
        container: JsonDict = {
            "type": "message",
            "message_ts": message_ts,
            "channel_id": channel_id,
            "is_ephemeral": False,
        }
        if current.get("thread_ts") and current.get("thread_ts") != message_ts:
            container["thread_ts"] = current["thread_ts"]
        payload = self._envelope("block_actions", user_id, self.api.issue_trigger_id(user=user_id))
        payload.update(
            {
                "container": container,
                "channel": {"id": channel_id, "name": self._channel_name(channel_id)},
                "message": current,
                "state": {"values": {}},
                "response_url": self.api.issue_response_url(
                    channel=channel_id, user=user_id, message_ts=message_ts
                ),
                "actions": [action],
            }
        )
        if view is not None:
            payload["view"] = view
        return await self._send_payload(
            payload, signature=signature, timestamp=timestamp, retry_num=retry_num
        )

    async def block_action_in_view(
        self,
        user_id: str,
        *,
        view_id: str,
        action_id: str,
        block_id: str,
        selected_option: str | JsonDict | None = None,
        selected_options: Iterable[str] | None = None,
        value: str | None = None,
        signature: str | None = None,
        timestamp: int | None = None,
        retry_num: int | None = None,
    ) -> Response:
        """The user changes an element inside a modal (a radio, a select, a button).

        The element's type and option texts come from the view itself; its new state is
        stored in the stand-in first, because Slack's payload already carries it.
        """
        view = self.api.view(view_id)
        element = _view_element(view, block_id, action_id)
        kind = str(element.get("type"))
        action: JsonDict = {
            "type": kind,
            "action_id": action_id,
            "block_id": block_id,
            "action_ts": f"{time.time():.6f}",
        }
        state: JsonDict | None = None
        if kind == "button":
            action["text"] = element.get("text")
            action["value"] = value if value is not None else element.get("value", "")
        elif kind in ("static_select", "radio_buttons", "external_select"):
            chosen = _resolve_option(element, selected_option)
            action["selected_option"] = chosen
            state = {"type": kind, "selected_option": chosen}
        elif kind in ("checkboxes", "multi_static_select"):
            chosen_list = [_resolve_option(element, v) for v in selected_options or ()]
            action["selected_options"] = chosen_list
            state = {"type": kind, "selected_options": chosen_list}
        else:
            action["value"] = value
            state = {"type": kind, "value": value}
        if state is not None:
            self.api.set_view_state(view_id, block_id, action_id, state)
        payload = self._envelope(
            "block_actions", user_id, self.api.issue_trigger_id(user=user_id, view_id=view_id)
        )
        payload.update(
            {
                "container": {"type": "view", "view_id": view_id},
                "view": self.api.view_api(view_id),
                "actions": [action],
            }
        )
        return await self._send_payload(
            payload, signature=signature, timestamp=timestamp, retry_num=retry_num
        )

    async def view_submission(
        self,
        user_id: str,
        *,
        view_id: str,
        values: Mapping[str, Mapping[str, JsonDict]] | None = None,
        enforce_required: bool = True,
        signature: str | None = None,
        timestamp: int | None = None,
        retry_num: int | None = None,
    ) -> Response:
        """The user fills in `values` ({block_id: {action_id: value object}}) and submits.

        What the user entered earlier (e.g. via `block_action_in_view`) stays in the state,
        as in Slack. A required input left empty raises IncompleteSubmission, since Slack's
        client never sends that submission (`enforce_required=False` sends it anyway).
        The app's ack body is applied to the stand-in's modal (errors shown, view updated or
        pushed, or the modal closed); `Response.body` is that ack body.
        """
        view = self.api.view(view_id)
        if view.closed:
            raise LookupError(f"view {view_id} is closed; nobody can submit it")
        for block_id, actions in (values or {}).items():
            for action_id, value in actions.items():
                element = _view_element(view, block_id, action_id)
                self.api.set_view_state(
                    view_id, block_id, action_id, _with_view_options(element, value)
                )
        missing = self.api.missing_required_inputs(view_id)
        if enforce_required and missing:
            raise IncompleteSubmission(
                f"Slack would not submit view {view_id}: required inputs empty: {missing}"
            )
        payload = self._envelope(
            "view_submission", user_id, self.api.issue_trigger_id(user=user_id, view_id=view_id)
        )
        payload.update({"view": self.api.view_api(view_id), "response_urls": []})
        res = await self._send_payload(
            payload, signature=signature, timestamp=timestamp, retry_num=retry_num
        )
        if res.status == 200:
            self.api.apply_view_submission_response(view_id, res.body)
        return res

    async def view_closed(self, user_id: str, *, view_id: str) -> Response | None:
        """The user closes the modal; the app hears of it only if notify_on_close is set."""
        notify = bool(self.api.view(view_id).payload.get("notify_on_close"))
        self.api.close_view(view_id)
        if not notify:
            return None
        payload = self._envelope("view_closed", user_id, "")
        del payload["trigger_id"]
        payload.update({"view": self.api.view_api(view_id), "is_cleared": False})
        return await self._send_payload(payload, signature=None, timestamp=None, retry_num=None)


class SlackDriver(Driver):
    """HTTP mode: sends what Slack sends to `app_url` (the app's /slack/events), signed."""

    def __init__(
        self,
        app_url: str,
        signing_secret: str,
        api: SlackApiStandIn,
        team_id: str = "T0001",
        *,
        team_domain: str = "sandbox",
        api_app_id: str | None = None,
    ) -> None:
        super().__init__(api, team_id, team_domain=team_domain, api_app_id=api_app_id)
        self.app_url = app_url
        self._signing_secret = signing_secret.encode()
        self._session: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    # ------------------------------------------------------------------ transport

    def sign(self, body: bytes, timestamp: int | None = None) -> dict[str, str]:
        """The two headers Slack adds; `timestamp` defaults to now."""
        ts = str(int(time.time()) if timestamp is None else timestamp)
        # Slack signs the body's bytes, whatever they are (slack_sdk's generator decodes them
        # as UTF-8 first, so it cannot sign a body that is not).
        base = b"v0:" + ts.encode() + b":" + body
        digest = hmac.new(self._signing_secret, base, hashlib.sha256).hexdigest()
        return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={digest}"}

    async def post_raw(self, body: bytes, headers: Mapping[str, str]) -> Response:
        """POST exactly these bytes and headers, nothing added."""
        if self._session is None:
            self._session = aiohttp.ClientSession()
        async with self._session.post(self.app_url, data=body, headers=dict(headers)) as res:
            return Response(res.status, await res.text(), dict(res.headers))

    async def _send(
        self,
        body: bytes,
        content_type: str,
        *,
        signature: str | None,
        timestamp: int | None,
        retry_num: int | None,
    ) -> Response:
        headers = {"Content-Type": content_type, **self.sign(body, timestamp)}
        if signature is not None:
            headers["X-Slack-Signature"] = signature
        if retry_num is not None:
            headers["X-Slack-Retry-Num"] = str(retry_num)
            headers["X-Slack-Retry-Reason"] = "http_timeout"
        return await self.post_raw(body, headers)

    async def _send_payload(
        self,
        payload: JsonDict,
        *,
        signature: str | None,
        timestamp: int | None,
        retry_num: int | None,
    ) -> Response:
        body = urlencode({"payload": json.dumps(payload)}).encode()
        return await self._send(
            body,
            "application/x-www-form-urlencoded",
            signature=signature,
            timestamp=timestamp,
            retry_num=retry_num,
        )

    async def _send_command(
        self,
        fields: dict[str, str],
        *,
        signature: str | None,
        timestamp: int | None,
        retry_num: int | None,
    ) -> Response:
        return await self._send(
            urlencode(fields).encode(),
            "application/x-www-form-urlencoded",
            signature=signature,
            timestamp=timestamp,
            retry_num=retry_num,
        )


class SocketDriver(Driver):
    """Socket Mode: the same payloads as envelopes over the app's websocket to the stand-in
    (`api.socket`); the answer is the app's ack. Socket Mode has no signatures and no HTTP
    retries: passing `signature`, `timestamp` or `retry_num` raises TypeError. An envelope the
    app does not ack within `ack_timeout` (Slack's 3 s) raises NoAck."""

    def __init__(
        self,
        api: SlackApiStandIn,
        team_id: str = "T0001",
        *,
        team_domain: str = "sandbox",
        api_app_id: str | None = None,
        ack_timeout: float = ACK_TIMEOUT_SECONDS,
    ) -> None:
        super().__init__(api, team_id, team_domain=team_domain, api_app_id=api_app_id)
        self.ack_timeout = ack_timeout

    async def _send_command(
        self,
        fields: dict[str, str],
        *,
        signature: str | None,
        timestamp: int | None,
        retry_num: int | None,
    ) -> Response:
        _http_only(signature, timestamp, retry_num)
        return await self._deliver("slash_commands", dict(fields))

    async def _send_payload(
        self,
        payload: JsonDict,
        *,
        signature: str | None,
        timestamp: int | None,
        retry_num: int | None,
    ) -> Response:
        _http_only(signature, timestamp, retry_num)
        return await self._deliver("interactive", payload)

    async def _deliver(self, kind: str, payload: JsonDict) -> SocketResponse:
        envelope = await self.api.socket.deliver(kind, payload, timeout=self.ack_timeout)
        if not envelope.acked:
            what = payload.get("command") or payload.get("type")
            raise NoAck(
                f"the app did not ack {kind} envelope {envelope.envelope_id} ({what}) "
                f"within {self.ack_timeout} s"
            )
        # Slack ignores a response payload where the envelope accepts none.
        body = envelope.ack_payload if envelope.accepts_response_payload else None
        return SocketResponse(200, json.dumps(body) if body is not None else "", {}, envelope)


# ---------------------------------------------------------------------- helpers


def _http_only(signature: str | None, timestamp: int | None, retry_num: int | None) -> None:
    if (signature, timestamp, retry_num) != (None, None, None):
        raise TypeError("signature, timestamp and retry_num are HTTP mode's; Socket Mode has none")


def _iter_elements(blocks: Iterable[JsonDict]) -> Iterable[tuple[str, JsonDict]]:
    for block in blocks:
        block_id = str(block.get("block_id", ""))
        for key in ("accessory", "element"):
            el = block.get(key)
            if isinstance(el, dict):
                yield block_id, el
        if block.get("type") == "actions":
            for el in block.get("elements") or []:
                if isinstance(el, dict):
                    yield block_id, el


def _find_element(
    blocks: Iterable[JsonDict], action_id: str, block_id: str | None
) -> tuple[str | None, JsonDict | None]:
    for bid, el in _iter_elements(blocks):
        if el.get("action_id") == action_id and (block_id is None or bid == block_id):
            return bid, el
    return None, None


def _view_element(view: View, block_id: str, action_id: str) -> JsonDict:
    # A person can only touch what the modal shows: a missing element is a test bug.
    _, element = _find_element(view.blocks, action_id, block_id)
    if element is None:
        shown = [f"{b}/{e.get('action_id')}" for b, e in _iter_elements(view.blocks)]
        raise LookupError(
            f"view {view.id} has no element {block_id}/{action_id}; it shows: {shown}"
        )
    return element


def _options(element: JsonDict) -> list[JsonDict]:
    found = [o for o in element.get("options") or [] if isinstance(o, dict)]
    for group in element.get("option_groups") or []:
        found.extend(o for o in group.get("options") or [] if isinstance(o, dict))
    return found


def _resolve_option(element: JsonDict, chosen: str | JsonDict | None) -> JsonDict | None:
    """The option object exactly as the element defines it (Slack echoes it verbatim)."""
    if chosen is None:
        return None
    wanted = chosen if isinstance(chosen, str) else str(chosen.get("value"))
    for opt in _options(element):
        if opt.get("value") == wanted:
            return opt
    if isinstance(chosen, dict):
        return chosen
    raise LookupError(
        f"{element.get('action_id')} has no option {wanted!r}; options: "
        f"{[o.get('value') for o in _options(element)]}"
    )


def _with_view_options(element: JsonDict, value: JsonDict) -> JsonDict:
    """Swap helper-built options for the element's own, so texts match what Slack sends."""
    out = {**value, "type": element.get("type", value.get("type"))}
    if isinstance(out.get("selected_option"), dict):
        out["selected_option"] = _resolve_option(element, out["selected_option"])
    if isinstance(out.get("selected_options"), list):
        out["selected_options"] = [
            _resolve_option(element, o) for o in out["selected_options"] if isinstance(o, dict)
        ]
    return out
