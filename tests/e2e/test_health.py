"""GET /healthz in both serving modes."""

from __future__ import annotations

import aiohttp

from bot.sandbox.harness import Sandbox
from handlers.app import running


async def test_http_mode_health_is_ok(sb: Sandbox) -> None:
    health = sb.app_url.replace("/slack/events", "/healthz")
    async with aiohttp.ClientSession() as http, http.get(health) as resp:
        assert resp.status == 200
        assert await resp.json() == {"ok": True}


async def test_socket_mode_health_follows_the_websocket_and_exposes_no_slack_endpoint(
    sb: Sandbox,
) -> None:
    connected = [False]

    async def websocket_up() -> bool:  # stands in for Slack's websocket, not for our code
        return connected[0]

    async with (
        running(sb.app, "127.0.0.1", 0, slack_events=False, healthy=websocket_up) as port,
        aiohttp.ClientSession() as http,
    ):
        base = f"http://127.0.0.1:{port}"
        async with http.get(f"{base}/healthz") as resp:
            assert (resp.status, await resp.json()) == (503, {"ok": False})
        connected[0] = True
        async with http.get(f"{base}/healthz") as resp:
            assert (resp.status, await resp.json()) == (200, {"ok": True})
        async with http.post(f"{base}/slack/events", data=b"payload=%7B%7D") as resp:
            assert resp.status == 404
