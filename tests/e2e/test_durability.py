"""An approved revocation happens, and the thread ends up telling the truth, whatever Slack does.

Driven as Slack does (signed requests into the running app); Slack is the stand-in, which can
fail single calls, answer 503 to everything, or stop listening; AWS is moto's server, which
counts every call it receives. Process crashes and replicas are in test_crashes.py.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable

import aiohttp
import pytest
from conftest import LongTermKey, boto_session
from slack_flow import click, current, delivered, request_for_key, wait_final

from bot.requests import RequestStatus, RevocationRequest
from bot.sandbox import iam as sandbox_iam
from bot.sandbox.harness import APPROVER, CHANNEL, Sandbox
from bot.sandbox.slack_api import Message
from bot.views import ids

SUMMARY = re.compile(r"^R-[0-9A-Z]{8}: completed in \d+\.\d s\.$")
# What the thread says, in this order, once each, for a one-step plan that ran through.
STORY = (
    re.compile(r"^The plan"),
    re.compile(r"^Blast radius"),
    re.compile(r"^Approved by"),
    re.compile(r"^Step 1 of 1 done: UpdateServiceSpecificCredential$"),
    re.compile(r"^Verification"),
    SUMMARY,
)


def key_status(key: LongTermKey) -> str:
    iam = boto_session().client("iam")
    (cred,) = iam.list_service_specific_credentials(UserName=key.user_name)[
        "ServiceSpecificCredentials"
    ]
    return str(cred["Status"])


def thread_texts(sb: Sandbox, message: Message) -> list[str]:
    return [m.text for m in sb.api.thread(CHANNEL, message.ts)]


def assert_the_whole_story_once(sb: Sandbox, message: Message) -> None:
    texts = thread_texts(sb, message)
    where = []
    for line in STORY:
        found = [i for i, t in enumerate(texts) if line.search(t)]
        assert len(found) == 1, f"{line.pattern!r} found {len(found)} times in {texts}"
        where.append(found[0])
    assert where == sorted(where), texts
    assert len(texts) == len(STORY), texts


async def stored(sb: Sandbox, message: Message) -> RevocationRequest:
    req = await sb.services.requests.get(message.text.split(":", 1)[0])
    assert req is not None
    return req


async def until(condition: Callable[[], Awaitable[bool]], what: str, wait: float = 20) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    while not await condition():
        assert loop.time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


async def test_slack_failing_right_after_the_approval_delays_the_thread_not_the_revocation(
    sb: Sandbox,
) -> None:
    key, message = await request_for_key(sb)
    # The approval's redraw and its thread reply each fail once, then Slack answers again.
    sb.api.fail("chat.update", "internal_error")
    sb.api.fail("chat.postMessage", "internal_error")

    await click(sb, APPROVER, message, ids.APPROVE_ACTION)
    final = await wait_final(sb, message, wait=30)

    assert key_status(key) == "Inactive"
    assert sandbox_iam.seen("UpdateServiceSpecificCredential") == 1
    assert ids.APPROVE_ACTION not in str(final.blocks)
    assert ": completed." in final.text
    assert_the_whole_story_once(sb, message)
    failed = [c for c in sb.api.calls() if not c.ok]
    assert [(c.method, c.error) for c in failed] == [
        ("chat.update", "internal_error"),
        ("chat.postMessage", "internal_error"),
    ]


@pytest.mark.parametrize("outage", ["503", "refused"])
async def test_slack_down_for_the_whole_execution_catches_up_in_order_once(
    sb: Sandbox, outage: str
) -> None:
    key, message = await request_for_key(sb)
    await delivered(sb)
    before = len(thread_texts(sb, message))
    calls_before = len(sb.api.calls())
    if outage == "503":
        sb.api.answer_every_call(503)
    else:
        await sb.api.refuse_connections()

    await click(sb, APPROVER, message, ids.APPROVE_ACTION)

    async def finished() -> bool:
        return (await stored(sb, message)).status is RequestStatus.COMPLETED

    await until(finished, "the revocation to complete while Slack is down")
    assert key_status(key) == "Inactive"
    req = await stored(sb, message)
    assert req.undelivered, "nothing could reach Slack, so everything waits in the outbox"
    assert len(thread_texts(sb, message)) == before
    if outage == "503":
        tried = sb.api.calls()[calls_before:]
        assert tried and {c.status for c in tried} == {503}
    waiting = await metrics(sb)
    assert waiting["bedrock_revoker_outbox_notices"] == len(req.undelivered) > 0
    assert waiting["bedrock_revoker_outbox_oldest_seconds"] > 0
    assert waiting["bedrock_revoker_runner_leases"] == 0  # the run is over

    await sb.api.restore()
    final = await wait_final(sb, message, wait=90)

    assert ": completed." in final.text and ids.APPROVE_ACTION not in str(final.blocks)
    assert_the_whole_story_once(sb, message)
    assert sandbox_iam.seen("UpdateServiceSpecificCredential") == 1
    await delivered(sb)
    assert not (await stored(sb, message)).undelivered
    assert current(sb, message).text == final.text
    assert (await metrics(sb))["bedrock_revoker_outbox_notices"] == 0


async def metrics(sb: Sandbox) -> dict[str, float]:
    """The app's unlabelled gauges, as Prometheus scrapes them from GET /metrics."""
    url = sb.app_url.removesuffix("/slack/events") + "/metrics"
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        assert response.status == 200
        text = await response.text()
    return {
        name: float(value)
        for name, value in (line.split(" ", 1) for line in text.splitlines())
        if not name.startswith("#") and "{" not in name
    }
