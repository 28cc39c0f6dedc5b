"""Acks first: background work waits while requests are being answered, then starts one unit
per turn of the event loop, and never waits longer than its patience."""

from __future__ import annotations

import asyncio

from bot.foreground import Foreground


async def turns(n: int = 5) -> None:
    for _ in range(n):
        await asyncio.sleep(0)


async def test_with_nothing_being_answered_background_work_goes_at_once() -> None:
    fg = Foreground(calm=0, patience=60)
    waiter = asyncio.create_task(fg.quiet())
    await turns(1)
    assert waiter.done()


async def test_background_work_waits_until_the_request_in_hand_is_answered() -> None:
    fg = Foreground(calm=0, patience=60)
    with fg.answering():
        assert fg.serving == 1
        waiter = asyncio.create_task(fg.quiet())
        await turns()
        assert not waiter.done()
    await turns()
    assert waiter.done() and fg.serving == 0


async def test_a_burst_keeps_background_work_waiting_for_a_calm_moment() -> None:
    fg = Foreground(calm=60, patience=120)
    with fg.answering():
        pass
    # Answered a moment ago: the next request of a burst is probably already on its way.
    waiter = asyncio.create_task(fg.quiet())
    await turns()
    assert not waiter.done()
    waiter.cancel()


async def test_waiting_units_start_one_per_turn_in_the_order_they_asked() -> None:
    fg = Foreground(calm=0, patience=60)
    started: list[int] = []

    async def unit(n: int) -> None:
        await fg.quiet()
        started.append(n)

    with fg.answering():
        units = [asyncio.create_task(unit(n)) for n in range(4)]
        await turns()
        assert started == []
    seen = []
    while len(started) < 4:
        await asyncio.sleep(0)
        seen.append(len(started))
    assert started == [0, 1, 2, 3]
    assert all(b - a <= 1 for a, b in zip([0, *seen], seen, strict=False))
    await asyncio.gather(*units)


async def test_a_steady_stream_delays_background_work_but_never_starves_it() -> None:
    fg = Foreground(calm=0, patience=0.01)
    with fg.answering():
        await asyncio.wait_for(fg.quiet(), timeout=5)  # patience ran out: it goes anyway
