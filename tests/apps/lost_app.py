"""A program for the lost-attempt tests: a tool that kills its own worker (SIGKILL) on its first calls.

LOST_COUNTER: a file counting the tool's calls across worker processes. LOST_KILLS=k: the first k calls kill
the worker. LOST_RAISE=1: the call after them raises a transient error (a refused connection) once.
LOST_MAX=n: the tool's ``RetryPolicy.max_lost_attempts``.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

from agents import Agent, Runner, function_tool

import stead
from stead.agents import tool_options


def _calls() -> int:
    counter = Path(os.environ["LOST_COUNTER"])
    calls = int(counter.read_text()) + 1 if counter.exists() else 1
    counter.write_text(str(calls))
    return calls


@function_tool
def read_meter(meter: str) -> str:
    """Read the meter ``meter``."""
    calls = _calls()
    kills = int(os.environ.get("LOST_KILLS", "0"))
    if calls <= kills:
        print(f"KILLING worker at call {calls}", flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
    if os.environ.get("LOST_RAISE") and calls == kills + 1:
        raise ConnectionRefusedError("the meter did not answer")
    return f"meter {meter}: 42 kWh"


tool_options(
    read_meter,
    retry=stead.RetryPolicy(
        max_attempts=2, initial_interval=0.05, max_lost_attempts=int(os.environ.get("LOST_MAX", "25"))
    ),
)

reader = Agent(
    name="Reader",
    instructions="You read meters. Use read_meter.",
    tools=[read_meter],
    model="gpt-4o-mini",
)


@stead.workflow
async def read(request: str) -> str:
    result = await Runner.run(reader, request)
    return str(result.final_output)
