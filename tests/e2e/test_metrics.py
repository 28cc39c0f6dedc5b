"""GET /metrics and GET /readyz of the real `bedrock-revoker serve` process (HTTP mode), driven
over signed HTTP with Slack played by the stand-in and AWS by moto's server: a key is requested,
approved and revoked, and the counters and histograms say so; readiness follows the store and
Slack's answer to the bot token."""

from __future__ import annotations

import asyncio
import json
import secrets
from pathlib import Path

import aiohttp
from conftest import boto_session, create_long_term_key
from processes import START_TIMEOUT, LogTail, free_port, operator_env, serve_command
from prometheus_client.parser import text_string_to_metric_families

from bot.sandbox.harness import APPROVER, CHANNEL, REQUESTER, workspace
from bot.sandbox.slack_api import SlackApiStandIn
from bot.sandbox.slack_driver import SlackDriver, plain_text_input
from bot.views import ids

HTTP_READY = "serving Slack over HTTP"


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample by (name, sorted labels)."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


async def _get(http: aiohttp.ClientSession, url: str) -> tuple[int, str]:
    async with http.get(url) as resp:
        return resp.status, await resp.text()


async def test_metrics_count_a_revocation_and_readiness_follows_slack(
    aws_server: str, tmp_path: Path
) -> None:
    secret = secrets.token_hex(16)
    port = free_port()
    async with SlackApiStandIn() as api:
        workspace(api)
        env = {
            **operator_env(api, aws_server, f"sqlite:///{tmp_path / 'revoker.db'}"),
            "SLACK_SIGNING_SECRET": secret,
            "REVOKER_PORT": str(port),
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
        log = LogTail(proc.stderr)
        base = f"http://127.0.0.1:{port}"
        try:
            await log.wait_for(HTTP_READY, START_TIMEOUT)
            async with (
                aiohttp.ClientSession() as http,
                SlackDriver(f"{base}/slack/events", secret, api) as driver,
            ):
                # Slack refuses the bot token: this replica is not ready (and still alive).
                api.fail("auth.test", "token_revoked", times=1)
                status, body = await _get(http, f"{base}/readyz")
                assert (status, json.loads(body)) == (
                    503,
                    {
                        "ok": False,
                        "checks": {
                            "store": "ok",
                            "slack": "Slack refused the bot token (token_revoked)",
                        },
                    },
                )
                assert (await _get(http, f"{base}/healthz"))[0] == 200
                status, body = await _get(http, f"{base}/readyz")
                assert (status, json.loads(body)) == (
                    200,
                    {"ok": True, "checks": {"store": "ok", "slack": "ok"}},
                )

                key = create_long_term_key(boto_session().client("iam"), "leaky")
                await driver.slash_command(REQUESTER, CHANNEL, text=key.credential_id)
                (view,) = await api.wait_for(lambda: api.views() or None, what="views.open")
                values = {
                    ids.REASON_BLOCK: {ids.REASON_ACTION: plain_text_input("INC-1: gist")},
                }
                answer = await driver.view_submission(REQUESTER, view_id=view.id, values=values)
                assert answer.status == 200 and not answer.text, answer.text
                message = await api.wait_for(
                    lambda: next(iter(api.messages(CHANNEL)), None), what="request message"
                )
                await driver.block_action(
                    APPROVER,
                    channel_id=CHANNEL,
                    message_ts=message.ts,
                    action_id=ids.APPROVE_ACTION,
                )

                def completed() -> bool:
                    current = api.message(CHANNEL, message.ts)
                    return current is not None and ": completed." in current.text.lower()

                await api.wait_for(completed, timeout=30, what="completed")

                status, text = await _get(http, f"{base}/metrics")
                assert status == 200
                got = samples(text)
                assert got[("bedrock_revoker_requests_total", (("outcome", "requested"),))] == 1
                assert got[("bedrock_revoker_requests_total", (("outcome", "approved"),))] == 1
                assert got[("bedrock_revoker_approvals_total", ())] == 1
                assert got[("bedrock_revoker_executions_total", (("status", "completed"),))] == 1
                deactivated = (
                    ("error_code", "none"),
                    ("operation", "UpdateServiceSpecificCredential"),
                    ("service", "iam"),
                )
                assert got[("bedrock_revoker_aws_calls_total", deactivated)] == 1
                latency = (("operation", "UpdateServiceSpecificCredential"), ("service", "iam"))
                assert got[("bedrock_revoker_aws_call_seconds_count", latency)] == 1
                posted = (("method", "chat.postMessage"),)
                assert got[("bedrock_revoker_slack_call_seconds_count", posted)] >= 2
                assert key.key not in text and key.credential_id not in text
        finally:
            if proc.returncode is None:
                proc.terminate()
                await proc.wait()
            await log.finish()
