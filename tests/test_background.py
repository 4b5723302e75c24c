"""Background mode: the fake server's ``background: true`` and retrieval, and stead's model calls through it."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from agents import ModelSettings, ModelTracing
from agents.models.openai_chatcompletions import OpenAIChatCompletionsModel
from agents.models.openai_responses import OpenAIResponsesModel
from openai import AsyncOpenAI, BadRequestError, NotFoundError
from openai.types.responses import ResponseCompletedEvent, ResponseCreatedEvent

from stead import UsageError
from stead.agents import MODEL_CALLS, response_to_json
from stead.agents._background import background_events, background_model, background_response
from stead.agents._stream import assembled_response
from stead.testing import FakeOpenAIServer, Gated, Reply, Text, ToolCall

ARGS: tuple[Any, ...] = ("Be brief.", "hi", ModelSettings(), [], None, [], ModelTracing.DISABLED)
KWARGS: dict[str, Any] = {"previous_response_id": None, "conversation_id": None, "prompt": None}


def client_of(server: FakeOpenAIServer) -> AsyncOpenAI:
    return AsyncOpenAI(base_url=server.base_url, api_key="test", max_retries=0)


async def test_fake_server_background_create_then_retrieve() -> None:
    gate = threading.Event()
    with FakeOpenAIServer([Gated(gate, "done at last")]) as server:
        async with client_of(server) as client:
            created = await client.responses.create(
                model="gpt-4o-mini", input="hi", background=True, store=True
            )
            assert created.status == "queued" and created.output == []
            polled = await client.responses.retrieve(created.id)
            assert polled.status == "in_progress"
            gate.set()
            done = await client.responses.retrieve(created.id)
            assert done.status == "completed" and done.output_text == "done at last"
            with pytest.raises(NotFoundError):
                await client.responses.retrieve("resp_unknown")
        assert server.background.retrievals == {created.id: 2}
        assert len(server.requests) == 1  # one create; retrievals are not API requests


async def test_fake_server_background_stream_resumes_after_a_sequence_number() -> None:
    gate = threading.Event()
    with FakeOpenAIServer([Gated(gate, Reply(Text("one two three")))]) as server:
        async with client_of(server) as client:
            stream = await client.responses.create(
                model="gpt-4o-mini", input="hi", background=True, store=True, stream=True
            )
            first = [await anext(aiter(stream)) for _ in range(2)]
            await stream.close()  # the worker died here: the response goes on at the provider
            assert [e.type for e in first] == ["response.created", "response.in_progress"]
            assert isinstance(first[0], ResponseCreatedEvent)
            gate.set()
            resumed = await client.responses.retrieve(first[0].response.id, stream=True, starting_after=1)
            events = [event async for event in resumed]
        assert events[0].sequence_number == 2
        assert isinstance(events[-1], ResponseCompletedEvent)
        assert events[-1].response.output_text == "one two three"
        assert len(server.requests) == 1


async def test_background_needs_store() -> None:
    with FakeOpenAIServer(["x"]) as server:
        async with client_of(server) as client:
            with pytest.raises(BadRequestError, match="store"):
                await client.responses.create(model="m", input="hi", background=True, store=False)


@pytest.fixture
def background_on() -> Any:
    before = MODEL_CALLS.background, MODEL_CALLS.background_poll
    MODEL_CALLS.background, MODEL_CALLS.background_poll = True, 0.05
    yield
    MODEL_CALLS.background, MODEL_CALLS.background_poll = before


@pytest.mark.parametrize("streamed", [False, True], ids=["polled", "streamed"])
async def test_background_call_returns_what_a_plain_call_returns(background_on: None, streamed: bool) -> None:
    reply = Reply(Text("Checking."), ToolCall("get_weather", {"city": "Oslo"}))
    with FakeOpenAIServer([reply]) as plain_server, FakeOpenAIServer([reply]) as background_server:
        async with client_of(plain_server) as a, client_of(background_server) as b:
            plain = await OpenAIResponsesModel("gpt-4o-mini", a).get_response(*ARGS, **KWARGS)
            model = background_model(OpenAIResponsesModel("gpt-4o-mini", b), ARGS[2])
            assert model is not None
            if streamed:
                events = background_events(model, ARGS, KWARGS)
                got = await assembled_response(model, ARGS, KWARGS, 10.0, events)
            else:
                got = await background_response(model, ARGS, KWARGS)
        body = background_server.requests[0].body
        assert body["background"] is True and body["store"] is True
    assert response_to_json(got) == response_to_json(plain) | {"request_id": got.request_id}


async def test_background_mode_is_for_responses_models_with_stored_responses(background_on: None) -> None:
    client = AsyncOpenAI(base_url="http://127.0.0.1:9/v1", api_key="test", max_retries=0)
    try:
        assert background_model(OpenAIChatCompletionsModel("gpt-4o-mini", client), ModelSettings()) is None
        model = OpenAIResponsesModel("gpt-4o-mini", client)
        assert background_model(model, ModelSettings()) is model
        with pytest.raises(UsageError, match="store=True"):
            await background_response(
                model, ("x", "hi", ModelSettings(store=False), [], None, [], None), KWARGS
            )
    finally:
        await client.close()
    MODEL_CALLS.background = False
    assert background_model(model, ModelSettings()) is None
    assert background_model(model, ModelSettings(extra_args={"background": True})) is model
