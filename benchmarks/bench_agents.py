"""Durable agent runs against the plain SDK, in the same process, with a zero-latency scripted model.

    python benchmarks/bench_agents.py [--runs 200] [--json]

hello: one model call. tool: model -> two tools -> model. "plain" is the stock, non-durable `Runner.run`;
"durable" is the same agent inside a @stead.workflow on the embedded engine (every model and tool call
journaled). Each side runs --runs runs concurrently (asyncio.gather for plain, a worker for durable); the figure
is runs per second, best of --repeat rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from agents import Agent, Runner, function_tool, set_tracing_disabled
from agents.testing import ScriptedModel, assistant_message, function_call

import stead

set_tracing_disabled(True)


@function_tool
def lookup(key: str) -> str:
    """Look a key up."""
    return f"value of {key}"


def hello_agent() -> Agent[Any]:
    return Agent(name="Hello", instructions="Greet.", model=ScriptedModel([[assistant_message("Hello!")]]))


def tool_agent() -> Agent[Any]:
    model = ScriptedModel(
        [
            [
                function_call("lookup", {"key": "a"}, call_id="c1"),
                function_call("lookup", {"key": "b"}, call_id="c2"),
            ],
            [assistant_message("a and b looked up")],
        ]
    )
    return Agent(name="Tools", instructions="Use tools.", tools=[lookup], model=model)


@stead.workflow
async def durable_hello(i: int) -> str:
    return str((await Runner.run(hello_agent(), f"hi {i}")).final_output)


@stead.workflow
async def durable_tools(i: int) -> str:
    return str((await Runner.run(tool_agent(), f"look up {i}")).final_output)


async def plain(make: Callable[[], Agent[Any]], runs: int) -> float:
    start = time.perf_counter()
    await asyncio.gather(*(Runner.run(make(), f"run {i}") for i in range(runs)))
    return runs / (time.perf_counter() - start)


async def durable(workflow: stead.Workflow[[int], str], runs: int, directory: Path) -> float:
    engine = stead.connect(f"sqlite:///{directory}/{workflow.name}.db")
    try:
        start = time.perf_counter()
        handles = [await engine.start(workflow, i) for i in range(runs)]
        async with engine.worker([workflow], concurrency=runs):
            for handle in handles:
                await handle.result(timeout=600)
        return runs / (time.perf_counter() - start)
    finally:
        await engine.close()


def best_of(repeat: int, measure: Callable[[], Coroutine[Any, Any, float]]) -> float:
    return max(asyncio.run(measure()) for _ in range(repeat))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    figures: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, make, workflow in (
            ("hello", hello_agent, durable_hello),
            ("tool", tool_agent, durable_tools),
        ):
            figures[f"{name}_plain"] = best_of(args.repeat, lambda make=make: plain(make, args.runs))  # type: ignore[misc]
            rounds = []
            for r in range(args.repeat):
                directory = Path(tmp) / f"{name}{r}"
                directory.mkdir()
                rounds.append(asyncio.run(durable(workflow, args.runs, directory)))
            figures[f"{name}_durable"] = max(rounds)
            figures[f"{name}_ratio"] = figures[f"{name}_durable"] / figures[f"{name}_plain"]
    if args.json:
        json.dump(figures, sys.stdout, indent=2)
        print()
        return
    print(f"agents, zero-latency scripted model, {args.runs} concurrent runs, best of {args.repeat}")
    for name in ("hello", "tool"):
        print(
            f"  {name:<5} plain Runner.run {figures[f'{name}_plain']:7.0f} runs/s   durable "
            f"{figures[f'{name}_durable']:7.0f} runs/s   ratio {figures[f'{name}_ratio']:.2f}x"
        )


if __name__ == "__main__":
    main()
