"""The domain services one running app shares, built once from settings.

The Slack handlers, the demo and the tests all get these from `build_services`, so every entry
point runs the same hub, store and revoker.
"""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bot.aws import AwsClients
from bot.config import Settings
from bot.foreground import Foreground
from bot.metrics import Metrics
from bot.requests import RequestService, utcnow
from bot.revocation.service import Revoker
from bot.runner import Runner
from bot.store import RequestStore, open_store
from bot.store.metered import metered


@dataclass(frozen=True)
class Services:
    settings: Settings
    store: RequestStore
    requests: RequestService
    revoker: Revoker
    metrics: Metrics
    runner: Runner
    owner: str  # this process, as leases name it
    # Requests being acked go first: background work asks it before each unit of work.
    foreground: Foreground = field(default_factory=Foreground)

    @property
    def lease(self) -> timedelta:
        return timedelta(seconds=self.settings.lease_seconds)


def open_configured_store(settings: Settings) -> RequestStore:
    """The request store REVOKER_DATABASE_URL names, with the configured AWS region and timeouts."""
    return open_store(
        settings.database_url,
        region=settings.aws_region,
        connect_timeout=settings.aws_connect_timeout,
        read_timeout=settings.aws_read_timeout,
    )


# No request has this id (ids are R- and 6-12 of [0-9A-Z]): reading it changes nothing.
_NO_REQUEST = "R-STORECHECK"


async def store_answers(store: RequestStore) -> None:
    """Raise unless the store answers a read: a DynamoDB table that does not exist raises
    TableMissing (which names `store init`); anything else raises the backend's own error."""
    await store.get(_NO_REQUEST)


def build_services(
    settings: Settings,
    *,
    clients: AwsClients | None = None,
    clock: Callable[[], datetime] = utcnow,
) -> Services:
    metrics = Metrics()
    store = metered(open_configured_store(settings), metrics.record_events)
    foreground = Foreground()
    requests = RequestService(
        store,
        clock=clock,
        ttl=timedelta(minutes=settings.request_ttl_minutes),
        name_user=lambda user: f"<@{user}>",
        foreground=foreground,
    )
    clients = clients or AwsClients(settings)
    clients.observe(metrics.observe_aws_client)
    revoker = Revoker(settings, clients, clock=clock)
    owner = process_owner()
    runner = Runner(
        requests,
        revoker,
        owner=owner,
        lease=timedelta(seconds=settings.lease_seconds),
        poll=settings.runner_poll_seconds,
        foreground=foreground,
    )
    return Services(
        settings=settings,
        store=store,
        requests=requests,
        revoker=revoker,
        metrics=metrics,
        runner=runner,
        owner=owner,
        foreground=foreground,
    )


def process_owner() -> str:
    """This process as a lease holder: host and pid for people reading the audit, and a random
    part so a restarted process with a reused pid is a new holder."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
