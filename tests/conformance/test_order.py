"""Completion order replays: code that acts on whichever result arrives first decides the same on replay."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import pytest

import stead

calls: Counter[str] = Counter()
finished: dict[str, asyncio.Event] = {}
_pass = asyncio.Event()


@pytest.fixture(autouse=True)
def _reset() -> None:
    calls.clear()
    finished.clear()
    _pass.clear()


def _finished(name: str) -> asyncio.Event:
    return finished.setdefault(name, asyncio.Event())


@stead.step
async def branch(name: str, after: str | None) -> str:
    """Finishes once the branch ``after`` has: the branches finish in an order unlike their creation order."""
    calls[name] += 1
    if after is not None:
        await _finished(after).wait()
    _finished(name).set()
    return name


@stead.step
async def decide(order: list[str], winners: list[str]) -> str:
    calls["decide"] += 1
    return f"{order[0]} first; race won by {'+'.join(winners)}"


@stead.workflow
async def by_completion() -> dict[str, Any]:
    # Created a, b, c; they finish c, a, b, each once the workflow has acted on the one before.
    tasks = [
        asyncio.ensure_future(branch("a", "seen-c")),
        asyncio.ensure_future(branch("b", "seen-a")),
        asyncio.ensure_future(branch("c", None)),
    ]
    order: list[str] = []
    for next_done in asyncio.as_completed(tasks):
        order.append(await next_done)
        await branch(f"seen-{order[-1]}", None)
    slow = asyncio.ensure_future(branch("slow", "seen"))
    fast = asyncio.ensure_future(branch("fast", None))
    done, pending = await asyncio.wait({slow, fast}, return_when=asyncio.FIRST_COMPLETED)
    winners = sorted(t.result() for t in done)
    await branch("seen", None)  # the slow branch finishes once the race was decided
    await asyncio.gather(*pending)
    decision = await decide(order, winners)
    if not _pass.is_set():
        raise RuntimeError("first execution: fail after the decisions")
    return {"order": order, "winners": winners, "decision": decision}


async def test_completion_order_replays(engine: stead.Engine) -> None:
    handle = await engine.start(by_completion, run_id="order-1")
    async with engine.worker([by_completion]):
        with pytest.raises(stead.RunFailed, match="first execution"):
            await handle.result(timeout=30)
    _pass.set()
    await engine.reopen(handle.run_id)
    async with engine.worker([by_completion]):
        result = await handle.result(timeout=30)
    assert result == {"order": ["c", "a", "b"], "winners": ["fast"], "decision": "c first; race won by fast"}
    assert set(calls.values()) == {1}, f"replay ran a recorded step again: {calls}"


@stead.workflow
async def listed_order() -> list[str]:
    # Awaitables handed to as_completed as coroutines: asyncio makes their tasks while iterating a set of them.
    return [await next_done for next_done in asyncio.as_completed([branch(f"b{i}", None) for i in range(6)])]


async def test_as_completed_tasks_take_positions_in_listed_order(engine: stead.Engine) -> None:
    handle = await engine.start(listed_order, run_id="order-listed")
    async with engine.worker([listed_order]):
        assert sorted(await handle.result(timeout=60)) == [f"b{i}" for i in range(6)]
    steps = {s.result: s.position for s in await engine.steps(handle.run_id) if s.name == "branch"}
    assert steps == {f"b{i}": f"0.{i}:0" for i in range(6)}, "positions must not depend on memory addresses"


@stead.step
async def together(name: str, signal: str) -> str:
    """Finishes once ``signal`` is set: the branches waiting on one signal finish in the same loop turn."""
    calls[name] += 1
    await _finished(signal).wait()
    return name


@stead.step
async def fire(signal: str) -> None:
    calls[f"fire-{signal}"] += 1
    _finished(signal).set()


decided: list[Any] = []
"""What the first execution decided (live), for the replay to match."""


@stead.workflow
async def by_burst() -> dict[str, Any]:
    a = asyncio.ensure_future(together("a", "one"))
    b = asyncio.ensure_future(together("b", "one"))
    await fire("one")
    done, _ = await asyncio.wait({a, b}, return_when=asyncio.FIRST_COMPLETED)
    winners = sorted(t.result() for t in done)
    x = asyncio.ensure_future(together("x", "two"))
    y = asyncio.ensure_future(together("y", "two"))
    await fire("two")
    completed = asyncio.as_completed([x, y])
    first = await next(iter(completed))
    both = x.done() and y.done()
    await asyncio.gather(a, b, x, y)
    decision = await decide([first], winners + [str(both)])
    if not _pass.is_set():
        decided.append({"winners": winners, "first": first, "both": both, "decision": decision})
        raise RuntimeError("first execution: fail after the decisions")
    return {"winners": winners, "first": first, "both": both, "decision": decision}


async def test_results_delivered_in_one_turn_replay_in_one_turn(
    engine: stead.Engine, engine_url: str, request: pytest.FixtureRequest
) -> None:
    if engine_url.startswith("temporal"):
        request.applymarker(
            pytest.mark.xfail(
                strict=False,
                reason="open, intermittent (2 of about 8 full runs, 2026-12-01): after the reopen "
                "as_completed([x, y]) on Temporal gave the other of two results that completed in one burst "
                "(NonDeterminismError at the decide step); not yet understood",
            )
        )
    decided.clear()
    handle = await engine.start(by_burst, run_id="order-burst")
    async with engine.worker([by_burst]):
        with pytest.raises(stead.RunFailed, match="first execution"):
            await handle.result(timeout=30)
    (live,) = decided
    if engine_url.startswith("sqlite"):
        # The embedded engine runs the steps in the loop of the workflow: the two results of a signal reach the
        # workflow code in one turn, and FIRST_COMPLETED finds both done. (Temporal may deliver them apart.)
        assert live["winners"] == ["a", "b"] and live["both"], live
    _pass.set()
    await engine.reopen(handle.run_id)
    async with engine.worker([by_burst]):
        result = await handle.result(timeout=30)
    assert result == live, "the replay decided otherwise than the execution it replays"
    assert set(calls.values()) == {1}, f"replay ran a recorded step again: {calls}"
