"""The delivery gate hands recorded results out in their recorded order, whatever order they are asked for."""

from __future__ import annotations

import asyncio
from typing import Any

from stead.engines.journal._order import DeliveryGate


async def _branch(gate: DeliveryGate, name: str, recorded: int | None, log: list[tuple[str, int]]) -> str:
    task = asyncio.current_task()
    assert task is not None
    gate.track(task)
    number = await gate.deliver(recorded)
    log.append((name, number))
    await asyncio.sleep(0)  # work after the result, as an agent run does before it returns
    return name


async def _race(
    gate: DeliveryGate, numbers: dict[str, int | None]
) -> tuple[list[str], list[tuple[str, int]]]:
    root = asyncio.current_task()
    assert root is not None
    gate.track(root)
    log: list[tuple[str, int]] = []
    tasks = [asyncio.create_task(_branch(gate, name, n, log)) for name, n in numbers.items()]
    for task in tasks:
        gate.track(task)
    order = [await t for t in asyncio.as_completed(tasks)]
    return order, log


async def test_recorded_results_arrive_in_recorded_order() -> None:
    gate = DeliveryGate([1, 2, 3])
    order, log = await _race(gate, {"a": 3, "b": 1, "c": 2})
    assert order == ["b", "c", "a"]
    assert log == [("b", 1), ("c", 2), ("a", 3)]
    assert not gate.replaying


async def test_live_results_are_numbered_after_the_recorded_ones() -> None:
    gate = DeliveryGate([1, 2])
    order, log = await _race(gate, {"live": None, "a": 2, "b": 1})
    assert order == ["b", "a", "live"]
    assert log[-1] == ("live", 3)


async def test_a_recorded_result_nobody_asks_for_does_not_block_the_others() -> None:
    gate = DeliveryGate([1, 2, 3])
    order, _ = await _race(gate, {"a": 3, "b": 1})
    assert order == ["b", "a"]


async def test_sequential_replay_needs_no_extra_loop_iterations() -> None:
    gate = DeliveryGate(range(1, 101))
    root = asyncio.current_task()
    assert root is not None
    gate.track(root)
    loop: Any = asyncio.get_running_loop()
    numbers = [await gate.deliver(n) for n in range(1, 101)]
    assert numbers == list(range(1, 101))
    assert not loop._ready  # every delivery took the synchronous path


async def test_without_a_journal_every_result_passes_straight_through() -> None:
    gate = DeliveryGate([])
    order, log = await _race(gate, {"a": None, "b": None})
    assert sorted(n for _, n in log) == [1, 2]
    assert set(order) == {"a", "b"}


async def _first_completed(gate: DeliveryGate, numbers: dict[str, int]) -> list[str]:
    root = asyncio.current_task()
    assert root is not None
    gate.track(root)
    tasks = [asyncio.create_task(_branch(gate, name, n, [])) for name, n in numbers.items()]
    for task in tasks:
        gate.track(task)
    done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    await asyncio.gather(*tasks)
    return sorted(t.result() for t in done)


async def test_results_recorded_in_one_turn_are_handed_out_in_one_turn() -> None:
    assert await _first_completed(DeliveryGate([1, 2, 3], {2: 1}), {"a": 1, "b": 2, "c": 3}) == ["a", "b"]
    assert await _first_completed(DeliveryGate([1, 2, 3]), {"a": 1, "b": 2, "c": 3}) == ["a"]


async def test_live_results_of_one_turn_are_numbered_as_a_burst() -> None:
    gate = DeliveryGate([])
    first, second = await gate.deliver(None), await gate.deliver(None)
    await asyncio.sleep(0)
    third = await gate.deliver(None)
    assert (gate.burst_of(first), gate.burst_of(second), gate.burst_of(third)) == (None, first, None)
