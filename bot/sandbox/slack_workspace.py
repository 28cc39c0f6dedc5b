"""The Slack stand-in's backend: the workspace's state and Slack's semantics, no HTTP.

Users, channels, messages and threads, ephemerals, modals (views) and their input state,
trigger ids, response URLs, usergroups, injected faults and the call log live here, as do the
Web API methods' semantics: each is a plain method that takes the call's decoded parameters and
returns the answer's fields or raises `SlackError(code)`. `slack_api.py` is the thin aiohttp
layer (bodies, tokens, HTTP statuses, 429s) over it; `slack_render.py` turns it into text.
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import itertools
import json
import secrets
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from bot.sandbox.slack_render import SlackRenderer

JsonDict = dict[str, Any]
_T = TypeVar("_T")

TRIGGER_ID_TTL_SECONDS = 3.0
RESPONSE_URL_MAX_USES = 5
RESPONSE_URL_TTL_SECONDS = 30 * 60
MODAL_STACK_LIMIT = 3

# Limits Slack enforces server-side; plain-dict Block Kit is never checked client-side, so the
# stand-in is where a too-long section or a 51st block gets caught before production does.
MAX_MESSAGE_BLOCKS = 50
MAX_VIEW_BLOCKS = 100
MAX_SECTION_TEXT = 3000
MAX_BUTTON_VALUE = 2000
MAX_ID_LENGTH = 255
MAX_VIEW_TITLE = 24
MAX_PRIVATE_METADATA = 3000
MAX_MESSAGE_TEXT = 40000
MAX_STATIC_SELECT_OPTIONS = 100

# element type -> (key in view.state.values, key of its initial value in the element)
_STATE_KEYS: dict[str, tuple[str, str]] = {
    "static_select": ("selected_option", "initial_option"),
    "external_select": ("selected_option", "initial_option"),
    "radio_buttons": ("selected_option", "initial_option"),
    "checkboxes": ("selected_options", "initial_options"),
    "multi_static_select": ("selected_options", "initial_options"),
    "multi_users_select": ("selected_users", "initial_users"),
    "multi_conversations_select": ("selected_conversations", "initial_conversations"),
    "multi_channels_select": ("selected_channels", "initial_channels"),
    "users_select": ("selected_user", "initial_user"),
    "conversations_select": ("selected_conversation", "initial_conversation"),
    "channels_select": ("selected_channel", "initial_channel"),
    "datepicker": ("selected_date", "initial_date"),
    "timepicker": ("selected_time", "initial_time"),
    "datetimepicker": ("selected_date_time", "initial_date_time"),
    "rich_text_input": ("rich_text_value", "initial_value"),
}
_MULTI_ELEMENTS = {"checkboxes", *(k for k in _STATE_KEYS if k.startswith("multi_"))}

_STATEFUL_ELEMENTS = {
    "plain_text_input",
    "number_input",
    "email_text_input",
    "url_text_input",
    "rich_text_input",
    "static_select",
    "external_select",
    "users_select",
    "conversations_select",
    "channels_select",
    "multi_static_select",
    "multi_users_select",
    "multi_conversations_select",
    "multi_channels_select",
    "radio_buttons",
    "checkboxes",
    "datepicker",
    "timepicker",
    "datetimepicker",
}


class SlackError(Exception):
    """A Slack error answer (`{"ok": false, "error": ...}`) raised inside a method handler."""

    def __init__(self, error: str, **extra: Any) -> None:
        super().__init__(error)
        self.error = error
        self.extra = extra


@dataclass(frozen=True)
class Call:
    """One Web API call as the stand-in received and answered it."""

    method: str
    params: JsonDict
    time: float
    response: JsonDict
    status: int = 200
    http_method: str = "POST"

    @property
    def ok(self) -> bool:
        return bool(self.response.get("ok"))

    @property
    def error(self) -> str | None:
        err = self.response.get("error")
        return err if isinstance(err, str) else None


@dataclass
class User:
    id: str
    name: str
    real_name: str
    is_bot: bool = False

    @property
    def display(self) -> str:
        return self.real_name or self.name


@dataclass
class Channel:
    id: str
    name: str
    is_private: bool = False


@dataclass
class Message:
    """A channel message in its current version; earlier versions are kept in `history`."""

    channel: str
    ts: str
    user: str
    text: str
    blocks: list[JsonDict]
    attachments: list[JsonDict]
    thread_ts: str | None = None
    bot_id: str | None = None
    app_id: str | None = None
    edited_ts: str | None = None
    deleted: bool = False
    history: list[JsonDict] = field(default_factory=list)
    metadata: JsonDict | None = None  # chat.postMessage's `metadata` (event_type, event_payload)

    @property
    def is_reply(self) -> bool:
        return self.thread_ts is not None and self.thread_ts != self.ts

    def to_api(self, team_id: str, *, with_metadata: bool = False) -> JsonDict:
        out: JsonDict = {
            "type": "message",
            "user": self.user,
            "text": self.text,
            "ts": self.ts,
            "team": team_id,
        }
        if self.bot_id:
            out["bot_id"] = self.bot_id
            out["app_id"] = self.app_id
        if self.blocks:
            out["blocks"] = copy.deepcopy(self.blocks)
        if self.attachments:
            out["attachments"] = copy.deepcopy(self.attachments)
        if self.thread_ts:
            out["thread_ts"] = self.thread_ts
        if self.edited_ts:
            out["edited"] = {"user": self.user, "ts": self.edited_ts}
        if with_metadata and self.metadata is not None:
            out["metadata"] = copy.deepcopy(self.metadata)
        return out


@dataclass
class Ephemeral:
    """A message only `user` sees; `via`: "chat.postEphemeral", "response_url" or "ack"."""

    channel: str
    user: str
    ts: str
    text: str
    blocks: list[JsonDict]
    thread_ts: str | None
    via: str


@dataclass
class View:
    """A modal in its latest version, with the input state the user has entered so far."""

    id: str
    payload: JsonDict
    hash: str
    root_view_id: str
    previous_view_id: str | None
    user: str | None
    state: dict[str, dict[str, JsonDict]]
    closed: bool = False
    errors: dict[str, str] = field(default_factory=dict)
    versions: list[JsonDict] = field(default_factory=list)

    @property
    def callback_id(self) -> str:
        return str(self.payload.get("callback_id", ""))

    @property
    def private_metadata(self) -> str:
        return str(self.payload.get("private_metadata", ""))

    @property
    def blocks(self) -> list[JsonDict]:
        blocks = self.payload.get("blocks", [])
        return blocks if isinstance(blocks, list) else []

    def to_api(self, *, team_id: str, app_id: str, bot_id: str) -> JsonDict:
        p = self.payload
        return {
            "id": self.id,
            "team_id": team_id,
            "type": p.get("type", "modal"),
            "blocks": copy.deepcopy(self.blocks),
            "private_metadata": self.private_metadata,
            "callback_id": self.callback_id,
            "state": {"values": copy.deepcopy(self.state)},
            "hash": self.hash,
            "title": copy.deepcopy(p.get("title")),
            "close": copy.deepcopy(p.get("close")),
            "submit": copy.deepcopy(p.get("submit")),
            "clear_on_close": bool(p.get("clear_on_close", False)),
            "notify_on_close": bool(p.get("notify_on_close", False)),
            "previous_view_id": self.previous_view_id,
            "root_view_id": self.root_view_id,
            "app_id": app_id,
            "external_id": str(p.get("external_id", "")),
            "app_installed_team_id": team_id,
            "bot_id": bot_id,
        }


@dataclass
class _Trigger:
    issued_at: float
    user: str | None = None
    view_id: str | None = None
    used: bool = False


@dataclass
class _Fault:
    error: str
    remaining: int
    retry_after: int | None = None


@dataclass
class _ResponseUrl:
    channel: str
    user: str
    message_ts: str | None
    issued_at: float
    uses: int = 0


class SlackWorkspace:
    """One Slack workspace with this app installed; `SlackApiStandIn` serves it over HTTP."""

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
    ) -> None:
        self.bot_token = bot_token
        self.app_token = app_token
        self.team_id = team_id
        self.team_domain = team_domain
        self.team_name = team_name
        self.bot_user_id = bot_user_id
        self.bot_id = bot_id
        self.bot_name = bot_name
        self.app_id = app_id
        # `clock` drives expiry (trigger ids, response_urls) so tests can jump time;
        # `wall_clock` only stamps message ts values.
        self.clock = clock
        self.wall_clock = wall_clock
        self.strict_channels = strict_channels
        self.usergroups_plan = usergroups_plan

        self._calls: list[Call] = []
        self._waiters: set[asyncio.Future[None]] = set()
        self._faults: dict[str, deque[_Fault]] = {}
        self._users: dict[str, User] = {
            bot_user_id: User(bot_user_id, bot_name, bot_name, is_bot=True)
        }
        self._usergroups: dict[str, list[str]] = {}
        self._usergroup_handles: dict[str, str] = {}
        self._channels: dict[str, Channel] = {}
        self._messages: dict[str, list[Message]] = {}
        self._ephemerals: list[Ephemeral] = []
        self._views: dict[str, View] = {}
        self._triggers: dict[str, _Trigger] = {}
        self._response_urls: dict[str, _ResponseUrl] = {}
        self._last_ts = 0.0
        self._ids = itertools.count(1)
        self._renderer = SlackRenderer(self)

    # ------------------------------------------------------------------ registry & set-up

    def add_user(self, id: str, name: str, real_name: str = "", *, is_bot: bool = False) -> User:
        user = User(id, name, real_name or name, is_bot=is_bot)
        self._users[id] = user
        return user

    def user(self, user_id: str) -> User | None:
        return self._users.get(user_id)

    def usergroup_handle(self, group_id: str) -> str | None:
        return self._usergroup_handles.get(group_id)

    def set_usergroup(self, id: str, user_ids: Iterable[str], *, handle: str = "") -> None:
        self._usergroups[id] = list(user_ids)
        if handle:
            self._usergroup_handles[id] = handle

    def add_channel(self, id: str, name: str, *, is_private: bool = False) -> Channel:
        channel = Channel(id, name, is_private)
        self._channels[id] = channel
        self._messages.setdefault(id, [])
        return channel

    def channel(self, channel_id: str) -> Channel | None:
        return self._channels.get(channel_id)

    def issue_trigger_id(self, *, user: str | None = None, view_id: str | None = None) -> str:
        """A trigger id as Slack attaches to an interaction (`view_id`: one inside a modal)."""
        n = next(self._ids)
        trigger_id = f"{n}.{int(self.wall_clock())}.{secrets.token_hex(16)}"
        self._triggers[trigger_id] = _Trigger(self.clock(), user=user, view_id=view_id)
        return trigger_id

    def issue_response_url_token(
        self, *, channel: str, user: str, message_ts: str | None = None
    ) -> str:
        """A response_url's token; `SlackApiStandIn.issue_response_url` makes it a URL."""
        token = secrets.token_hex(12)
        self._response_urls[token] = _ResponseUrl(channel, user, message_ts, self.clock())
        return token

    def fail(self, method: str, error: str = "internal_error", times: int = 1) -> None:
        """The next `times` calls of `method` answer `{"ok": false, "error": error}`."""
        self._faults.setdefault(method, deque()).append(_Fault(error, times))

    def rate_limit(self, method: str, retry_after: int = 1, times: int = 1) -> None:
        """The next `times` calls of `method` answer HTTP 429 with a Retry-After header."""
        self._faults.setdefault(method, deque()).append(_Fault("ratelimited", times, retry_after))

    def post_user_message(
        self, channel: str, user: str, text: str, *, thread_ts: str | None = None
    ) -> Message:
        """A person typing in the channel (not an API call), for demos and context."""
        self._ensure_channel(channel)
        msg = Message(channel, self._next_ts(), user, text, [], [], thread_ts=thread_ts)
        self._messages[channel].append(msg)
        self._wake()
        return msg

    # ------------------------------------------------------------------ queries

    def calls(self, method: str | None = None) -> list[Call]:
        return [c for c in self._calls if method is None or c.method == method]

    def last_call(self, method: str) -> Call | None:
        found = self.calls(method)
        return found[-1] if found else None

    def messages(self, channel: str) -> list[Message]:
        """Top-level messages as the channel shows them (deleted ones only if a thread remains)."""
        return [
            m
            for m in self._messages.get(channel, [])
            if not m.is_reply and (not m.deleted or self.thread(channel, m.ts))
        ]

    def message(self, channel: str, ts: str) -> Message | None:
        for m in self._messages.get(channel, []):
            if m.ts == ts and not m.deleted:
                return m
        return None

    def thread(self, channel: str, ts: str) -> list[Message]:
        """Replies under the message `ts`, oldest first (the parent excluded)."""
        return [
            m
            for m in self._messages.get(channel, [])
            if m.is_reply and m.thread_ts == ts and not m.deleted
        ]

    def ephemerals(self, channel: str | None = None, user: str | None = None) -> list[Ephemeral]:
        return [
            e
            for e in self._ephemerals
            if (channel is None or e.channel == channel) and (user is None or e.user == user)
        ]

    def views(self) -> list[View]:
        return list(self._views.values())

    def view(self, view_id: str) -> View:
        try:
            return self._views[view_id]
        except KeyError:
            raise KeyError(f"no view {view_id!r}; views: {list(self._views)}") from None

    def view_api(self, view_id: str) -> JsonDict:
        """The view as Slack puts it in an interaction payload."""
        return self.view(view_id).to_api(
            team_id=self.team_id, app_id=self.app_id, bot_id=self.bot_id
        )

    def message_api(self, channel: str, ts: str) -> JsonDict | None:
        msg = self.message(channel, ts)
        return msg.to_api(self.team_id) if msg else None

    async def wait_for(
        self,
        predicate: Callable[[], _T],
        timeout: float = 5.0,  # noqa: ASYNC109 (the failure message must list the calls seen)
        *,
        what: str = "",
    ) -> _T:
        """Return `predicate()` once it is truthy, re-checking after every recorded change."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            result = predicate()
            if result:
                return result
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(self._timeout_message(predicate, timeout, what))
            waiter: asyncio.Future[None] = loop.create_future()
            self._waiters.add(waiter)
            try:
                await asyncio.wait_for(waiter, remaining)
            except TimeoutError:
                pass
            finally:
                self._waiters.discard(waiter)

    def _timeout_message(self, predicate: Callable[[], object], timeout: float, what: str) -> str:
        label = what or getattr(predicate, "__qualname__", repr(predicate))
        recent = self._calls[-15:]
        lines = [f"condition {label!r} did not hold within {timeout}s; recent Slack API calls:"]
        if not recent:
            lines.append("  (none)")
        for c in recent:
            outcome = "ok" if c.ok else f"error={c.error}"
            if c.status != 200:
                outcome += f" http={c.status}"
            lines.append(f"  {c.method} {outcome} {_summarise(c.params)}")
        return "\n".join(lines)

    def cancel_waiters(self) -> None:
        """Cancel every pending `wait_for` (the stand-in is stopping)."""
        for waiter in self._waiters:
            if not waiter.done():
                waiter.cancel()

    def _wake(self) -> None:
        # Futures rather than an asyncio.Condition: sync mutators (views state, user posts)
        # must be able to wake waiters without awaiting.
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)

    # ------------------------------------------------------------------ modal state (driver)

    def set_view_state(self, view_id: str, block_id: str, action_id: str, value: JsonDict) -> None:
        """Record what the user entered into a modal element, as the Slack client would."""
        self.view(view_id).state.setdefault(block_id, {})[action_id] = copy.deepcopy(value)
        self._wake()

    def apply_view_submission_response(self, view_id: str, body: object) -> None:
        """Do to the modal stack what Slack does with the app's view_submission ack body.

        An ack Slack would refuse raises ValueError: the user would see only "We had some
        trouble connecting", so a test should fail loudly instead.
        """
        view = self.view(view_id)
        fields = body if isinstance(body, dict) else {}
        action = fields.get("response_action")
        if action == "errors":
            errors = {str(k): str(v) for k, v in dict(fields.get("errors") or {}).items()}
            inputs = {str(b.get("block_id")) for b in view.blocks if b.get("type") == "input"}
            unknown = sorted(set(errors) - inputs)
            if unknown:
                raise ValueError(
                    f"response_action=errors names blocks that are not input blocks of view "
                    f"{view_id}: {unknown}; input blocks: {sorted(inputs)}"
                )
            view.errors = errors
        elif action in ("update", "push"):
            try:
                payload = self._view_param({"view": fields.get("view")})
            except SlackError as e:
                raise ValueError(
                    f"response_action={action} with a view Slack rejects: {e.error} {e.extra}"
                ) from None
            if action == "update":
                self._replace_view(view, payload)
            else:
                self._new_view(payload, user=view.user, parent=view)
        elif action == "clear":
            for v in self._views.values():
                if v.root_view_id == view.root_view_id:
                    v.closed = True
        else:
            view.closed = True
        self._wake()

    def missing_required_inputs(self, view_id: str) -> list[str]:
        """Required input blocks still empty: Slack's client refuses to submit those."""
        view = self.view(view_id)
        missing = []
        for block in view.blocks:
            if block.get("type") != "input" or block.get("optional"):
                continue
            element = block.get("element") or {}
            entered = view.state.get(str(block.get("block_id")), {}).get(
                str(element.get("action_id")), {}
            )
            if not any(v for k, v in entered.items() if k != "type"):
                missing.append(str(block.get("block_id")))
        return missing

    def close_view(self, view_id: str) -> None:
        self.view(view_id).closed = True
        self._wake()

    # ------------------------------------------------------------------ faults & call log

    def take_fault(self, method: str) -> _Fault | None:
        queue = self._faults.get(method)
        if not queue:
            return None
        fault = queue[0]
        fault.remaining -= 1
        if fault.remaining <= 0:
            queue.popleft()
        return fault

    def record_call(self, call: Call) -> None:
        self._calls.append(call)
        self._wake()

    # ------------------------------------------------------------------ response URLs

    def use_response_url(self, token: str, params: JsonDict) -> None:
        """Slack's handling of a POST to a response_url; refusals raise SlackError."""
        ru = self._response_urls.get(token)
        if ru is None:
            raise SlackError("invalid_url")
        if self.clock() - ru.issued_at > RESPONSE_URL_TTL_SECONDS:
            raise SlackError("expired_url")
        if ru.uses >= RESPONSE_URL_MAX_USES:
            raise SlackError("used_url")
        ru.uses += 1
        self._respond(ru, params)

    def deliver_command_ack(self, *, channel: str, user: str, body: object) -> None:
        """Show a slash command's ack body the way Slack does (ephemeral unless in_channel)."""
        if not body:
            return
        params = dict(body) if isinstance(body, dict) else {"text": str(body)}
        self._respond(_ResponseUrl(channel, user, None, self.clock()), params, via="ack")
        self._wake()

    def _respond(self, ru: _ResponseUrl, params: JsonDict, via: str = "response_url") -> None:
        blocks = _blocks_param(params)
        text = str(params.get("text") or "")
        if _truthy(params.get("delete_original")):
            if ru.message_ts:
                self._delete(ru.channel, ru.message_ts)
            return
        if _truthy(params.get("replace_original")) and ru.message_ts:
            msg = self.message(ru.channel, ru.message_ts)
            if msg is None:
                raise SlackError("message_not_found")
            self._validate_blocks(blocks, MAX_MESSAGE_BLOCKS)
            msg.history.append(msg.to_api(self.team_id))
            msg.text, msg.blocks = text, blocks
            return
        if not text and not blocks:
            raise SlackError("no_text")
        self._validate_blocks(blocks, MAX_MESSAGE_BLOCKS)
        thread_ts = params.get("thread_ts")
        if params.get("response_type") == "in_channel":
            self._post(ru.channel, text, blocks, [], str(thread_ts) if thread_ts else None)
        else:
            self._ephemerals.append(
                Ephemeral(
                    ru.channel,
                    ru.user,
                    self._next_ts(),
                    text,
                    blocks,
                    str(thread_ts) if thread_ts else None,
                    via,
                )
            )

    # ------------------------------------------------------------------ helpers

    def _next_ts(self) -> str:
        now = max(self.wall_clock(), self._last_ts + 0.000001)
        self._last_ts = now
        return f"{now:.6f}"

    def _next_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids):08d}"

    def _ensure_channel(self, channel: object) -> str:
        if not isinstance(channel, str) or not channel:
            raise SlackError("channel_not_found")
        if channel.startswith("#") or channel not in self._channels:
            # Slack accepts a channel name wherever it takes an id.
            name = channel.removeprefix("#")
            for known in self._channels.values():
                if known.name == name:
                    return known.id
        if channel not in self._channels:
            if self.strict_channels or channel.startswith("#"):
                raise SlackError("channel_not_found")
            self.add_channel(channel, channel.lower())
        return channel

    def _require(self, params: JsonDict, name: str) -> str:
        value = params.get(name)
        if value is None or value == "":
            raise SlackError(
                "invalid_arguments",
                response_metadata={"messages": [f"[ERROR] missing required field: {name}"]},
            )
        return str(value)

    def _post(
        self,
        channel: str,
        text: str,
        blocks: list[JsonDict],
        attachments: list[JsonDict],
        thread_ts: str | None,
    ) -> Message:
        msg = Message(
            channel,
            self._next_ts(),
            self.bot_user_id,
            text,
            blocks,
            attachments,
            thread_ts=thread_ts,
            bot_id=self.bot_id,
            app_id=self.app_id,
        )
        self._messages[channel].append(msg)
        return msg

    def _delete(self, channel: str, ts: str) -> None:
        msg = self.message(channel, ts)
        if msg is None:
            raise SlackError("message_not_found")
        msg.deleted = True

    def _validate_blocks(self, blocks: list[JsonDict], limit: int, where: str = "blocks") -> None:
        problems: list[str] = []
        if len(blocks) > limit:
            problems.append(f"[ERROR] no more than {limit} items allowed [json-pointer:/{where}]")
        seen: set[str] = set()
        for i, block in enumerate(blocks):
            ptr = f"/{where}/{i}"
            if not isinstance(block, dict) or "type" not in block:
                problems.append(f"[ERROR] missing required field: type [json-pointer:{ptr}]")
                continue
            block_id = block.get("block_id")
            if isinstance(block_id, str):
                if block_id in seen:
                    problems.append(f"[ERROR] duplicate block_id [json-pointer:{ptr}/block_id]")
                if len(block_id) > MAX_ID_LENGTH:
                    problems.append(
                        f"[ERROR] must be less than 256 characters [json-pointer:{ptr}/block_id]"
                    )
                seen.add(block_id)
            text = block.get("text")
            if (
                block.get("type") == "section"
                and isinstance(text, dict)
                and len(str(text.get("text", ""))) > MAX_SECTION_TEXT
            ):
                problems.append(
                    f"[ERROR] must be less than 3001 characters [json-pointer:{ptr}/text/text]"
                )
            for j, el in enumerate(_elements(block)):
                eptr = f"{ptr}/elements/{j}"
                if len(str(el.get("action_id", ""))) > MAX_ID_LENGTH:
                    problems.append(
                        f"[ERROR] must be less than 256 characters [json-pointer:{eptr}/action_id]"
                    )
                if len(str(el.get("value", ""))) > MAX_BUTTON_VALUE:
                    problems.append(
                        f"[ERROR] must be less than 2001 characters [json-pointer:{eptr}/value]"
                    )
                if len(el.get("options") or []) > MAX_STATIC_SELECT_OPTIONS:
                    problems.append(
                        f"[ERROR] no more than 100 items allowed [json-pointer:{eptr}/options]"
                    )
        if problems:
            raise SlackError("invalid_blocks", response_metadata={"messages": problems})

    def _assign_ids(self, blocks: list[JsonDict]) -> list[JsonDict]:
        # Slack fills in block_id/action_id the app left out; interaction payloads carry them.
        out = copy.deepcopy(blocks)
        for i, block in enumerate(out):
            if isinstance(block, dict) and "block_id" not in block:
                digest = hashlib.sha256(json.dumps(block, sort_keys=True).encode()).hexdigest()
                block["block_id"] = f"{digest[:4]}{i}"
            if isinstance(block, dict):
                for j, el in enumerate(_elements(block)):
                    if el.get("type") and "action_id" not in el:
                        el["action_id"] = f"{block['block_id']}-{j}"
        return out

    # ------------------------------------------------------------------ Web API methods
    # Each takes the call's decoded parameters and answers its fields, or raises SlackError.

    def auth_test(self, params: JsonDict) -> JsonDict:
        return {
            "url": f"https://{self.team_domain}.slack.com/",
            "team": self.team_name,
            "user": self.bot_name,
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": self.bot_id,
            "is_enterprise_install": False,
        }

    def chat_post_message(self, params: JsonDict) -> JsonDict:
        channel = self._ensure_channel(params.get("channel"))
        text = str(params.get("text") or "")
        blocks = _blocks_param(params)
        attachments = _list_param(params, "attachments")
        if not text and not blocks and not attachments:
            raise SlackError("no_text")
        if len(text) > MAX_MESSAGE_TEXT:
            raise SlackError("msg_too_long")
        self._validate_blocks(blocks, MAX_MESSAGE_BLOCKS)
        metadata = _metadata_param(params)
        thread_ts = params.get("thread_ts")
        # An unknown thread_ts is accepted and the reply is then visible nowhere, as in Slack.
        msg = self._post(
            channel,
            text,
            self._assign_ids(blocks),
            attachments,
            str(thread_ts) if thread_ts else None,
        )
        msg.metadata = metadata
        return {"channel": channel, "ts": msg.ts, "message": msg.to_api(self.team_id)}

    def chat_update(self, params: JsonDict) -> JsonDict:
        channel = self._ensure_channel(params.get("channel"))
        msg = self.message(channel, self._require(params, "ts"))
        if msg is None:
            raise SlackError("message_not_found")
        if msg.user != self.bot_user_id:
            raise SlackError("cant_update_message")
        # Slack keeps blocks/attachments the update leaves out; an empty list removes them.
        blocks = _blocks_param(params) if "blocks" in params else msg.blocks
        attachments = (
            _list_param(params, "attachments") if "attachments" in params else msg.attachments
        )
        text = str(params["text"]) if params.get("text") is not None else msg.text
        if not text and not blocks and not attachments:
            raise SlackError("no_text")
        if len(text) > MAX_MESSAGE_TEXT:
            raise SlackError("msg_too_long")
        self._validate_blocks(blocks, MAX_MESSAGE_BLOCKS)
        msg.history.append(msg.to_api(self.team_id))
        msg.text, msg.blocks, msg.attachments = text, self._assign_ids(blocks), attachments
        msg.edited_ts = self._next_ts()
        return {
            "channel": channel,
            "ts": msg.ts,
            "text": msg.text,
            "message": msg.to_api(self.team_id),
        }

    def chat_delete(self, params: JsonDict) -> JsonDict:
        channel = self._ensure_channel(params.get("channel"))
        ts = self._require(params, "ts")
        self._delete(channel, ts)
        return {"channel": channel, "ts": ts}

    def chat_post_ephemeral(self, params: JsonDict) -> JsonDict:
        channel = self._ensure_channel(params.get("channel"))
        user = self._require(params, "user")
        if user not in self._users:
            raise SlackError("user_not_in_channel")
        text = str(params.get("text") or "")
        blocks = _blocks_param(params)
        if not text and not blocks:
            raise SlackError("no_text")
        self._validate_blocks(blocks, MAX_MESSAGE_BLOCKS)
        thread_ts = params.get("thread_ts")
        eph = Ephemeral(
            channel,
            user,
            self._next_ts(),
            text,
            self._assign_ids(blocks),
            str(thread_ts) if thread_ts else None,
            "chat.postEphemeral",
        )
        self._ephemerals.append(eph)
        return {"message_ts": eph.ts}

    def chat_get_permalink(self, params: JsonDict) -> JsonDict:
        channel = self._ensure_channel(params.get("channel"))
        msg = self.message(channel, self._require(params, "message_ts"))
        if msg is None:
            raise SlackError("message_not_found")
        link = f"https://{self.team_domain}.slack.com/archives/{channel}/p{msg.ts.replace('.', '')}"
        if msg.is_reply:
            link += f"?thread_ts={msg.thread_ts}&cid={channel}"
        return {"channel": channel, "permalink": link}

    def _exchange_trigger(self, trigger_id: object) -> _Trigger:
        trigger = self._triggers.get(str(trigger_id)) if trigger_id else None
        if trigger is None:
            raise SlackError("invalid_trigger_id")
        if trigger.used:
            raise SlackError("exchanged_trigger_id")
        if self.clock() - trigger.issued_at > TRIGGER_ID_TTL_SECONDS:
            raise SlackError("expired_trigger_id")
        trigger.used = True
        return trigger

    def _view_param(self, params: JsonDict) -> JsonDict:
        view = params.get("view")
        if not isinstance(view, dict):
            raise SlackError(
                "invalid_arguments",
                response_metadata={"messages": ["[ERROR] missing required field: view"]},
            )
        problems: list[str] = []
        if view.get("type") != "modal":
            problems.append("[ERROR] must be 'modal' [json-pointer:/view/type]")
        title = view.get("title")
        if not isinstance(title, dict) or not title.get("text"):
            problems.append("[ERROR] missing required field: title [json-pointer:/view/title]")
        for key in ("title", "submit", "close"):
            obj = view.get(key)
            if isinstance(obj, dict) and len(str(obj.get("text", ""))) > MAX_VIEW_TITLE:
                problems.append(
                    f"[ERROR] must be less than 25 characters [json-pointer:/view/{key}/text]"
                )
        if len(str(view.get("private_metadata", ""))) > MAX_PRIVATE_METADATA:
            problems.append(
                "[ERROR] must be less than 3001 characters [json-pointer:/view/private_metadata]"
            )
        if len(str(view.get("callback_id", ""))) > MAX_ID_LENGTH:
            problems.append(
                "[ERROR] must be less than 256 characters [json-pointer:/view/callback_id]"
            )
        if problems:
            raise SlackError("invalid_arguments", response_metadata={"messages": problems})
        blocks = view.get("blocks")
        if not isinstance(blocks, list):
            raise SlackError(
                "invalid_arguments",
                response_metadata={"messages": ["[ERROR] missing required field: blocks"]},
            )
        self._validate_blocks(blocks, MAX_VIEW_BLOCKS, "view/blocks")
        return {**copy.deepcopy(view), "blocks": self._assign_ids(blocks)}

    def _new_view(self, payload: JsonDict, *, user: str | None, parent: View | None) -> View:
        view_id = self._next_id("V")
        view = View(
            id=view_id,
            payload=payload,
            hash=self._new_hash(),
            root_view_id=parent.root_view_id if parent else view_id,
            previous_view_id=parent.id if parent else None,
            user=user,
            state=_initial_state(payload.get("blocks", [])),
        )
        view.versions.append(copy.deepcopy(payload))
        self._views[view_id] = view
        return view

    def _replace_view(self, view: View, payload: JsonDict) -> None:
        # Slack keeps what the user entered in elements whose block_id/action_id survive the
        # update, even over a new initial value.
        old = view.state
        view.payload = payload
        view.state = _initial_state(payload.get("blocks", []))
        for block_id, actions in view.state.items():
            for action_id in actions:
                if action_id in old.get(block_id, {}):
                    actions[action_id] = old[block_id][action_id]
        view.hash = self._new_hash()
        view.errors = {}
        view.versions.append(copy.deepcopy(payload))

    def _new_hash(self) -> str:
        return f"{int(self.wall_clock())}.{secrets.token_hex(4)}"

    def _view_response(self, view: View) -> JsonDict:
        return {"view": view.to_api(team_id=self.team_id, app_id=self.app_id, bot_id=self.bot_id)}

    def views_open(self, params: JsonDict) -> JsonDict:
        payload = self._view_param(params)
        trigger = self._exchange_trigger(params.get("trigger_id"))
        return self._view_response(self._new_view(payload, user=trigger.user, parent=None))

    def views_push(self, params: JsonDict) -> JsonDict:
        payload = self._view_param(params)
        trigger = self._exchange_trigger(params.get("trigger_id"))
        parent = self._views.get(trigger.view_id) if trigger.view_id else None
        if parent is not None:
            depth = sum(
                1
                for v in self._views.values()
                if v.root_view_id == parent.root_view_id and not v.closed
            )
            if depth >= MODAL_STACK_LIMIT:
                raise SlackError("push_limit_reached")
        return self._view_response(self._new_view(payload, user=trigger.user, parent=parent))

    def views_update(self, params: JsonDict) -> JsonDict:
        view_id = params.get("view_id")
        external_id = params.get("external_id")
        if not view_id and not external_id:
            raise SlackError(
                "invalid_arguments",
                response_metadata={
                    "messages": ["[ERROR] either view_id or external_id is required"]
                },
            )
        payload = self._view_param(params)
        if view_id:
            view = self._views.get(str(view_id))
        else:
            view = next(
                (v for v in self._views.values() if v.payload.get("external_id") == external_id),
                None,
            )
        if view is None or view.closed:
            raise SlackError("not_found")
        expected = params.get("hash")
        if expected and expected != view.hash:
            raise SlackError("hash_conflict")
        self._replace_view(view, payload)
        return self._view_response(view)

    def users_info(self, params: JsonDict) -> JsonDict:
        user = self._users.get(self._require(params, "user"))
        if user is None:
            raise SlackError("user_not_found")
        return {
            "user": {
                "id": user.id,
                "team_id": self.team_id,
                "name": user.name,
                "real_name": user.real_name,
                "deleted": False,
                "is_bot": user.is_bot,
                "is_app_user": False,
                "tz": "Etc/UTC",
                "profile": {
                    "real_name": user.real_name,
                    "display_name": user.name,
                    "team": self.team_id,
                },
            }
        }

    def usergroups_users_list(self, params: JsonDict) -> JsonDict:
        if not self.usergroups_plan:
            raise SlackError("plan_upgrade_required")
        group = self._usergroups.get(self._require(params, "usergroup"))
        if group is None:
            raise SlackError("no_such_subteam")
        return {"users": list(group)}

    def conversations_history(self, params: JsonDict) -> JsonDict:
        """Top-level messages, newest first, between `oldest` and `latest` (exclusive), as
        Slack pages them; `include_all_metadata` adds each message's metadata."""
        channel = self._ensure_channel(params.get("channel"))
        found = [m for m in self._messages.get(channel, []) if not m.is_reply and not m.deleted]
        return self._page(list(reversed(_between(found, params))), params)

    def conversations_replies(self, params: JsonDict) -> JsonDict:
        """A thread: its parent then its replies, oldest first, as Slack pages them."""
        channel = self._ensure_channel(params.get("channel"))
        ts = self._require(params, "ts")
        parent = self.message(channel, ts)
        if parent is None:
            raise SlackError("thread_not_found")
        return self._page([parent, *_between(self.thread(channel, ts), params)], params)

    def _page(self, found: list[Message], params: JsonDict) -> JsonDict:
        limit = int(params.get("limit") or 100)
        if not 1 <= limit <= 1000:
            raise SlackError("invalid_limit")
        start = int(params.get("cursor") or 0)
        page = found[start : start + limit]
        with_metadata = _truthy(params.get("include_all_metadata"))
        more = start + limit < len(found)
        return {
            "messages": [m.to_api(self.team_id, with_metadata=with_metadata) for m in page],
            "has_more": more,
            "response_metadata": {"next_cursor": str(start + limit) if more else ""},
        }

    def conversations_info(self, params: JsonDict) -> JsonDict:
        channel = self._channels[self._ensure_channel(params.get("channel"))]
        return {
            "channel": {
                "id": channel.id,
                "name": channel.name,
                "is_channel": not channel.is_private,
                "is_group": channel.is_private,
                "is_im": False,
                "is_private": channel.is_private,
                "is_archived": False,
                "is_member": True,
                "context_team_id": self.team_id,
            }
        }

    # ------------------------------------------------------------------ rendering (slack_render)

    def render_channel(self, channel: str) -> str:
        """The channel as a person reads it: messages, blocks as text, threads indented."""
        return self._renderer.render_channel(channel)

    def render_ephemerals(self, user: str, channel: str | None = None) -> str:
        """What `user` alone saw ("Only visible to you")."""
        return self._renderer.render_ephemerals(user, channel)

    def render_view(self, view_id: str) -> str:
        """A modal as the user sees it, including what has been entered and any field errors."""
        return self._renderer.render_view(view_id)

    def render_blocks(
        self,
        blocks: list[JsonDict],
        *,
        state: dict[str, dict[str, JsonDict]] | None = None,
        errors: dict[str, str] | None = None,
    ) -> str:
        return self._renderer.render_blocks(blocks, state=state, errors=errors)

    def render_mrkdwn(self, text: str) -> str:
        """Resolve Slack's `<...>` markup the way the client displays it, then unescape."""
        return self._renderer.render_mrkdwn(text)


# ---------------------------------------------------------------------- module helpers


def _metadata_param(params: JsonDict) -> JsonDict | None:
    metadata = params.get("metadata")
    if metadata is None or metadata == "":
        return None
    if (
        not isinstance(metadata, dict)
        or not isinstance(metadata.get("event_type"), str)
        or not isinstance(metadata.get("event_payload"), dict)
    ):
        raise SlackError("invalid_metadata_format")
    return copy.deepcopy(metadata)


def _between(messages: list[Message], params: JsonDict) -> list[Message]:
    oldest = float(params.get("oldest") or 0)
    latest = float(params.get("latest") or "inf")
    return [m for m in messages if oldest < float(m.ts) < latest]


def _list_param(params: JsonDict, name: str) -> list[JsonDict]:
    value = params.get(name)
    if value in (None, ""):
        return []
    if not isinstance(value, list):
        raise SlackError(f"invalid_{name}")
    return [v for v in value if isinstance(v, dict)]


def _blocks_param(params: JsonDict) -> list[JsonDict]:
    return _list_param(params, "blocks")


def _truthy(value: object) -> bool:
    return value is True or (isinstance(value, str) and value.lower() in ("true", "1"))


def _elements(block: JsonDict) -> list[JsonDict]:
    """Interactive elements of a block, wherever Block Kit puts them."""
    found: list[JsonDict] = []
    for key in ("accessory", "element"):
        if isinstance(block.get(key), dict):
            found.append(block[key])
    if block.get("type") == "actions":
        found.extend(el for el in block.get("elements") or [] if isinstance(el, dict))
    return found


def _initial_state(blocks: object) -> dict[str, dict[str, JsonDict]]:
    """What Slack reports in `view.state.values` before the user touches anything."""
    state: dict[str, dict[str, JsonDict]] = {}
    if not isinstance(blocks, list):
        return state
    for block in blocks:
        if not isinstance(block, dict):
            continue
        for el in _elements(block):
            kind = el.get("type")
            if kind not in _STATEFUL_ELEMENTS:
                continue
            value: JsonDict = {"type": kind}
            if kind in _STATE_KEYS:
                state_key, initial_key = _STATE_KEYS[kind]
                value[state_key] = copy.deepcopy(el.get(initial_key))
                if kind in _MULTI_ELEMENTS and value[state_key] is None:
                    value[state_key] = []
            else:
                value["value"] = el.get("initial_value")
            state.setdefault(str(block.get("block_id")), {})[str(el.get("action_id"))] = value
    return state


def _summarise(params: JsonDict) -> str:
    keys = ("channel", "ts", "thread_ts", "user", "usergroup", "view_id", "text")
    parts = []
    for k in keys:
        if k in params:
            v = str(params[k])
            parts.append(f"{k}={v[:40] + '...' if len(v) > 40 else v}")
    if "blocks" in params:
        parts.append(
            f"blocks={len(params['blocks']) if isinstance(params['blocks'], list) else '?'}"
        )
    return " ".join(parts)
