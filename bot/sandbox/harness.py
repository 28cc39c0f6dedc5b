"""The whole app wired to local stand-ins: the Slack Web API stand-in, the real Bolt app served
over HTTP on loopback, and a driver that talks to it as Slack does (signed requests).

AWS is whatever boto3 reaches: moto in-process (`mock_iam()`) for the demo, moto's HTTP server
(`AWS_ENDPOINT_URL`) for the end-to-end tests. The end-to-end tests, the demo and the benchmark
all run through here, so they exercise one wiring: the production one.
"""

from __future__ import annotations

import contextlib
import secrets
import tempfile
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import boto3
from slack_sdk.web.async_client import AsyncWebClient

from bot.aws import AwsClients, regional_session
from bot.config import Settings
from bot.requests import utcnow
from bot.sandbox.slack_api import SlackApiStandIn
from bot.sandbox.slack_driver import SlackDriver
from bot.services import Services, build_services
from handlers.app import RevokerApp, build_app, running, web_session

CHANNEL = "C0INCIDENT"
REQUESTER = "U0ALICE"
APPROVER = "U0BOB"
BYSTANDER = "U0CAROL"
GROUP_APPROVER = "U0DAVE"
APPROVER_GROUP = "S0SECOPS"
REGION = "us-east-1"


@dataclass(frozen=True)
class Sandbox:
    api: SlackApiStandIn
    driver: SlackDriver
    app: RevokerApp
    services: Services
    settings: Settings
    app_url: str

    def iam(self) -> Any:
        """A plain IAM client on the same AWS, for arranging state and reading it back."""
        return boto3.Session(region_name=REGION).client("iam")


def workspace(api: SlackApiStandIn) -> None:
    """The sandbox's channel, people and approver group, on a fresh stand-in."""
    api.add_channel(CHANNEL, "incident-4242")
    api.add_user(REQUESTER, "alice", "Alice Responder")
    api.add_user(APPROVER, "bob", "Bob Approver")
    api.add_user(BYSTANDER, "carol", "Carol Bystander")
    api.add_user(GROUP_APPROVER, "dave", "Dave SecOps")
    api.set_usergroup(APPROVER_GROUP, [GROUP_APPROVER], handle="secops")


@contextlib.asynccontextmanager
async def sandbox(
    *,
    database_dir: Path | None = None,
    clock: Callable[[], datetime] = utcnow,
    api: SlackApiStandIn | None = None,
    signing_secret: str | None = None,
    **settings: Any,
) -> AsyncIterator[Sandbox]:
    """Start the stand-ins and the app; `settings` override the defaults (field names).

    With `api`, the app talks to that running stand-in (left as it is, started and stopped by
    its owner): two sandboxes on one stand-in, with one `signing_secret`, are two replicas of
    one Slack app.
    """
    with contextlib.ExitStack() as stack:
        if database_dir is None:
            database_dir = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        async with contextlib.AsyncExitStack() as owned:
            if api is None:
                api = await owned.enter_async_context(SlackApiStandIn())
                workspace(api)
            if signing_secret is None:
                signing_secret = secrets.token_hex(16)
            values: dict[str, Any] = {
                "slack_bot_token": api.bot_token,
                "slack_signing_secret": signing_secret,
                "slack_api_url": api.base_url,
                "mode": "http",
                "database_url": f"sqlite:///{database_dir / 'revoker.db'}",
                "approver_user_ids": (APPROVER,),
                "approver_usergroup_ids": (APPROVER_GROUP,),
                "aws_region": REGION,
            }
            values.update(settings)
            config = Settings(_env_file=None, **values)  # type: ignore[call-arg]
            services = build_services(
                config,
                clients=AwsClients(config, session=regional_session(REGION)),
                clock=clock,
            )
            session = await owned.enter_async_context(web_session())
            client = AsyncWebClient(token=api.bot_token, base_url=api.base_url, session=session)
            app = build_app(services, client=client)
            try:
                async with app.workers():
                    try:
                        async with running(app, "127.0.0.1", 0) as port:
                            url = f"http://127.0.0.1:{port}/slack/events"
                            async with SlackDriver(url, signing_secret, api) as driver:
                                yield Sandbox(api, driver, app, services, config, url)
                    finally:
                        # As serve does: what was acked finishes before the workers stop.
                        await app.settle()
            finally:
                await services.store.close()
