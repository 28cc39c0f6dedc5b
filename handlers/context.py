"""What every listener shares: the domain services, the approver check and the channel adapter,
and where a listener's work after its ack runs."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

from bot.foreground import Foreground
from bot.services import Services
from handlers.approvers import SlackApprovers
from handlers.channel import RequestChannel

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Handlers:
    services: Services
    approvers: SlackApprovers
    channel: RequestChannel
    # Work listeners started after their ack (`after_ack`), until it ends; shutdown waits for it.
    background: set[asyncio.Task[None]] = field(default_factory=set, compare=False, repr=False)

    def channel_allowed(self, channel_id: str | None) -> bool:
        allowed = self.services.settings.allowed_channel_ids
        return not allowed or channel_id in allowed

    def channel_refusal(self) -> str:
        return (
            "This channel is not one where Bedrock keys may be revoked. "
            "Ask in the incident channel."
        )

    def after_ack(self, work: Coroutine[Any, Any, object], listener: str) -> None:
        """Run `work` once the listener has returned. Bolt (process_before_response) answers
        Slack's HTTP request when the listener returns, so a listener validates, calls ack()
        (with any field errors or ephemeral text Slack reads from the response) and hands
        everything else, Web API calls included, to here."""
        task = asyncio.create_task(
            _logged(work, listener, self.services.foreground), name=f"after ack: {listener}"
        )
        self.background.add(task)
        task.add_done_callback(self.background.discard)


async def _logged(work: Coroutine[Any, Any, object], listener: str, foreground: Foreground) -> None:
    try:
        # Requests still being acked go first (views.open has 3 s; see bot/foreground.py).
        await foreground.quiet()
    except BaseException:
        work.close()
        raise
    try:
        await work
    except Exception:  # as Bolt logs a listener that raises
        log.exception("listener %s failed after its ack", listener)
