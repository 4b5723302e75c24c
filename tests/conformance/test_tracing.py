"""Tracing: the SDK's trace processors see deterministic ids and no span twice; OpenTelemetry spans per run and step."""

from __future__ import annotations

import asyncio
import functools
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from agents import (
    Agent,
    Runner,
    Span,
    Trace,
    TracingProcessor,
    custom_span,
    function_tool,
    set_trace_processors,
    set_tracing_disabled,
    trace,
)
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

import stead
import stead.agents
import stead.otel
from stead.testing import FakeOpenAIServer, FakeRequest, Fault, Reply, Text, ToolCall, Usage
from stead.testing.pytest import FakeModels

tool_calls: Counter[str] = Counter()
gates: dict[str, bool] = {}
recorded: list[dict[str, str]] = []


@pytest.fixture(autouse=True)
def _reset() -> None:
    tool_calls.clear()
    gates.clear()
    recorded.clear()


@pytest.fixture
def serve(fake_openai: FakeModels) -> Callable[[Any], FakeOpenAIServer]:
    """Fake model servers that leave tracing as the test set it."""
    return functools.partial(fake_openai, tracing=True)


@function_tool
def get_weather(city: str) -> str:
    """The weather in a city."""
    tool_calls[city] += 1
    return f"sunny in {city}"


@function_tool
def get_forecast(city: str) -> str:
    """Tomorrow's weather in a city."""
    tool_calls[f"forecast:{city}"] += 1
    return f"warm in {city}"


def weather_script(request: FakeRequest) -> Reply:
    if request.last_tool_outputs:
        return Reply(Text("Sunny in Paris; Rome stays warm."), usage=Usage(130, 6))
    return Reply(
        ToolCall("get_weather", {"city": "Paris"}),
        ToolCall("get_forecast", {"city": "Rome"}),
        usage=Usage(100, 9),
    )


def weather_agent() -> Agent[Any]:
    return Agent(
        name="Weather", instructions="Answer.", tools=[get_weather, get_forecast], model="gpt-4o-mini"
    )


# -- the SDK's trace processors -------------------------------------------------------------------------------


class Collector(TracingProcessor):
    """Every event the SDK's processors receive, in order."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str, str, str | None, str]] = []

    def on_trace_start(self, trace: Trace) -> None:
        self.events.append(("trace_start", trace.trace_id, trace.trace_id, None, "trace"))

    def on_trace_end(self, trace: Trace) -> None:
        self.events.append(("trace_end", trace.trace_id, trace.trace_id, None, "trace"))

    def on_span_start(self, span: Span[Any]) -> None:
        self.events.append(("span_start", span.trace_id, span.span_id, span.parent_id, span.span_data.type))

    def on_span_end(self, span: Span[Any]) -> None:
        self.events.append(("span_end", span.trace_id, span.span_id, span.parent_id, span.span_data.type))

    def shutdown(self) -> None:
        pass

    def force_flush(self) -> None:
        pass


@pytest.fixture
def collector() -> Iterator[Collector]:
    stead.agents.install()
    collected = Collector()
    set_trace_processors([collected])  # also keeps the SDK's exporter to OpenAI out of tests
    set_tracing_disabled(False)
    try:
        yield collected
    finally:
        set_tracing_disabled(True)
        set_trace_processors([])


@stead.workflow
async def traced(question: str) -> str:
    with trace("Weather report") as report:
        result = await Runner.run(weather_agent(), question)
        with custom_span("summary") as summary:
            recorded.append({"trace": report.trace_id, "summary": summary.span_id})
    if not gates.get("pass", True):
        raise RuntimeError("fail once at the end")
    return str(result.final_output)


async def test_trace_ids_are_deterministic_and_replay_emits_nothing_twice(
    engine: stead.Engine, serve: Callable[[Any], FakeOpenAIServer], collector: Collector
) -> None:
    server = serve(weather_script)
    gates["pass"] = False
    handle = await engine.start(traced, "Paris and Rome?")
    async with engine.worker([traced]):
        with pytest.raises(stead.RunFailed, match="fail once"):
            await handle.result(timeout=30)
    live = list(collector.events)

    # The run failed after its agent finished; reopened, it replays the agent from the journal.
    gates["pass"] = True
    await engine.reopen(handle.run_id)
    async with engine.worker([traced]):
        assert await handle.result(timeout=30) == "Sunny in Paris; Rome stays warm."
    assert len(server.requests) == 2 and tool_calls == Counter({"Paris": 1, "forecast:Rome": 1})

    # The replay built the same trace with the same ids, and told the processors nothing again.
    assert len(recorded) == 2 and recorded[0] == recorded[1]
    assert collector.events == live

    # What the processors saw is one consistent trace: every span starts once and ends once, under a parent
    # that belongs to the trace.
    trace_id = recorded[0]["trace"]
    assert live[0] == ("trace_start", trace_id, trace_id, None, "trace") and live[-1][0] == "trace_end"
    assert {event[1] for event in live} == {trace_id}
    started = Counter(event[2] for event in live if event[0] == "span_start")
    ended = Counter(event[2] for event in live if event[0] == "span_end")
    assert started == ended and set(started.values()) == {1}
    spans = {event[2]: event for event in live if event[0] == "span_start"}
    assert all(parent is None or parent in spans for _, _, _, parent, _ in spans.values())
    kinds = Counter(kind for *_, kind in spans.values())
    assert kinds["generation"] == 2 and kinds["function"] == 2 and kinds["agent"] == 1
    assert recorded[0]["summary"] in spans and spans[recorded[0]["summary"]][4] == "custom"


blocking: dict[str, asyncio.Event] = {}


@function_tool
async def slow_lookup(city: str) -> str:
    """The weather in a city, slowly."""
    tool_calls[city] += 1
    if tool_calls[city] == 1:
        blocking["reached"].set()
        await asyncio.Event().wait()  # the first call hangs until its worker stops
    return f"rain in {city}"


@stead.workflow
async def interrupted(question: str) -> str:
    agent = Agent(name="Weather", instructions="Answer.", tools=[slow_lookup], model="gpt-4o-mini")
    return str((await Runner.run(agent, question)).final_output)


def slow_script(request: FakeRequest) -> Reply:
    if request.last_tool_outputs:
        return Reply(Text("Rain in Bergen."), usage=Usage(40, 3))
    return Reply(ToolCall("slow_lookup", {"city": "Bergen"}), usage=Usage(30, 5))


async def test_a_run_resumed_by_another_worker_continues_its_trace(
    engine: stead.Engine,
    new_engine: Callable[[], stead.Engine],
    serve: Callable[[Any], FakeOpenAIServer],
    collector: Collector,
) -> None:
    server = serve(slow_script)
    blocking["reached"] = asyncio.Event()
    handle = await engine.start(interrupted, "Bergen?")
    async with engine.worker([interrupted]):
        await asyncio.wait_for(blocking["reached"].wait(), 30)
    # The worker stopped in the middle of the tool call; another one resumes the run from the journal.
    before = list(collector.events)
    other = new_engine()
    try:
        async with other.worker([interrupted]):
            assert await other.handle(handle.run_id, interrupted).result(timeout=30) == "Rain in Bergen."
    finally:
        await other.close()
    assert len(server.requests) == 2 and tool_calls == Counter({"Bergen": 2})

    # The stopped worker started the trace and its spans; the resuming one ended them, with the same ids,
    # and added what was new. Nothing started or ended twice.
    assert [e[4] for e in before if e[0].endswith("_end")] == ["generation"]  # only the finished model call
    events = collector.events
    assert [e[0] for e in events].count("trace_start") == 1 and [e[0] for e in events].count("trace_end") == 1
    started = Counter(e[2] for e in events if e[0] == "span_start")
    ended = Counter(e[2] for e in events if e[0] == "span_end")
    assert started == ended and set(started.values()) == {1}
    kinds = Counter(e[4] for e in events if e[0] == "span_start")
    assert kinds["generation"] == 2 and kinds["function"] == 1 and kinds["agent"] == 1


async def test_a_replay_rebuilds_every_span_with_the_same_id(
    engine: stead.Engine,
    serve: Callable[[Any], FakeOpenAIServer],
    collector: Collector,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    serve(weather_script)
    gates["pass"] = False
    handle = await engine.start(traced, "Paris and Rome?")
    async with engine.worker([traced]):
        with pytest.raises(stead.RunFailed, match="fail once"):
            await handle.result(timeout=30)
    live = list(collector.events)
    collector.events.clear()

    # Let the replay's events through, to compare them with the live execution's.
    import stead.agents._tracing as tracing

    monkeypatch.setattr(tracing, "replaying", lambda runtime: False)
    gates["pass"] = True
    await engine.reopen(handle.run_id)
    async with engine.worker([traced]):
        await handle.result(timeout=30)
    replayed = collector.events

    # The same trace, span for span, except the model's own spans: a replayed model call does not call the
    # model, and stead synthesizes no span for it.
    def spans(
        events: list[tuple[str, str, str, str | None, str]],
    ) -> list[tuple[str, str, str, str | None, str]]:
        return [e for e in events if e[4] not in ("generation", "response")]

    # (Start events come in the same order; ends of concurrent tool spans may interleave differently.)
    assert [e for e in spans(replayed) if e[0] == "span_start"] == [
        e for e in spans(live) if e[0] == "span_start"
    ]
    assert sorted(map(str, spans(replayed))) == sorted(map(str, spans(live)))
    assert sum(1 for e in replayed if e[4] == "generation") == 0
    ids = [e[2] for e in live if e[0] == "span_start"]
    assert all(i.startswith("span_") and len(i) == 29 for i in ids) and len(set(ids)) == len(ids)
    assert live[0][1].startswith("trace_") and len(live[0][1]) == 38


# -- OpenTelemetry ----------------------------------------------------------------------------------------------


@pytest.fixture
def exported() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    stead.otel.instrument(provider)
    try:
        yield exporter
    finally:
        stead.otel.uninstrument()
        provider.shutdown()


@stead.workflow
async def weather(question: str) -> str:
    result = await Runner.run(weather_agent(), question)
    if not gates.get("pass", True):
        raise RuntimeError("fail once at the end")
    return str(result.final_output)


def by_name(spans: tuple[ReadableSpan, ...] | list[ReadableSpan]) -> Counter[str]:
    return Counter(span.name for span in spans)


async def test_otel_spans_per_run_model_call_and_tool_call(
    engine: stead.Engine, serve: Callable[[Any], FakeOpenAIServer], exported: InMemorySpanExporter
) -> None:
    serve(weather_script)
    gates["pass"] = False
    handle = await engine.start(weather, "Paris and Rome?")
    async with engine.worker([weather]):
        with pytest.raises(stead.RunFailed, match="fail once"):
            await handle.result(timeout=30)
    spans = exported.get_finished_spans()
    assert by_name(spans) == Counter(
        {
            "run weather": 1,
            "model · Weather · gpt-4o-mini": 2,
            "tool · get_weather": 1,
            "tool · get_forecast": 1,
        }
    )
    trace_id = stead.otel.trace_id_of(handle.run_id)
    root_id = stead.otel.run_span_id_of(handle.run_id)
    [root] = [s for s in spans if s.name == "run weather"]
    assert root.context is not None and root.parent is None
    assert (root.context.trace_id, root.context.span_id) == (trace_id, root_id)
    assert root.status.status_code is StatusCode.ERROR and "fail once" in (root.status.description or "")
    assert root.attributes is not None and root.attributes["stead.run_id"] == handle.run_id
    for span in spans:
        assert span.context is not None and span.context.trace_id == trace_id
        if span is not root:
            assert span.parent is not None and span.parent.span_id == root_id
            assert span.attributes is not None and span.attributes["stead.run_id"] == handle.run_id
    models = sorted((s for s in spans if s.name.startswith("model")), key=lambda s: s.start_time or 0)
    usage = [(s.attributes or {}).get("gen_ai.usage.input_tokens") for s in models]
    assert usage == [100, 130]
    first = models[0].attributes or {}
    assert first["gen_ai.request.model"] == "gpt-4o-mini" and first["gen_ai.agent.name"] == "Weather"
    assert first["gen_ai.usage.output_tokens"] == 9
    assert first["stead.cost_usd"] == pytest.approx((100 * 0.15 + 9 * 0.60) / 1e6)
    tools = {(s.attributes or {})["gen_ai.tool.name"]: s for s in spans if s.name.startswith("tool")}
    assert set(tools) == {"get_weather", "get_forecast"}
    assert all(
        str((s.attributes or {}).get("gen_ai.tool.call.id", "")).startswith("call_") for s in tools.values()
    )

    # Reopened, the run replays every step from the journal: no span is exported again.
    exported.clear()
    gates["pass"] = True
    await engine.reopen(handle.run_id)
    async with engine.worker([weather]):
        await handle.result(timeout=30)
    assert exported.get_finished_spans() == ()


async def test_otel_retried_attempts_are_spans_and_a_finished_run_is_ok(
    engine: stead.Engine, serve: Callable[[Any], FakeOpenAIServer], exported: InMemorySpanExporter
) -> None:
    serve([Fault(500, message="upstream broke"), Reply(Text("fine"), usage=Usage(10, 1))])
    handle = await engine.start(simple, "hi")
    async with engine.worker([simple]):
        assert await handle.result(timeout=30) == "fine"
    spans = sorted(exported.get_finished_spans(), key=lambda s: s.start_time or 0)
    assert [s.name for s in spans if s.name.startswith("model")] == ["model · Simple · gpt-4o-mini"] * 2
    failed, succeeded = [s for s in spans if s.name.startswith("model")]
    assert failed.status.status_code is StatusCode.ERROR and "upstream broke" in (
        failed.status.description or ""
    )
    assert (failed.attributes or {})["stead.step.attempt"] == 1 and (succeeded.attributes or {})[
        "stead.step.attempt"
    ] == 2
    [root] = [s for s in spans if s.name == "run simple"]
    assert root.status.status_code is StatusCode.UNSET


@stead.workflow
async def simple(prompt: str) -> str:
    agent = Agent(name="Simple", instructions="Be brief.", model="gpt-4o-mini")
    return str((await Runner.run(agent, prompt)).final_output)
