"""GET /metrics and GET /readyz, and the timing of Slack Web API calls.

/healthz stays liveness (is the process serving; in Socket Mode, is the websocket up). /readyz says
whether this replica can do its job now: the store answers a read, Slack accepts the bot token
(auth.test, remembered for READY_SLACK_TTL seconds so probes do not become Slack traffic), and in
Socket Mode the websocket is up. Each check is named in the JSON body; no secret ever is.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from types import SimpleNamespace
from typing import Any

import aiohttp
from aiohttp import web
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.metrics import CONTENT_TYPE, Metrics
from bot.services import Services, store_answers

log = logging.getLogger(__name__)

METRICS_PATH = "/metrics"
READY_PATH = "/readyz"
READY_SLACK_TTL = 30.0
READY_CHECK_TIMEOUT = 5.0

Check = Callable[[], Awaitable[bool]]


def slack_call_timer(metrics: Metrics) -> aiohttp.TraceConfig:
    """An aiohttp trace that times each Web API request by method (the URL's last segment)."""
    trace = aiohttp.TraceConfig()

    async def started(_: Any, ctx: SimpleNamespace, params: Any) -> None:
        ctx.started = time.monotonic()

    async def ended(_: Any, ctx: SimpleNamespace, params: Any) -> None:
        method = params.url.path.rstrip("/").rsplit("/", 1)[-1]
        metrics.observe_slack_call(method, time.monotonic() - ctx.started)

    trace.on_request_start.append(started)
    trace.on_request_end.append(ended)
    trace.on_request_exception.append(ended)
    return trace


class Readiness:
    def __init__(
        self, services: Services, client: AsyncWebClient, socket_up: Check | None = None
    ) -> None:
        self._services = services
        self._client = client
        self._socket_up = socket_up
        self._slack_ok_until = 0.0

    async def checks(self) -> dict[str, str]:
        """Each check's name and "ok" or what is wrong (words of ours, never a secret)."""
        results = {"store": await self._store(), "slack": await self._slack()}
        if self._socket_up is not None:
            results["socket"] = "ok" if await self._socket_up() else "websocket to Slack is down"
        return results

    async def _store(self) -> str:
        try:
            async with asyncio.timeout(READY_CHECK_TIMEOUT):
                await store_answers(self._services.store)
        except TimeoutError:
            return f"no answer within {READY_CHECK_TIMEOUT:g}s"
        except Exception as exc:  # the backend's own errors; the class names the cause
            return f"store read failed ({type(exc).__name__})"
        return "ok"

    async def _slack(self) -> str:
        if time.monotonic() < self._slack_ok_until:
            return "ok"
        try:
            async with asyncio.timeout(READY_CHECK_TIMEOUT):
                await self._client.auth_test()
        except SlackApiError as exc:
            error = exc.response.get("error", "error") if exc.response is not None else "error"
            return f"Slack refused the bot token ({error})"
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            return f"Slack cannot be reached ({type(exc).__name__})"
        self._slack_ok_until = time.monotonic() + READY_SLACK_TTL
        return "ok"


def add_routes(web_app: web.Application, services: Services, readiness: Readiness) -> None:
    metrics = services.metrics

    async def serve_metrics(_: web.Request) -> web.Response:
        try:
            active = await services.requests.list_active()
        except Exception:  # the store's errors vary by backend; /readyz says what is wrong
            log.warning("could not read the store for the outbox and runner metrics")
        else:
            metrics.observe_work(active, services.runner.held, services.requests.now())
        response = web.Response(body=metrics.render())
        response.headers["Content-Type"] = CONTENT_TYPE
        return response

    async def ready(_: web.Request) -> web.Response:
        checks = await readiness.checks()
        ok = all(result == "ok" for result in checks.values())
        return web.json_response({"ok": ok, "checks": checks}, status=200 if ok else 503)

    web_app.router.add_get(METRICS_PATH, serve_metrics)
    web_app.router.add_get(READY_PATH, ready)
