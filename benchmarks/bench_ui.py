"""The dashboard's HTTP API on a large journal: server time per run-list page and for a run of many steps.

    python benchmarks/bench_ui.py [--runs 10000] [--steps 1000] [--json]

Starts --runs runs of a one-step workflow on a fresh SQLite engine and completes them with a worker, then times
requests through a real HTTP client against the dashboard served by uvicorn on 127.0.0.1: the first page of the
run list (50 runs with tokens and cost), a page deep in the list (by cursor), a filtered page, a search, and
the page data of one run with --steps steps. Each figure is the median of --repeat requests; "cold" ones are
the first request (tokens and cost not cached yet), ``index_build_ms`` the first search (the server reads every
run once to index them).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx2 as httpx

import stead
from stead.ui import Server


@stead.step
async def one(n: int) -> int:
    return n + 1


@stead.workflow
async def small(n: int) -> int:
    return await one(n)


@stead.workflow
async def long(steps: int) -> int:
    total = 0
    for _ in range(steps):
        total = await one(total)
    return total


async def timed(client: httpx.AsyncClient, path: str, repeat: int) -> tuple[float, Any]:
    times = []
    body: Any = None
    for _ in range(repeat):
        started = time.perf_counter()
        response = await client.get(path)
        times.append((time.perf_counter() - started) * 1000)
        response.raise_for_status()
        body = response.json()
    return statistics.median(times), body


async def main(runs: int, steps: int, repeat: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        async with stead.connect(f"sqlite:///{Path(tmp) / 'bench.db'}") as engine:
            started = time.perf_counter()
            handles = [await engine.start(small, n) for n in range(runs)]
            long_run = await engine.start(long, steps)
            async with engine.worker([small, long], concurrency=200):
                for handle in handles:
                    await handle.result(timeout=600)
                await long_run.result(timeout=600)
            setup = time.perf_counter() - started
            async with (
                Server(engine, port=0) as server,
                httpx.AsyncClient(base_url=server.url, timeout=60) as client,
            ):
                figures: dict[str, float] = {"setup_s": setup}
                figures["list_first_page_cold_ms"], first = await timed(client, "/api/runs?limit=50", 1)
                figures["list_first_page_ms"], first = await timed(client, "/api/runs?limit=50", repeat)
                figures["index_build_ms"], _ = await timed(client, "/api/runs?limit=50&q=no-such-run", 1)
                cursor = first["next_cursor"]
                for _ in range(runs // 2 // 500):
                    page = (await client.get(f"/api/runs?limit=500&usage=false&cursor={cursor}")).json()
                    cursor = page["next_cursor"]
                figures["list_deep_page_ms"], _ = await timed(
                    client, f"/api/runs?limit=50&cursor={cursor}", repeat
                )
                figures["list_status_filter_ms"], _ = await timed(
                    client, "/api/runs?limit=50&status=completed", repeat
                )
                figures["list_search_ms"], _ = await timed(client, "/api/runs?limit=50&q=no-such-run", repeat)
                figures["run_page_ms"], body = await timed(
                    client, f"/api/runs/{long_run.run_id}?include=steps,conversation", repeat
                )
                figures["run_page_steps"] = len(body["step_list"])
                return figures


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    options = parser.parse_args()
    result = asyncio.run(main(options.runs, options.steps, options.repeat))
    if options.json:
        print(json.dumps(result))
    else:
        for name, value in result.items():
            print(f"{name:>24}: {value:,.1f}")
