"""The OpenAI Agents SDK inside workflows, through the real `openai` client and a fake HTTP server."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import pytest
from agents import (
    Agent,
    GuardrailFunctionOutput,
    InputGuardrailTripwireTriggered,
    OpenAIChatCompletionsModel,
    RunContextWrapper,
    RunHooks,
    Runner,
    function_tool,
    input_guardrail,
)
from openai import AsyncOpenAI
from pydantic import BaseModel

import stead
from stead.testing import Drop, FakeRequest, Fault, Reply, Text, ToolCall
from stead.testing.pytest import FakeModels

tool_calls: Counter[str] = Counter()
gates: dict[str, bool] = {}


@pytest.fixture(autouse=True)
def _reset() -> None:
    tool_calls.clear()
    gates.clear()


@function_tool
def get_weather(city: str) -> str:
    """The weather in a city."""
    tool_calls[city] += 1
    return f"sunny in {city}"


@function_tool
def get_forecast(city: str) -> dict[str, Any]:
    """A structured forecast."""
    tool_calls[f"forecast:{city}"] += 1
    return {"city": city, "days": [{"high": 21}, {"high": 19}]}


@stead.workflow
async def weather(question: str) -> dict[str, Any]:
    agent = Agent(
        name="Weather",
        instructions="Answer about weather.",
        tools=[get_weather, get_forecast],
        model="gpt-4o-mini",
    )
    result = await Runner.run(agent, question)
    outcome = {
        "final": result.final_output,
        "items": [item.to_input_item() for item in result.new_items],
        "usage": result.context_wrapper.usage.total_tokens,
        "requests": result.context_wrapper.usage.requests,
    }
    if not gates.get("pass", True):
        seen_live.append(outcome)
        raise RuntimeError("fail once at the end")
    return outcome


seen_live: list[dict[str, Any]] = []


def WEATHER_SCRIPT(request: FakeRequest) -> Reply:  # noqa: N802 - a script, named like one
    if request.last_tool_outputs:
        return Reply(Text("Sunny in Paris; Rome stays warm."))
    return Reply(ToolCall("get_weather", {"city": "Paris"}), ToolCall("get_forecast", {"city": "Rome"}))


async def test_model_and_tool_calls_are_steps(engine: stead.Engine, fake_openai: FakeModels) -> None:
    fake_openai(WEATHER_SCRIPT)
    handle = await engine.start(weather, "Weather in Paris and Rome?")
    async with engine.worker([weather]):
        result = await handle.result(timeout=30)
    assert result["final"] == "Sunny in Paris; Rome stays warm."
    steps = await engine.steps(handle.run_id)
    assert [(s.kind, s.summary) for s in steps] == [
        ("model", "model · Weather · gpt-4o-mini"),
        ("tool", "tool · get_weather"),
        ("tool", "tool · get_forecast"),
        ("model", "model · Weather · gpt-4o-mini"),
    ] or sorted(s.summary or "" for s in steps[1:3]) == ["tool · get_forecast", "tool · get_weather"]
    assert steps[2].result in ("sunny in Paris", {"city": "Rome", "days": [{"high": 21}, {"high": 19}]})
    # What each step is, as data: usage and tracing read these, not names or summaries.
    assert steps[0].attributes == stead.StepAttributes(
        agent="Weather", model="gpt-4o-mini", show_while_running=True
    )
    tools = sorted((s.attributes for s in steps if s.kind == "tool"), key=lambda a: a.tool or "")
    assert [(a.agent, a.tool, a.show_while_running) for a in tools] == [
        ("Weather", "get_forecast", True),
        ("Weather", "get_weather", True),
    ]
    assert {s.position.rsplit("/", 1)[1] for s in steps if s.kind == "tool"} == {a.call_id for a in tools}


async def test_replay_makes_no_calls_and_gives_the_same_output_items_and_usage(
    engine: stead.Engine, fake_openai: FakeModels
) -> None:
    model_server = fake_openai(WEATHER_SCRIPT)
    gates["pass"] = False
    handle = await engine.start(weather, "Weather in Paris and Rome?")
    async with engine.worker([weather]):
        with pytest.raises(stead.RunFailed, match="fail once"):
            await handle.result(timeout=30)
    live = seen_live.pop()
    # The run failed after the agent finished; resuming it replays the agent from the journal.
    gates["pass"] = True
    await engine.reopen(handle.run_id)
    async with engine.worker([weather]):
        replayed = await handle.result(timeout=30)
    assert len(model_server.requests) == 2, "the replay called the model"
    assert dict(tool_calls) == {"Paris": 1, "forecast:Rome": 1}, "the replay ran a tool"
    assert replayed == live
    assert replayed["requests"] == 2 and replayed["usage"] > 0


async def test_rate_limit_then_server_error_are_retried_as_the_server_asks(
    engine: stead.Engine, fake_openai: FakeModels
) -> None:
    model_server = fake_openai(
        [
            Fault(429, headers={"Retry-After": "2"}, message="slow down"),
            Fault(500, message="upstream broke"),
            Reply(Text("made it")),
        ]
    )
    handle = await engine.start(haiku_like, "hi")
    async with engine.worker([haiku_like]):
        assert await handle.result(timeout=60) == "made it"
    times = model_server.request_times
    assert len(times) == 3
    # Not before the 2 s; on Temporal the retry then waits for the server's timer and a worker's poll (3.2 s seen).
    assert 2.0 <= times[1] - times[0] < 4.0, "Retry-After: 2 was not honoured"
    assert times[2] - times[1] >= 1.0  # exponential backoff after the 500
    [step] = await engine.steps(handle.run_id)
    assert step.attempts == 3
    assert [e.type for e in step.attempt_errors] == ["RateLimitError", "InternalServerError"]


async def test_client_errors_fail_the_run_at_once_with_the_providers_message(
    engine: stead.Engine, fake_openai: FakeModels
) -> None:
    model_server = fake_openai([Fault(400, message="model 'gpt-9' does not exist")])
    handle = await engine.start(haiku_like, "hi")
    async with engine.worker([haiku_like]):
        with pytest.raises(stead.RunFailed, match="does not exist"):
            await handle.result(timeout=30)
    assert len(model_server.requests) == 1


async def test_dropped_connections_are_retried(engine: stead.Engine, fake_openai: FakeModels) -> None:
    fake_openai([Drop(), Reply(Text("after the drop"))])
    handle = await engine.start(haiku_like, "hi")
    async with engine.worker([haiku_like]):
        assert await handle.result(timeout=30) == "after the drop"
    [step] = await engine.steps(handle.run_id)
    assert step.attempts == 2 and step.attempt_errors[0].type == "APIConnectionError"


@stead.workflow
async def haiku_like(prompt: str) -> str:
    agent = Agent(name="Assistant", instructions="You only respond in haikus.", model="gpt-4o-mini")
    result = await Runner.run(agent, prompt)
    return str(result.final_output)


# -- SDK features behave as in the SDK -------------------------------------------------------------------------


class Verdict(BaseModel):
    topic: str
    needs_human: bool


@stead.workflow
async def structured(question: str) -> dict[str, Any]:
    agent = Agent(name="Classifier", instructions="Classify.", output_type=Verdict, model="gpt-4o-mini")
    result = await Runner.run(agent, question)
    assert isinstance(result.final_output, Verdict)
    return result.final_output.model_dump()


async def test_structured_output(engine: stead.Engine, fake_openai: FakeModels) -> None:
    fake_openai([Reply(Text('{"topic": "weather", "needs_human": false}'))])
    handle = await engine.start(structured, "rain?")
    async with engine.worker([structured]):
        assert await handle.result(timeout=30) == {"topic": "weather", "needs_human": False}


@stead.workflow
async def triage(question: str) -> str:
    specialist = Agent(
        name="Specialist",
        instructions="You are the weather specialist.",
        tools=[get_weather],
        model="gpt-4o-mini",
    )
    front = Agent(
        name="Triage", instructions="Route the question.", handoffs=[specialist], model="gpt-4o-mini"
    )
    result = await Runner.run(front, question)
    return f"{result.last_agent.name}: {result.final_output}"


async def test_handoffs(engine: stead.Engine, fake_openai: FakeModels) -> None:
    def respond(request: FakeRequest) -> Any:
        if "Route the question" in request.instructions:
            return Reply(ToolCall("transfer_to_specialist", {}))
        if not request.last_tool_outputs or request.last_tool_outputs[-1].name != "get_weather":
            return Reply(ToolCall("get_weather", {"city": "Oslo"}))
        return Reply(Text("Snow in Oslo."))

    fake_openai(respond)
    handle = await engine.start(triage, "Oslo weather?")
    async with engine.worker([triage]):
        assert await handle.result(timeout=30) == "Specialist: Snow in Oslo."
    summaries = [s.summary for s in await engine.steps(handle.run_id)]
    assert summaries == [
        "model · Triage · gpt-4o-mini",
        "model · Specialist · gpt-4o-mini",
        "tool · get_weather",
        "model · Specialist · gpt-4o-mini",
    ]


@input_guardrail
async def no_homework(ctx: RunContextWrapper[Any], agent: Agent[Any], data: Any) -> GuardrailFunctionOutput:
    text = data if isinstance(data, str) else str(data)
    return GuardrailFunctionOutput(output_info=None, tripwire_triggered="homework" in text)


@stead.workflow
async def guarded(question: str) -> str:
    agent = Agent(name="Tutor", instructions="Help.", input_guardrails=[no_homework], model="gpt-4o-mini")
    try:
        result = await Runner.run(agent, question)
    except InputGuardrailTripwireTriggered:
        return "refused"
    return str(result.final_output)


async def test_input_guardrails(engine: stead.Engine, fake_openai: FakeModels) -> None:
    fake_openai(lambda request: Reply(Text("Sure.")))
    ok = await engine.start(guarded, "explain tides")
    refused = await engine.start(guarded, "do my homework")
    async with engine.worker([guarded]):
        assert await ok.result(timeout=30) == "Sure."
        assert await refused.result(timeout=30) == "refused"


class Hooks(RunHooks[Any]):
    def __init__(self) -> None:
        self.events: list[str] = []

    async def on_agent_start(self, context: RunContextWrapper[Any], agent: Agent[Any]) -> None:
        self.events.append(f"start:{agent.name}")

    async def on_tool_end(
        self, context: RunContextWrapper[Any], agent: Agent[Any], tool: Any, result: object
    ) -> None:
        self.events.append(f"tool:{tool.name}={result}")


@stead.workflow
async def with_context_and_hooks(city: str) -> list[str]:
    hooks = Hooks()
    agent = Agent(name="Weather", instructions="Answer.", tools=[get_weather], model="gpt-4o-mini")
    await Runner.run(agent, f"weather in {city}", context={"user": "ada"}, hooks=hooks, max_turns=3)
    return hooks.events


async def test_context_hooks_and_max_turns(engine: stead.Engine, fake_openai: FakeModels) -> None:
    fake_openai([Reply(ToolCall("get_weather", {"city": "Lima"})), Reply(Text("Warm."))])
    handle = await engine.start(with_context_and_hooks, "Lima")
    async with engine.worker([with_context_and_hooks]):
        assert await handle.result(timeout=30) == ["start:Weather", "tool:get_weather=sunny in Lima"]


@stead.workflow
async def loops_forever(question: str) -> str:
    agent = Agent(name="Looper", instructions="Loop.", tools=[get_weather], model="gpt-4o-mini")
    try:
        await Runner.run(agent, question, max_turns=2)
    except Exception as exc:
        return type(exc).__name__
    return "finished"


async def test_max_turns(engine: stead.Engine, fake_openai: FakeModels) -> None:
    fake_openai(lambda request: Reply(ToolCall("get_weather", {"city": "Nuuk"})))
    handle = await engine.start(loops_forever, "go")
    async with engine.worker([loops_forever]):
        assert await handle.result(timeout=30) == "MaxTurnsExceeded"


@stead.workflow
async def researcher(topics: list[str]) -> list[str]:
    async def one(topic: str) -> str:
        agent = Agent(name=f"Searcher {topic}", instructions=f"Research {topic}.", model="gpt-4o-mini")
        return str((await Runner.run(agent, topic)).final_output)

    return list(await asyncio.gather(*(one(t) for t in topics)))


async def test_parallel_agents_keep_their_own_answers(engine: stead.Engine, fake_openai: FakeModels) -> None:
    fake_openai(lambda request: Reply(Text(f"notes on {request.instructions.split()[-1].rstrip('.')}")))
    topics = ["tides", "volcanoes", "glaciers", "deltas"]
    handle = await engine.start(researcher, topics)
    async with engine.worker([researcher]):
        assert await handle.result(timeout=30) == [f"notes on {t}" for t in topics]


@stead.workflow
async def manager(question: str) -> str:
    expert = Agent(
        name="Expert", instructions="You are the expert.", tools=[get_weather], model="gpt-4o-mini"
    )
    boss = Agent(
        name="Manager",
        instructions="Delegate to the expert.",
        model="gpt-4o-mini",
        tools=[expert.as_tool(tool_name="ask_expert", tool_description="Ask the expert.")],
    )
    return str((await Runner.run(boss, question)).final_output)


async def test_agents_as_tools_run_nested_durable_runs(engine: stead.Engine, fake_openai: FakeModels) -> None:
    def respond(request: FakeRequest) -> Any:
        if "Delegate" in request.instructions:
            if request.last_tool_outputs:
                return Reply(Text(f"The expert says: {request.last_tool_outputs[-1].output}"))
            return Reply(ToolCall("ask_expert", {"input": "weather in Bergen?"}))
        if request.last_tool_outputs:
            return Reply(Text("rain in Bergen"))
        return Reply(ToolCall("get_weather", {"city": "Bergen"}))

    fake_openai(respond)
    handle = await engine.start(manager, "Bergen?")
    async with engine.worker([manager]):
        assert await handle.result(timeout=30) == "The expert says: rain in Bergen"
    steps = await engine.steps(handle.run_id)
    assert [s.summary for s in steps] == [
        "model · Manager · gpt-4o-mini",
        "model · Expert · gpt-4o-mini",
        "tool · get_weather",
        "model · Expert · gpt-4o-mini",
        "model · Manager · gpt-4o-mini",
    ]
    # The nested run's steps hang under the manager's tool call.
    assert steps[1].position.startswith(steps[0].position.rsplit("/", 1)[0] + "/call_")


@stead.workflow
async def with_model_object(base_url: str) -> str:
    client = AsyncOpenAI(base_url=base_url, api_key="k", max_retries=0)
    model = OpenAIChatCompletionsModel(model="local-llama", openai_client=client)
    agent = Agent(name="Local", instructions="Be brief.", model=model)
    try:
        return str((await Runner.run(agent, "hi")).final_output)
    finally:
        await client.close()


async def test_model_objects_work(engine: stead.Engine, fake_openai: FakeModels) -> None:
    model_server = fake_openai([Reply(Text("hello from a Model object"))])
    handle = await engine.start(with_model_object, model_server.base_url)
    async with engine.worker([with_model_object]):
        assert await handle.result(timeout=30) == "hello from a Model object"
    [step] = await engine.steps(handle.run_id)
    assert step.summary == "model · Local · local-llama"


async def test_no_credentials_is_a_clear_error(engine: stead.Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    handle = await engine.start(haiku_like, "hi")
    async with engine.worker([haiku_like]):
        with pytest.raises(stead.RunFailed, match="OPENAI_API_KEY.*OPENAI_BASE_URL"):
            await handle.result(timeout=30)


async def test_outside_a_workflow_runner_is_the_stock_sdk(fake_openai: FakeModels) -> None:
    import stead.agents

    stead.agents.install()
    model_server = fake_openai([Reply(Text("plain"))])
    client = AsyncOpenAI(base_url=model_server.base_url, api_key="k", max_retries=0)
    agent = Agent(name="Plain", model=OpenAIChatCompletionsModel(model="m", openai_client=client))
    result = await Runner.run(agent, "hi")
    assert result.final_output == "plain"
    await client.close()
