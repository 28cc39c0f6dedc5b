"""`bedrock-revoker serve` as real processes for the end-to-end tests: started with an operator's
environment, read through their JSON log lines, stopped with SIGTERM or killed with SIGKILL."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import signal
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
from conftest import free_port, serve_command

from bot.sandbox.harness import APPROVER, APPROVER_GROUP
from bot.sandbox.slack_api import SlackApiStandIn
from bot.sandbox.slack_driver import SlackDriver

START_TIMEOUT = 60.0  # a cold interpreter importing boto3, Bolt and SQLAlchemy on a busy machine


class LogTail:
    """The app's stderr (JSON log lines), read as it comes; waits are on lines, not on time."""

    def __init__(self, stream: asyncio.StreamReader) -> None:
        self.lines: list[str] = []
        self.eof = False
        self._changed = asyncio.Condition()
        self._reader = asyncio.create_task(self._read(stream))

    async def _read(self, stream: asyncio.StreamReader) -> None:
        while line := await stream.readline():
            async with self._changed:
                self.lines.append(line.decode(errors="replace").rstrip("\n"))
                self._changed.notify_all()
        async with self._changed:
            self.eof = True
            self._changed.notify_all()

    def messages(self) -> list[str]:
        out = []
        for line in self.lines:
            try:
                out.append(str(json.loads(line).get("message", line)))
            except json.JSONDecodeError:
                out.append(line)
        return out

    async def wait_for(self, text: str, timeout: float = START_TIMEOUT) -> str:  # noqa: ASYNC109
        def found() -> str | None:
            return next((m for m in self.messages() if text in m), None)

        try:
            async with asyncio.timeout(timeout), self._changed:
                await self._changed.wait_for(lambda: found() is not None or self.eof)
        except TimeoutError:
            raise AssertionError(self._report(f"no log line {text!r} in {timeout}s")) from None
        line = found()
        if line is None:
            raise AssertionError(self._report(f"the app exited before logging {text!r}"))
        return line

    def _report(self, what: str) -> str:
        return what + "; the app logged:\n" + "\n".join(self.lines[-30:])

    async def finish(self) -> None:
        await self._reader


def operator_env(api: SlackApiStandIn, aws_url: str, database_url: str) -> dict[str, str]:
    """What an operator sets, pointed at the stand-ins (and nothing of this test's own env)."""
    keep = ("PATH", "HOME", "LANG", "SYSTEMROOT")
    env = {k: v for k, v in os.environ.items() if k in keep}
    env.update(
        {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ENDPOINT_URL": aws_url,
            "AWS_CONFIG_FILE": "/dev/null",
            "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
            "AWS_EC2_METADATA_DISABLED": "true",
            "SLACK_BOT_TOKEN": api.bot_token,
            "SLACK_API_URL": api.base_url,
            "REVOKER_APPROVER_USER_IDS": APPROVER,
            "REVOKER_APPROVER_USERGROUP_IDS": APPROVER_GROUP,
            "REVOKER_DATABASE_URL": database_url,
            "REVOKER_HOST": "127.0.0.1",
            "REVOKER_LOG_FORMAT": "json",
        }
    )
    return env


@dataclass
class HttpReplica:
    """One `serve` process in HTTP mode, and a driver that signs requests to it as Slack does."""

    proc: asyncio.subprocess.Process
    port: int
    log: LogTail
    api: SlackApiStandIn
    signing_secret: str
    driver: SlackDriver = field(init=False)

    def __post_init__(self) -> None:
        self.driver = SlackDriver(
            f"http://127.0.0.1:{self.port}/slack/events", self.signing_secret, self.api
        )

    async def healthy(self) -> None:
        """Once /healthz answers 200."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + START_TIMEOUT
        async with aiohttp.ClientSession() as http:
            while True:
                with contextlib.suppress(aiohttp.ClientError):
                    async with http.get(f"http://127.0.0.1:{self.port}/healthz") as resp:
                        if resp.status == 200:
                            return
                if self.proc.returncode is not None or loop.time() > deadline:
                    raise AssertionError(self.log._report("serve never became healthy"))
                await asyncio.sleep(0.1)

    def kill(self) -> None:
        """SIGKILL: no goodbye, no cleanup, leases left as they were."""
        self.proc.send_signal(signal.SIGKILL)


@contextlib.asynccontextmanager
async def http_replica(
    api: SlackApiStandIn,
    cwd: Path,
    env: dict[str, str],
    signing_secret: str,
) -> AsyncIterator[HttpReplica]:
    """`bedrock-revoker serve` in HTTP mode with `env`, healthy; killed on leaving if alive."""
    port = free_port()
    env = {**env, "SLACK_SIGNING_SECRET": signing_secret, "REVOKER_PORT": str(port)}
    proc = await asyncio.create_subprocess_exec(
        *serve_command(),
        "serve",
        env=env,
        cwd=cwd,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stderr is not None
    replica = HttpReplica(proc, port, LogTail(proc.stderr), api, signing_secret)
    try:
        await replica.healthy()
        async with replica.driver:
            yield replica
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()
        await replica.log.finish()


def new_signing_secret() -> str:
    return secrets.token_hex(16)


__all__ = [
    "START_TIMEOUT",
    "HttpReplica",
    "LogTail",
    "free_port",
    "http_replica",
    "new_signing_secret",
    "operator_env",
    "serve_command",
]
