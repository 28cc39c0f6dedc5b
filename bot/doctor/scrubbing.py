"""Keeping secrets out of doctor's output."""

from __future__ import annotations

from collections.abc import Iterable

from bot.config import Settings
from bot.logs import redact

BEARER_ENV = "AWS_BEARER_TOKEN_BEDROCK"
_SCRUBBED = "[redacted]"
# Env vars whose values are secrets even when the settings never read them.
SECRET_ENV = (
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    BEARER_ENV,
    "SLACK_BOT_TOKEN",
    "SLACK_SIGNING_SECRET",
    "SLACK_APP_TOKEN",
)


class Scrubber:
    """Removes known secret values, and anything secret-shaped, from output lines."""

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        # Longest first, so a secret containing another is replaced whole. Very short values
        # would mangle ordinary words and are no secret worth the name.
        self._values = sorted({s for s in secrets if s and len(s) >= 6}, key=len, reverse=True)

    def add(self, *secrets: str | None) -> None:
        self._values = sorted(
            {*self._values, *(s for s in secrets if s and len(s) >= 6)}, key=len, reverse=True
        )

    def __call__(self, text: str) -> str:
        for value in self._values:
            text = text.replace(value, _SCRUBBED)
        return redact(text)


def settings_secrets(settings: Settings) -> list[str | None]:
    values = [
        s.get_secret_value() if s is not None else None
        for s in (settings.slack_bot_token, settings.slack_signing_secret, settings.slack_app_token)
    ]
    values += [
        a.external_id.get_secret_value() for a in settings.accounts.values() if a.external_id
    ]
    return values
