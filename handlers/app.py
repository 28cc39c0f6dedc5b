"""The Bolt app, its HTTP server and its Socket Mode connection.

HTTP mode serves Slack at POST /slack/events (Bolt verifies every signature), GET /healthz,
GET /readyz and GET /metrics. Socket Mode receives events over a websocket and serves the same
GET paths (/healthz and /readyz answer 503 while the websocket is down), so a container health
check works the same in both modes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.async_app import AsyncApp
from slack_bolt.logger.messages import warning_client_prioritized_and_token_skipped
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

import handlers
from bot.config import Settings, SettingsError, serving_problems
from bot.metrics import Metrics
from bot.outbox import OutboxDrainer
from bot.services import Services
from handlers import intake
from handlers.approvers import SlackApprovers
from handlers.channel import RequestChannel
from handlers.context import Handlers
from handlers.observability import Readiness, slack_call_timer
from handlers.observability import add_routes as add_observability_routes
from handlers.socket_connection import SocketConnectionGuard

log = logging.getLogger(__name__)

APP_NAME = "bedrock-key-revoker"
EVENTS_PATH = "/slack/events"
HEALTH_PATH = "/healthz"
EXPIRY_SWEEP_SECONDS = 30.0
# How long a stop (SIGTERM) waits for work already acked, such as an execution, before closing.
STOP_GRACE_SECONDS = 20.0
WEB_API_TIMEOUT_SECONDS = 30  # slack_sdk's default; a shared session applies its own timeout

HealthCheck = Callable[[], Awaitable[bool]]


class ConfigurationError(Exception):
    """The app cannot start as configured; the message names the variable to set."""


def web_session(
    timeout: float = WEB_API_TIMEOUT_SECONDS, metrics: Metrics | None = None
) -> aiohttp.ClientSession:
    """One HTTP session (a connection pool) for every Web API call the app makes. Without it,
    slack_sdk opens a new session and TCP (and TLS) connection for each call. Create it inside
    the running event loop and close it after the last call. With `metrics`, every call's
    latency is observed by method."""
    return aiohttp.ClientSession(
        timeout=aiohttp.ClientTimeout(total=timeout),
        trace_configs=[slack_call_timer(metrics)] if metrics is not None else None,
    )


def web_client(settings: Settings, session: aiohttp.ClientSession | None = None) -> AsyncWebClient:
    if settings.slack_bot_token is None:
        raise ConfigurationError("SLACK_BOT_TOKEN is not set.")
    return AsyncWebClient(
        token=settings.slack_bot_token.get_secret_value(),
        base_url=settings.slack_api_url,
        timeout=WEB_API_TIMEOUT_SECONDS,
        session=session,
        retry_handlers=[
            AsyncConnectionErrorRetryHandler(max_retry_count=2),
            AsyncRateLimitErrorRetryHandler(max_retry_count=3),
        ],
    )


def check_startup(settings: Settings) -> None:
    """Refuse to start a bot nobody can approve on, or one that trusts unsigned calls."""
    if problems := serving_problems(settings):
        raise ConfigurationError(str(SettingsError(problems)))


GIL_SWITCH_SECONDS = 0.001


@dataclass(frozen=True)
class RevokerApp:
    bolt: AsyncApp
    handlers: Handlers
    # False only for a Socket Mode app: Bolt then skips signature checks, so it must never be
    # given HTTP requests (web_application refuses to route Slack events to it).
    verifies_signatures: bool = True
    # The work listeners run after their ack (`Handlers.after_ack`): the HTTP response does not
    # wait for it (an execution runs on for seconds), so shutdown waits for it: `settle`.
    listeners: set[asyncio.Task[Any]] = field(default_factory=set, compare=False, repr=False)
    # Delivers every request's notices to Slack (`bot.outbox`); with the runner it runs as long
    # as the app serves: `workers`.
    outbox: OutboxDrainer | None = None

    async def settle(self, grace: float = STOP_GRACE_SECONDS) -> int:
        """Let listener work still running finish, for up to `grace` seconds, then cancel what
        is left. Returns how many were cancelled. Call it once no new requests arrive."""
        running = {t for t in self.listeners if not t.done()}
        if running:
            log.info("waiting for %d listener(s) to finish", len(running))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace
        while running and (remaining := deadline - loop.time()) > 0:
            await asyncio.wait(running, timeout=remaining)
            running = {t for t in self.listeners if not t.done()}  # and any they started
        if running:
            log.warning(
                "%d listener(s) still running after %.0f s; cancelling them", len(running), grace
            )
            for task in running:
                task.cancel()
            await asyncio.wait(running, timeout=1.0)
        return len(running)

    async def expire_due(self) -> int:
        """End pending requests past their TTL (their threads hear of it through the outbox).
        Returns how many."""
        return len(await self.handlers.services.requests.expire_due())

    @contextlib.asynccontextmanager
    async def workers(self, grace: float = STOP_GRACE_SECONDS) -> AsyncIterator[None]:
        """Run the runner (approved requests are carried out) and the outbox drainer (the
        channel hears of every change) for the block. On leaving, running plans get `grace`
        seconds to finish (what does not is resumed later from the store) and deliveries a
        moment to land (what does not waits in the store)."""
        runner = self.handlers.services.runner
        assert self.outbox is not None
        loops = [
            asyncio.create_task(runner.run(), name="runner"),
            asyncio.create_task(self.outbox.run(), name="outbox"),
        ]
        try:
            yield
        finally:
            for loop in loops:
                loop.cancel()
            await asyncio.wait(loops)
            await runner.stop(grace)
            await self.outbox.flush(within=min(grace, 5.0))
            await self.outbox.stop()


class _ClientCarriesTheToken(logging.Filter):
    """Bolt warns that SLACK_BOT_TOKEN goes unused when it is given a client; ours is built from
    that very token (with our base URL and retry handlers), so the warning would only mislead."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != warning_client_prioritized_and_token_skipped()


logging.getLogger("slack_bolt.AsyncApp").addFilter(_ClientCarriesTheToken())


def build_app(
    services: Services,
    client: AsyncWebClient | None = None,
    *,
    session: aiohttp.ClientSession | None = None,
) -> RevokerApp:
    """`session`: the HTTP session the app's Web API client uses (see `web_session`)."""
    settings = services.settings
    check_startup(settings)
    client = client or web_client(settings, session)
    socket = settings.serve_mode == "socket"
    bolt = AsyncApp(
        # Without a name, Bolt names the app after its caller's file through inspect.stack(),
        # which reads the source of every frame and maps every loaded module to its file:
        # tens of milliseconds of start-up for a label only OAuth install pages show.
        name=APP_NAME,
        client=client,
        signing_secret=(
            settings.slack_signing_secret.get_secret_value()
            if settings.slack_signing_secret
            else None
        ),
        # Socket Mode has no HTTP requests to sign; HTTP mode always verifies.
        request_verification_enabled=not socket,
        # Bolt answers as soon as a listener returns, instead of running it in a task and
        # polling every 10 ms for its ack(): each listener acks and returns, and hands its
        # Web API and AWS work to `Handlers.after_ack`.
        process_before_response=True,
    )
    approvers = SlackApprovers(client, settings.approver_user_ids, settings.approver_usergroup_ids)
    h = Handlers(
        services=services, approvers=approvers, channel=RequestChannel(client, services, approvers)
    )
    handlers.register(bolt, h)
    outbox = OutboxDrainer(
        services.requests,
        h.channel,
        owner=services.owner,
        lease=services.lease,
        poll=settings.runner_poll_seconds,
        foreground=services.foreground,
    )
    return RevokerApp(
        bolt=bolt,
        handlers=h,
        verifies_signatures=not socket,
        listeners=h.background,
        outbox=outbox,
    )


def web_application(
    app: RevokerApp, *, slack_events: bool = True, healthy: HealthCheck | None = None
) -> web.Application:
    async def events(request: web.Request) -> web.Response:
        await foreground.give_way()
        with foreground.answering():
            screened = await intake.screen(request, signature)
            if isinstance(screened, intake.Refusal):
                return screened.response()
            bolt_response = await app.bolt.async_dispatch(screened)
            return await to_aiohttp_response(bolt_response)

    async def health(_: web.Request) -> web.Response:
        ok = await healthy() if healthy else True
        return web.json_response({"ok": ok}, status=200 if ok else 503)

    foreground = app.handlers.services.foreground
    secret = app.handlers.services.settings.slack_signing_secret
    signature = intake.Signature(secret.get_secret_value() if secret else None)
    if slack_events and not app.verifies_signatures:
        raise ConfigurationError(
            "A Socket Mode app does not verify request signatures: it cannot serve Slack over "
            f"HTTP at {EVENTS_PATH}. Set REVOKER_MODE=http and SLACK_SIGNING_SECRET for that."
        )
    web_app = web.Application(client_max_size=1024 * 1024)
    if slack_events:
        web_app.router.add_post(EVENTS_PATH, events)
    web_app.router.add_get(HEALTH_PATH, health)
    services = app.handlers.services
    # In Socket Mode `healthy` is the websocket's state, which readiness includes too.
    readiness = Readiness(services, app.bolt.client, socket_up=healthy)
    add_observability_routes(web_app, services, readiness)
    return web_app


@contextlib.asynccontextmanager
async def running(
    app: RevokerApp,
    host: str,
    port: int,
    *,
    slack_events: bool = True,
    healthy: HealthCheck | None = None,
) -> AsyncIterator[int]:
    """Serve the app until the block ends; yields the bound port (port=0 picks a free one)."""
    runner = web.AppRunner(
        web_application(app, slack_events=slack_events, healthy=healthy), access_log=None
    )
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = int(runner.addresses[0][1]) if runner.addresses else port
    try:
        yield bound
    finally:
        await runner.cleanup()


async def sweep_expired(app: RevokerApp, every: float = EXPIRY_SWEEP_SECONDS) -> None:
    while True:
        try:
            await app.expire_due()
        except Exception:  # a sweep must never die: the next one retries
            log.exception("expiry sweep failed")
        await asyncio.sleep(every)


async def _unless_stopped(work: Awaitable[Any], stop: asyncio.Event) -> bool:
    """Await `work` unless `stop` is set first, which cancels it. True when `work` finished."""
    task = asyncio.ensure_future(work)
    stopped = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({task, stopped}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for pending in (task, stopped):
            pending.cancel()
        await asyncio.wait({task, stopped})
    if task.cancelled():
        return False
    task.result()  # raises what `work` raised
    return True


async def serve(services: Services) -> None:
    """Run until SIGTERM or SIGINT (a container stop or Ctrl-C), then stop cleanly: no new
    requests, work already acked finishes (up to STOP_GRACE_SECONDS), then the store closes."""
    # The event loop that acks shares the GIL with worker threads (boto3 calls; a bulk run's
    # IAM calls and its 1,000-key listings, ~170 ms of parsing each). A thread that wants the
    # GIL waits up to the switch interval for a busy one to let go, and an ack takes it several
    # times: at 5 ms (Python's default) an ack cost ~8 ms more during a bulk run.
    sys.setswitchinterval(GIL_SWITCH_SECONDS)
    try:
        async with web_session(metrics=services.metrics) as session:
            await _serve(build_app(services, session=session))
    finally:
        await services.store.close()


async def _serve(app: RevokerApp) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    sweeper = asyncio.create_task(sweep_expired(app))
    try:
        async with app.workers():
            try:
                await _serve_slack(app, stop)
            finally:
                # No new requests now; what was acked gets to finish (and hand its approvals to
                # the runner) before the workers stop and the store closes.
                await app.settle()
    finally:
        sweeper.cancel()
        await asyncio.wait([sweeper])


async def _serve_slack(app: RevokerApp, stop: asyncio.Event) -> None:
    settings = app.handlers.services.settings
    if settings.serve_mode == "socket":
        from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

        assert settings.slack_app_token is not None  # check_startup made sure
        socket = AsyncSocketModeHandler(app.bolt, settings.slack_app_token.get_secret_value())
        guard = SocketConnectionGuard(socket.client, stop)
        # Healthy while the websocket to Slack is up, so an orchestrator restarts a bot
        # that lost it for good.
        async with running(
            app,
            settings.host,
            settings.port,
            slack_events=False,
            healthy=socket.client.is_connected,
        ) as port:
            # slack_sdk retries a connection that fails for as long as it takes: a stop must
            # not wait for Slack to answer.
            connect = socket.connect_async()  # type: ignore[no-untyped-call]
            if await _unless_stopped(connect, stop):
                log.info("serving in Socket Mode; health on port %s", port)
                await stop.wait()
            elif not guard.reason:
                log.warning("stopped before the Socket Mode connection to Slack was up")
            await socket.close_async()  # type: ignore[no-untyped-call]
        if guard.reason:
            raise ConfigurationError(guard.reason)
    else:
        async with running(app, settings.host, settings.port) as port:
            log.info("serving Slack over HTTP on %s:%s%s", settings.host, port, EVENTS_PATH)
            await stop.wait()
    log.info("stopping")
