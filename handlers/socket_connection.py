"""Socket Mode connections that give up: slack_sdk retries `apps.connections.open` for ever, every
ping interval, so a wrong or revoked SLACK_APP_TOKEN left `serve` running, unhealthy, and silent
about why. The guard wraps the client's URL request: an answer that says the token itself is bad
ends it at once, other failures after MAX_ATTEMPTS in a row; then `reason` says what to fix (never
the token) and the `stop` event given to it is set, so `serve` stops and exits non-zero."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from slack_sdk.errors import SlackApiError

# Slack's answers that no retry can change: the token is wrong, revoked, or not app-level.
TOKEN_REFUSED = frozenset(
    {
        "invalid_auth",
        "not_authed",
        "token_revoked",
        "token_expired",
        "account_inactive",
        "not_allowed_token_type",
        "missing_scope",
    }
)
# Consecutive failures (network, Slack's 5xx) before giving up; slack_sdk waits a ping interval
# (10 s by default) between them, so about a minute.
MAX_ATTEMPTS = 6


class SocketConnectionGuard:
    def __init__(self, client: Any, stop: asyncio.Event, max_attempts: int = MAX_ATTEMPTS) -> None:
        self.max_attempts = max_attempts
        self.stop = stop
        self.reason = ""
        self._failures = 0
        issue: Callable[[], Awaitable[str]] = client.issue_new_wss_url

        async def issue_new_wss_url() -> str:
            try:
                url = await issue()
            except SlackApiError as exc:
                error = str(exc.response.get("error", "")) if exc.response is not None else ""
                self._failed(error or "error", permanent=error in TOKEN_REFUSED)
                raise
            except Exception as exc:
                self._failed(type(exc).__name__, permanent=False)
                raise
            self._failures = 0
            return url

        # slack_sdk's connect() and reconnects call self.issue_new_wss_url(); an instance
        # attribute is the one seam that covers both.
        client.issue_new_wss_url = issue_new_wss_url

    def _failed(self, error: str, *, permanent: bool) -> None:
        self._failures += 1
        if permanent:
            self.reason = (
                f"Slack refused SLACK_APP_TOKEN ({error}) when opening the Socket Mode "
                "connection: use an app-level token (xapp-…) with connections:write from the "
                "app's Basic Information page, or a new one if it was revoked"
            )
        elif self._failures >= self.max_attempts:
            self.reason = (
                f"could not open a Socket Mode connection to Slack in {self._failures} attempts "
                f"(last: {error}): check the network path to Slack (and SLACK_API_URL)"
            )
        else:
            return
        self.stop.set()
