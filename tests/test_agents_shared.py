"""One module-level ``Agent`` shared by many workflow runs: the SDK checks each agent run only against the agent
runs of its own workflow run (stead.agents._shared), not against every run in the process."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

from agents import (
    Agent,
    AgentHooks,
    ModelResponse,
    OpenAIResponsesModel,
    RunConfig,
    RunContextWrapper,
    Runner,
)
from agents.run_internal import agent_tool_configuration
from openai import AsyncOpenAI

import stead
from stead.testing import FakeRequest, Gated, Text
from stead.testing.pytest import FakeModels

seen: list[int] = []
"""How many agent runs the SDK had on its list for the shared agent, after each model call."""


class Count(AgentHooks[Any]):
    async def on_llm_end(
        self, context: RunContextWrapper[Any], agent: Agent[Any], response: ModelResponse
    ) -> None:
        seen.append(len(agent_tool_configuration._resolutions.get(id(agent), [])))


shared = Agent(name="Shared", instructions="Answer.", model="gpt-4o-mini", hooks=Count())


@stead.workflow
async def ask(i: int) -> str:
    return str((await Runner.run(shared, f"question {i}")).final_output)


@stead.workflow
async def ask_twice() -> list[str]:
    results = await asyncio.gather(Runner.run(shared, "first"), Runner.run(shared, "second"))
    return [str(r.final_output) for r in results]


def all_at_once(count: int) -> Any:
    """A model that answers once ``count`` requests are in flight together (so the runs overlap for sure)."""
    gate = threading.Event()
    lock = threading.Lock()
    arrived = [0]

    def respond(request: FakeRequest) -> Gated:
        with lock:
            arrived[0] += 1
            if arrived[0] >= count:
                gate.set()
        return Gated(gate, Text("answered"))

    return respond


async def test_workflow_runs_sharing_an_agent_are_not_checked_against_each_other(
    tmp_path: Path, fake_openai: FakeModels
) -> None:
    fake_openai(all_at_once(4))
    seen.clear()
    async with stead.connect(f"sqlite:///{tmp_path}/s.db") as engine:
        handles = [await engine.start(ask, i) for i in range(4)]
        async with engine.worker([ask, ask_twice]):
            assert [await h.result(timeout=60) for h in handles] == ["answered"] * 4
            assert max(seen) == 1, f"each workflow run's agent run was checked against others: {seen}"

            # Two agent runs of one workflow run are still checked against each other, as the SDK does.
            fake_openai(all_at_once(2))
            seen.clear()
            both = await engine.start(ask_twice)
            assert await both.result(timeout=60) == ["answered", "answered"]
            assert max(seen) == 2, seen

    # Outside workflows the SDK's own registry behaves as before. (A client of this test's own: the SDK's
    # providers share one HTTP client per process, which an earlier test's event loop may have made.)
    server = fake_openai(all_at_once(3))
    seen.clear()
    async with AsyncOpenAI(api_key="test", base_url=server.base_url) as client:
        config = RunConfig(model=OpenAIResponsesModel("gpt-4o-mini", client))
        await asyncio.gather(*(Runner.run(shared, f"plain {i}", run_config=config) for i in range(3)))
    assert max(seen) == 3, seen
