"""What a model or tool call is made of and returns, shared by the workflow side and the worker side.

A model call is a :class:`ModelRequest`; its journaled result is the ``ModelResponse`` as JSON (dumped with
aliases and only the fields that were set, the one lossless round trip), or for a streamed call the completed
``Response`` as JSON. :func:`call_model` makes the call and returns that JSON, wherever the step runs: in the
workflow's process (the embedded engine) or in the remote model handler on another worker (Temporal).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from agents import Model, ModelResponse, ModelSettings, ModelTracing
from agents.agent_output import AgentOutputSchemaBase
from agents.exceptions import ModelBehaviorError
from agents.handoffs import Handoff
from agents.items import ItemHelpers
from agents.tool import Tool
from openai.types.responses import ResponseCompletedEvent, ResponseOutputMessage, ResponseTextDeltaEvent
from pydantic import TypeAdapter

from .. import _serde
from .._events import emit, watched
from .._exceptions import SerializationError
from ._background import background_events, background_model, background_response
from ._stream import MODEL_CALLS, assembled_response, idle_guarded, streams_alike

__all__ = [
    "ModelRequest",
    "call_model",
    "check_final_output",
    "model_name_of",
    "normalize_tool_output",
    "response_from_json",
    "response_to_json",
]

_RESPONSE = TypeAdapter(ModelResponse)


def response_to_json(response: ModelResponse) -> Any:
    return _RESPONSE.dump_python(response, mode="json", by_alias=True, exclude_unset=True)


def response_from_json(data: Any) -> ModelResponse:
    return _RESPONSE.validate_python(data)


def model_name_of(model: Model) -> str:
    """The model's name as steps show it ("gpt-4o-mini"), else its class name."""
    for attr in ("model", "model_name", "name"):
        value = getattr(model, attr, None)
        if isinstance(value, str):
            return value
    return type(model).__name__


@dataclass
class ModelRequest:
    """The arguments of one ``Model.get_response`` / ``stream_response`` call."""

    system_instructions: str | None
    input: str | list[Any]
    model_settings: ModelSettings
    tools: list[Tool]
    output_schema: AgentOutputSchemaBase | None
    handoffs: list[Handoff]
    previous_response_id: str | None
    conversation_id: str | None
    prompt: Any
    stream: bool = False
    tracing: ModelTracing = ModelTracing.DISABLED

    def arguments(self) -> tuple[tuple[Any, ...], dict[str, Any]]:
        """The request as the arguments of ``Model.get_response`` / ``stream_response``."""
        positional = (
            self.system_instructions,
            self.input,
            self.model_settings,
            self.tools,
            self.output_schema,
            self.handoffs,
            self.tracing,
        )
        keywords = {
            "previous_response_id": self.previous_response_id,
            "conversation_id": self.conversation_id,
            "prompt": self.prompt,
        }
        return positional, keywords

    def fingerprint(self) -> str:
        """The request as JSON: on replay the same position must ask the model the same thing.

        It is journaled (the step's arguments): secrets in the settings are redacted, and every extra header's
        value (headers carry credentials), so that a rotated key is no divergence either.
        """
        settings = self.model_settings.to_json_dict()
        if settings.get("extra_headers"):
            settings["extra_headers"] = {name: _serde.REDACTED for name in settings["extra_headers"]}
        request = {
            "instructions": self.system_instructions,
            "input": self.input,
            "settings": _serde.redacted(settings),
            "tools": [getattr(t, "name", type(t).__name__) for t in self.tools],
            "output": self.output_schema.name() if self.output_schema is not None else None,
            "handoffs": [h.tool_name for h in self.handoffs],
            "previous_response_id": self.previous_response_id,
            "conversation_id": self.conversation_id,
        }
        return json.dumps(_serde.to_json_value(request, "the model request"), sort_keys=True, default=str)


async def call_model(model: Model, request: ModelRequest) -> Any:
    """Call ``model``; return what a model step journals (tokens go out as ``text`` events for watchers).

    A plain call streams under the hood when the model's stream assembles into what ``get_response`` returns
    (``MODEL_CALLS.stream_tokens``) and somebody may watch the tokens (``stead._events.watched``: a run nobody
    follows asks with ``get_response``, as the SDK does, since the tokens would reach nobody). An answer the SDK
    will reject (``ModelBehaviorError``: a final output that is not valid for the agent's ``output_type``) fails
    the step at once, so that ``stead resume`` asks again.
    """
    args, kwargs = request.arguments()
    idle = MODEL_CALLS.idle_timeout
    background = background_model(model, request.model_settings)
    if not request.stream:
        # A background call streams even unwatched: polling for its response would take longer.
        watchers = background is not None or watched()
        if MODEL_CALLS.stream_tokens and watchers and streams_alike(model, request.model_settings):
            events = None if background is None else background_events(background, args, kwargs)
            response = await assembled_response(model, args, kwargs, idle, events)
        elif background is not None:
            response = await background_response(background, args, kwargs)
        else:
            response = await model.get_response(*args, **kwargs)
        check_final_output(response.output, request.output_schema)
        return response_to_json(response)
    completed = None
    stream = (
        model.stream_response(*args, **kwargs)
        if background is None
        else background_events(background, args, kwargs)
    )
    async for event in idle_guarded(stream, idle):
        if isinstance(event, ResponseTextDeltaEvent):
            emit("text", event.delta)  # to consumers outside the worker, tagged with this attempt
        elif isinstance(event, ResponseCompletedEvent):
            completed = event.response
    if completed is None:
        raise ConnectionError("the model's stream ended without a response.completed event")
    check_final_output(completed.output, request.output_schema)
    return completed.model_dump(mode="json", by_alias=True, exclude_unset=True)


def check_final_output(output: list[Any], schema: AgentOutputSchemaBase | None) -> None:
    """Raise the SDK's ``ModelBehaviorError`` (not retried) if ``output`` ends the turn with an invalid final
    output for ``schema``, as the runner would find it: the last message's text, when no tool is called."""
    if schema is None or schema.is_plain_text():
        return
    if any(
        not isinstance(item, ResponseOutputMessage)
        for item in output
        if getattr(item, "type", "") != "reasoning"
    ):
        return  # tool calls or handoffs: not a final answer
    messages = [item for item in output if isinstance(item, ResponseOutputMessage)]
    text = ItemHelpers.extract_text(messages[-1]) if messages else None
    if not text:
        return
    try:
        schema.validate_json(text)
    except ModelBehaviorError as error:
        error.stead_retryable = False  # type: ignore[attr-defined]  # the same answer fails the same way
        raise


def normalize_tool_output(value: Any) -> Any:
    """What a tool returned, as JSON data when it can be, else as the text the SDK would send (``str(value)``)."""
    try:
        data = _serde.to_json_value(value, "a tool's output")
        json.dumps(data, allow_nan=False)
    except (SerializationError, ValueError):
        return str(value)
    return data
