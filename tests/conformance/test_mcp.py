"""MCP tools are journaled like function tools: a replay does not call the MCP server again."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from agents import Agent, Runner
from agents.mcp import MCPServerStdio

import stead
from stead.testing import FakeRequest, Reply, Text, ToolCall
from stead.testing.pytest import FakeModels

from ..procs import APPS

failing = {"armed": False}


@stead.workflow
async def inventory(question: str) -> str:
    params = {"command": sys.executable, "args": [str(APPS / "mcp_server.py")], "env": dict(os.environ)}
    async with MCPServerStdio(params=params, cache_tools_list=True) as server:  # type: ignore[arg-type]
        agent = Agent(
            name="Inventory",
            instructions="Answer stock questions.",
            mcp_servers=[server],
            model="gpt-4o-mini",
        )
        answer = str((await Runner.run(agent, question)).final_output)
    if failing["armed"]:
        failing["armed"] = False
        raise RuntimeError("fail once after the agent")
    return answer


def respond(request: FakeRequest) -> Reply:
    if request.last_tool_outputs:
        return Reply(Text(f"Stock: {request.last_tool_outputs[-1].output}"))
    return Reply(ToolCall("stock_level", {"sku": "RED-1"}))


async def test_mcp_tools_are_steps_and_replay_without_calling_the_server(
    engine: stead.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_openai: FakeModels
) -> None:
    log = tmp_path / "mcp.log"
    monkeypatch.setenv("STEAD_TEST_LOG", str(log))
    server = fake_openai(respond)
    failing["armed"] = True
    handle = await engine.start(inventory, "How many RED-1?")
    async with engine.worker([inventory]):
        with pytest.raises(stead.RunFailed, match="fail once"):
            await handle.result(timeout=60)
        await engine.reopen(handle.run_id)
        result = await handle.result(timeout=60)
    assert "RED-1: 42 in stock" in result
    assert log.read_text().count("stock_level RED-1") == 1, "the replay called the MCP tool again"
    assert len(server.requests) == 2
    tools = [s for s in await engine.steps(handle.run_id) if s.kind == "tool"]
    assert [t.summary for t in tools] == ["tool · stock_level"]
    # Connecting and listing the tools are steps too: the replay started no server (the connection is the
    # worker's, on Temporal too, where workflow code can start no process).
    requests = [s.name for s in await engine.steps(handle.run_id) if s.kind == "mcp"]
    assert requests == ["mcp:connect", "mcp:list_tools"]
    assert log.read_text().count("started") == 1, "the replay started the MCP server again"
