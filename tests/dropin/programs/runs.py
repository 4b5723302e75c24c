"""Programs about the run itself: streaming, sessions, lifecycle hooks, approvals, MCP, and exit()."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from agents import Agent, AgentHooks, RunContextWrapper, RunHooks, Runner, SQLiteSession, Tool, function_tool
from agents.mcp import MCPServerStdio
from openai.types.responses import ResponseTextDeltaEvent
from pydantic import BaseModel

from stead.testing import FakeRequest, ReplyLike, ToolCall

from ._kit import effect, plain, program, tag, user_texts

# -- streaming text: accumulate the deltas, as the stream_text example prints them -----------------------------

JOKES = "Why did the robot cross the road? Because it was programmed by a chicken. Beep boop."


def stream_text_script(agent: str, request: FakeRequest) -> ReplyLike:
    return JOKES if agent == "joker" else f"Rated {len(request.input_text.split())} words: funny."


@program(
    "stream_text",
    stream_text_script,
    expect={"joke": {"text": JOKES, "final": JOKES, "in_pieces": True}},
)
async def stream_text() -> dict[str, Any]:
    joker = Agent(name="Joker", instructions=tag("stream_text", "joker", "Tell jokes."), model="gpt-4o-mini")
    critic = Agent(
        name="Critic", instructions=tag("stream_text", "critic", "Rate jokes."), model="gpt-4o-mini"
    )
    outcome = {}
    for label, agent, message in (("joke", joker, "Tell me a joke."), ("rating", critic, JOKES)):
        result = Runner.run_streamed(agent, input=message)
        text, deltas = "", 0
        async for event in result.stream_events():
            if event.type == "raw_response_event" and isinstance(event.data, ResponseTextDeltaEvent):
                text += event.data.delta
                deltas += 1
        outcome[label] = {"text": text, "final": result.final_output, "in_pieces": deltas > 1}
    return outcome


# -- streaming items: which run items and agent updates a consumer sees ----------------------------------------


@function_tool
def how_many_jokes() -> int:
    """How many jokes to tell."""
    effect("stream_items:how_many_jokes")
    return 3


def stream_items_script(agent: str, request: FakeRequest) -> ReplyLike:
    if request.last_tool_outputs:
        return f"Here are {request.last_tool_outputs[-1].output} jokes."
    return ToolCall("how_many_jokes", {}, call_id="call_stream_items_1")


@program("stream_items", stream_items_script, expect={"final": "Here are 3 jokes."})
async def stream_items() -> dict[str, Any]:
    agent = Agent(
        name="Joker",
        instructions=tag("stream_items", "main", "Call how_many_jokes first."),
        tools=[how_many_jokes],
        model="gpt-4o-mini",
    )
    result = Runner.run_streamed(agent, input="Hello")
    seen = []
    async for event in result.stream_events():
        if event.type == "agent_updated_stream_event":
            seen.append(f"agent {event.new_agent.name}")
        elif event.type == "run_item_stream_event":
            seen.append(f"{event.name} {event.item.type}")
    return {"events": seen, "final": result.final_output}


# -- a session in memory across several runs of one workflow ----------------------------------------------------


def session_script(agent: str, request: FakeRequest) -> ReplyLike:
    users = user_texts(request)
    return f"Answer {len(users)} to {users[-1]!r}"


@program(
    "session",
    session_script,
    expect={
        "answers": [
            "Answer 1 to 'What city is the Golden Gate Bridge in?'",
            "Answer 2 to 'What state is it in?'",
            'Answer 3 to "What\'s the population?"',
        ]
    },
)
async def session() -> dict[str, Any]:
    agent = Agent(
        name="Assistant", instructions=tag("session", "main", "Reply very concisely."), model="gpt-4o-mini"
    )
    memory = SQLiteSession("conversation_123")
    answers = []
    for question in (
        "What city is the Golden Gate Bridge in?",
        "What state is it in?",
        "What's the population?",
    ):
        answers.append((await Runner.run(agent, question, session=memory)).final_output)
    items = await memory.get_items()
    return {
        "answers": answers,
        "items": [{"role": i.get("role"), "content": plain([i])[0].get("content")} for i in items],
    }


# -- lifecycle hooks: run and agent hooks record what happened, once ----------------------------------------------


class RecordingRunHooks(RunHooks[Any]):
    async def on_agent_start(self, context: Any, agent: Agent[Any]) -> None:
        effect(f"hooks:run agent_start {agent.name}")

    async def on_llm_start(
        self, context: Any, agent: Agent[Any], system_prompt: Any, input_items: Any
    ) -> None:
        effect(f"hooks:run llm_start {agent.name}")

    async def on_llm_end(self, context: Any, agent: Agent[Any], response: Any) -> None:
        effect(f"hooks:run llm_end {agent.name}")

    async def on_tool_start(self, context: Any, agent: Agent[Any], tool: Tool) -> None:
        effect(f"hooks:run tool_start {tool.name}")

    async def on_tool_end(self, context: Any, agent: Agent[Any], tool: Tool, result: object) -> None:
        effect(f"hooks:run tool_end {tool.name} {result}")

    async def on_handoff(self, context: Any, from_agent: Agent[Any], to_agent: Agent[Any]) -> None:
        effect(f"hooks:run handoff {from_agent.name}->{to_agent.name}")

    async def on_agent_end(self, context: Any, agent: Agent[Any], output: Any) -> None:
        effect(f"hooks:run agent_end {agent.name} {output}")


class RecordingAgentHooks(AgentHooks[Any]):
    async def on_start(self, context: Any, agent: Agent[Any]) -> None:
        effect(f"hooks:agent start {agent.name}")

    async def on_end(self, context: RunContextWrapper[Any], agent: Agent[Any], output: Any) -> None:
        effect(f"hooks:agent end {agent.name}")


@function_tool
def random_number(max: int) -> int:
    """A random number from 0 to max (this one is fair: always 37)."""
    return 37


@function_tool
def multiply_by_two(x: int) -> int:
    """Return x times two."""
    return x * 2


class FinalResult(BaseModel):
    number: int


def hooks_script(agent: str, request: FakeRequest) -> ReplyLike:
    names = {o.name for o in request.tool_outputs}
    if agent == "start":
        if "random_number" in names:
            return ToolCall("transfer_to_multiply_agent", {}, call_id="call_hooks_2")
        return ToolCall("random_number", {"max": 50}, call_id="call_hooks_1")
    if "multiply_by_two" in names:
        return json.dumps({"number": 74})
    return ToolCall("multiply_by_two", {"x": 37}, call_id="call_hooks_3")


@program(
    "hooks",
    hooks_script,
    park_after=2,
    effect_prefix="hooks:",
    expect={"final": {"number": 74}},
)
async def hooks() -> dict[str, Any]:
    multiply = Agent(
        name="Multiply Agent",
        instructions=tag("hooks", "multiply", "Multiply by 2."),
        tools=[multiply_by_two],
        output_type=FinalResult,
        hooks=RecordingAgentHooks(),
        model="gpt-4o-mini",
    )
    start = Agent(
        name="Start Agent",
        instructions=tag("hooks", "start", "Odd numbers go to the multiplier."),
        tools=[random_number],
        output_type=FinalResult,
        handoffs=[multiply],
        hooks=RecordingAgentHooks(),
        model="gpt-4o-mini",
    )
    result = await Runner.run(start, "Generate a random number between 0 and 50.", hooks=RecordingRunHooks())
    return {"final": result.final_output_as(FinalResult).model_dump(), "agent": result.last_agent.name}


# -- a tool that needs a person's approval -------------------------------------------------------------------------


@function_tool(needs_approval=True)
def cancel_order(order_id: str) -> str:
    """Cancel an order."""
    effect(f"approval:cancel_order {order_id}")
    return f"order {order_id} cancelled"


def approval_script(agent: str, request: FakeRequest) -> ReplyLike:
    if request.last_tool_outputs:
        return f"Done: {request.last_tool_outputs[-1].output}"
    return ToolCall("cancel_order", {"order_id": "B-12"}, call_id="call_approval_1")


@program(
    "approval", approval_script, approvals=["call_approval_1"], expect={"final": "Done: order B-12 cancelled"}
)
async def approval() -> dict[str, Any]:
    agent = Agent(
        name="Orders",
        instructions=tag("approval", "main", "Cancel orders when asked."),
        tools=[cancel_order],
        model="gpt-4o-mini",
    )
    result = await Runner.run(agent, "Cancel order B-12.")
    while result.interruptions:  # the plain SDK's human-in-the-loop: here a person says yes to each
        state = result.to_state()
        for item in result.interruptions:
            state.approve(item)
        result = await Runner.run(agent, state)
    return {"final": result.final_output}


# -- an MCP server over stdio --------------------------------------------------------------------------------------

MCP_SERVER = Path(__file__).resolve().parents[2] / "apps" / "mcp_server.py"


def mcp_script(agent: str, request: FakeRequest) -> ReplyLike:
    if request.last_tool_outputs:
        return f"Stock: {request.last_tool_outputs[-1].output}"
    return ToolCall("stock_level", {"sku": "MCP-7"}, call_id="call_mcp_1")


@program(
    "mcp",
    mcp_script,
    effect_prefix="stock_level",
    expect={"final": "Stock: MCP-7: 42 in stock"},
)
async def mcp() -> dict[str, Any]:
    env = {**os.environ, "STEAD_TEST_LOG": os.environ.get("DROPIN_EFFECTS", os.devnull)}
    params = {"command": sys.executable, "args": [str(MCP_SERVER)], "env": env}
    async with MCPServerStdio(params=params, cache_tools_list=True) as server:  # type: ignore[arg-type]
        agent = Agent(
            name="Inventory",
            instructions=tag("mcp", "main", "Answer stock questions."),
            mcp_servers=[server],
            model="gpt-4o-mini",
        )
        result = await Runner.run(agent, "How many MCP-7 are in stock?")
    return {"final": result.final_output}


# -- exit() in workflow code, after the work is done ------------------------------------------------------------


def exit_script(agent: str, request: FakeRequest) -> ReplyLike:
    return f"{agent} done"


@program(
    "system_exit",
    exit_script,
    expect={"error": "SystemExit", "message": "report sent, nothing more to do"},
)
async def system_exit() -> dict[str, Any]:
    for name in ("draft", "send"):
        agent = Agent(name=name, instructions=tag("system_exit", name, "Do it."), model="gpt-4o-mini")
        await Runner.run(agent, "Go")
    sys.exit("report sent, nothing more to do")
