"""Steps of the Slack flow as a person takes them, for the end-to-end tests (fixture `sb` in
tests/conftest.py: the real app on loopback, Slack played by the stand-in, AWS by moto's server)."""

from __future__ import annotations

from typing import Any

from bot.sandbox.harness import CHANNEL, REQUESTER, Sandbox
from bot.sandbox.slack_api import Message
from bot.sandbox.slack_driver import checkboxes, plain_text_input
from bot.views import ids


async def open_modal(sb: Sandbox, text: str = "", user: str = REQUESTER) -> Any:
    """Run the slash command and return the modal it opened."""
    before = len(sb.api.views())
    response = await sb.driver.slash_command(user, CHANNEL, text=text)
    assert response.status == 200, response.text
    views = await sb.api.wait_for(lambda: sb.api.views()[before:] or None, what="views.open")
    return views[0]


async def submit(
    sb: Sandbox,
    view: Any,
    *,
    reason: str = "INC-4242: key pasted in a public gist",
    identifier: str | None = None,
    actions: tuple[str, ...] | None = None,
    user: str = REQUESTER,
    extra: dict[str, dict[str, Any]] | None = None,
) -> Any:
    values: dict[str, dict[str, Any]] = {
        ids.REASON_BLOCK: {ids.REASON_ACTION: plain_text_input(reason)}
    }
    if identifier is not None:
        values[ids.IDENTIFIER_BLOCK] = {ids.IDENTIFIER_ACTION: plain_text_input(identifier)}
    if actions is not None:
        values[ids.ACTIONS_BLOCK] = {ids.ACTIONS_ACTION: checkboxes(*actions)}
    values.update(extra or {})
    return await sb.driver.view_submission(user, view_id=view.id, values=values)


async def request_message(sb: Sandbox) -> Message:
    """The request message once its plan reply is in the thread."""
    message = await sb.api.wait_for(
        lambda: next(iter(sb.api.messages(CHANNEL)), None), what="request message"
    )
    await sb.api.wait_for(lambda: sb.api.thread(CHANNEL, message.ts), what="plan reply")
    return message


async def wait_final(sb: Sandbox, message: Message, wait: float = 15.0) -> Message:
    """The request message once it shows a final status (Completed / Partially / Failed)."""

    def final() -> Message | None:
        current = sb.api.message(CHANNEL, message.ts)
        text = current.text if current else ""
        done = ("completed", "partially completed", "failed")
        return current if any(f": {w}." in text.lower() for w in done) else None

    return await sb.api.wait_for(final, timeout=wait, what="final status")
