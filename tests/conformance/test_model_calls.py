"""Model calls as the SDK makes them: its stream events inside workflows, tokens for watchers from plain
``Runner.run``, hooks that fire once, bad answers asked again on resume, and per-attempt timeouts."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

import pytest
from agents import Agent, AgentHooks, RunConfig, RunContextWrapper, RunHooks, Runner, function_tool
from openai.types.responses import ResponseTextDeltaEvent
from pydantic import BaseModel

import stead
from stead.agents import MODEL_CALLS, env_provider
from stead.testing import Reply, Slow, Text, ToolCall
from stead.testing.pytest import FakeModels

STORY = "Once upon a time a small robot learned to paint the sea at dawn."

armed: dict[str, bool] = {}
hook_log: list[str] = []


@pytest.fixture(autouse=True)
def _reset() -> Iterator[None]:
    armed.clear()
    hook_log.clear()
    saved = (MODEL_CALLS.timeout, MODEL_CALLS.idle_timeout, MODEL_CALLS.stream_tokens)
    yield
    MODEL_CALLS.timeout, MODEL_CALLS.idle_timeout, MODEL_CALLS.stream_tokens = saved


def fail_once(name: str) -> None:
    """Fail the workflow after its agent run, the first time: `reopen` then replays that run."""
    if armed.get(name):
        armed[name] = False
        raise RuntimeError(f"{name}: fail after the agent run")


@function_tool
def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"sunny in {city}"


def storyteller_agent() -> Agent[Any]:
    return Agent(name="Storyteller", instructions="Tell a story.", tools=[get_weather], model="gpt-4o-mini")


async def consume_streamed(agent: Agent[Any], prompt: str, **kwargs: Any) -> dict[str, Any]:
    """What a program that consumes `stream_events()` sees: the text of the deltas and the kinds of events."""
    result = Runner.run_streamed(agent, prompt, **kwargs)
    deltas: list[str] = []
    raw: set[str] = set()
    items: list[str] = []
    async for event in result.stream_events():
        if event.type == "raw_response_event":
            raw.add(event.data.type)
            if isinstance(event.data, ResponseTextDeltaEvent):
                deltas.append(event.data.delta)
        elif event.type == "run_item_stream_event":
            items.append(event.name)
    final = str(result.final_output)
    return {
        "text": "".join(deltas),
        "pieces": len(deltas),
        "raw": sorted(raw),
        "items": items,
        "final": final,
    }


@stead.workflow
async def streamed(prompt: str) -> dict[str, Any]:
    seen = await consume_streamed(storyteller_agent(), prompt)
    fail_once("streamed")
    return seen


@pytest.mark.parametrize("api", ["chat", "responses"])
async def test_stream_events_inside_a_workflow_are_the_sdks_and_replay(
    engine: stead.Engine, fake_openai: FakeModels, api: Any
) -> None:
    script = [Reply(ToolCall("get_weather", {"city": "Oslo"})), Reply(Text(STORY))]
    fake_openai(script * 2, api=api)
    # The oracle: the plain SDK, outside stead, against the same script.
    plain = await consume_streamed(
        storyteller_agent(), "a robot", run_config=RunConfig(model_provider=env_provider())
    )
    assert plain["text"] == STORY
    armed["streamed"] = True
    handle = await engine.start(streamed, "a robot")
    async with engine.worker([streamed]):
        with pytest.raises(stead.RunFailed):
            await handle.result(timeout=30)
        await engine.reopen(handle.run_id)  # the agent run is answered from the journal
        replayed = await handle.result(timeout=30)
    assert replayed["text"] == plain["text"] == replayed["final"]
    assert replayed["items"] == plain["items"]
    if api == "responses":  # Chat Completions streams are converted by the SDK into a subset of these
        assert replayed["raw"] == plain["raw"]
    assert replayed["pieces"] > 1, "the text came in one piece, not as deltas"


@stead.workflow
async def plain_story(prompt: str) -> str:
    result = await Runner.run(storyteller_agent(), prompt)
    return str(result.final_output)


async def test_plain_runner_run_streams_tokens_to_watchers(
    engine: stead.Engine, fake_openai: FakeModels
) -> None:
    fake_openai([Reply(Text(STORY))])
    handle = await engine.start(plain_story, "a robot")
    await engine.watch(handle.run_id)  # somebody follows it (an unwatched call does not stream)
    async with engine.worker([plain_story]):
        assert await handle.result(timeout=30) == STORY
    texts = [e.data async for e in engine.events(handle.run_id) if e.kind == "text"]
    assert len(texts) > 3, "the answer arrived in one piece, not as tokens"
    assert "".join(texts) == STORY
    [step] = [s for s in await engine.steps(handle.run_id) if s.kind == "model"]
    assert step.status == "done"


@stead.workflow
async def two_stories(prompt: str) -> list[str]:
    first = str((await Runner.run(storyteller_agent(), prompt)).final_output)
    await stead.wait_for("again")
    return [first, str((await Runner.run(storyteller_agent(), prompt)).final_output)]


async def first_text(engine: stead.Engine, run_id: str) -> stead.RunEvent:
    async for event in engine.events(run_id):
        if event.kind == "text":
            return event
    raise AssertionError("the run ended without streaming a token")


async def test_a_plain_model_call_streams_only_once_somebody_watches_the_run(
    engine: stead.Engine, fake_openai: FakeModels
) -> None:
    """Unwatched, a plain ``Runner.run`` call asks as the SDK does (one answer, no stream to parse); once somebody
    follows the run, from any process, its later calls stream their tokens to them."""
    server = fake_openai(lambda request: Reply(Text(STORY)))
    handle = await engine.start(two_stories, "a robot")
    async with engine.worker([two_stories]):
        await engine.wait(handle.run_id, timeout=60, until="waiting")
        assert not server.requests[0].stream, "nobody watched, yet the call streamed"
        assert [e async for e in engine.events(handle.run_id, follow=False) if e.kind == "text"] == []
        await engine.watch(handle.run_id)
        watcher = asyncio.create_task(asyncio.wait_for(first_text(engine, handle.run_id), 60))
        await handle.send("again")
        assert await handle.result(timeout=60) == [STORY, STORY]
        token = await watcher  # while the run ran
    assert server.requests[1].stream
    texts = [e async for e in engine.events(handle.run_id) if e.kind == "text"]
    assert len(texts) > 3 and "".join(e.data for e in texts) == STORY
    second = [s for s in await engine.steps(handle.run_id) if s.kind == "model"][1]
    assert {e.position for e in texts} == {token.position} == {second.position}


async def test_token_streaming_can_be_switched_off(engine: stead.Engine, fake_openai: FakeModels) -> None:
    MODEL_CALLS.stream_tokens = False
    server = fake_openai([Reply(Text(STORY))])
    handle = await engine.start(plain_story, "a robot")
    async with engine.worker([plain_story]):
        assert await handle.result(timeout=30) == STORY
    assert [e async for e in engine.events(handle.run_id) if e.kind == "text"] == []
    assert not server.requests[0].stream


class Recorder(RunHooks[Any]):
    async def on_agent_start(self, context: RunContextWrapper[Any], agent: Agent[Any]) -> None:
        hook_log.append(f"run:agent_start:{agent.name}")

    async def on_llm_start(
        self, context: Any, agent: Agent[Any], system_prompt: Any, input_items: Any
    ) -> None:
        hook_log.append("run:llm_start")

    async def on_llm_end(self, context: Any, agent: Agent[Any], response: Any) -> None:
        hook_log.append("run:llm_end")

    async def on_tool_start(self, context: Any, agent: Agent[Any], tool: Any) -> None:
        hook_log.append(f"run:tool_start:{tool.name}")

    async def on_tool_end(self, context: Any, agent: Agent[Any], tool: Any, result: object) -> None:
        hook_log.append(f"run:tool_end:{tool.name}")

    async def on_agent_end(self, context: Any, agent: Agent[Any], output: Any) -> None:
        hook_log.append("run:agent_end")


class AgentRecorder(AgentHooks[Any]):
    async def on_start(self, context: Any, agent: Agent[Any]) -> None:
        hook_log.append("agent:start")

    async def on_llm_end(self, context: Any, agent: Agent[Any], response: Any) -> None:
        hook_log.append("agent:llm_end")

    async def on_end(self, context: Any, agent: Agent[Any], output: Any) -> None:
        hook_log.append("agent:end")


@stead.workflow
async def hooked(prompt: str) -> str:
    agent = Agent(
        name="Weather",
        instructions="Answer.",
        tools=[get_weather],
        model="gpt-4o-mini",
        hooks=AgentRecorder(),
    )
    result = await Runner.run(agent, prompt, hooks=Recorder())
    fail_once("hooked")
    return str(result.final_output)


async def test_hooks_do_not_fire_again_for_replayed_work(
    engine: stead.Engine, fake_openai: FakeModels
) -> None:
    fake_openai([Reply(ToolCall("get_weather", {"city": "Lima"})), Reply(Text("Warm."))])
    armed["hooked"] = True
    handle = await engine.start(hooked, "weather in Lima?")
    async with engine.worker([hooked]):
        with pytest.raises(stead.RunFailed):
            await handle.result(timeout=30)
        uncrashed = list(hook_log)
        await engine.reopen(handle.run_id)
        assert await handle.result(timeout=30) == "Warm."
    assert uncrashed == [
        "run:agent_start:Weather",
        "agent:start",
        "run:llm_start",
        "agent:llm_end",
        "run:llm_end",
        "run:tool_start:get_weather",
        "run:tool_end:get_weather",
        "run:llm_start",
        "agent:llm_end",
        "run:llm_end",
        "run:agent_end",
        "agent:end",
    ]
    assert hook_log == uncrashed, "hooks fired again for work the journal answered"


@dataclass
class Notes:
    agents: list[str] = field(default_factory=list)
    llm_calls: int = 0
    tools: list[str] = field(default_factory=list)
    final: str | None = None


class Noting(RunHooks[Notes]):
    async def on_agent_start(self, context: RunContextWrapper[Notes], agent: Agent[Notes]) -> None:
        hook_log.append("agent_start")
        context.context.agents.append(agent.name)

    async def on_llm_start(
        self, context: RunContextWrapper[Notes], agent: Agent[Notes], system_prompt: Any, input_items: Any
    ) -> None:
        hook_log.append("llm_start")
        context.context.llm_calls += 1

    async def on_tool_end(
        self, context: RunContextWrapper[Notes], agent: Agent[Notes], tool: Any, result: object
    ) -> None:
        hook_log.append("tool_end")
        context.context.tools.append(f"{tool.name}={result}")

    async def on_agent_end(self, context: RunContextWrapper[Notes], agent: Agent[Notes], output: Any) -> None:
        hook_log.append("agent_end")
        context.context.final = str(output)


@stead.workflow
async def noted(prompt: str) -> dict[str, Any]:
    agent = Agent[Notes](name="Weather", instructions="Answer.", tools=[get_weather], model="gpt-4o-mini")
    notes = Notes()
    await Runner.run(agent, prompt, context=notes, hooks=Noting())
    fail_once("noted")
    return asdict(notes)


async def test_context_changes_made_by_hooks_survive_a_replay(
    engine: stead.Engine, fake_openai: FakeModels
) -> None:
    fake_openai([Reply(ToolCall("get_weather", {"city": "Lima"})), Reply(Text("Warm."))])
    armed["noted"] = True
    handle = await engine.start(noted, "weather in Lima?")
    async with engine.worker([noted]):
        with pytest.raises(stead.RunFailed):
            await handle.result(timeout=60)
        await engine.reopen(handle.run_id)
        notes = await handle.result(timeout=60)
    assert notes == {
        "agents": ["Weather"],
        "llm_calls": 2,
        "tools": ["get_weather=sunny in Lima"],
        "final": "Warm.",
    }
    assert hook_log == ["agent_start", "llm_start", "tool_end", "llm_start", "agent_end"], "hooks fired again"
    hooks = [s.name for s in await engine.steps(handle.run_id) if s.kind == "hook"]
    assert sorted(hooks) == sorted(
        f"hook:run.on_{h}" for h in ["agent_start", "llm_start", "tool_end", "llm_start", "agent_end"]
    )


class Failing(RunHooks[Notes]):
    async def on_agent_start(self, context: RunContextWrapper[Notes], agent: Agent[Notes]) -> None:
        hook_log.append("agent_start")
        raise ValueError("the hook is broken")


@stead.workflow
async def failing_hook(prompt: str) -> str:
    agent = Agent[Notes](name="Weather", instructions="Answer.", model="gpt-4o-mini")
    result = await Runner.run(agent, prompt, context=Notes(), hooks=Failing())
    return str(result.final_output)


async def test_an_error_in_a_hook_ends_the_run_at_once(engine: stead.Engine, fake_openai: FakeModels) -> None:
    server = fake_openai([Reply(Text("Warm."))])
    handle = await engine.start(failing_hook, "weather?")
    async with engine.worker([failing_hook]):
        with pytest.raises(stead.RunFailed) as failed:
            await handle.result(timeout=60)
    assert "the hook is broken" in str(failed.value)
    assert hook_log == ["agent_start"], "a hook's own error is not retried (the plain SDK raises it at once)"
    assert server.requests == []


class Forecast(BaseModel):
    city: str
    high: int


@stead.workflow
async def forecast(city: str) -> dict[str, Any]:
    agent = Agent(name="Forecaster", instructions="Forecast.", output_type=Forecast, model="gpt-4o-mini")
    result = await Runner.run(agent, city)
    return dict(result.final_output.model_dump())


async def test_a_run_failed_on_a_bad_answer_asks_the_model_again_on_resume(
    engine: stead.Engine, fake_openai: FakeModels
) -> None:
    server = fake_openai(
        [Reply(Text('{"city": "Oslo", "high": ')), Reply(Text('{"city": "Oslo", "high": 3}'))]
    )
    handle = await engine.start(forecast, "Oslo")
    async with engine.worker([forecast]):
        with pytest.raises(stead.RunFailed) as failed:
            await handle.result(timeout=30)
        assert "ModelBehaviorError" in str(failed.value)
        assert len(server.requests) == 1, "a bad answer is not retried: the SDK would fail at once too"
        await engine.reopen(handle.run_id)
        assert await handle.result(timeout=30) == {"city": "Oslo", "high": 3}
    assert len(server.requests) == 2


@pytest.mark.parametrize("streaming", [True, False])
async def test_a_hung_model_call_is_abandoned_and_retried(
    engine: stead.Engine, fake_openai: FakeModels, streaming: bool
) -> None:
    # Streaming: the stream that sends nothing counts as hung; otherwise the attempt's own timeout cuts it.
    MODEL_CALLS.stream_tokens = streaming
    if streaming:
        MODEL_CALLS.idle_timeout = 0.5
    else:
        MODEL_CALLS.timeout = 1.0
    server = fake_openai([Slow(30, Reply(Text("too late"))), Reply(Text(STORY))])
    handle = await engine.start(plain_story, "a robot")
    if streaming:
        await engine.watch(handle.run_id)  # a call streams under the hood when somebody may watch it
    async with engine.worker([plain_story]):
        assert await handle.result(timeout=30) == STORY
    assert len(server.requests) == 2
    [step] = [s for s in await engine.steps(handle.run_id) if s.kind == "model"]
    assert step.attempts == 2
