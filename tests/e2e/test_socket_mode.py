"""Socket Mode end to end: the real `bedrock-revoker serve` process, configured by environment
as an operator would (SLACK_APP_TOKEN set, no signing secret), connects to the stand-in's Socket
Mode (`apps.connections.open`, then the websocket) and works the whole flow over it; AWS is
moto's server. Requests reach the app only as envelopes on the websocket (`SocketDriver`); the
answers are the app's acks and its Web API calls, as with Slack.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from conftest import boto_session, create_long_term_key
from processes import START_TIMEOUT, LogTail, free_port, operator_env, serve_command

from bot.sandbox.harness import APPROVER, CHANNEL, REQUESTER, workspace
from bot.sandbox.slack_api import Message, SlackApiStandIn
from bot.sandbox.slack_driver import SocketDriver, SocketResponse, plain_text_input
from bot.sandbox.slack_socket import Connection
from bot.views import ids

READY = "serving in Socket Mode"
STOP_TIMEOUT = 15.0  # a stop finishes well within handlers.app.STOP_GRACE_SECONDS (20 s)


@dataclass
class Served:
    proc: asyncio.subprocess.Process
    port: int
    log: LogTail
    api: SlackApiStandIn
    driver: SocketDriver = field(init=False)

    def __post_init__(self) -> None:
        self.driver = SocketDriver(self.api)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def stop(self) -> int:
        """SIGTERM, as a container stop sends; the exit code."""
        self.proc.send_signal(signal.SIGTERM)
        return await self.proc.wait()


@contextlib.asynccontextmanager
async def serving(
    api: SlackApiStandIn, tmp_path: Path, aws_url: str, **overrides: str
) -> AsyncIterator[Served]:
    """`bedrock-revoker serve` in Socket Mode against `api`; the caller waits for readiness."""
    port = free_port()
    env = {
        **operator_env(api, aws_url, f"sqlite:///{tmp_path / 'revoker.db'}"),
        "SLACK_APP_TOKEN": api.app_token,  # and no SLACK_SIGNING_SECRET: none is needed
        "REVOKER_PORT": str(port),
        **overrides,
    }
    proc = await asyncio.create_subprocess_exec(
        *serve_command(),
        "serve",
        env=env,
        cwd=tmp_path,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stderr is not None
    served = Served(proc, port, LogTail(proc.stderr), api)
    try:
        yield served
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        await served.log.finish()


@contextlib.asynccontextmanager
async def slack() -> AsyncIterator[SlackApiStandIn]:
    async with SlackApiStandIn() as api:
        workspace(api)
        yield api


async def _get(http: aiohttp.ClientSession, url: str) -> tuple[int, Any]:
    async with http.get(url) as resp:
        return resp.status, await resp.json()


def _ack(response: Any) -> SocketResponse:
    assert isinstance(response, SocketResponse) and response.envelope is not None
    assert response.status == 200 and response.envelope.acked_in_time, response.envelope
    return response


# ---------------------------------------------------------------------- the connection


async def test_an_app_token_revoked_while_serving_ends_serve_with_an_error(
    aws_server: str, tmp_path: Path
) -> None:
    async with slack() as api, serving(api, tmp_path, aws_server) as app:
        await app.log.wait_for(READY)
        api.fail("apps.connections.open", "token_revoked", times=100)
        await api.socket.disconnect()  # Slack asks for a reconnect: a new URL is needed
        code = await asyncio.wait_for(app.proc.wait(), START_TIMEOUT)
        await app.log.finish()
        assert code == 1
        assert len(api.calls("apps.connections.open")) == 2  # the first, and one refused
        assert app.log.lines[-1].startswith("error: Slack refused SLACK_APP_TOKEN (token_revoked)")


async def test_a_wrong_app_token_ends_serve_with_an_error_instead_of_retrying_for_ever(
    aws_server: str, tmp_path: Path
) -> None:
    wrong = "xapp-1-A0REVOKER-1-revokedlongago"
    async with slack() as api, serving(api, tmp_path, aws_server, SLACK_APP_TOKEN=wrong) as app:
        code = await asyncio.wait_for(app.proc.wait(), START_TIMEOUT)
        await app.log.finish()
        assert code == 1
        (opened,) = api.calls("apps.connections.open")  # refused once, not retried
        assert opened.response == {"ok": False, "error": "invalid_auth"}
        last = app.log.lines[-1]
        assert last == (
            "error: Slack refused SLACK_APP_TOKEN (invalid_auth) when opening the Socket Mode "
            "connection: use an app-level token (xapp-…) with connections:write from the app's "
            "Basic Information page, or a new one if it was revoked"
        )
        assert wrong not in "\n".join(app.log.lines)
        assert not any(READY in m for m in app.log.messages())


async def test_health_follows_the_websocket_which_is_refreshed_and_closed_on_sigterm(
    aws_server: str, tmp_path: Path
) -> None:
    async with slack() as api:
        api.socket.hold()  # Slack is slow to accept the websocket
        await _health_refresh_and_stop(api, tmp_path, aws_server)


async def _health_refresh_and_stop(api: SlackApiStandIn, tmp_path: Path, aws_server: str) -> None:
    async with serving(api, tmp_path, aws_server) as app:
        await api.wait_for(
            lambda: api.socket.handshakes_held, timeout=START_TIMEOUT, what="websocket handshake"
        )
        (opened,) = api.calls("apps.connections.open")
        assert opened.ok and opened.response["url"].startswith(api.socket.url + "?ticket=")

        async with aiohttp.ClientSession() as http:
            # Health is served, and says no, while the websocket is not up.
            assert await _get(http, f"{app.base}/healthz") == (503, {"ok": False})
            # Socket Mode serves nothing Slack-facing over HTTP: there is no events endpoint.
            async with http.post(f"{app.base}/slack/events", data=b"payload=%7B%7D") as resp:
                assert resp.status == 404

            api.socket.release()
            await app.log.wait_for(READY)
            assert await _get(http, f"{app.base}/healthz") == (200, {"ok": True})
            (first,) = api.socket.connections()
            assert first.open and first.hello["type"] == "hello"

            # Slack refreshes the connection: the app opens a new one and closes the old.
            await api.socket.disconnect("refresh_requested", first)
            second: Connection = await api.wait_for(
                lambda: next((c for c in api.socket.open_connections() if c is not first), None),
                what="a new connection",
            )
            await api.wait_for(lambda: not first.open, what="the old connection closed")
            assert first.closed_by == "app"
            assert [c.ok for c in api.calls("apps.connections.open")] == [True, True]
            assert second.ticket != first.ticket

            # Requests arrive over the new connection and are answered there.
            help_ = _ack(await app.driver.slash_command(REQUESTER, CHANNEL, text="help"))
            assert help_.envelope is not None and help_.envelope.connection_id == second.id
            assert await _get(http, f"{app.base}/healthz") == (200, {"ok": True})

        assert await app.stop() == 0
        await api.wait_for(lambda: not second.open, what="the app closed its websocket")
        assert second.closed_by == "app" and second.close_code == 1000
        assert api.socket.open_connections() == []
        assert "stopping" in app.log.messages()
        assert api.app_token not in "\n".join(app.log.lines)


async def test_sigterm_stops_the_app_while_slack_has_not_accepted_the_websocket(
    aws_server: str, tmp_path: Path
) -> None:
    async with slack() as api:
        api.socket.hold()  # Slack never answers the handshake
        async with serving(api, tmp_path, aws_server) as app:
            await api.wait_for(
                lambda: api.socket.handshakes_held,
                timeout=START_TIMEOUT,
                what="websocket handshake",
            )
            app.proc.send_signal(signal.SIGTERM)
            # Bounded, not slept: a stuck connect would hold the process until SIGKILL.
            assert await asyncio.wait_for(app.proc.wait(), STOP_TIMEOUT) == 0
            await app.log.finish()
            assert "stopped before the Socket Mode connection to Slack was up" in (
                app.log.messages()
            )
            assert "stopping" in app.log.messages()
            assert api.socket.connections() == []


# ---------------------------------------------------------------------- the flow


async def test_a_long_term_key_is_revoked_end_to_end_over_the_socket(
    aws_server: str, tmp_path: Path
) -> None:
    key = create_long_term_key(boto_session().client("iam"), "BedrockAPIKey-sock1")
    async with slack() as api, serving(api, tmp_path, aws_server) as app:
        await app.log.wait_for(READY)
        driver = app.driver

        # help: the usage comes back in the command's ack payload, shown only to the requester.
        usage = _ack(await driver.slash_command(REQUESTER, CHANNEL, text="help"))
        assert usage.envelope is not None and usage.envelope.type == "slash_commands"
        assert usage.json()["response_type"] == "ephemeral"
        assert "/revoke-bedrock-key" in usage.json()["text"]
        (told,) = api.ephemerals(CHANNEL, user=REQUESTER)
        assert told.via == "ack"

        # The command opens the modal (its ack carries nothing).
        opened = _ack(await driver.slash_command(REQUESTER, CHANNEL))
        assert opened.text == ""
        (view,) = await api.wait_for(lambda: api.views(), what="views.open")

        # A field error comes back in the submission's ack, and the modal shows it.
        reason = {ids.REASON_ACTION: plain_text_input("INC-4242: key pasted in a public gist")}
        refused = _ack(
            await driver.view_submission(
                REQUESTER,
                view_id=view.id,
                values={
                    ids.IDENTIFIER_BLOCK: {ids.IDENTIFIER_ACTION: plain_text_input("bob; rm -rf")},
                    ids.REASON_BLOCK: reason,
                },
            )
        )
        assert refused.envelope is not None and refused.envelope.accepts_response_payload
        ack_payload = refused.envelope.ack_payload
        assert ack_payload is not None and ack_payload["response_action"] == "errors"
        assert "IAM user name" in ack_payload["errors"][ids.IDENTIFIER_BLOCK]
        shown = api.view(view.id)
        assert not shown.closed and ids.IDENTIFIER_BLOCK in shown.errors

        # The requester pastes the key instead; the modal closes and the request is posted.
        accepted = _ack(
            await driver.view_submission(
                REQUESTER,
                view_id=view.id,
                values={ids.IDENTIFIER_BLOCK: {ids.IDENTIFIER_ACTION: plain_text_input(key.key)}},
            )
        )
        assert accepted.text == "" and api.view(view.id).closed
        message: Message = await api.wait_for(
            lambda: next(iter(api.messages(CHANNEL)), None), what="request message"
        )
        await api.wait_for(lambda: api.thread(CHANNEL, message.ts), what="plan reply")
        assert key.credential_id in message.text + json.dumps(message.blocks)

        # The requester cannot approve their own request.
        _ack(
            await driver.block_action(
                REQUESTER, channel_id=CHANNEL, message_ts=message.ts, action_id=ids.APPROVE_ACTION
            )
        )
        refusal = await api.wait_for(
            lambda: api.ephemerals(CHANNEL, user=REQUESTER)[1:], what="refusal to the requester"
        )
        assert "cannot approve it" in refusal[0].text + json.dumps(refusal[0].blocks)
        assert _statuses(key.user_name) == ["Active"]

        # A second person approves: the key goes Inactive in IAM.
        clicked = _ack(
            await driver.block_action(
                APPROVER, channel_id=CHANNEL, message_ts=message.ts, action_id=ids.APPROVE_ACTION
            )
        )
        assert clicked.envelope is not None and not clicked.envelope.accepts_response_payload
        final = await api.wait_for(
            lambda: _final(api, message), timeout=15.0, what="the request's final status"
        )
        assert ": completed." in final.text.lower()
        assert _statuses(key.user_name) == ["Inactive"]

        # Every envelope was acked in time, on the one connection, nothing unexpected sent back.
        envelopes = api.socket.envelopes()
        assert [e.type for e in envelopes] == ["slash_commands"] * 2 + ["interactive"] * 4
        assert all(e.acked_in_time for e in envelopes)
        (conn,) = api.socket.connections()
        assert conn.stray == []
        assert await app.stop() == 0


def _statuses(user_name: str) -> list[str]:
    listed = boto_session().client("iam").list_service_specific_credentials(UserName=user_name)
    return [c["Status"] for c in listed["ServiceSpecificCredentials"]]


def _final(api: SlackApiStandIn, message: Message) -> Message | None:
    now = api.message(CHANNEL, message.ts)
    text = now.text.lower() if now else ""
    done = ("completed", "partially completed", "failed")
    return now if any(f": {w}." in text for w in done) else None
