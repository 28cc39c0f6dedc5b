"""The Slack stand-in and driver, exercised with the real slack_sdk client and a real Bolt app."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable
from types import SimpleNamespace
from typing import Any

import pytest
from aiohttp import web
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry import builtin_async_handlers
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from bot.sandbox.slack_api import SlackApiStandIn
from bot.sandbox.slack_driver import (
    IncompleteSubmission,
    SlackDriver,
    plain_text_input,
    radio_buttons,
    static_select,
)

SECRET = "sandbox-signing-secret"
CHANNEL = "C0INCIDENT"
ALICE, BOB = "U0ALICE", "U0BOB"

REQUEST_BLOCKS: list[dict[str, Any]] = [
    {
        "type": "section",
        "text": {"type": "mrkdwn", "text": "*Revocation request R-1* from <@U0ALICE>"},
        "fields": [
            {"type": "mrkdwn", "text": "*Target:*\nuser `ci-bot`"},
            {"type": "mrkdwn", "text": "*Reason:*\nleaked in a public gist &lt;PR #12&gt;"},
        ],
    },
    {
        "type": "actions",
        "block_id": "decision",
        "elements": [
            {
                "type": "button",
                "text": {"type": "plain_text", "text": "Approve"},
                "style": "primary",
                "action_id": "approve",
                "value": "R-1",
            },
            {
                "type": "button",
                "text": {"type": "plain_text", "text": "Reject"},
                "style": "danger",
                "action_id": "reject",
                "value": "R-1",
            },
        ],
    },
    {"type": "context", "elements": [{"type": "mrkdwn", "text": "Approvers: <!subteam^S0SEC>"}]},
]

PLAN_BLOCKS: list[dict[str, Any]] = [
    {"type": "section", "text": {"type": "mrkdwn", "text": "*Plan* (1 IAM call)"}},
    {
        "type": "rich_text",
        "elements": [
            {
                "type": "rich_text_list",
                "style": "ordered",
                "elements": [
                    {
                        "type": "rich_text_section",
                        "elements": [{"type": "text", "text": "PutUserPolicy on ci-bot"}],
                    }
                ],
            },
            {
                "type": "rich_text_preformatted",
                "elements": [{"type": "text", "text": '{\n  "Effect": "Deny"\n}'}],
            },
        ],
    },
]


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def api(clock: FakeClock) -> AsyncIterator[SlackApiStandIn]:
    async with SlackApiStandIn(clock=clock) as stand_in:
        stand_in.add_user(ALICE, "alice", "Alice Doe")
        stand_in.add_user(BOB, "bob", "Bob Roe")
        stand_in.add_channel(CHANNEL, "incident-42")
        stand_in.set_usergroup("S0SEC", [BOB], handle="security")
        yield stand_in


@pytest.fixture
def client(api: SlackApiStandIn) -> AsyncWebClient:
    return AsyncWebClient(token=api.bot_token, base_url=api.base_url)


async def _error_of(call: Any) -> str:
    with pytest.raises(SlackApiError) as info:
        await call
    return str(info.value.response["error"])


# ---------------------------------------------------------------------- Web API


async def test_auth_errors_and_unknown_method(api: SlackApiStandIn) -> None:
    assert await _error_of(AsyncWebClient(base_url=api.base_url).auth_test()) == "not_authed"
    wrong = AsyncWebClient(token="xoxb-wrong", base_url=api.base_url)
    assert await _error_of(wrong.auth_test()) == "invalid_auth"
    right = AsyncWebClient(token=api.bot_token, base_url=api.base_url)
    assert await _error_of(right.api_call("chat.nonsense")) == "unknown_method"
    me = await right.auth_test()
    assert (me["team_id"], me["user_id"], me["bot_id"]) == ("T0001", "U0BOT", "B0BOT")
    assert [c.method for c in api.calls()] == [
        "auth.test",
        "auth.test",
        "chat.nonsense",
        "auth.test",
    ]


async def test_post_thread_update_and_render(api: SlackApiStandIn, client: AsyncWebClient) -> None:
    posted = await client.chat_postMessage(
        channel=CHANNEL, text="Request R-1", blocks=REQUEST_BLOCKS
    )
    ts = posted["ts"]
    assert posted["channel"] == CHANNEL
    assert posted["message"]["blocks"][1]["elements"][0]["action_id"] == "approve"
    # Slack fills in block ids the app left out.
    assert all(b.get("block_id") for b in posted["message"]["blocks"])

    reply = await client.chat_postMessage(
        channel=CHANNEL, thread_ts=ts, text="plan", blocks=PLAN_BLOCKS
    )
    assert reply["message"]["thread_ts"] == ts
    await client.chat_postMessage(channel=CHANNEL, thread_ts=ts, text="Step 1: *ok*")
    updated = await client.chat_update(
        channel=CHANNEL,
        ts=ts,
        text="Approved",
        blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": "Approved by <@U0BOB>"}}],
    )
    assert updated["message"]["edited"]["user"] == "U0BOT"

    [parent] = api.messages(CHANNEL)
    assert parent.ts == ts and parent.text == "Approved"
    assert parent.history[0]["blocks"][1]["block_id"] == "decision"  # what was replaced
    assert [m.text for m in api.thread(CHANNEL, ts)] == ["plan", "Step 1: *ok*"]

    out = api.render_channel(CHANNEL)
    lines = out.splitlines()
    assert lines[0] == "#incident-42 (C0INCIDENT)"
    assert lines[2].endswith("revoker (bot)  (edited)")
    assert lines[3] == "    Approved by @Bob Roe"
    assert "[Approve]" not in out
    assert "  | 2 replies" in lines
    assert "  |     1. PutUserPolicy on ci-bot" in lines
    assert "  |     ```" in lines and '  |       "Effect": "Deny"' in lines
    assert "  |     Step 1: *ok*" in lines


async def test_render_request_message_before_approval(
    api: SlackApiStandIn, client: AsyncWebClient
) -> None:
    await client.chat_postMessage(channel=CHANNEL, text="Request R-1", blocks=REQUEST_BLOCKS)
    body = api.render_channel(CHANNEL).splitlines()[3:]
    assert body == [
        "    *Revocation request R-1* from @Alice Doe",
        "    *Target:* user `ci-bot`",
        "    *Reason:* leaked in a public gist <PR #12>",
        "    [Approve] [Reject]",
        "    Approvers: @security",
    ]


async def test_form_encoded_calls_are_decoded(api: SlackApiStandIn, client: AsyncWebClient) -> None:
    res = await client.api_call(
        "chat.postMessage",
        data={"channel": CHANNEL, "text": "x", "blocks": json.dumps(PLAN_BLOCKS)},
    )
    assert res["ok"]
    call = api.last_call("chat.postMessage")
    assert call is not None and call.params["blocks"][0]["type"] == "section"
    assert api.messages(CHANNEL)[0].blocks[1]["type"] == "rich_text"


async def test_message_errors(api: SlackApiStandIn, client: AsyncWebClient) -> None:
    assert await _error_of(client.chat_update(channel=CHANNEL, ts="1.000001", text="x")) == (
        "message_not_found"
    )
    no_text = client.api_call("chat.postMessage", json={"channel": CHANNEL})
    assert await _error_of(no_text) == "no_text"
    too_many = [{"type": "divider"}] * 51
    assert await _error_of(client.chat_postMessage(channel=CHANNEL, text="x", blocks=too_many)) == (
        "invalid_blocks"
    )
    long_section = [{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}]
    assert await _error_of(
        client.chat_postMessage(channel=CHANNEL, text="x", blocks=long_section)
    ) == ("invalid_blocks")
    strict = SlackApiStandIn(strict_channels=True)
    async with strict:
        c = AsyncWebClient(token=strict.bot_token, base_url=strict.base_url)
        assert await _error_of(c.chat_postMessage(channel="C404", text="x")) == "channel_not_found"
        assert await _error_of(c.conversations_info(channel="C404")) == "channel_not_found"


async def test_ephemerals_are_per_user(api: SlackApiStandIn, client: AsyncWebClient) -> None:
    await client.chat_postEphemeral(channel=CHANNEL, user=ALICE, text="You cannot approve your own")
    await client.chat_postEphemeral(channel=CHANNEL, user=BOB, text="Already approved")
    assert [e.text for e in api.ephemerals(user=ALICE)] == ["You cannot approve your own"]
    assert api.messages(CHANNEL) == []  # nobody else sees them
    rendered = api.render_ephemerals(ALICE)
    assert "only visible to you" in rendered and "You cannot approve your own" in rendered
    assert "Already approved" not in rendered


async def test_users_groups_channels_permalinks(
    api: SlackApiStandIn, client: AsyncWebClient
) -> None:
    assert (await client.users_info(user=ALICE))["user"]["real_name"] == "Alice Doe"
    assert await _error_of(client.users_info(user="U404")) == "user_not_found"
    assert (await client.usergroups_users_list(usergroup="S0SEC"))["users"] == [BOB]
    assert await _error_of(client.usergroups_users_list(usergroup="S404")) == "no_such_subteam"
    api.usergroups_plan = False
    assert await _error_of(client.usergroups_users_list(usergroup="S0SEC")) == (
        "plan_upgrade_required"
    )
    assert (await client.conversations_info(channel=CHANNEL))["channel"]["name"] == "incident-42"
    by_name = await client.chat_postMessage(channel="#incident-42", text="by name")
    assert by_name["channel"] == CHANNEL
    ts = by_name["ts"]
    link = (await client.chat_getPermalink(channel=CHANNEL, message_ts=ts))["permalink"]
    assert link.endswith(f"/archives/{CHANNEL}/p{ts.replace('.', '')}")


MODAL: dict[str, Any] = {
    "type": "modal",
    "callback_id": "revoke",
    "title": {"type": "plain_text", "text": "Revoke a Bedrock key"},
    "submit": {"type": "plain_text", "text": "Review"},
    "private_metadata": '{"channel": "C0INCIDENT"}',
    "blocks": [
        {
            "type": "input",
            "block_id": "key_type",
            "dispatch_action": True,
            "label": {"type": "plain_text", "text": "Key type"},
            "element": {
                "type": "radio_buttons",
                "action_id": "key_type",
                "initial_option": {
                    "text": {"type": "plain_text", "text": "Long-term"},
                    "value": "long",
                },
                "options": [
                    {"text": {"type": "plain_text", "text": "Long-term"}, "value": "long"},
                    {"text": {"type": "plain_text", "text": "Short-term"}, "value": "short"},
                ],
            },
        },
        {
            "type": "input",
            "block_id": "reason",
            "label": {"type": "plain_text", "text": "Reason"},
            "element": {"type": "plain_text_input", "action_id": "reason_input"},
        },
    ],
}


async def test_trigger_id_works_once(api: SlackApiStandIn, client: AsyncWebClient) -> None:
    trigger = api.issue_trigger_id()
    opened = await client.views_open(trigger_id=trigger, view=MODAL)
    assert opened["view"]["id"] and opened["view"]["hash"]
    assert opened["view"]["state"]["values"]["reason"]["reason_input"] == {
        "type": "plain_text_input",
        "value": None,
    }
    assert await _error_of(client.views_open(trigger_id=trigger, view=MODAL)) == (
        "exchanged_trigger_id"
    )
    assert await _error_of(client.views_open(trigger_id="1.2.nope", view=MODAL)) == (
        "invalid_trigger_id"
    )


async def test_trigger_id_expires_after_three_seconds(
    api: SlackApiStandIn, client: AsyncWebClient, clock: FakeClock
) -> None:
    on_time, late = api.issue_trigger_id(), api.issue_trigger_id()
    clock.advance(3.0)
    assert (await client.views_open(trigger_id=on_time, view=MODAL))["ok"]
    clock.advance(0.01)
    assert await _error_of(client.views_open(trigger_id=late, view=MODAL)) == "expired_trigger_id"


async def test_views_update_hash_and_state(api: SlackApiStandIn, client: AsyncWebClient) -> None:
    view = (await client.views_open(trigger_id=api.issue_trigger_id(), view=MODAL))["view"]
    api.set_view_state(view["id"], "reason", "reason_input", plain_text_input("leak"))
    changed = {**MODAL, "title": {"type": "plain_text", "text": "Short-term key"}}
    updated = await client.views_update(view_id=view["id"], hash=view["hash"], view=changed)
    assert updated["view"]["hash"] != view["hash"]
    # What the user typed survives an update that keeps the block.
    assert updated["view"]["state"]["values"]["reason"]["reason_input"]["value"] == "leak"
    stale = client.views_update(view_id=view["id"], hash=view["hash"], view=MODAL)
    assert await _error_of(stale) == "hash_conflict"
    assert await _error_of(client.views_update(view_id="V404", view=MODAL)) == "not_found"
    too_long = {**MODAL, "title": {"type": "plain_text", "text": "x" * 25}}
    bad = client.views_open(trigger_id=api.issue_trigger_id(), view=too_long)
    assert await _error_of(bad) == "invalid_arguments"
    assert "Short-term key" in api.render_view(view["id"])
    assert "[leak]" in api.render_view(view["id"])


async def test_views_push_stacks_up_to_three(api: SlackApiStandIn, client: AsyncWebClient) -> None:
    root = (await client.views_open(trigger_id=api.issue_trigger_id(), view=MODAL))["view"]
    second = await client.views_push(
        trigger_id=api.issue_trigger_id(view_id=root["id"]), view=MODAL
    )
    assert second["view"]["previous_view_id"] == root["id"]
    assert second["view"]["root_view_id"] == root["id"]
    third = await client.views_push(
        trigger_id=api.issue_trigger_id(view_id=second["view"]["id"]), view=MODAL
    )
    fourth = client.views_push(
        trigger_id=api.issue_trigger_id(view_id=third["view"]["id"]), view=MODAL
    )
    assert await _error_of(fourth) == "push_limit_reached"


async def test_fail_injects_errors_then_recovers(
    api: SlackApiStandIn, client: AsyncWebClient
) -> None:
    api.fail("chat.postMessage", error="channel_not_found", times=2)
    for _ in range(2):
        assert await _error_of(client.chat_postMessage(channel=CHANNEL, text="x")) == (
            "channel_not_found"
        )
    assert (await client.chat_postMessage(channel=CHANNEL, text="x"))["ok"]
    assert [c.ok for c in api.calls("chat.postMessage")] == [False, False, True]


async def test_rate_limit_is_retried_by_the_sdk_handler(
    api: SlackApiStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    waited: list[float] = []

    async def no_wait(seconds: float) -> None:
        waited.append(seconds)

    # The handler sleeps Retry-After(+jitter); record the delay instead of spending it.
    monkeypatch.setattr(builtin_async_handlers, "asyncio", SimpleNamespace(sleep=no_wait))
    retrying = AsyncWebClient(
        token=api.bot_token,
        base_url=api.base_url,
        retry_handlers=[AsyncRateLimitErrorRetryHandler(max_retry_count=1)],
    )
    api.rate_limit("chat.postMessage", retry_after=7)
    assert (await retrying.chat_postMessage(channel=CHANNEL, text="x"))["ok"]
    assert [c.status for c in api.calls("chat.postMessage")] == [429, 200]
    assert len(waited) == 1 and 7 <= waited[0] < 8

    plain = AsyncWebClient(token=api.bot_token, base_url=api.base_url, retry_handlers=[])
    api.rate_limit("chat.postMessage", retry_after=1)
    with pytest.raises(SlackApiError) as info:
        await plain.chat_postMessage(channel=CHANNEL, text="x")
    assert info.value.response.status_code == 429
    assert info.value.response.headers["Retry-After"] == "1"
    assert info.value.response["error"] == "ratelimited"


async def test_wait_for_wakes_on_calls_and_times_out_clearly(
    api: SlackApiStandIn, client: AsyncWebClient
) -> None:
    await client.chat_postMessage(channel=CHANNEL, text="first")
    with pytest.raises(TimeoutError) as info:
        await api.wait_for(lambda: api.calls("views.open"), timeout=0.05, what="a modal opened")
    assert "a modal opened" in str(info.value)
    assert "chat.postMessage ok channel=C0INCIDENT" in str(info.value)

    webhook = AsyncWebhookClient(api.issue_response_url(channel=CHANNEL, user=ALICE))
    assert (await webhook.send(text="Only for you")).status_code == 200
    found = await api.wait_for(lambda: api.ephemerals(user=ALICE))
    assert found[0].via == "response_url"


async def test_response_url_in_channel_replace_and_use_limit(
    api: SlackApiStandIn, client: AsyncWebClient
) -> None:
    ts = (await client.chat_postMessage(channel=CHANNEL, text="x", blocks=REQUEST_BLOCKS))["ts"]
    url = api.issue_response_url(channel=CHANNEL, user=BOB, message_ts=ts)
    webhook = AsyncWebhookClient(url)
    await webhook.send(text="Approved", replace_original=True)
    assert api.messages(CHANNEL)[0].text == "Approved"
    await webhook.send(text="Shared", response_type="in_channel")
    assert [m.text for m in api.messages(CHANNEL)] == ["Approved", "Shared"]
    for _ in range(3):
        assert (await webhook.send(text="again")).status_code == 200
    assert (await webhook.send(text="sixth")).status_code == 404


# ---------------------------------------------------------------------- driver against Bolt


def _build_app(api: SlackApiStandIn, seen: dict[str, Any]) -> AsyncApp:
    app = AsyncApp(
        signing_secret=SECRET,
        client=AsyncWebClient(token=api.bot_token, base_url=api.base_url),
    )

    @app.command("/revoke-bedrock-key")
    async def command(ack: Any, body: dict[str, Any], client: AsyncWebClient, request: Any) -> None:
        if body["text"] == "verbose":
            await ack("Opening the form...")
        else:
            await ack()
        seen["command"] = body
        seen["retry_num"] = request.headers.get("x-slack-retry-num")
        await client.views_open(trigger_id=body["trigger_id"], view=MODAL)

    @app.action("approve")
    async def approve(ack: Any, body: dict[str, Any]) -> None:
        await ack()
        seen.setdefault("approve", []).append(body)

    @app.action("key_type")
    async def key_type(ack: Any, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        seen["key_type"] = body
        chosen = body["actions"][0]["selected_option"]["value"]
        title = "Short-term key" if chosen == "short" else "Long-term key"
        await client.views_update(
            view_id=body["view"]["id"],
            hash=body["view"]["hash"],
            view={**MODAL, "title": {"type": "plain_text", "text": title}},
        )

    @app.view("revoke")
    async def submit(ack: Any, body: dict[str, Any]) -> None:
        seen.setdefault("submissions", []).append(body)
        values = body["view"]["state"]["values"]
        if len(values["reason"]["reason_input"]["value"] or "") < 3:
            await ack(response_action="errors", errors={"reason": "Give a reason"})
            return
        await ack()

    return app


@pytest.fixture
async def bolt(api: SlackApiStandIn) -> AsyncIterator[tuple[SlackDriver, dict[str, Any]]]:
    seen: dict[str, Any] = {}
    runner = web.AppRunner(_build_app(api, seen).web_app())
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    port = runner.addresses[0][1]
    async with SlackDriver(f"http://127.0.0.1:{port}/slack/events", SECRET, api) as driver:
        yield driver, seen
    await runner.cleanup()


def _has(api: SlackApiStandIn, method: str) -> Callable[[], bool]:
    return lambda: any(c.ok for c in api.calls(method))


async def test_signed_command_reaches_listener(
    api: SlackApiStandIn, bolt: tuple[SlackDriver, dict[str, Any]]
) -> None:
    driver, seen = bolt
    res = await driver.slash_command(ALICE, CHANNEL, text="ABSK1234")
    assert res.status == 200
    await api.wait_for(_has(api, "views.open"), what="views.open answered ok")
    assert seen["command"]["user_name"] == "alice"
    assert seen["command"]["channel_name"] == "incident-42"
    assert seen["command"]["text"] == "ABSK1234"
    assert seen["retry_num"] is None
    [view] = api.views()
    assert view.callback_id == "revoke" and view.user == ALICE
    assert api.ephemerals() == []  # an empty ack shows nothing

    await driver.slash_command(ALICE, CHANNEL, text="verbose")
    [shown] = api.ephemerals(user=ALICE)
    assert (shown.text, shown.via) == ("Opening the form...", "ack")


async def test_forged_or_stale_requests_are_rejected(
    api: SlackApiStandIn, bolt: tuple[SlackDriver, dict[str, Any]]
) -> None:
    driver, seen = bolt
    forged = await driver.slash_command(ALICE, CHANNEL, signature="v0=" + "0" * 64)
    assert forged.status == 401
    stale = await driver.slash_command(ALICE, CHANNEL, timestamp=int(time.time()) - 6 * 60)
    assert stale.status == 401
    unsigned = await driver.post_raw(b"command=/revoke-bedrock-key", {})
    assert unsigned.status == 401
    assert "command" not in seen
    assert api.calls("views.open") == []
    retried = await driver.slash_command(ALICE, CHANNEL, retry_num=1)
    assert retried.status == 200
    await api.wait_for(_has(api, "views.open"))
    assert seen["retry_num"] == ["1"]  # Bolt keeps header values as lists


async def test_block_action_carries_the_current_message(
    api: SlackApiStandIn,
    client: AsyncWebClient,
    bolt: tuple[SlackDriver, dict[str, Any]],
) -> None:
    driver, seen = bolt
    ts = (await client.chat_postMessage(channel=CHANNEL, text="R-1", blocks=REQUEST_BLOCKS))["ts"]
    res = await driver.block_action(
        BOB,
        channel_id=CHANNEL,
        message_ts=ts,
        action_id="approve",
        block_id="decision",
        value="R-1",
    )
    assert res.status == 200
    [body] = seen["approve"]
    assert body["user"]["id"] == BOB and body["container"]["message_ts"] == ts
    assert body["message"]["blocks"][1]["elements"][0]["text"]["text"] == "Approve"
    assert body["actions"][0] == {**body["actions"][0], "value": "R-1", "style": "primary"}

    # After the update the buttons are gone; a second person still holding the old copy clicks.
    old = api.message_api(CHANNEL, ts)
    await client.chat_update(channel=CHANNEL, ts=ts, text="Approved", blocks=[])
    await driver.block_action(
        ALICE, channel_id=CHANNEL, message_ts=ts, action_id="approve", message=old
    )
    assert seen["approve"][1]["actions"][0]["block_id"] == "decision"


async def test_modal_action_update_and_submission(
    api: SlackApiStandIn, bolt: tuple[SlackDriver, dict[str, Any]]
) -> None:
    driver, seen = bolt
    await driver.slash_command(ALICE, CHANNEL)
    [view] = await api.wait_for(lambda: api.views())
    first_hash = view.hash

    res = await driver.block_action_in_view(
        ALICE, view_id=view.id, action_id="key_type", block_id="key_type", selected_option="short"
    )
    assert res.status == 200
    await api.wait_for(_has(api, "views.update"))
    action_body = seen["key_type"]
    assert action_body["container"] == {"type": "view", "view_id": view.id}
    assert action_body["view"]["private_metadata"] == '{"channel": "C0INCIDENT"}'
    assert action_body["actions"][0]["selected_option"]["text"]["text"] == "Short-term"
    assert view.hash != first_hash and "Short-term key" in api.render_view(view.id)

    # Slack's client itself refuses to submit with a required input empty.
    with pytest.raises(IncompleteSubmission, match="reason"):
        await driver.view_submission(ALICE, view_id=view.id)
    assert "submissions" not in seen

    rejected = await driver.view_submission(
        ALICE, view_id=view.id, values={"reason": {"reason_input": plain_text_input("x")}}
    )
    assert rejected.status == 200
    assert rejected.body == {"response_action": "errors", "errors": {"reason": "Give a reason"}}
    assert view.errors == {"reason": "Give a reason"} and not view.closed
    assert "! Give a reason" in api.render_view(view.id)
    # An error keyed by a block that is not an input fails in Slack; here it fails loudly.
    with pytest.raises(ValueError, match="not input blocks"):
        api.apply_view_submission_response(
            view.id, {"response_action": "errors", "errors": {"key_typo": "x"}}
        )

    accepted = await driver.view_submission(
        ALICE, view_id=view.id, values={"reason": {"reason_input": plain_text_input("INC-7")}}
    )
    assert accepted.status == 200 and view.closed
    submitted = seen["submissions"][-1]["view"]
    assert submitted["hash"] == view.hash and submitted["callback_id"] == "revoke"
    # The radio choice made earlier is still in the submitted state, as in Slack.
    assert submitted["state"]["values"]["key_type"]["key_type"] == {
        "type": "radio_buttons",
        "selected_option": {"text": {"type": "plain_text", "text": "Short-term"}, "value": "short"},
    }


def test_value_helpers_match_slack_shapes() -> None:
    assert radio_buttons("long", "Long-term")["selected_option"] == {
        "text": {"type": "plain_text", "text": "Long-term", "emoji": True},
        "value": "long",
    }
    assert static_select(None) == {"type": "static_select", "selected_option": None}
