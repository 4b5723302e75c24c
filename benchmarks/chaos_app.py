"""The chaos suite's program: a triage agent hands off to an expert, who calls two tools in parallel; then a plain
``@stead.step`` files the report. Every tool and step appends its start and end to the run's side-effect log.

CHAOS_EFFECTS: the directory of the side-effect logs (one file per run, so each stays a few hundred bytes: the
disk-full case limits a worker's file size). ``answer`` is the fake model's side of the conversation.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import time
from typing import Any

from agents import Agent, Runner, function_tool
from agents.tool_context import ToolContext

import stead
from stead.testing import FakeRequest, Reply, Text, ToolCall

CITIES = ["Oslo", "Lima", "Osaka", "Nairobi", "Quito"]


def effect(run: str, kind: str, key: str, event: str) -> None:
    """One line per event, appended with one write (O_APPEND), whatever process makes it."""
    line = json.dumps({"pid": os.getpid(), "kind": kind, "key": key, "event": event, "t": time.time()})
    path = os.path.join(os.environ["CHAOS_EFFECTS"], f"{run}.log")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (line + "\n").encode())
    finally:
        os.close(fd)


async def _work(run: str, kind: str, key: str) -> None:
    effect(run, kind, key, "start")
    await asyncio.sleep(random.uniform(0.05, 0.4))  # long enough for a kill to land in the middle
    effect(run, kind, key, "done")


@function_tool
async def weather(ctx: ToolContext[Any], run: str, city: str) -> str:
    """The weather in a city."""
    await _work(run, "tool", ctx.tool_call_id)
    return f"{city}: 14 C, light rain"


@function_tool
async def population(ctx: ToolContext[Any], run: str, city: str) -> str:
    """How many people live in a city."""
    await _work(run, "tool", ctx.tool_call_id)
    return f"{city}: {len(city) * 412_000} people"


expert = Agent(
    name="Expert",
    instructions="Answer with both tools.",
    tools=[weather, population],
    model="gpt-4o-mini",
)
triage = Agent(
    name="Triage", instructions="Hand the question to the expert.", handoffs=[expert], model="gpt-4o-mini"
)


def report(text: str) -> str:
    return f"REPORT | {text}"


async def _held() -> None:
    """With CHAOS_HOLD set (``--hold``), the last step waits until that file exists: the chaos loop makes it once
    each kind of fault happened, so a short run cannot finish before its faults."""
    hold = os.environ.get("CHAOS_HOLD")
    while hold and not os.path.exists(hold):  # noqa: ASYNC110, ASYNC240 (a file: the signal comes from another process)
        await asyncio.sleep(0.1)


@stead.step
async def file_report(run: str, text: str) -> str:
    await _held()
    await _work(run, "step", "file_report")
    return report(text)


def question(run: str, city: str) -> str:
    return f"[{run}] What is it like in {city}?"


@stead.workflow
async def chaos(run: str, city: str) -> str:
    result = await Runner.run(triage, question(run, city))
    return await file_report(run, str(result.final_output))


async def plain(city: str) -> str:
    """The oracle: the same agent under plain ``Runner.run``, and the step's function, outside any workflow."""
    result = await Runner.run(triage, question("oracle", city))
    return report(str(result.final_output))


_ASKED = re.compile(r"\[([\w-]+)\] What is it like in (\w+)\?")


def turn(request: FakeRequest) -> tuple[str, str, int]:
    """(run, agent, phase) of a model request: the key of the model step it is."""
    match = _ASKED.search(request.input_text)
    run, city = match.groups() if match else ("?", "?")
    if "Hand the question" in request.instructions:
        return run, "Triage", 0
    answered = any(o.output.startswith(f"{city}:") for o in request.tool_outputs)  # not the handoff's output
    return run, "Expert", 1 if answered else 0


def answer(request: FakeRequest) -> Reply:
    match = _ASKED.search(request.input_text)
    if match is None:
        raise ValueError(f"chaos model: no question in {request.input_text!r}")
    run, city = match.groups()
    _, agent, phase = turn(request)
    if agent == "Triage":
        return Reply(ToolCall("transfer_to_expert", {}))
    if phase == 0:
        return Reply(
            ToolCall("weather", {"run": run, "city": city}),
            ToolCall("population", {"run": run, "city": city}),
        )
    facts = sorted(o.output for o in request.tool_outputs if o.output.startswith(city))
    return Reply(Text(f"{city} | " + " | ".join(facts)))
