"""A streamed agent run, for the streaming tests (in process and as a worker subprocess)."""

from __future__ import annotations

from agents import Agent, Runner

import stead


@stead.workflow
async def storyteller(prompt: str) -> str:
    agent = Agent(name="Storyteller", instructions="Tell a very short story.", model="gpt-4o-mini")
    result = Runner.run_streamed(agent, prompt)
    async for _ in result.stream_events():
        pass
    return str(result.final_output)
