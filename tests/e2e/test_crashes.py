"""Real `bedrock-revoker serve` processes killed and restarted: an approved request still runs,
exactly once, and its thread says what happened.

Each replica is a process started as an operator would (environment only), sharing one store:
a SQLite file, or one DynamoDB table on moto's server. Slack is the stand-in, in this process;
so is moto's server, which can hold an IAM call in flight (to kill the process that made it) and
counts every call it receives.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from conftest import boto_session
from processes import HttpReplica, http_replica, new_signing_secret, operator_env
from slack_flow import request_for_key, wait_final

from bot.audit import EventType
from bot.requests import RequestService, RequestStatus
from bot.sandbox import iam as sandbox_iam
from bot.sandbox.harness import APPROVER, CHANNEL, GROUP_APPROVER, workspace
from bot.sandbox.slack_api import Message, SlackApiStandIn
from bot.sandbox.slack_driver import SlackDriver
from bot.store import RequestStore, open_store
from bot.store.dynamodb import DynamoDbStore
from bot.views import ids

# Short, so a death is covered quickly; long enough that a live replica on a loaded machine
# (three interpreters and moto on two cores) renews in time and is never presumed dead.
LEASE_SECONDS = 5
FAST = {"REVOKER_LEASE_SECONDS": str(LEASE_SECONDS), "REVOKER_RUNNER_POLL_SECONDS": "0.2"}


@dataclass(frozen=True)
class Via:
    """The Slack flow's view of one replica: the workspace, and a driver to that replica."""

    api: SlackApiStandIn
    driver: SlackDriver


@contextlib.asynccontextmanager
async def slack() -> AsyncIterator[SlackApiStandIn]:
    async with SlackApiStandIn() as api:
        workspace(api)
        yield api


def request_id(message: Message) -> str:
    return message.text.split(":", 1)[0]


def thread_texts(api: SlackApiStandIn, message: Message) -> list[str]:
    return [m.text for m in api.thread(CHANNEL, message.ts)]


def key_status(user_name: str) -> str:
    iam = boto_session().client("iam")
    (cred,) = iam.list_service_specific_credentials(UserName=user_name)[
        "ServiceSpecificCredentials"
    ]
    return str(cred["Status"])


async def approve(replica: HttpReplica, message: Message, user: str = APPROVER) -> None:
    response = await replica.driver.block_action(
        user, channel_id=CHANNEL, message_ts=message.ts, action_id=ids.APPROVE_ACTION
    )
    assert response.status == 200, response.text


def once_in_order(texts: list[str], *starts: str) -> None:
    where = []
    for start in starts:
        found = [i for i, t in enumerate(texts) if t.startswith(start)]
        assert len(found) == 1, f"{start!r} found {len(found)} times in {texts}"
        where.append(found[0])
    assert where == sorted(where), texts


@pytest.mark.parametrize(
    ("action", "operation", "final"),
    [
        ("deactivate", "UpdateServiceSpecificCredential", "completed"),
        ("reset", "ResetServiceSpecificCredential", "partially completed"),
    ],
)
async def test_killed_during_an_iam_call_the_next_start_resumes_without_calling_twice(
    aws_server: str, tmp_path: Path, action: str, operation: str, final: str
) -> None:
    async with slack() as api:
        env = {**operator_env(api, aws_server, f"sqlite:///{tmp_path / 'r.db'}"), **FAST}
        secret = new_signing_secret()
        async with http_replica(api, tmp_path, env, secret) as first:
            key, message = await request_for_key(Via(api, first.driver), actions=(action,))
            held = sandbox_iam.hold(operation)
            await approve(first, message)
            assert await asyncio.to_thread(held.entered.wait, 30), f"{operation} never called"
            first.kill()
            await first.proc.wait()
        held.release()  # IAM finishes the call; nobody is there to read its answer

        async with http_replica(api, tmp_path, env, secret) as second:
            done = await wait_final(Via(api, second.driver), message, wait=60)

        assert f": {final}." in done.text.lower()
        assert sandbox_iam.seen(operation) == 1
        texts = thread_texts(api, message)
        once_in_order(texts, "The plan", "Approved by", "The run was interrupted", "Step 1 of 1")
        if action == "deactivate":
            assert key_status(key.user_name) == "Inactive"
            step = next(m for m in api.thread(CHANNEL, message.ts) if m.text.startswith("Step"))
            assert "Found in place on resuming" in str(step.blocks)
        else:
            assert "OutcomeUnknown" in next(t for t in texts if t.startswith("Step"))


async def test_an_approval_whose_runner_never_started_runs_at_the_next_start(
    aws_server: str, tmp_path: Path
) -> None:
    database = f"sqlite:///{tmp_path / 'r.db'}"
    async with slack() as api:
        env = {**operator_env(api, aws_server, database), **FAST}
        secret = new_signing_secret()
        async with http_replica(api, tmp_path, env, secret) as first:
            key, message = await request_for_key(Via(api, first.driver))
            first.kill()
            await first.proc.wait()
        # The approval is written, and the process dies before its runner claims it.
        store = open_store(database)
        try:
            approved = await RequestService(store).approve(
                request_id(message), APPROVER, _anyone, channel_id=CHANNEL
            )
            assert approved.request is not None
            assert approved.request.status is RequestStatus.APPROVED
        finally:
            await store.close()
        assert key_status(key.user_name) == "Active"

        async with http_replica(api, tmp_path, env, secret) as second:
            done = await wait_final(Via(api, second.driver), message, wait=60)

        assert ": completed." in done.text
        assert key_status(key.user_name) == "Inactive"
        assert sandbox_iam.seen("UpdateServiceSpecificCredential") == 1
        once_in_order(thread_texts(api, message), "The plan", "Approved by", "Step 1 of 1")


async def _anyone(user: str) -> bool:
    return True


async def test_three_replicas_on_one_dynamodb_table_run_each_approval_once_and_cover_a_death(
    aws_server: str, tmp_path: Path
) -> None:
    table = "revoker-replicas"
    # Created once, as `bedrock-revoker store init` does: the replicas never create it.
    await asyncio.to_thread(DynamoDbStore(table).create_table)
    async with slack() as api:
        env = {**operator_env(api, aws_server, f"dynamodb://{table}"), **FAST}
        secret = new_signing_secret()
        async with contextlib.AsyncExitStack() as stack:
            replicas: list[HttpReplica] = list(
                await asyncio.gather(
                    *(
                        stack.enter_async_context(http_replica(api, tmp_path, env, secret))
                        for _ in range(3)
                    )
                )
            )
            messages: list[tuple[str, Message]] = []
            for n in range(6):
                via = Via(api, replicas[n % 3].driver)
                key, message = await request_for_key(via, f"leaky-{n}")
                messages.append((key.user_name, message))

            # Every approval clicked at the same moment by two approvers on every replica.
            await asyncio.gather(
                *(
                    approve(replica, message, user)
                    for _, message in messages
                    for replica in replicas
                    for user in (APPROVER, GROUP_APPROVER)
                )
            )
            for _, message in messages:
                done = await wait_final(Via(api, replicas[0].driver), message, wait=60)
                assert ": completed." in done.text
            assert sandbox_iam.seen("UpdateServiceSpecificCredential") == len(messages)
            assert all(key_status(user) == "Inactive" for user, _ in messages)

            store = open_store(f"dynamodb://{table}")
            try:
                for _, message in messages:
                    history = await store.events(request_id(message))
                    assert [e.type for e in history].count(EventType.EXECUTION_STARTED) == 1
                    assert EventType.RESUMED not in [e.type for e in history]
                    approvals = [m for m in thread_texts(api, message) if "approved" in m.lower()]
                    assert len(approvals) == 1, thread_texts(api, message)

                # One replica dies while its IAM call is in flight: another takes the request over.
                key, message = await request_for_key(Via(api, replicas[1].driver), "leaky-last")
                held = sandbox_iam.hold("UpdateServiceSpecificCredential")
                await approve(replicas[2], message)
                assert await asyncio.to_thread(held.entered.wait, 30)
                running = await _holder(store, request_id(message))
                dead = next(r for r in replicas if f":{r.proc.pid}:" in running)
                dead.kill()
                await dead.proc.wait()
                killed_at = asyncio.get_running_loop().time()
                held.release()
                alive = next(r for r in replicas if r is not dead)
                done = await wait_final(Via(api, alive.driver), message, wait=60)
                took = asyncio.get_running_loop().time() - killed_at
                history = await store.events(request_id(message))
            finally:
                await store.close()

        assert ": completed." in done.text
        assert key_status("leaky-last") == "Inactive"
        assert sandbox_iam.seen("UpdateServiceSpecificCredential") == len(messages) + 1
        resumed = [e for e in history if e.type is EventType.RESUMED]
        assert len(resumed) == 1 and resumed[0].data["interrupted_runner"] == running
        # Taken over once the dead replica's lease lapsed, and finished soon after.
        assert took < LEASE_SECONDS + 15, took
        once_in_order(thread_texts(api, message), "The run was interrupted", "Step 1 of 1")


async def _holder(store: RequestStore, rid: str) -> str:
    req = await store.get(rid)
    assert req is not None and req.lease is not None
    assert req.lease.expires_at - req.created_at < timedelta(hours=1)
    return req.lease.owner
