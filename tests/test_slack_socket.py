"""The stand-in's Socket Mode (bot/sandbox/slack_socket.py) and the SocketDriver, exercised with
the real slack_sdk client and a bare websocket client playing a (well- or badly-behaved) app."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.sandbox.slack_api import SlackApiStandIn
from bot.sandbox.slack_driver import NoAck, SocketDriver, SocketResponse
from bot.sandbox.slack_socket import NoConnection

CHANNEL = "C0INCIDENT"
ALICE = "U0ALICE"


@pytest.fixture
async def api() -> AsyncIterator[SlackApiStandIn]:
    async with SlackApiStandIn() as stand_in:
        stand_in.add_user(ALICE, "alice", "Alice Doe")
        stand_in.add_channel(CHANNEL, "incident-42")
        yield stand_in


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def _error_of(call: Any) -> str:
    with pytest.raises(SlackApiError) as info:
        await call
    return str(info.value.response["error"])


async def _ws_url(api: SlackApiStandIn) -> str:
    opened = await AsyncWebClient(base_url=api.base_url).apps_connections_open(
        app_token=api.app_token
    )
    url: str = opened["url"]
    return url


async def _receive_json(ws: aiohttp.ClientWebSocketResponse) -> Any:
    msg = await ws.receive(timeout=5)
    assert msg.type == aiohttp.WSMsgType.TEXT, msg
    return json.loads(msg.data)


# ---------------------------------------------------------------------- apps.connections.open


async def test_connections_open_takes_only_the_app_level_token(api: SlackApiStandIn) -> None:
    web = AsyncWebClient(base_url=api.base_url)
    assert await _error_of(web.apps_connections_open(app_token="")) == "not_authed"
    assert await _error_of(web.apps_connections_open(app_token="xapp-1-nope")) == "invalid_auth"
    bot_token = web.apps_connections_open(app_token=api.bot_token)
    assert await _error_of(bot_token) == "not_allowed_token_type"
    # ... and the app-level token opens no other method.
    as_app = AsyncWebClient(token=api.app_token, base_url=api.base_url)
    assert await _error_of(as_app.chat_postMessage(channel=CHANNEL, text="hi")) == (
        "not_allowed_token_type"
    )

    opened = await web.apps_connections_open(app_token=api.app_token)
    assert opened["url"].startswith(f"{api.socket.url}?ticket=")
    assert f"app_id={api.app_id}" in opened["url"]
    assert [c.error for c in api.calls("apps.connections.open")] == [
        "not_authed",
        "invalid_auth",
        "not_allowed_token_type",
        None,
    ]


async def test_a_url_works_once_and_says_hello(
    api: SlackApiStandIn, http: aiohttp.ClientSession
) -> None:
    url = await _ws_url(api)
    async with http.ws_connect(url, autoping=False) as ws:  # as slack_sdk connects
        hello = await _receive_json(ws)
        assert hello["type"] == "hello" and hello["num_connections"] == 1
        assert hello["connection_info"] == {"app_id": api.app_id}
        with pytest.raises(aiohttp.WSServerHandshakeError) as reused:
            await http.ws_connect(url)
        assert reused.value.status == 401
        with pytest.raises(aiohttp.WSServerHandshakeError):
            await http.ws_connect(api.socket.url + "?ticket=made-up")

        await ws.ping(b"sdk-ping-pong:1")
        pong = await ws.receive(timeout=5)
        assert (pong.type, pong.data) == (aiohttp.WSMsgType.PONG, b"sdk-ping-pong:1")
        (conn,) = api.socket.open_connections()
        assert conn.pings == 1
    await api.wait_for(lambda: not conn.open, what="closed")
    assert (conn.closed_by, conn.close_code) == ("app", 1000)


# ---------------------------------------------------------------------- envelopes and acks


async def test_envelopes_are_acked_late_or_not_at_all(
    api: SlackApiStandIn, http: aiohttp.ClientSession
) -> None:
    with pytest.raises(NoConnection):
        await api.socket.deliver("slash_commands", {"command": "/x"})

    async with http.ws_connect(await _ws_url(api)) as ws:
        await _receive_json(ws)  # hello

        async def ack_next(payload: dict[str, Any] | None = None) -> dict[str, Any]:
            envelope: dict[str, Any] = await _receive_json(ws)
            ack: dict[str, Any] = {"envelope_id": envelope["envelope_id"]}
            if payload is not None:
                ack["payload"] = payload
            await ws.send_str(json.dumps(ack))
            return envelope

        command = {"command": "/x", "text": "help"}
        acking = asyncio.ensure_future(ack_next({"text": "usage"}))
        done = await api.socket.deliver("slash_commands", command)
        sent = await acking
        assert sent == {
            "envelope_id": done.envelope_id,
            "payload": command,
            "type": "slash_commands",
            "accepts_response_payload": True,
        }
        assert done.acked_in_time and done.ack_payload == {"text": "usage"}
        latency = done.ack_latency
        assert latency is not None and 0 <= latency < 3

        click = {"type": "block_actions", "actions": []}
        acking = asyncio.ensure_future(ack_next())
        done = await api.socket.deliver("interactive", click)
        assert (await acking)["accepts_response_payload"] is False
        assert done.acked and done.ack_payload is None

        # No ack within the deadline (shortened here): delivered, not acked. A late ack is
        # still recorded; a second ack, or one for no envelope, is stray.
        missed = await api.socket.deliver("interactive", click, timeout=0.05)
        assert not missed.acked and not missed.acked_in_time
        await ws.send_str(json.dumps({"envelope_id": missed.envelope_id}))
        await api.wait_for(lambda: missed.acked, what="the late ack")
        await ws.send_str(json.dumps({"envelope_id": missed.envelope_id}))
        await ws.send_str("not json")
        (conn,) = api.socket.connections()
        await api.wait_for(lambda: len(conn.stray) == 2, what="stray acks")


async def test_socket_driver_reads_like_the_http_driver(
    api: SlackApiStandIn, http: aiohttp.ClientSession
) -> None:
    """Bolt's own Socket Mode adapter on the stand-in: the ack payload is the Response's body,
    shown to the user as Slack shows it; an unhandled command gets no ack."""
    bolt = AsyncApp(client=AsyncWebClient(token=api.bot_token, base_url=api.base_url))

    @bolt.command("/hello")
    async def hello(ack: AsyncAck) -> None:
        await ack(text="hi there")

    handler = AsyncSocketModeHandler(bolt, api.app_token)
    await handler.connect_async()  # type: ignore[no-untyped-call]
    try:
        driver = SocketDriver(api)
        answer = await driver.slash_command(ALICE, CHANNEL, command="/hello")
        assert isinstance(answer, SocketResponse) and answer.envelope is not None
        assert (answer.status, answer.json()) == (200, {"text": "hi there"})
        (shown,) = api.ephemerals(CHANNEL, user=ALICE)
        assert (shown.text, shown.via) == ("hi there", "ack")

        impatient = SocketDriver(api, ack_timeout=0.2)  # a bound on the wait, not a sleep
        with pytest.raises(NoAck):  # Bolt acks nothing it has no listener for
            await impatient.slash_command(ALICE, CHANNEL, command="/unknown")
        with pytest.raises(TypeError):
            await driver.slash_command(ALICE, CHANNEL, command="/hello", signature="v0=x")
    finally:
        await handler.close_async()  # type: ignore[no-untyped-call]
