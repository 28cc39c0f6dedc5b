"""Slack's side of Socket Mode, mounted by the Web API stand-in (`SlackApiStandIn.socket`).

What Slack does, and so what the stand-in does:

* `apps.connections.open` takes an app-level token (`xapp-…`, in the Authorization header as
  slack_sdk sends it; a bot token gets `not_allowed_token_type`) and answers a one-time websocket
  URL, `ws://…/link/?ticket=…&app_id=…`.
* On connect the server sends `{"type": "hello", "num_connections", "debug_info",
  "connection_info"}`; it answers websocket pings with pongs.
* Each request is an envelope `{"envelope_id", "type": "slash_commands" | "interactive",
  "payload", "accepts_response_payload"}`. The payload is the JSON Slack would POST over HTTP
  (a slash command's form fields as a dict; an interaction's `payload=` JSON). The app acks with
  `{"envelope_id", "payload"?}` within 3 s; the payload (ephemeral text for a command,
  `response_action` for a view submission) counts only where `accepts_response_payload` is true.
* `{"type": "disconnect", "reason": "refresh_requested" | "warning" | "link_disabled"}` asks the
  app to open a new connection (and drop this one).

Everything is recorded (connections with their pings and close codes; envelopes with their
acks and ack latency) and wakes `SlackApiStandIn.wait_for`, so tests wait on events, not time.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import secrets
import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from aiohttp import WSCloseCode, WSMsgType, web

if TYPE_CHECKING:
    from bot.sandbox.slack_api import SlackApiStandIn

JsonDict = dict[str, Any]

LINK_PATH = "/link/"
ACK_TIMEOUT_SECONDS = 3.0
# Methods that take the app-level token; every other method refuses it.
APP_TOKEN_METHODS = frozenset({"apps.connections.open"})
# Interactions whose ack may carry a response (Slack sets accepts_response_payload for these).
_RESPONDING_INTERACTIONS = frozenset({"view_submission", "block_suggestion"})
_DEBUG_HOST = "applink-sandbox"


class NoConnection(RuntimeError):
    """Slack has nowhere to send an envelope: the app holds no open Socket Mode connection."""


@dataclass
class Connection:
    """One websocket the app opened, from hello to close."""

    id: str
    ticket: str
    opened_at: float
    ws: web.WebSocketResponse = field(repr=False)
    hello: JsonDict = field(default_factory=dict)
    pings: int = 0
    closed_at: float | None = None
    close_code: int | None = None
    # "app" when the app closed it, "slack" when the stand-in did.
    closed_by: str | None = None
    # Text frames that were not a valid ack (not JSON, no envelope_id, unknown envelope_id).
    stray: list[str] = field(default_factory=list)

    @property
    def open(self) -> bool:
        return self.closed_at is None


@dataclass
class Envelope:
    """One envelope delivered to the app, and the app's ack if it came."""

    envelope_id: str
    type: str
    payload: JsonDict
    accepts_response_payload: bool
    connection_id: str
    sent_at: float  # time.perf_counter()
    acked_at: float | None = None
    ack: JsonDict | None = None  # the whole ack message the app sent

    @property
    def acked(self) -> bool:
        return self.acked_at is not None

    @property
    def ack_latency(self) -> float | None:
        """Seconds from sending the envelope to receiving its ack."""
        return None if self.acked_at is None else self.acked_at - self.sent_at

    @property
    def acked_in_time(self) -> bool:
        latency = self.ack_latency
        return latency is not None and latency <= ACK_TIMEOUT_SECONDS

    @property
    def ack_payload(self) -> JsonDict | None:
        """The ack's payload, or None when the ack carried none."""
        payload = (self.ack or {}).get("payload")
        return payload if isinstance(payload, dict) else None

    def message(self) -> JsonDict:
        return {
            "envelope_id": self.envelope_id,
            "payload": self.payload,
            "type": self.type,
            "accepts_response_payload": self.accepts_response_payload,
        }


class SocketModeStandIn:
    """Socket Mode on the stand-in's port: `apps.connections.open` and the `/link/` websocket."""

    def __init__(self, api: SlackApiStandIn) -> None:
        self._api = api
        self._tickets: dict[str, bool] = {}  # ticket -> used
        self._connections: list[Connection] = []
        self._envelopes: list[Envelope] = []
        self._pending: dict[str, asyncio.Future[None]] = {}
        self._accepting = asyncio.Event()
        self._accepting.set()
        self._held: int = 0
        self._ids = itertools.count(1)

    def mount(self, app: web.Application) -> None:
        app.router.add_get(LINK_PATH, self._handle_link)

    async def close(self) -> None:
        """Close every open connection (as Slack going away), so the server can stop."""
        self._accepting.set()
        for conn in self.open_connections():
            conn.closed_by = conn.closed_by or "slack"
            await conn.ws.close(code=WSCloseCode.GOING_AWAY, message=b"stand-in stopping")

    # ------------------------------------------------------------------ Web API method

    def connections_open(self, params: JsonDict) -> JsonDict:
        """`apps.connections.open` (the token was checked by the stand-in's dispatch)."""
        ticket = secrets.token_hex(16)
        self._tickets[ticket] = False
        query = urlencode({"ticket": ticket, "app_id": self._api.app_id})
        return {"url": f"{self.url}?{query}"}

    @property
    def url(self) -> str:
        """The websocket endpoint, without its ticket."""
        return "ws://" + self._api.url.removeprefix("http://").rstrip("/") + LINK_PATH

    # ------------------------------------------------------------------ test controls

    def hold(self) -> None:
        """Keep websocket handshakes waiting (as a slow or unreachable Slack) until `release`."""
        self._accepting.clear()

    def release(self) -> None:
        self._accepting.set()

    @property
    def handshakes_held(self) -> int:
        """Handshakes waiting on `hold` right now."""
        return self._held

    async def disconnect(
        self, reason: str = "refresh_requested", connection: Connection | None = None
    ) -> Connection:
        """Send Slack's `disconnect` message on a connection (default: the newest open one)."""
        conn = connection or self._newest_open()
        await conn.ws.send_str(
            json.dumps(
                {"type": "disconnect", "reason": reason, "debug_info": {"host": _DEBUG_HOST}}
            )
        )
        return conn

    async def drop(self, connection: Connection | None = None) -> Connection:
        """Close a connection from Slack's side without warning (a network drop or a deploy)."""
        conn = connection or self._newest_open()
        conn.closed_by = "slack"
        await conn.ws.close(code=WSCloseCode.GOING_AWAY, message=b"")
        return conn

    async def deliver(
        self,
        type: str,
        payload: JsonDict,
        *,
        accepts_response_payload: bool | None = None,
        connection: Connection | None = None,
        timeout: float = ACK_TIMEOUT_SECONDS,  # noqa: ASYNC109 (Slack's ack deadline)
    ) -> Envelope:
        """Send an envelope and wait up to `timeout` for its ack; the Envelope says how it went
        (`acked` False: no ack in time, as Slack would tell the user the app did not respond).

        `accepts_response_payload` defaults to what Slack sets: true for slash commands, view
        submissions and options requests, false for other interactions."""
        conn = connection or self._newest_open()
        if accepts_response_payload is None:
            accepts_response_payload = (
                type == "slash_commands" or payload.get("type") in _RESPONDING_INTERACTIONS
            )
        envelope = Envelope(
            envelope_id=str(uuid.uuid4()),
            type=type,
            payload=payload,
            accepts_response_payload=accepts_response_payload,
            connection_id=conn.id,
            sent_at=time.perf_counter(),
        )
        acked: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending[envelope.envelope_id] = acked
        self._envelopes.append(envelope)
        try:
            await conn.ws.send_str(json.dumps(envelope.message()))
            self._api._wake()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(acked), timeout)
        finally:
            # A late ack is still recorded (by envelope id) but no longer awaited.
            self._pending.pop(envelope.envelope_id, None)
        return envelope

    # ------------------------------------------------------------------ queries

    def connections(self) -> list[Connection]:
        return list(self._connections)

    def open_connections(self) -> list[Connection]:
        return [c for c in self._connections if c.open]

    def envelopes(self, type: str | None = None) -> list[Envelope]:
        return [e for e in self._envelopes if type is None or e.type == type]

    def envelope(self, envelope_id: str) -> Envelope:
        for e in self._envelopes:
            if e.envelope_id == envelope_id:
                return e
        raise KeyError(f"no envelope {envelope_id!r}")

    def _newest_open(self) -> Connection:
        found = self.open_connections()
        if not found:
            raise NoConnection(
                "the app holds no open Socket Mode connection; connections so far: "
                f"{[(c.id, c.close_code, c.closed_by) for c in self._connections]}"
            )
        return found[-1]

    # ------------------------------------------------------------------ websocket

    async def _handle_link(self, request: web.Request) -> web.StreamResponse:
        ticket = request.query.get("ticket", "")
        if self._tickets.get(ticket) is not False:
            # Unknown, or used already: a URL from apps.connections.open works once.
            raise web.HTTPUnauthorized(text="invalid or used ticket")
        self._tickets[ticket] = True
        if not self._accepting.is_set():
            self._held += 1
            self._api._wake()
            try:
                await self._accepting.wait()
            finally:
                self._held -= 1
            if request.transport is None or request.transport.is_closing():
                # The app gave up on the handshake while it was held.
                return web.Response(status=499, text="client went away")
        # Pings are answered here, not by aiohttp, so they can be counted.
        ws = web.WebSocketResponse(autoping=False)
        await ws.prepare(request)
        conn = Connection(f"conn-{next(self._ids)}", ticket, time.perf_counter(), ws)
        self._connections.append(conn)
        conn.hello = {
            "type": "hello",
            "num_connections": len(self.open_connections()),
            "debug_info": {
                "host": _DEBUG_HOST,
                "build_number": 1,
                "approximate_connection_time": 18060,
            },
            "connection_info": {"app_id": self._api.app_id},
        }
        await ws.send_str(json.dumps(conn.hello))
        self._api._wake()
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    self._receive(conn, str(msg.data))
                elif msg.type == WSMsgType.PING:
                    conn.pings += 1
                    await ws.pong(msg.data)
                    self._api._wake()
        finally:
            conn.closed_at = time.perf_counter()
            conn.close_code = ws.close_code
            conn.closed_by = conn.closed_by or "app"
            self._api._wake()
        return ws

    def _receive(self, conn: Connection, text: str) -> None:
        try:
            message = json.loads(text)
        except json.JSONDecodeError:
            message = None
        envelope_id = message.get("envelope_id") if isinstance(message, dict) else None
        envelope = next((e for e in self._envelopes if e.envelope_id == envelope_id), None)
        if envelope is None or envelope.acked or not isinstance(message, dict):
            conn.stray.append(text)
        else:
            envelope.acked_at = time.perf_counter()
            envelope.ack = message
            waiter = self._pending.get(envelope.envelope_id)
            if waiter is not None and not waiter.done():
                waiter.set_result(None)
        self._api._wake()
