"""What the person who clicked hears. The channel hears of every change through the outbox
(`bot.outbox`); a refused click gets a private reply saying why, and nothing else."""

from __future__ import annotations

from bot.requests import Outcome
from bot.views import refusal
from handlers.context import Handlers


async def tell_clicker(h: Handlers, outcome: Outcome, user: str, channel_id: str) -> None:
    if outcome.ok:
        return
    # The hub's messages are the bot's own words; the users they name must stay mentions.
    blocks, text = refusal(outcome.message, mentions=True)
    await h.channel.client.chat_postEphemeral(
        channel=channel_id, user=user, blocks=blocks, text=text
    )
