"""A sample program for the rate-limit tests: one agent, one model call, the model named for the environment's
provider (``OPENAI_BASE_URL``), so that the call travels to whichever worker takes it."""

from __future__ import annotations

from typing import Any

from agents import Agent, Runner

import stead


@stead.workflow
async def ask(i: int) -> str:
    agent: Agent[Any] = Agent(name="Ask", model="limited-model")
    return str((await Runner.run(agent, f"question {i}")).final_output)
