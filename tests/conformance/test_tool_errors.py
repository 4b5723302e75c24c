"""Tool errors (issue 9.1, 9.2): transient ones retried inside the SDK's failure handling, bugs stop the run until
a fix; typed tool outputs and context changes (issue 13.2, 13.3) live and on replay."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pytest
from agents import Agent, RunContextWrapper, Runner, function_tool

import stead
from stead.agents import tool_options
from stead.testing import FakeRequest, Reply, Text, ToolCall
from stead.testing.pytest import FakeModels

calls: Counter[str] = Counter()
state: dict[str, Any] = {}
SDK_ERROR_TEXT = "An error occurred while running the tool. Please try again."
FAST = stead.RetryPolicy(max_attempts=4, initial_interval=0.2, jitter=0)


@pytest.fixture(autouse=True)
def _reset() -> None:
    calls.clear()
    state.clear()


class Unavailable(Exception):
    status_code = 503


def _lookup(city: str) -> str:
    """Look a city up in a flaky service."""
    calls["lookup"] += 1
    if calls["lookup"] <= int(state.get("failures", 0)):
        raise Unavailable(f"service unavailable ({calls['lookup']})")
    return f"{city}: 12C"


lookup = tool_options(function_tool(_lookup, name_override="lookup"), retry=FAST)


@function_tool
def divide(a: int, b: int) -> str:
    """Divide a by b."""
    calls["divide"] += 1
    if not state.get("fixed"):
        return str(a / b)  # the bug: b is 0
    return "undefined" if b == 0 else str(a / b)


told = tool_options(function_tool(divide.__wrapped__, name_override="told"), on_bug="model")


def script(tool: str, arguments: dict[str, Any]) -> Any:
    def reply(request: FakeRequest) -> Reply:
        if request.last_tool_outputs:
            return Reply(Text(f"saw: {request.last_tool_outputs[0].output}"))
        return Reply(ToolCall(tool, arguments))

    return reply


@stead.workflow
async def ask(tool: str) -> str:
    tools = {"lookup": lookup, "divide": divide, "told": told}
    agent = Agent(name="Asker", instructions="Use the tool.", tools=[tools[tool]], model="gpt-4o-mini")
    result = await Runner.run(agent, "go")
    return str(result.final_output)


async def test_transient_errors_are_retried_and_each_attempt_shown(
    engine: stead.Engine, fake_openai: FakeModels
) -> None:
    server = fake_openai(script("lookup", {"city": "Oslo"}))
    state["failures"] = 2
    handle = await engine.start(ask, "lookup")
    async with engine.worker([ask]):
        assert await handle.result(timeout=180) == "saw: Oslo: 12C"
    assert calls["lookup"] == 3 and len(server.requests) == 2
    (step,) = [s for s in await engine.steps(handle.run_id) if s.kind == "tool"]
    assert step.attempts == 3 and step.status == "done"
    assert [e.message for e in step.attempt_errors] == ["service unavailable (1)", "service unavailable (2)"]


async def test_after_the_last_attempt_the_model_gets_the_error_as_the_sdk_sends_it(
    engine: stead.Engine, fake_openai: FakeModels
) -> None:
    fake_openai(script("lookup", {"city": "Oslo"}))
    state["failures"] = 10
    handle = await engine.start(ask, "lookup")
    async with engine.worker([ask]):
        final = await handle.result(timeout=60)
    assert calls["lookup"] == 4
    assert final == f"saw: {SDK_ERROR_TEXT}"


async def test_a_bug_stops_the_run_and_resume_runs_the_fixed_tool(
    engine: stead.Engine, fake_openai: FakeModels
) -> None:
    server = fake_openai(script("divide", {"a": 1, "b": 0}))
    handle = await engine.start(ask, "divide")
    async with engine.worker([ask]):
        with pytest.raises(stead.RunFailed, match="ZeroDivisionError"):
            await handle.result(timeout=60)
    assert calls["divide"] == 1, "a bug is not retried"
    (step,) = [s for s in await engine.steps(handle.run_id) if s.kind == "tool"]
    assert step.status == "failed" and step.error is not None and "division by zero" in step.error.message
    assert len(server.requests) == 1, "the bug reached the model"
    state["fixed"] = True
    await engine.reopen(handle.run_id)
    async with engine.worker([ask]):
        assert await handle.result(timeout=60) == "saw: undefined"
    assert calls["divide"] == 2 and len(server.requests) == 2, "the first model call was repeated"


async def test_on_bug_model_hands_the_error_to_the_model(
    engine: stead.Engine, fake_openai: FakeModels
) -> None:
    fake_openai(script("told", {"a": 1, "b": 0}))
    handle = await engine.start(ask, "told")
    async with engine.worker([ask]):
        final = await handle.result(timeout=60)
    assert final == f"saw: {SDK_ERROR_TEXT}"
    assert calls["divide"] == 1


# -- typed outputs and context changes --------------------------------------------------------------------------


@dataclass
class Weather:
    city: str
    high: int


@dataclass
class Basket:
    items: list[str] = field(default_factory=list)
    total: float = 0.0


@function_tool
def weather_of(city: str) -> Weather:
    """The weather of a city."""
    calls["weather"] += 1
    return Weather(city=city, high=21)


@function_tool
def add_item(ctx: RunContextWrapper[Basket], item: str) -> str:
    """Put an item in the basket."""
    calls["add"] += 1
    assert isinstance(ctx.context, Basket), f"the tool got a {type(ctx.context).__name__}, not the Basket"
    ctx.context.items.append(item)
    ctx.context.total += 0.5
    return f"added {item}"


seen: list[Any] = []


@stead.workflow
async def typed() -> dict[str, Any]:
    basket = Basket()

    def first_output(_ctx: Any, results: list[Any]) -> Any:
        from agents.agent import ToolsToFinalOutputResult

        seen.append(results[0].output)
        return ToolsToFinalOutputResult(is_final_output=True, final_output=results[0].output)

    agent = Agent(
        name="Typed",
        tools=[weather_of, add_item],
        model="gpt-4o-mini",
        tool_use_behavior=first_output,
    )
    result = await Runner.run(agent, "go", context=basket)
    if not state.get("pass", True):
        state["live"] = (str(result.final_output), [basket.items, basket.total])
        raise RuntimeError("fail once at the end")
    return {"output": str(result.final_output), "basket": [basket.items, basket.total]}


async def test_typed_outputs_and_context_changes_survive_a_replay(
    engine: stead.Engine, fake_openai: FakeModels
) -> None:
    fake_openai(
        lambda request: Reply(
            ToolCall("weather_of", {"city": "Oslo"}), ToolCall("add_item", {"item": "pear"})
        )
    )
    state["pass"] = False
    handle = await engine.start(typed)
    async with engine.worker([typed]):
        with pytest.raises(stead.RunFailed, match="fail once"):
            await handle.result(timeout=60)
    live = state["live"]
    assert live == ("Weather(city='Oslo', high=21)", [["pear"], 0.5])
    assert isinstance(seen[0], Weather)
    state["pass"] = True
    await engine.reopen(handle.run_id)
    async with engine.worker([typed]):
        replayed = await handle.result(timeout=60)
    assert (replayed["output"], replayed["basket"]) == live
    assert calls == Counter({"weather": 1, "add": 1}), "a finished tool ran again"
