"""How the embedded workers claim runs: the claim query beside parked runs, the spread over workers, and how
long a quick run waits beside workers busy with older runs.

    python benchmarks/bench_claims.py [--suspended 10000] [--runs 60] [--workers 3]

1. The claim query (``candidates``) with 0 and --suspended runs parked waiting for a message.
2. --runs quick runs started at once on --workers workers (separate connections to one file, concurrency 100
   each, so concurrency is above the load): the share of runs each worker took.
3. All workers but one are full with older runs that wait; a quick run started then beside the idle worker (
   concurrency 2): the time until it ends (10 s means never).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sqlite3
import statistics
import tempfile
import time
from collections import Counter
from pathlib import Path

import stead

_gate = asyncio.Event()


@stead.step
async def quick_step(i: int) -> int:
    await asyncio.sleep(0.05)
    return i


@stead.workflow
async def quick(i: int) -> int:
    return await quick_step(i)


@stead.workflow
async def holds() -> str:
    return str(await stead.wait_for("go"))


def park(path: Path, count: int) -> None:
    """Rows as the engine leaves suspended runs that wait for a message (written directly: it is only setup)."""
    now = time.time()
    with sqlite3.connect(path) as conn:
        conn.executemany(
            "INSERT INTO runs (run_id, workflow, args_json, status, suspended, lease_token, created_at, updated_at) "
            "VALUES (?, 'holds', '[[],{}]', 'running', 1, 1, ?, ?)",
            [(f"parked-{i}", now, now) for i in range(count)],
        )
        conn.executemany(
            "INSERT INTO steps (run_id, position, name, kind, status, attempts, started_at) "
            "VALUES (?, '0', 'go', 'wait', 'pending', 0, ?)",
            [(f"parked-{i}", now) for i in range(count)],
        )
    conn.close()


def time_candidates(engine: stead.Engine, repeat: int = 200) -> float:
    store = engine.store  # type: ignore[attr-defined]
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        now = time.time()
        store.lease_owners("nohost/", now)  # a claim asks which workers of its host hold leases first
        store.candidates(["quick", "holds"], None, now, [], 200)
        samples.append(time.perf_counter() - started)
    return statistics.median(samples) * 1000


async def spread(directory: Path, runs: int, workers: int) -> Counter[str]:
    url = f"sqlite:///{directory}/spread.db"
    engines = [stead.connect(url) for _ in range(workers)]
    try:
        async with contextlib.AsyncExitStack() as stack:
            pool = [
                await stack.enter_async_context(e.worker([quick, holds], concurrency=100)) for e in engines
            ]
            await asyncio.sleep(0.3)  # every worker idle and waiting
            handles = [await engines[0].start(quick, i) for i in range(runs)]
            for handle in handles:
                await handle.result(timeout=120)
            taken: Counter[str] = Counter()
            for n, worker in enumerate(pool):
                taken[f"worker {n + 1}"] = sum(1 for s in worker.finished.values() if s == "completed")
            return taken
    finally:
        for e in engines:
            await e.close()


async def beside_busy(directory: Path, workers: int) -> float:
    url = f"sqlite:///{directory}/busy.db?suspend=0"
    engines = [stead.connect(url) for _ in range(workers)]
    try:
        async with contextlib.AsyncExitStack() as stack:
            busy = workers - 1
            for e in engines[:busy]:
                await stack.enter_async_context(e.worker([quick, holds], concurrency=10))
            held = [await engines[0].start(holds) for _ in range(10 * busy)]
            while [(await h.info()).status for h in held] != ["running"] * len(held):  # noqa: ASYNC110
                await asyncio.sleep(0.05)
            await stack.enter_async_context(engines[-1].worker([quick, holds], concurrency=2))
            started = time.perf_counter()
            handle = await engines[0].start(quick, 1)
            with contextlib.suppress(TimeoutError):
                await handle.result(timeout=10)
            return time.perf_counter() - started
    finally:
        for e in engines:
            await e.close()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--suspended", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=60)
    parser.add_argument("--workers", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        path = directory / "claims.db"
        engine = stead.connect(f"sqlite:///{path}")
        empty = time_candidates(engine)
        await engine.close()
        park(path, args.suspended)
        engine = stead.connect(f"sqlite:///{path}")
        parked = time_candidates(engine)
        await engine.close()
        print(f"claim query: {empty:.3f} ms with 0 parked runs, {parked:.3f} ms with {args.suspended} parked")
        taken = await spread(directory, args.runs, args.workers)
        shares = ", ".join(f"{name} {100 * n / args.runs:.0f} %" for name, n in sorted(taken.items()))
        print(f"{args.runs} quick runs on {args.workers} workers (concurrency 100 each): {shares}")
        waited = await beside_busy(directory, args.workers)
        print(f"a quick run beside {args.workers - 1} busy workers and an idle one: done in {waited:.2f} s")


if __name__ == "__main__":
    asyncio.run(main())
