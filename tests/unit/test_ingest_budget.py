"""app.web.ingest_budget: bodies held at once are bounded, waiters go in order, nothing leaks."""

from __future__ import annotations

import asyncio

import pytest

from app.web.ingest_budget import BodyBudget, Overloaded


async def _hold(budget: BodyBudget, size: int, release: asyncio.Event, log: list[int]) -> None:
    async with budget.room_for(size):
        log.append(size)
        await asyncio.wait_for(release.wait(), 5)  # a failing test ends, never hangs


async def _arrive(
    budget: BodyBudget, size: int, release: asyncio.Event, log: list[int]
) -> asyncio.Task[None]:
    """:func:`_hold` as a task, given a turn of the loop: requests arrive in the order they
    are started."""
    task = asyncio.create_task(_hold(budget, size, release, log))
    await asyncio.sleep(0)
    return task


async def test_a_body_waits_for_room_and_is_let_in_when_another_is_done() -> None:
    budget = BodyBudget(10, wait=2)
    first, second = asyncio.Event(), asyncio.Event()
    log: list[int] = []
    holding = await _arrive(budget, 8, first, log)
    waiting = await _arrive(budget, 5, second, log)
    await asyncio.sleep(0.01)
    assert log == [8] and budget.held == 8
    first.set()
    await holding
    await asyncio.sleep(0.01)
    assert log == [8, 5] and budget.held == 5
    second.set()
    await waiting
    assert budget.held == 0


async def test_one_body_larger_than_the_budget_is_let_in_alone() -> None:
    budget = BodyBudget(10, wait=0.01)
    async with budget.room_for(50):
        assert budget.held == 50
        with pytest.raises(Overloaded):
            async with budget.room_for(1):
                pass
    assert budget.held == 0


async def test_waiters_go_in_order_of_arrival_and_a_small_one_does_not_overtake() -> None:
    budget = BodyBudget(10, wait=2)
    gates = [asyncio.Event() for _ in range(3)]
    log: list[int] = []
    tasks = [await _arrive(budget, 9, gates[0], log)]
    tasks.append(await _arrive(budget, 6, gates[1], log))
    tasks.append(await _arrive(budget, 1, gates[2], log))  # would fit now
    await asyncio.sleep(0.01)
    assert log == [9]
    gates[0].set()
    await asyncio.sleep(0.01)
    assert log == [9, 6, 1] and budget.held == 7
    for gate in gates:
        gate.set()
    await asyncio.gather(*tasks)
    assert budget.held == 0


async def test_a_refused_waiter_gives_its_place_up_and_lets_smaller_ones_in() -> None:
    budget = BodyBudget(10, wait=0.05)
    hold, rest = asyncio.Event(), asyncio.Event()
    log: list[int] = []
    holding = await _arrive(budget, 6, hold, log)
    large = await _arrive(budget, 8, rest, log)
    small = await _arrive(budget, 3, rest, log)  # behind the large one
    with pytest.raises(Overloaded, match="6 bytes of ingest bodies"):
        await large
    await asyncio.sleep(0.01)
    assert log == [6, 3] and budget.held == 9
    hold.set()
    rest.set()
    await asyncio.gather(holding, small)
    assert budget.held == 0


async def test_a_waiter_cancelled_before_or_after_its_turn_holds_nothing() -> None:
    budget = BodyBudget(10, wait=2)
    hold, never = asyncio.Event(), asyncio.Event()  # never set: both waiters are cancelled
    log: list[int] = []
    holding = await _arrive(budget, 10, hold, log)
    waiting = await _arrive(budget, 4, never, log)
    await asyncio.sleep(0.01)
    waiting.cancel()  # before its turn
    with pytest.raises(asyncio.CancelledError):
        await waiting
    late = await _arrive(budget, 4, never, log)
    await asyncio.sleep(0.01)
    hold.set()  # its turn comes, and it is cancelled before it runs again
    await holding
    late.cancel()
    with pytest.raises(asyncio.CancelledError):
        await late
    assert budget.held == 0
    async with budget.room_for(10):
        assert budget.held == 10
