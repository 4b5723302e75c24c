"""Durable step overhead and run throughput of the embedded engine, beside the floor of the same machine.

    python benchmarks/bench_core.py [--steps 1000] [--runs 200] [--json]

The floor is one raw SQLite INSERT + COMMIT in WAL mode with synchronous=NORMAL: what any journaled step costs
at least. Each figure is the best of --repeat rounds, on a fresh database file per round.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

import stead


@stead.step
async def noop(i: int) -> int:
    return i


@stead.step
def noop_sync(i: int) -> int:
    return i


@stead.workflow
async def many_steps(n: int) -> int:
    total = 0
    for i in range(n):
        total += await noop(i)
    return total


@stead.workflow
async def many_sync_steps(n: int) -> int:
    total = 0
    for i in range(n):
        total += await noop_sync(i)
    return total


@stead.workflow
async def five_steps(x: int) -> int:
    for i in range(5):
        x += await noop(i)
    return x


def floor_ms(directory: Path, n: int) -> float:
    conn = sqlite3.connect(directory / "floor.db", isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("CREATE TABLE steps (id INTEGER PRIMARY KEY, run_id TEXT, position TEXT, result TEXT)")
    start = time.perf_counter()
    for i in range(n):
        conn.execute(
            "INSERT INTO steps (run_id, position, result) VALUES (?, ?, ?)", ("run", f"0:{i}", str(i))
        )
    elapsed = time.perf_counter() - start
    conn.close()
    return elapsed / n * 1000


SYNCHRONOUS = "NORMAL"


async def step_ms(directory: Path, workflow: stead.Workflow[[int], int], n: int) -> float:
    engine = stead.connect(f"sqlite:///{directory}/steps.db?synchronous={SYNCHRONOUS}")
    try:
        handle = await engine.start(workflow, n)
        start = time.perf_counter()
        async with engine.worker([workflow]):
            await handle.result(timeout=600)
        elapsed = time.perf_counter() - start
    finally:
        await engine.close()
    return elapsed / n * 1000


async def runs_per_second(directory: Path, runs: int) -> float:
    engine = stead.connect(f"sqlite:///{directory}/runs.db")
    try:
        start = time.perf_counter()
        handles = [await engine.start(five_steps, i) for i in range(runs)]
        async with engine.worker([five_steps], concurrency=runs):
            for handle in handles:
                await handle.result(timeout=600)
        elapsed = time.perf_counter() - start
    finally:
        await engine.close()
    return runs / elapsed


def best(values: list[float], higher_is_better: bool = False) -> float:
    return max(values) if higher_is_better else min(values)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    parser.add_argument(
        "--synchronous", default="NORMAL", help="the journal's durability: NORMAL, FULL or EXTRA"
    )
    args = parser.parse_args()
    global SYNCHRONOUS
    SYNCHRONOUS = args.synchronous.upper()

    results: dict[str, list[float]] = {"floor": [], "step": [], "sync_step": [], "runs": []}
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory() as tmp:
            d = Path(tmp)
            results["floor"].append(floor_ms(d, args.steps))
            results["step"].append(asyncio.run(step_ms(d, many_steps, args.steps)))
            (d / "steps.db").unlink()
            results["sync_step"].append(asyncio.run(step_ms(d, many_sync_steps, args.steps)))
            results["runs"].append(asyncio.run(runs_per_second(d, args.runs)))

    figures = {
        "floor_ms_per_insert": best(results["floor"]),
        "step_ms": best(results["step"]),
        "sync_step_ms": best(results["sync_step"]),
        "runs_per_s": best(results["runs"], higher_is_better=True),
        "step_ms_median": statistics.median(results["step"]),
    }
    if args.json:
        json.dump(figures, sys.stdout, indent=2)
        print()
        return
    print(
        f"embedded engine (SQLite {sqlite3.sqlite_version}, WAL, synchronous=NORMAL), best of {args.repeat}"
    )
    print(f"  floor: raw INSERT + COMMIT            {figures['floor_ms_per_insert']:.3f} ms")
    print(
        f"  durable async step ({args.steps} in one run)  {figures['step_ms']:.3f} ms/step "
        f"({figures['step_ms'] / figures['floor_ms_per_insert']:.1f}x floor)"
    )
    print(f"  durable sync step (in a thread)        {figures['sync_step_ms']:.3f} ms/step")
    print(f"  runs of 5 steps ({args.runs} runs)            {figures['runs_per_s']:.0f} runs/s")


if __name__ == "__main__":
    main()
