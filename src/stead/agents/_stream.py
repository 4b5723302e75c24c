"""Model streams: the options of a model call, tokens for watchers from plain calls, and events rebuilt from a
journaled response.

* A plain ``Runner.run`` model call streams from the provider under the hood when the model's two paths give
  the same ``ModelResponse`` (the OpenAI Responses and Chat Completions models): watchers (``stead tail``,
  ``stead run --stream``, the dashboard) see tokens, while the journal holds what ``get_response`` returns.
* A ``Runner.run_streamed`` call journals the completed ``Response``; the workflow's consumer gets provider
  events rebuilt from it (:func:`events_of`), live and on replay alike, so code that accumulates deltas reads the
  same text every time.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

from agents import Model, ModelResponse, Usage
from agents.models.openai_chatcompletions import OpenAIChatCompletionsModel
from agents.models.openai_responses import OpenAIResponsesModel
from agents.usage import _response_usage_to_usage
from openai.types.responses import (
    Response,
    ResponseCompletedEvent,
    ResponseContentPartAddedEvent,
    ResponseContentPartDoneEvent,
    ResponseCreatedEvent,
    ResponseFunctionCallArgumentsDeltaEvent,
    ResponseFunctionCallArgumentsDoneEvent,
    ResponseFunctionToolCall,
    ResponseInProgressEvent,
    ResponseOutputItemAddedEvent,
    ResponseOutputItemDoneEvent,
    ResponseOutputMessage,
    ResponseOutputText,
    ResponseStreamEvent,
    ResponseTextDeltaEvent,
    ResponseTextDoneEvent,
)

from .._events import emit
from .._exceptions import UsageError

__all__ = [
    "MODEL_CALLS",
    "ModelCallOptions",
    "assembled_response",
    "events_of",
    "idle_guarded",
    "streams_alike",
]


def _env_seconds(name: str, default: float | None) -> float | None:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() in ("0", "none", "off"):
        return None
    try:
        value = float(raw)
    except ValueError:
        raise UsageError(f"{name}={raw!r}: give a number of seconds, or 0 for no limit") from None
    if value < 0:
        raise UsageError(f"{name}={raw!r}: give a number of seconds, or 0 for no limit")
    return value


@dataclass
class ModelCallOptions:
    """How stead makes model calls (``stead.agents.MODEL_CALLS``; change its fields, or set the environment
    variables named below before the worker starts: on Temporal the worker that runs the call reads them)."""

    timeout: float | None = dataclasses.field(
        default_factory=lambda: _env_seconds("STEAD_MODEL_TIMEOUT", 300.0)
    )
    """Seconds one attempt of a model call may take before it is abandoned and retried (None: no limit)."""

    idle_timeout: float | None = dataclasses.field(
        default_factory=lambda: _env_seconds("STEAD_MODEL_IDLE_TIMEOUT", 60.0)
    )
    """Seconds a streamed answer may send nothing before the attempt counts as hung and is retried."""

    stream_tokens: bool = dataclasses.field(
        default_factory=lambda: (
            os.environ.get("STEAD_STREAM_TOKENS", "1").lower() not in ("0", "false", "off")
        )
    )
    """Stream plain ``Runner.run`` calls from the provider so that watchers see tokens (off: ``get_response``)."""

    background: bool = dataclasses.field(
        default_factory=lambda: os.environ.get("STEAD_MODEL_BACKGROUND", "").lower() in ("1", "true", "on")
    )
    """Ask OpenAI Responses models in background mode (``background=True``, ``store=True``), keeping the response
    id as the step's progress, so that a call in flight when its worker dies is picked up, not asked (and paid)
    again. Off by default: the provider then keeps the responses (``store=True``)."""

    background_poll: float = 1.0
    """The longest wait, in seconds, between two polls of a background response (``get_response`` calls)."""


MODEL_CALLS = ModelCallOptions()


# -- tokens from plain calls ------------------------------------------------------------------------------------


def streams_alike(model: Model, settings: Any) -> bool:
    """Whether ``model``'s stream assembles into exactly what its ``get_response`` returns."""
    if settings.preserve_raw_usage or settings.top_logprobs:
        return False  # raw usage and log probabilities come back in different shapes
    kind = type(model)
    for base in (OpenAIResponsesModel, OpenAIChatCompletionsModel):
        if (
            isinstance(model, base)
            and kind.get_response is base.get_response
            and kind.stream_response is base.stream_response
        ):
            return True
    return False


async def idle_guarded(events: AsyncIterator[Any], idle: float | None) -> AsyncIterator[Any]:
    """``events``, failing with ``TimeoutError`` when the next one takes longer than ``idle`` seconds."""
    iterator = aiter(events)
    try:
        while True:
            try:
                # In this task, not wait_for's: the HTTP stream belongs to the task that opened it.
                async with asyncio.timeout(idle):
                    event = await anext(iterator)
            except StopAsyncIteration:
                return
            except TimeoutError:
                raise TimeoutError(f"the model's stream sent nothing for {idle:g}s") from None
            yield event
    finally:
        close = getattr(iterator, "aclose", None)
        if close is not None:
            await close()


async def assembled_response(
    model: Model,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    idle: float | None,
    events: AsyncIterator[Any] | None = None,
) -> ModelResponse:
    """The ``ModelResponse`` of a streamed call, built as ``get_response`` builds it; tokens go out as events.

    ``events``: the call's stream when it does not come from ``model.stream_response`` (background mode)."""
    chat = isinstance(model, OpenAIChatCompletionsModel)
    if chat:
        # Usage comes in the stream only when asked for; get_response always reports it.
        args = (args[0], args[1], dataclasses.replace(args[2], include_usage=True), *args[3:])
    done: list[Any] = []
    completed: Response | None = None
    if events is None:
        events = model.stream_response(*args, **kwargs)
    async for event in idle_guarded(events, idle):
        if isinstance(event, ResponseTextDeltaEvent):
            emit("text", event.delta)
        elif isinstance(event, ResponseOutputItemDoneEvent):
            done.append(event.item)
        elif isinstance(event, ResponseCompletedEvent):
            completed = event.response
    if completed is None:
        raise ConnectionError("the model's stream ended without a response.completed event")
    return ModelResponse(
        output=list(completed.output) or done,
        usage=_response_usage_to_usage(completed.usage) if completed.usage else Usage(requests=1),
        response_id=None if chat else completed.id,  # Chat Completions' get_response has none
        request_id=getattr(completed, "_request_id", None),
    )


# -- events rebuilt from a journaled response --------------------------------------------------------------------


_PIECE = re.compile(r"\S+\s*|\s+")


def _pieces(text: str) -> list[str]:
    """``text`` as the deltas of a stream: a word and the space after it each (the provider's own token
    boundaries are not journaled; consumers that join the deltas get the text exactly)."""
    return _PIECE.findall(text) or [text]


def events_of(response: Response) -> Iterator[ResponseStreamEvent]:
    """The provider events of ``response``, as the Responses API streams them: text deltas word by word, one
    arguments delta per function call, each item added and done, then the completed response."""
    seq = 0

    def number() -> int:
        nonlocal seq
        seq += 1
        return seq - 1

    yield ResponseCreatedEvent(
        type="response.created",
        response=response.model_copy(update={"output": [], "status": "in_progress"}),
        sequence_number=number(),
    )
    yield ResponseInProgressEvent(
        type="response.in_progress",
        response=response.model_copy(update={"output": [], "status": "in_progress"}),
        sequence_number=number(),
    )
    for index, item in enumerate(response.output):
        item_id = getattr(item, "id", None) or ""
        yield ResponseOutputItemAddedEvent(
            type="response.output_item.added", item=item, output_index=index, sequence_number=number()
        )
        if isinstance(item, ResponseOutputMessage):
            for part_index, part in enumerate(item.content):
                where: dict[str, Any] = {
                    "item_id": item_id,
                    "output_index": index,
                    "content_index": part_index,
                }
                yield ResponseContentPartAddedEvent(
                    type="response.content_part.added", part=part, sequence_number=number(), **where
                )
                if isinstance(part, ResponseOutputText):
                    for piece in _pieces(part.text):
                        yield ResponseTextDeltaEvent(
                            type="response.output_text.delta",
                            delta=piece,
                            logprobs=[],
                            sequence_number=number(),
                            **where,
                        )
                    yield ResponseTextDoneEvent(
                        type="response.output_text.done",
                        text=part.text,
                        logprobs=[],
                        sequence_number=number(),
                        **where,
                    )
                yield ResponseContentPartDoneEvent(
                    type="response.content_part.done", part=part, sequence_number=number(), **where
                )
        elif isinstance(item, ResponseFunctionToolCall):
            yield ResponseFunctionCallArgumentsDeltaEvent(
                type="response.function_call_arguments.delta",
                delta=item.arguments,
                item_id=item_id,
                output_index=index,
                sequence_number=number(),
            )
            yield ResponseFunctionCallArgumentsDoneEvent(
                type="response.function_call_arguments.done",
                arguments=item.arguments,
                item_id=item_id,
                output_index=index,
                sequence_number=number(),
            )
        yield ResponseOutputItemDoneEvent(
            type="response.output_item.done", item=item, output_index=index, sequence_number=number()
        )
    yield ResponseCompletedEvent(type="response.completed", response=response, sequence_number=number())
