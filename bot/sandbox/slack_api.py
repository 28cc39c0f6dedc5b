"""A small, faithful stand-in for the Slack Web API, served on 127.0.0.1.

The end-to-end tests and the `demo` command point the real `slack_sdk` client at it
(`AsyncWebClient(base_url=api.base_url)` / `SLACK_API_URL`), so the app under test makes the
same HTTP calls it makes against Slack. Fidelity matters more than breadth: the few methods this
bot uses answer with Slack's response shapes and Slack's own error names, because handlers
branch on those names (`expired_trigger_id`, `hash_conflict`, `plan_upgrade_required`, ...).

It also serves `response_url`s, since Bolt's `respond()` posts to them and a person would see
the result in the channel.

Split the moto way: the workspace's state and Slack's semantics are `SlackWorkspace`
(`slack_workspace.py`, plain methods raising `SlackError`), text renderings are in
`slack_render.py`, and this module is only the wire: it parses form/JSON bodies, checks tokens,
answers HTTP statuses and 429s, and serialises answers and errors. `SlackApiStandIn` is the
workspace served on a port, so tests, the harness and the demo use one object for both.

Socket Mode (`apps.connections.open` and the websocket that delivers envelopes) lives in
`slack_socket.py`, mounted here as `SlackApiStandIn.socket`.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable
from types import TracebackType
from typing import Self

from aiohttp import web

from bot.sandbox.slack_socket import APP_TOKEN_METHODS, SocketModeStandIn
from bot.sandbox.slack_workspace import (
    MAX_BUTTON_VALUE,
    MAX_ID_LENGTH,
    MAX_MESSAGE_BLOCKS,
    MAX_MESSAGE_TEXT,
    MAX_PRIVATE_METADATA,
    MAX_SECTION_TEXT,
    MAX_STATIC_SELECT_OPTIONS,
    MAX_VIEW_BLOCKS,
    MAX_VIEW_TITLE,
    MODAL_STACK_LIMIT,
    RESPONSE_URL_MAX_USES,
    RESPONSE_URL_TTL_SECONDS,
    TRIGGER_ID_TTL_SECONDS,
    Call,
    Channel,
    Ephemeral,
    JsonDict,
    Message,
    SlackError,
    SlackWorkspace,
    User,
    View,
)

__all__ = [
    "BOT_SCOPES",
    "MAX_BUTTON_VALUE",
    "MAX_ID_LENGTH",
    "MAX_MESSAGE_BLOCKS",
    "MAX_MESSAGE_TEXT",
    "MAX_PRIVATE_METADATA",
    "MAX_SECTION_TEXT",
    "MAX_STATIC_SELECT_OPTIONS",
    "MAX_VIEW_BLOCKS",
    "MAX_VIEW_TITLE",
    "MODAL_STACK_LIMIT",
    "RESPONSE_URL_MAX_USES",
    "RESPONSE_URL_TTL_SECONDS",
    "TRIGGER_ID_TTL_SECONDS",
    "Call",
    "Channel",
    "Ephemeral",
    "JsonDict",
    "Message",
    "SlackApiStandIn",
    "SlackError",
    "SlackWorkspace",
    "User",
    "View",
]

# Form-encoded callers send these as JSON strings; JSON callers send them as objects.
_JSON_FIELDS = ("blocks", "attachments", "view", "metadata")

BOT_SCOPES = "commands,chat:write,users:read,usergroups:read,channels:history,groups:history"
# response_url refusals Slack answers with 404; any other error there is a 400.
_URL_ERRORS = frozenset({"invalid_url", "expired_url", "used_url"})


class SlackApiStandIn(SlackWorkspace):
    """The Web API on a local port; use as `async with SlackApiStandIn() as api: ...`."""

    def __init__(
        self,
        *,
        bot_token: str = "xoxb-sandbox-token",  # noqa: S107 (a stand-in's own fake token)
        app_token: str = "xapp-1-A0REVOKER-1-sandbox",  # noqa: S107 (app-level, Socket Mode)
        team_id: str = "T0001",
        team_domain: str = "sandbox",
        team_name: str = "Sandbox",
        bot_user_id: str = "U0BOT",
        bot_id: str = "B0BOT",
        bot_name: str = "revoker",
        app_id: str = "A0REVOKER",
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        strict_channels: bool = False,
        usergroups_plan: bool = True,
        host: str = "127.0.0.1",
    ) -> None:
        super().__init__(
            bot_token=bot_token,
            app_token=app_token,
            team_id=team_id,
            team_domain=team_domain,
            team_name=team_name,
            bot_user_id=bot_user_id,
            bot_id=bot_id,
            bot_name=bot_name,
            app_id=app_id,
            clock=clock,
            wall_clock=wall_clock,
            strict_channels=strict_channels,
            usergroups_plan=usergroups_plan,
        )
        self._host = host
        self._runner: web.AppRunner | None = None
        self._port: int | None = None
        # Web API method name -> the workspace's semantics for it.
        self._methods: dict[str, Callable[[JsonDict], JsonDict]] = {
            "auth.test": self.auth_test,
            "chat.postMessage": self.chat_post_message,
            "chat.update": self.chat_update,
            "chat.delete": self.chat_delete,
            "chat.postEphemeral": self.chat_post_ephemeral,
            "chat.getPermalink": self.chat_get_permalink,
            "views.open": self.views_open,
            "views.update": self.views_update,
            "views.push": self.views_push,
            "users.info": self.users_info,
            "usergroups.users.list": self.usergroups_users_list,
            "conversations.info": self.conversations_info,
            "conversations.history": self.conversations_history,
            "conversations.replies": self.conversations_replies,
        }
        # An outage: every Web API call answers this HTTP status until `restore()`.
        self._outage_status: int | None = None
        # Socket Mode: apps.connections.open (app-level token) and the /link/ websocket.
        self.socket = SocketModeStandIn(self)
        self._methods["apps.connections.open"] = self.socket.connections_open

    # ------------------------------------------------------------------ lifecycle

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._handle_api)
        app.router.add_post("/response_url/{token}", self._handle_response_url)
        self.socket.mount(app)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        # The same port again after `refuse_connections()`, so clients find it when it is back.
        site = web.TCPSite(self._runner, self._host, self._port or 0)
        await site.start()
        self._port = int(self._runner.addresses[0][1])

    async def stop(self) -> None:
        if self._runner is not None:
            await self.socket.close()  # an open websocket would hold the server's shutdown
            await self._runner.cleanup()
            self._runner = None
        self.cancel_waiters()

    # ------------------------------------------------------------------ outages

    def answer_every_call(self, status: int) -> None:
        """Slack is having an incident: every Web API call answers HTTP `status` (503...) with
        no `ok` body, and does nothing, until `restore()`. Calls are still recorded."""
        self._outage_status = status

    async def refuse_connections(self) -> None:
        """Slack is unreachable: nothing listens on the port until `restore()`."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def restore(self) -> None:
        """The end of an outage: calls are answered again, on the same port."""
        self._outage_status = None
        if self._runner is None and self._port is not None:
            await self.start()

    @property
    def url(self) -> str:
        if self._port is None:
            raise RuntimeError("the Slack API stand-in is not started")
        return f"http://{self._host}:{self._port}/"

    @property
    def base_url(self) -> str:
        """Web API base URL, for `AsyncWebClient(base_url=...)` and SLACK_API_URL."""
        return f"{self.url}api/"

    def issue_response_url(self, *, channel: str, user: str, message_ts: str | None = None) -> str:
        token = self.issue_response_url_token(channel=channel, user=user, message_ts=message_ts)
        return f"{self.url}response_url/{token}"

    # ------------------------------------------------------------------ HTTP

    async def _handle_api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        params = await _read_params(request)
        token = _bearer(request.headers.get("Authorization")) or params.get("token")
        params.pop("token", None)
        status, body, headers = self._dispatch(method, params, token)
        self.record_call(Call(method, params, self.wall_clock(), body, status, request.method))
        return web.json_response(body, status=status, headers=headers)

    def _dispatch(
        self, method: str, params: JsonDict, token: object
    ) -> tuple[int, JsonDict, dict[str, str]]:
        headers = {"X-OAuth-Scopes": BOT_SCOPES, "X-Accepted-OAuth-Scopes": ""}
        if self._outage_status is not None:
            return self._outage_status, {"ok": False, "error": "service_unavailable"}, headers
        handler = self._methods.get(method)
        if handler is None:
            return 404, {"ok": False, "error": "unknown_method", "req_method": method}, headers
        fault = self.take_fault(method)
        if fault is not None:
            if fault.retry_after is not None:
                headers["Retry-After"] = str(fault.retry_after)
                return 429, {"ok": False, "error": fault.error}, headers
            return 200, {"ok": False, "error": fault.error}, headers
        if not token:
            return 200, {"ok": False, "error": "not_authed"}, headers
        expected = self.app_token if method in APP_TOKEN_METHODS else self.bot_token
        if token != expected:
            # A real token of the other kind (bot vs app-level) is refused as Slack refuses it.
            known = token in (self.bot_token, self.app_token)
            error = "not_allowed_token_type" if known else "invalid_auth"
            return 200, {"ok": False, "error": error}, headers
        try:
            result = handler(params)
        except SlackError as e:
            return 200, {"ok": False, "error": e.error, **e.extra}, headers
        return 200, {"ok": True, **result}, headers

    async def _handle_response_url(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        params = await _read_params(request)
        status: int = 200
        body: JsonDict = {"ok": True}
        try:
            self.use_response_url(token, params)
        except SlackError as e:
            status = 404 if e.error in _URL_ERRORS else 400
            body = {"ok": False, "error": e.error}
        self.record_call(Call("response_url", params, self.wall_clock(), body, status))
        return web.json_response(body, status=status)


# ---------------------------------------------------------------------- module helpers


async def _read_params(request: web.Request) -> JsonDict:
    params: JsonDict = dict(request.query)
    if request.method == "POST" and request.can_read_body:
        if request.content_type == "application/json":
            body = await request.json()
            if isinstance(body, dict):
                params.update(body)
        else:
            form = await request.post()
            params.update({k: v for k, v in form.items() if isinstance(v, str)})
    for key in _JSON_FIELDS:
        value = params.get(key)
        if isinstance(value, str) and value:
            # Malformed JSON stays a string so the method answers as Slack does (invalid_blocks).
            with contextlib.suppress(json.JSONDecodeError):
                params[key] = json.loads(value)
    return params


def _bearer(header: str | None) -> str | None:
    if header and header.lower().startswith("bearer "):
        return header[7:].strip() or None
    return None
