"""The Temporal OpenAI Agents plugin's side of bench_temporal_plugin.py (run by the plugin's own venv, not stead's).

    PLUGIN_VENV/bin/python benchmarks/plugin_side.py --address HOST:PORT --workload hello --runs 50

The same agents as stead's side, written the way the plugin's documentation and samples write them: the
plugin on the client (``OpenAIAgentsPlugin``), workflows in Temporal's default sandbox, the agent built in the
workflow, tools as activities (``activity_as_tool``), the model from the default provider (the OpenAI client,
pointed at the fake server by ``OPENAI_BASE_URL``). Prints one JSON line: the runs, the seconds they took, and the
CPU seconds this process and the server (``--server-pid``) used meanwhile.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
import uuid
from datetime import timedelta

os.environ.setdefault("OPENAI_AGENTS_DISABLE_TRACING", "1")

from _cpu import Meter  # noqa: E402  (beside this script)
from agents import Agent, Runner  # noqa: E402
from temporalio import activity, workflow  # noqa: E402
from temporalio.client import Client  # noqa: E402
from temporalio.openai_agents import ModelActivityParameters, OpenAIAgentsPlugin  # noqa: E402
from temporalio.openai_agents import workflow as agents_workflow  # noqa: E402
from temporalio.worker import Worker  # noqa: E402


@activity.defn
async def lookup(key: str) -> str:
    """Look a key up."""
    return f"value of {key}"


@workflow.defn
class HelloAgent:
    @workflow.run
    async def run(self, prompt: str) -> str:
        agent = Agent(name="Hello", instructions="Greet.", model="gpt-4o-mini")
        return str((await Runner.run(agent, prompt)).final_output)


@workflow.defn
class ToolAgent:
    @workflow.run
    async def run(self, prompt: str) -> str:
        agent = Agent(
            name="Tools",
            instructions="Use tools.",
            model="gpt-4o-mini",
            tools=[agents_workflow.activity_as_tool(lookup, start_to_close_timeout=timedelta(seconds=30))],
        )
        return str((await Runner.run(agent, prompt)).final_output)


async def main(args: argparse.Namespace) -> dict[str, float | int | None]:
    client = await Client.connect(
        args.address,
        plugins=[
            OpenAIAgentsPlugin(
                model_params=ModelActivityParameters(start_to_close_timeout=timedelta(seconds=60))
            )
        ],
    )
    queue = f"plugin-{uuid.uuid4().hex[:8]}"
    kind = HelloAgent if args.workload == "hello" else ToolAgent
    async with Worker(client, task_queue=queue, workflows=[HelloAgent, ToolAgent], activities=[lookup]):

        async def one(i: int) -> str:
            return await client.execute_workflow(
                kind.run, f"hi {i}", id=f"plugin-{uuid.uuid4().hex}", task_queue=queue
            )

        await one(-1)  # warm: the worker polls, the sandbox has imported the workflows
        meter = Meter(args.server_pid)
        started = time.perf_counter()
        if args.workload == "concurrent":
            await asyncio.gather(*(one(i) for i in range(args.runs)))
        else:
            for i in range(args.runs):
                await one(i)
        seconds = time.perf_counter() - started
        used = meter.used()
    return {"runs": args.runs, "seconds": seconds, **used}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--address", required=True)
    parser.add_argument("--workload", choices=["hello", "tool", "concurrent"], required=True)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--server-pid", type=int, default=None, help="the dev server's process, for its CPU")
    print(json.dumps(asyncio.run(main(parser.parse_args()))), flush=True)
