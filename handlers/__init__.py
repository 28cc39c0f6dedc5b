"""Slack listeners only: each surface registers its listeners on the Bolt app and calls `bot/`."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from handlers import actions, commands, modal
from handlers.context import Handlers


def register(app: AsyncApp, h: Handlers) -> None:
    commands.register(app, h)
    modal.register(app, h)
    actions.register(app, h)
