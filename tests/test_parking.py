"""Runs that only wait on the embedded engine: they give their worker's slots back to runs with work to do."""

from __future__ import annotations

import asyncio
from pathlib import Path

import stead

_busy = {"stop": False}


@stead.step
async def tick(i: int) -> int:
    stead.emit("tick", i)  # an event, as a model call streams: the worker's other runs hear of it
    await asyncio.sleep(0.01)
    return i


@stead.workflow
async def keeps_writing() -> int:
    i = 0
    while not _busy["stop"]:  # only for this test: the run is never replayed
        i = await tick(i + 1)
    return i


@stead.workflow
async def waits(name: str) -> str:
    return str(await stead.wait_for(name))


@stead.workflow
async def quick(x: int) -> int:
    return await tick(x)


async def test_a_waiting_run_is_idle_while_the_other_runs_of_its_worker_write(tmp_path: Path) -> None:
    """A wait looks for its message when one is sent, not at every step of every other run: it counts as idle
    (and is let go of after ``suspend``) however busy its worker is."""
    _busy["stop"] = False
    engine = stead.connect(f"sqlite:///{tmp_path}/s.db?suspend=0.3")
    try:
        busy = await engine.start(keeps_writing)
        waiting = await engine.start(waits, "go")
        async with engine.worker([keeps_writing, waits]):
            await engine.wait(waiting.run_id, 30, until="suspended")
            assert (await busy.info()).status == "running", "the busy run should still be writing"
            _busy["stop"] = True
            assert await busy.result(timeout=30) > 0
            await engine.send(waiting.run_id, "go", "went")
            assert await waiting.result(timeout=30) == "went"
    finally:
        _busy["stop"] = True
        await engine.close()


async def test_a_full_worker_lets_go_of_waiting_runs_for_runs_ready_to_run(tmp_path: Path) -> None:
    """With every slot taken by runs that wait, a new run does not wait ``suspend`` seconds (60 here) for one."""
    engine = stead.connect(f"sqlite:///{tmp_path}/s.db?suspend=60")
    try:
        waiting = [await engine.start(waits, f"go{i}") for i in range(2)]
        async with engine.worker([waits, quick], concurrency=2) as worker:
            for handle in waiting:
                await engine.wait(handle.run_id, 30, until="waiting")
            ready = await engine.start(quick, 7)
            assert await ready.result(timeout=30) == 7
            assert len(engine.store.suspended_runs()) >= 1  # type: ignore[attr-defined]
            assert len(worker.active) <= 2  # type: ignore[attr-defined]
            for i, handle in enumerate(waiting):
                await engine.send(handle.run_id, f"go{i}", i)
            assert [await h.result(timeout=30) for h in waiting] == ["0", "1"]
    finally:
        await engine.close()


async def test_a_message_from_another_process_wakes_a_wait_that_is_never_let_go_of(tmp_path: Path) -> None:
    """A connection of its own stands for another process: its message reaches the waiting run through the
    file (the engine's watcher), not through this engine's own ``send``."""
    url = f"sqlite:///{tmp_path}/s.db?suspend=0"
    engine, other = stead.connect(url), stead.connect(url)
    try:
        handle = await engine.start(waits, "go")
        async with engine.worker([waits]):
            await engine.wait(handle.run_id, 30, until="waiting")
            await other.send(handle.run_id, "go", "from afar")
            assert await handle.result(timeout=30) == "from afar"
    finally:
        await engine.close()
        await other.close()
