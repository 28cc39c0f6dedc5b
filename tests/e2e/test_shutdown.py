"""Stopping the app: work a listener started after its ack is waited for, within a bound."""

from __future__ import annotations

import asyncio

from slack_bolt.async_app import AsyncAck

from bot.sandbox.harness import CHANNEL, REQUESTER, sandbox


async def test_settle_waits_for_acked_work_then_cancels_what_overruns() -> None:
    async with sandbox() as sb:
        release = asyncio.Event()
        finished: list[str] = []

        async def slow_work() -> None:
            await release.wait()
            finished.append("slow")

        # As the app's listeners do: ack, and hand the rest to after_ack.
        @sb.app.bolt.command("/slow")
        async def slow(ack: AsyncAck) -> None:
            await ack()
            sb.app.handlers.after_ack(slow_work(), "slow")

        @sb.app.bolt.command("/stuck")
        async def stuck(ack: AsyncAck) -> None:
            await ack()
            sb.app.handlers.after_ack(asyncio.Event().wait(), "stuck")

        assert (await sb.driver.slash_command(REQUESTER, CHANNEL, command="/slow")).status == 200
        assert len(sb.app.listeners) == 1  # acked, still running

        asyncio.get_running_loop().call_later(0.05, release.set)
        assert await sb.app.settle(grace=5) == 0
        assert finished == ["slow"]
        assert not sb.app.listeners

        assert (await sb.driver.slash_command(REQUESTER, CHANNEL, command="/stuck")).status == 200
        (task,) = sb.app.listeners
        assert await sb.app.settle(grace=0.05) == 1
        assert task.cancelled()
