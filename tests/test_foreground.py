"""Acks first: background work waits while requests are being answered, then starts one unit
per turn of the event loop, and never waits longer than its patience."""

from __future__ import annotations

import asyncio
import time

from bot.foreground import Foreground


def busy(seconds: float) -> None:
    """The event loop busy answering (nothing else runs meanwhile)."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass


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


class Units:
    """Units of background work that note the order they started in."""

    def __init__(self, fg: Foreground, count: int) -> None:
        self.started: list[int] = []
        self.tasks = [asyncio.create_task(self._unit(fg, n)) for n in range(count)]

    async def _unit(self, fg: Foreground, n: int) -> None:
        await fg.quiet()
        self.started.append(n)

    async def start_one_per_turn(self) -> None:
        """Wait for all of them, checking that at most one started in each turn, in order."""
        seen = []
        while len(self.started) < len(self.tasks):
            await asyncio.sleep(0)
            seen.append(len(self.started))
        assert self.started == sorted(self.started)
        assert all(b - a <= 1 for a, b in zip([0, *seen], seen, strict=False))
        await asyncio.gather(*self.tasks)


async def test_waiting_units_start_one_per_turn_in_the_order_they_asked() -> None:
    fg = Foreground(calm=0, patience=60)
    with fg.answering():
        units = Units(fg, 4)
        await turns()
        assert units.started == []
    await units.start_one_per_turn()


async def test_a_steady_stream_delays_background_work_but_never_starves_it() -> None:
    fg = Foreground(calm=0, patience=0.01)
    with fg.answering():
        await asyncio.wait_for(fg.quiet(), timeout=5)  # patience ran out: it goes anyway


async def test_units_out_of_patience_still_start_one_per_turn() -> None:
    # Released together, a stream's backlog would be one long turn in which no ack is read.
    fg = Foreground(calm=0, patience=0.01)
    with fg.answering():  # never calm: every unit runs out of patience
        units = Units(fg, 4)
        await turns()
        busy(0.02)
        await units.start_one_per_turn()


async def test_a_request_gives_way_while_more_units_wait_than_the_backlog() -> None:
    fg = Foreground(calm=0, patience=60, backlog=2, give_way_at_most=60)
    with fg.answering():
        units = [asyncio.create_task(fg.quiet()) for _ in range(5)]
        await turns()
        assert fg.behind()
    # The burst is over; the next request is read once no more than two units wait.
    await fg.give_way()
    assert not fg.behind()
    assert sum(u.done() for u in units) >= 3
    await asyncio.gather(*units)


async def test_a_request_gives_way_to_a_unit_that_waited_its_whole_patience() -> None:
    fg = Foreground(calm=0, patience=0.01, give_way_at_most=60)
    with fg.answering():
        unit = asyncio.create_task(fg.quiet())
        await turns()
        assert not fg.behind()
        busy(0.02)  # the unit's patience ran out meanwhile
        assert fg.behind()
        await fg.give_way()
        assert unit.done()


async def test_giving_way_is_bounded() -> None:
    fg = Foreground(calm=0, patience=60, backlog=0, give_way_at_most=0.01)
    with fg.answering():
        unit = asyncio.create_task(fg.quiet())
        await turns()
        await asyncio.wait_for(fg.give_way(), timeout=5)
        assert not unit.done()  # still waiting for the request in hand; the request went on
    await unit
