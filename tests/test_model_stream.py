"""A plain model call streamed under the hood journals exactly what ``get_response`` returns."""

from __future__ import annotations

from typing import Any

import pytest
from agents import Model, ModelSettings, ModelTracing
from agents.models.openai_chatcompletions import OpenAIChatCompletionsModel
from agents.models.openai_responses import OpenAIResponsesModel
from openai import AsyncOpenAI

from stead.agents import response_to_json
from stead.agents._stream import assembled_response, streams_alike
from stead.testing import FakeOpenAIServer, Reply, Text, ToolCall, Usage

REPLIES = [
    Reply(Text("Hello there, world.")),
    Reply(ToolCall("get_weather", {"city": "Paris"})),
    Reply(
        Text("Checking."),
        ToolCall("get_weather", {"city": "Oslo"}),
        usage=Usage(input_tokens=11, output_tokens=7),
    ),
]


def model_of(kind: type[Model], server: FakeOpenAIServer) -> Any:
    client = AsyncOpenAI(base_url=server.base_url, api_key="test", max_retries=0)
    return kind(model="gpt-4o-mini", openai_client=client)  # type: ignore[call-arg]


@pytest.mark.parametrize("kind", [OpenAIChatCompletionsModel, OpenAIResponsesModel])
@pytest.mark.parametrize("reply", REPLIES, ids=["text", "tool", "both"])
async def test_streamed_and_assembled_equals_get_response(kind: type[Model], reply: Reply) -> None:
    args: tuple[Any, ...] = ("Be brief.", "hi", ModelSettings(), [], None, [], ModelTracing.DISABLED)
    kwargs: dict[str, Any] = {"previous_response_id": None, "conversation_id": None, "prompt": None}
    # Two servers with the same script, so that the ids they make up are the same too.
    with FakeOpenAIServer([reply]) as plain_server, FakeOpenAIServer([reply]) as streaming_server:
        asking = model_of(kind, plain_server)
        streaming = model_of(kind, streaming_server)
        try:
            plain = await asking.get_response(*args, **kwargs)
            assert streams_alike(streaming, args[2])
            assembled = await assembled_response(streaming, args, kwargs, idle=10.0)
        finally:
            await asking._client.close()
            await streaming._client.close()
        assert streaming_server.requests[0].stream
    assert assembled == plain
    assert response_to_json(assembled) == response_to_json(plain)


class Custom(OpenAIChatCompletionsModel):
    async def get_response(self, *args: Any, **kwargs: Any) -> Any:
        return await super().get_response(*args, **kwargs)


async def test_models_whose_paths_may_differ_are_not_streamed() -> None:
    client = AsyncOpenAI(base_url="http://127.0.0.1:9/v1", api_key="test", max_retries=0)
    try:
        model = OpenAIChatCompletionsModel(model="gpt-4o-mini", openai_client=client)
        assert streams_alike(model, ModelSettings())
        assert not streams_alike(model, ModelSettings(preserve_raw_usage=True))
        assert not streams_alike(model, ModelSettings(top_logprobs=2))
        assert not streams_alike(Custom(model="gpt-4o-mini", openai_client=client), ModelSettings())
    finally:
        await client.close()
