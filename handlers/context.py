"""What every listener shares: the domain services, the approver check and the channel adapter."""

from __future__ import annotations

from dataclasses import dataclass

from bot.services import Services
from handlers.approvers import SlackApprovers
from handlers.channel import RequestChannel


@dataclass(frozen=True)
class Handlers:
    services: Services
    approvers: SlackApprovers
    channel: RequestChannel

    def channel_allowed(self, channel_id: str | None) -> bool:
        allowed = self.services.settings.allowed_channel_ids
        return not allowed or channel_id in allowed

    def channel_refusal(self) -> str:
        return (
            "This channel is not one where Bedrock keys may be revoked. "
            "Ask in the incident channel."
        )
