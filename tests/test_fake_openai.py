"""Tests for stead.testing.FakeOpenAIServer against the real openai client and Agents SDK."""

from __future__ import annotations

import asyncio
import json
import os
import resource
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import agents
import openai
import pytest
from agents import Agent, ModelSettings, Runner, function_tool
from agents.models.openai_chatcompletions import OpenAIChatCompletionsModel
from agents.models.openai_responses import OpenAIResponsesModel
from openai import AsyncOpenAI

from stead.testing import (
    Drop,
    DropMidStream,
    FakeOpenAIServer,
    FakeRequest,
    Fault,
    Reply,
    ReplyLike,
    Slow,
    Text,
    ToolCall,
    ToolOutput,
    Usage,
    load_script,
)
from stead.testing import _fake_openai as fake_module

from . import procs


@asynccontextmanager
async def client_for(srv: FakeOpenAIServer, **kwargs: Any) -> AsyncIterator[AsyncOpenAI]:
    kwargs.setdefault("max_retries", 0)
    async with AsyncOpenAI(base_url=srv.base_url, api_key="fake", **kwargs) as client:
        yield client


@pytest.fixture(autouse=True)
def _no_tracing() -> None:
    agents.set_tracing_disabled(True)


# --------------------------------------------------------------------------- #
# Responses API
# --------------------------------------------------------------------------- #


async def test_responses_text_non_streaming() -> None:
    with FakeOpenAIServer(["hello there"]) as srv:
        async with client_for(srv) as client:
            resp = await client.responses.create(model="m1", instructions="be nice", input="say hi please")
    assert resp.output_text == "hello there"
    assert resp.status == "completed"
    assert resp.model == "m1"
    assert resp.usage is not None
    assert resp.usage.input_tokens == 5  # "be nice" + "say hi please"
    assert resp.usage.output_tokens == 2
    assert resp.usage.total_tokens == 7
    assert resp.usage.input_tokens_details.cached_tokens == 0
    assert resp.usage.output_tokens_details.reasoning_tokens == 0
    assert srv.base_url.startswith("http://127.0.0.1:") and srv.base_url.endswith("/v1")
    [req] = srv.requests
    assert (req.api, req.model, req.stream, req.path) == ("responses", "m1", False, "/v1/responses")
    assert req.instructions == "be nice" and req.input_text == "say hi please"
    assert srv.completed == 1 and srv.counts == {"/v1/responses": 1} and srv.remaining == 0


async def test_responses_streaming_event_sequence() -> None:
    with FakeOpenAIServer([Reply(Text("one two three"), usage=Usage(11, 3))]) as srv:
        async with client_for(srv) as client:
            stream = await client.responses.create(model="m", input="go", stream=True)
            events = [event async for event in stream]
    types = [e.type for e in events]
    assert types == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert [e.sequence_number for e in events] == list(range(len(events)))
    deltas = [e.delta for e in events if e.type == "response.output_text.delta"]
    assert "".join(deltas) == "one two three"
    completed = events[-1]
    assert completed.type == "response.completed"
    assert completed.response.output_text == "one two three"
    assert completed.response.usage is not None
    assert (completed.response.usage.input_tokens, completed.response.usage.output_tokens) == (11, 3)
    assert srv.requests[0].stream is True and srv.completed == 1


async def test_responses_tool_calls_streaming_and_not() -> None:
    script: list[ReplyLike] = [
        Reply(ToolCall("add", {"a": 1, "b": 2}), ToolCall("mul", '{"a": 3}', call_id="explicit")),
        Reply(ToolCall("add", {"a": 5})),
    ]
    with FakeOpenAIServer(script) as srv:
        async with client_for(srv) as client:
            resp = await client.responses.create(model="m", input="x")
            stream = await client.responses.create(model="m", input="x", stream=True)
            events = [event async for event in stream]
    calls = [item for item in resp.output if item.type == "function_call"]
    assert [(c.name, json.loads(c.arguments), c.call_id) for c in calls] == [
        ("add", {"a": 1, "b": 2}, "call_fake_1"),
        ("mul", {"a": 3}, "explicit"),
    ]
    types = [e.type for e in events]
    assert types[:3] == ["response.created", "response.in_progress", "response.output_item.added"]
    assert "response.function_call_arguments.delta" in types
    assert types[-3:] == [
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.completed",
    ]
    added = events[2]
    assert added.type == "response.output_item.added" and added.item.type == "function_call"
    deltas = "".join(e.delta for e in events if e.type == "response.function_call_arguments.delta")
    assert json.loads(deltas) == {"a": 5}
    final = events[-1]
    assert final.type == "response.completed"
    [call] = final.response.output
    assert call.type == "function_call" and call.call_id == "call_fake_2"


# --------------------------------------------------------------------------- #
# Chat Completions
# --------------------------------------------------------------------------- #


async def test_chat_non_streaming_text_and_tool_calls() -> None:
    with FakeOpenAIServer(["plain answer", ToolCall("lookup", {"q": "x"})]) as srv:
        async with client_for(srv) as client:
            messages: Any = [{"role": "system", "content": "sys prompt"}, {"role": "user", "content": "hi"}]
            first = await client.chat.completions.create(model="c", messages=messages)
            second = await client.chat.completions.create(model="c", messages=messages)
    assert first.choices[0].message.content == "plain answer"
    assert first.choices[0].finish_reason == "stop"
    assert first.usage is not None and first.usage.prompt_tokens == 3 and first.usage.completion_tokens == 2
    tool_calls = second.choices[0].message.tool_calls
    assert second.choices[0].finish_reason == "tool_calls" and tool_calls
    call = tool_calls[0]
    assert call.type == "function"
    assert (call.id, call.function.name, json.loads(call.function.arguments)) == (
        "call_fake_1",
        "lookup",
        {"q": "x"},
    )
    assert [r.api for r in srv.requests] == ["chat", "chat"]
    assert srv.requests[0].instructions == "sys prompt" and srv.requests[0].input_text == "hi"


async def test_chat_streaming_with_usage_and_tool_calls() -> None:
    script: list[ReplyLike] = [
        "alpha beta",
        Reply(Text("calling"), ToolCall("f", {"x": 1}), ToolCall("g", {})),
    ]
    with FakeOpenAIServer(script) as srv:
        async with client_for(srv) as client:
            stream = await client.chat.completions.create(
                model="c",
                messages=[{"role": "user", "content": "hi"}],
                stream=True,
                stream_options={"include_usage": True},
            )
            chunks = [chunk async for chunk in stream]
            stream2 = await client.chat.completions.create(
                model="c", messages=[{"role": "user", "content": "hi"}], stream=True
            )
            chunks2 = [chunk async for chunk in stream2]

    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "alpha beta"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == 2

    # Without include_usage there is no usage chunk.
    assert all(c.usage is None for c in chunks2)
    assert chunks2[-1].choices[0].finish_reason == "tool_calls"
    assert "".join(c.choices[0].delta.content or "" for c in chunks2) == "calling"
    calls: dict[int, dict[str, str]] = {}
    for chunk in chunks2:
        for tc in chunk.choices[0].delta.tool_calls or []:
            entry = calls.setdefault(tc.index, {"id": "", "name": "", "arguments": ""})
            entry["id"] += tc.id or ""
            if tc.function:
                entry["name"] += tc.function.name or ""
                entry["arguments"] += tc.function.arguments or ""
    assert calls == {
        0: {"id": "call_fake_1", "name": "f", "arguments": '{"x": 1}'},
        1: {"id": "call_fake_2", "name": "g", "arguments": "{}"},
    }
    assert srv.completed == 2


# --------------------------------------------------------------------------- #
# Faults
# --------------------------------------------------------------------------- #


async def test_rate_limit_fault_surfaces_retry_after() -> None:
    with FakeOpenAIServer([Fault(429, {"Retry-After": "2"}, message="slow down")]) as srv:
        async with client_for(srv) as client:
            with pytest.raises(openai.RateLimitError) as info:
                await client.responses.create(model="m", input="x")
    err = info.value
    assert err.status_code == 429
    assert err.response.headers["retry-after"] == "2"
    assert err.code == "rate_limit_exceeded"
    assert "slow down" in err.message
    assert srv.completed == 0 and len(srv.requests) == 1


async def test_server_error_and_custom_body() -> None:
    script: list[ReplyLike] = [Fault(500), Fault(503, body={"error": {"message": "custom", "code": "x"}})]
    with FakeOpenAIServer(script) as srv:
        async with client_for(srv) as client:
            with pytest.raises(openai.InternalServerError) as first:
                await client.chat.completions.create(model="c", messages=[{"role": "user", "content": "x"}])
            with pytest.raises(openai.InternalServerError) as second:
                await client.responses.create(model="m", input="x", stream=True)
    assert first.value.status_code == 500
    assert second.value.status_code == 503 and "custom" in second.value.message


async def test_drop_is_a_connection_error_and_server_keeps_serving() -> None:
    with FakeOpenAIServer([Drop(), "after the drop"]) as srv:
        async with client_for(srv) as client:
            with pytest.raises(openai.APIConnectionError):
                await client.responses.create(model="m", input="x")
            resp = await client.responses.create(model="m", input="x")
    assert resp.output_text == "after the drop"
    assert len(srv.requests) == 2 and srv.completed == 1


def test_a_burst_of_connections_waits_in_the_listen_queue() -> None:
    """A thousand concurrent runs connect at once: the connections wait to be accepted, none is refused."""
    with FakeOpenAIServer(["unused"]) as srv:
        httpd = srv._httpd
        assert httpd is not None
        sockets: list[socket.socket] = []
        try:
            with httpd._tracking_lock:  # the server thread accepts nothing meanwhile
                for _ in range(200):
                    sockets.append(socket.create_connection(("127.0.0.1", srv.port), timeout=2))
        finally:
            for sock in sockets:
                sock.close()
        assert len(sockets) == 200


async def test_a_slow_answer_on_a_descriptor_past_1024() -> None:
    """A busy server's connections get descriptors past 1,024, where select() cannot look: it still answers."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 1_400
    if soft < wanted:
        if hard != resource.RLIM_INFINITY and hard < wanted:
            pytest.skip(f"this machine allows {hard} open files, fewer than {wanted}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    pipes = [os.pipe() for _ in range(600)]  # the next descriptors are past 1,024
    try:
        with FakeOpenAIServer([Slow(0.05, "late but there")]) as srv:
            async with client_for(srv) as client:
                resp = await client.responses.create(model="m", input="x")
        assert resp.output_text == "late but there"
    finally:
        for read, write in pipes:
            os.close(read)
            os.close(write)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


async def test_slow_reply_times_out_client_and_stop_is_prompt() -> None:
    srv = FakeOpenAIServer([Slow(30, "too late")]).start()
    try:
        async with client_for(srv, timeout=0.3) as client:
            with pytest.raises(openai.APITimeoutError):
                await client.responses.create(model="m", input="x")
    finally:
        started = time.monotonic()
        srv.stop()
        assert time.monotonic() - started < 5  # the 30 s wait was cut short
    assert srv.completed == 0


async def test_slow_reply_arrives_after_delay() -> None:
    with FakeOpenAIServer([Slow(0.3, "eventually", chunk_delay=0.02)]) as srv:
        async with client_for(srv) as client:
            started = time.monotonic()
            stream = await client.responses.create(model="m", input="x", stream=True)
            events = [event async for event in stream]
            assert time.monotonic() - started >= 0.3
    assert events[-1].type == "response.completed" and srv.completed == 1


@pytest.mark.parametrize("api", ["responses", "chat"])
async def test_drop_mid_stream(api: str) -> None:
    with FakeOpenAIServer([DropMidStream(3, "a b c d e f g h")]) as srv:
        async with client_for(srv) as client:
            received: list[Any] = []
            with pytest.raises(openai.APIConnectionError):
                if api == "responses":
                    stream: Any = await client.responses.create(model="m", input="x", stream=True)
                else:
                    stream = await client.chat.completions.create(
                        model="c", messages=[{"role": "user", "content": "x"}], stream=True
                    )
                async for event in stream:
                    received.append(event)
    assert len(received) == 3
    assert srv.completed == 0


async def test_drop_mid_stream_non_streaming_request() -> None:
    with FakeOpenAIServer([DropMidStream(1, "some answer")]) as srv:
        async with client_for(srv) as client:
            with pytest.raises(openai.APIConnectionError):
                await client.responses.create(model="m", input="x")


async def test_script_exhausted_answers_500() -> None:
    with FakeOpenAIServer(["only one"]) as srv:
        async with client_for(srv) as client:
            await client.responses.create(model="m", input="x")
            with pytest.raises(openai.InternalServerError) as info:
                await client.responses.create(model="m", input="x")
    assert "fake server script exhausted" in info.value.message
    assert len(srv.errors) == 1 and "fake server script exhausted" in srv.errors[0]


async def test_retry_spacing_is_recorded() -> None:
    with FakeOpenAIServer([Fault(429, {"retry-after-ms": "300"}), "ok"]) as srv:
        async with client_for(srv, max_retries=1) as client:
            resp = await client.responses.create(model="m", input="x")
    assert resp.output_text == "ok"
    first, second = srv.request_times
    assert second - first >= 0.29


# --------------------------------------------------------------------------- #
# Callable responders, FakeRequest helpers, JSON scripts
# --------------------------------------------------------------------------- #


def test_fake_request_helpers_for_both_apis() -> None:
    responses = FakeRequest(
        path="/v1/responses",
        api="responses",
        headers={},
        body={
            "model": "m",
            "instructions": "You are a calculator",
            "tools": [{"type": "function", "name": "add", "parameters": {}}, {"type": "web_search"}],
            "input": [
                {"role": "user", "content": "old question"},
                {"type": "function_call", "call_id": "c0", "name": "add", "arguments": "{}"},
                {"type": "function_call_output", "call_id": "c0", "output": "old"},
                {"role": "user", "content": [{"type": "input_text", "text": "add 1 and 2"}]},
                {"type": "function_call", "call_id": "c1", "name": "add", "arguments": '{"a": 1}'},
                {"type": "function_call_output", "call_id": "c1", "output": "3"},
            ],
        },
    )
    assert responses.instructions == "You are a calculator"
    assert responses.input_text == "add 1 and 2"
    assert responses.last_tool_outputs == [ToolOutput("c1", "3", "add")]
    assert [o.call_id for o in responses.tool_outputs] == ["c0", "c1"]
    assert responses.tool_names == ["add", "web_search"]
    assert responses.stream is False and responses.model == "m"

    chat = FakeRequest(
        path="/v1/chat/completions",
        api="chat",
        headers={},
        body={
            "model": "c",
            "stream": True,
            "tools": [{"type": "function", "function": {"name": "add", "parameters": {}}}],
            "messages": [
                {"role": "system", "content": "You are a calculator"},
                {"role": "user", "content": "add 1 and 2"},
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {"id": "c1", "type": "function", "function": {"name": "add", "arguments": "{}"}}
                    ],
                },
                {"role": "tool", "tool_call_id": "c1", "content": "3"},
            ],
        },
    )
    assert chat.instructions == "You are a calculator"
    assert chat.input_text == "add 1 and 2"
    assert chat.last_tool_outputs == [ToolOutput("c1", "3", "add")]
    assert chat.tool_names == ["add"] and chat.stream is True


async def test_callable_responder_sees_requests() -> None:
    def responder(request: FakeRequest) -> ReplyLike:
        return f"{request.api}:{request.input_text}"

    with FakeOpenAIServer(responder) as srv:
        async with client_for(srv) as client:
            resp = await client.responses.create(model="m", input="ping")
            chat = await client.chat.completions.create(
                model="c", messages=[{"role": "user", "content": "pong"}]
            )
    assert resp.output_text == "responses:ping"
    assert chat.choices[0].message.content == "chat:pong"
    assert srv.remaining is None


async def test_responder_exception_answers_500() -> None:
    def responder(request: FakeRequest) -> ReplyLike:
        raise RuntimeError("bad rule")

    with FakeOpenAIServer(responder) as srv:
        async with client_for(srv) as client:
            with pytest.raises(openai.InternalServerError) as info:
                await client.responses.create(model="m", input="x")
    assert "bad rule" in info.value.message and "bad rule" in srv.errors[0]


def test_load_script_list_form() -> None:
    script = load_script(
        [
            "plain",
            {"text": "hi"},
            {
                "tool_calls": [{"name": "f", "arguments": {"x": 1}, "call_id": "c"}],
                "usage": {"input_tokens": 1, "output_tokens": 2},
            },
            {"fault": 429, "headers": {"Retry-After": "1"}},
            {"drop": True},
            {"text": "long", "drop_after_chunks": 2},
            {"text": "late", "delay": 1.5},
        ]
    )
    assert isinstance(script, list)
    assert script == [
        Reply(Text("plain")),
        Reply(Text("hi")),
        Reply(ToolCall("f", {"x": 1}, "c"), usage=Usage(1, 2)),
        Fault(429, {"Retry-After": "1"}),
        Drop(),
        DropMidStream(2, Reply(Text("long"))),
        Slow(1.5, Reply(Text("late"))),
    ]
    with pytest.raises(ValueError, match="unknown keys"):
        load_script([{"txt": "typo"}])
    with pytest.raises(ValueError, match="unknown keys"):
        load_script({"rules": [{"match": {"input_has": "x"}, "reply": "y"}]})
    with pytest.raises(TypeError):
        FakeOpenAIServer("not a list")


async def test_rules_script_with_parallel_agents() -> None:
    """Rule-based answers for agents running concurrently (arrival order is not deterministic)."""
    responder = load_script(
        {
            "rules": [
                {
                    "match": {"instructions_contains": "weather", "has_tool_output": False},
                    "reply": {"tool_calls": [{"name": "get_weather", "arguments": {"city": "Paris"}}]},
                },
                {"match": {"instructions_contains": "weather"}, "reply": {"text": "It is sunny."}},
                {"match": {"instructions_contains": "poet"}, "reply": {"text": "Roses are red."}},
            ]
        }
    )

    @function_tool
    def get_weather(city: str) -> str:
        """Weather for a city."""
        return f"sunny in {city}"

    with FakeOpenAIServer(responder) as srv:
        async with client_for(srv) as client:
            model = OpenAIResponsesModel(model="fake", openai_client=client)
            weather = Agent(
                name="w", instructions="You report the weather.", model=model, tools=[get_weather]
            )
            poet = Agent(name="p", instructions="You are a poet.", model=model)
            results = await asyncio.gather(
                Runner.run(weather, "weather?"),
                Runner.run(poet, "poem?"),
                Runner.run(weather, "weather again?"),
            )
    assert [r.final_output for r in results] == ["It is sunny.", "Roses are red.", "It is sunny."]
    assert len(srv.requests) == 5 and srv.completed == 5 and srv.errors == []
    tool_turns = [r for r in srv.requests if r.last_tool_outputs]
    assert [o.output for r in tool_turns for o in r.last_tool_outputs] == ["sunny in Paris"] * 2


# --------------------------------------------------------------------------- #
# OpenAI Agents SDK
# --------------------------------------------------------------------------- #


@function_tool
def add(a: int, b: int) -> int:
    """Add two numbers."""
    return a + b


def _agent_script() -> list[ReplyLike]:
    return [ToolCall("add", {"a": 2, "b": 3}), "The sum is 5."]


def _check_agent_requests(srv: FakeOpenAIServer) -> None:
    first, second = srv.requests
    assert first.instructions == "You add numbers."
    assert first.tool_names == ["add"]
    assert first.input_text == "What is 2 + 3?" and first.last_tool_outputs == []
    [output] = second.last_tool_outputs
    assert (output.name, output.output, output.call_id) == ("add", "5", "call_fake_1")


async def test_agents_runner_with_responses_model() -> None:
    with FakeOpenAIServer(_agent_script()) as srv:
        async with client_for(srv) as client:
            agent = Agent(
                name="adder",
                instructions="You add numbers.",
                model=OpenAIResponsesModel(model="fake", openai_client=client),
                tools=[add],
            )
            result = await Runner.run(agent, "What is 2 + 3?")
    assert result.final_output == "The sum is 5."
    assert [r.api for r in srv.requests] == ["responses", "responses"]
    _check_agent_requests(srv)
    assert result.context_wrapper.usage.requests == 2
    assert result.context_wrapper.usage.input_tokens > 0


async def test_agents_runner_with_chat_completions_model() -> None:
    with FakeOpenAIServer(_agent_script()) as srv:
        async with client_for(srv) as client:
            agent = Agent(
                name="adder",
                instructions="You add numbers.",
                model=OpenAIChatCompletionsModel(model="fake", openai_client=client),
                tools=[add],
            )
            result = await Runner.run(agent, "What is 2 + 3?")
    assert result.final_output == "The sum is 5."
    assert [r.api for r in srv.requests] == ["chat", "chat"]
    _check_agent_requests(srv)


@pytest.mark.parametrize("model_kind", ["responses", "chat"])
async def test_agents_run_streamed(model_kind: str) -> None:
    with FakeOpenAIServer(_agent_script()) as srv:
        async with client_for(srv) as client:
            model: Any = (
                OpenAIResponsesModel(model="fake", openai_client=client)
                if model_kind == "responses"
                else OpenAIChatCompletionsModel(model="fake", openai_client=client)
            )
            agent = Agent(
                name="adder",
                instructions="You add numbers.",
                model=model,
                tools=[add],
                model_settings=ModelSettings(include_usage=True),
            )
            result = Runner.run_streamed(agent, "What is 2 + 3?")
            kinds: list[str] = []
            text_deltas: list[str] = []
            async for event in result.stream_events():
                kinds.append(event.type)
                if event.type == "raw_response_event" and event.data.type == "response.output_text.delta":
                    text_deltas.append(event.data.delta)
    assert result.final_output == "The sum is 5."
    assert "".join(text_deltas) == "The sum is 5."
    assert "run_item_stream_event" in kinds and "raw_response_event" in kinds
    assert all(r.stream for r in srv.requests) and srv.completed == 2
    _check_agent_requests(srv)


# --------------------------------------------------------------------------- #
# Separate process
# --------------------------------------------------------------------------- #


def _subprocess_env() -> dict[str, str]:
    src = str(Path(fake_module.__file__).resolve().parents[2])
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH")) if p)
    return env


def test_subprocess_mode(tmp_path: Path) -> None:
    script = tmp_path / "script.json"
    script.write_text(
        json.dumps([{"text": "from another process"}, {"fault": 429, "headers": {"Retry-After": "1"}}])
    )
    log = tmp_path / "calls.jsonl"
    with procs.popen(
        [
            sys.executable,
            "-m",
            "stead.testing.fake_openai",
            "--port",
            "0",
            "--script",
            str(script),
            "--log",
            str(log),
        ],
        stdout=subprocess.PIPE,
        text=True,
        env=_subprocess_env(),
    ) as proc:
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline().strip()
            assert line.startswith("READY http://127.0.0.1:") and line.endswith("/v1")
            base_url = line.split(" ", 1)[1]
            with openai.OpenAI(base_url=base_url, api_key="fake", max_retries=0) as client:
                resp = client.responses.create(model="m", input="x")
                with pytest.raises(openai.RateLimitError):
                    client.chat.completions.create(model="c", messages=[{"role": "user", "content": "x"}])
        finally:
            proc.terminate()
            returncode = proc.wait(timeout=10)
    assert resp.output_text == "from another process"
    assert returncode == 0
    entries = [json.loads(line) for line in log.read_text().splitlines()]
    assert [(e["api"], e["model"], e["stream"], e["status"]) for e in entries] == [
        ("responses", "m", False, 200),
        ("chat", "c", False, 429),
    ]


def test_in_process_log_file(tmp_path: Path) -> None:
    log = tmp_path / "calls.jsonl"
    with (
        FakeOpenAIServer(["a"], log_path=log) as srv,
        openai.OpenAI(base_url=srv.base_url, api_key="fake", max_retries=0) as client,
    ):
        events = list(client.responses.create(model="m", input="x", stream=True))
    assert events[-1].type == "response.completed"
    assert srv.requests[0].stream
    [entry] = [json.loads(line) for line in log.read_text().splitlines()]
    assert entry["stream"] is True and entry["status"] == 200
