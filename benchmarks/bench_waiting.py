"""Runs waiting for a person: what they cost a worker, and how fast one continues after its approval.

    python benchmarks/bench_waiting.py [--runs 1000] [--approve 20]

Each run is an agent whose tool needs approval (a local model answers at once). The worker executes them all
until each waits for its approval; waiting runs are suspended (their coroutines dropped), so the worker's memory
should not grow with them. Then --approve of them are approved one at a time, and the time from the approval
(`stead approve`) to the run's end is measured.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from agents import Agent, Model, ModelResponse, Runner, Usage, function_tool, set_tracing_disabled
from agents.testing import assistant_message, function_call

import stead
from stead.agents import approve

set_tracing_disabled(True)


class Instant(Model):
    """Asks for the refund tool, then answers once the tool's output is in the conversation."""

    async def get_response(
        self, system_instructions: Any, input: Any, *args: Any, **kwargs: Any
    ) -> ModelResponse:
        items = input if isinstance(input, list) else []
        if any(isinstance(i, dict) and i.get("type") == "function_call_output" for i in items):
            return ModelResponse(
                output=[assistant_message("refunded")], usage=Usage(requests=1), response_id=None
            )
        call = function_call("refund", {"order_id": "A1"}, call_id="call_refund")
        return ModelResponse(output=[call], usage=Usage(requests=1), response_id=None)

    def stream_response(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError


@function_tool(needs_approval=True)
def refund(order_id: str) -> str:
    """Refund an order."""
    return f"refunded {order_id}"


@stead.workflow
async def needs_approval(i: int) -> str:
    agent = Agent(name="Support", instructions="Refund.", tools=[refund], model=Instant())
    return str((await Runner.run(agent, f"refund {i}")).final_output)


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def measure(directory: Path, runs: int, approvals: int) -> dict[str, float]:
    engine = stead.connect(f"sqlite:///{directory}/stead.db?suspend=0.5")
    try:
        handles = [await engine.start(needs_approval, i) for i in range(runs)]
        before = rss_mb()
        worker = engine.worker([needs_approval], concurrency=runs)
        async with worker:
            peak = before
            started = time.perf_counter()
            store = engine.store  # type: ignore[attr-defined]
            while len(store.suspended_runs()) < runs:
                await asyncio.sleep(0.05)
                peak = max(peak, rss_mb())
            all_waiting = time.perf_counter() - started
            after = rss_mb()
            latencies = []
            for handle in handles[:approvals]:
                t0 = time.perf_counter()
                await approve(engine, handle.run_id, "call_refund")
                assert await handle.result(timeout=60) == "refunded"
                latencies.append((time.perf_counter() - t0) * 1000)
    finally:
        await engine.close()
    return {
        "runs": runs,
        "rss_before_mb": before,
        "rss_peak_mb": peak,
        "rss_all_waiting_mb": after,
        "growth_mb": after - before,
        "seconds_until_all_waiting": all_waiting,
        "resume_ms_median": statistics.median(latencies),
        "resume_ms_max": max(latencies),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--approve", type=int, default=20)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        figures = asyncio.run(measure(Path(tmp), args.runs, args.approve))
    if args.json:
        json.dump(figures, sys.stdout, indent=2)
        print()
        return
    print(f"{args.runs} runs waiting for approval on the embedded engine")
    print(
        f"  worker RSS before {figures['rss_before_mb']:.0f} MB, peak {figures['rss_peak_mb']:.0f} MB, "
        f"all waiting {figures['rss_all_waiting_mb']:.0f} MB (growth {figures['growth_mb']:.0f} MB)"
    )
    print(f"  all {args.runs} waiting after {figures['seconds_until_all_waiting']:.1f}s")
    print(
        f"  approval -> run finished: median {figures['resume_ms_median']:.1f} ms, "
        f"max {figures['resume_ms_max']:.1f} ms ({args.approve} runs)"
    )


if __name__ == "__main__":
    main()
