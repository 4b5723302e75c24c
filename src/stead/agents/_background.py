"""Model calls in OpenAI's background mode: the tokens of a call in flight when its worker dies are not paid twice.

With ``MODEL_CALLS.background`` (``STEAD_MODEL_BACKGROUND=1``), a call of an OpenAI Responses model asks for
``background=True`` (with ``store=True``): the provider accepts it at once with a response id, which the step
keeps as its progress (``stead._events.save_progress``: the journal on the embedded engine, the activity's
heartbeat details on Temporal). The attempt that resumes the step (a retry, or a worker that took the run over
after a crash) picks that response up instead of asking again: it polls ``responses.retrieve(id)`` until the
response is done, or streams it from the event after the recorded ``sequence_number`` (``starting_after``).

A response the provider no longer has, or that failed, is forgotten, and the attempt asks again.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from typing import Any

from agents import Model, ModelResponse, ModelSettings
from agents.exceptions import ModelBehaviorError
from agents.models._response_terminal import response_terminal_failure_error
from agents.models.openai_responses import OpenAIResponsesModel, _usage_from_response
from openai import AsyncOpenAI, NotFoundError, omit
from openai.types.responses import (
    Response,
    ResponseCreatedEvent,
    ResponseFailedEvent,
    ResponseIncompleteEvent,
    ResponseStreamEvent,
)

from .._events import emit, save_progress, saved_progress
from .._exceptions import UsageError
from ._stream import MODEL_CALLS, events_of

__all__ = ["background_model", "background_events", "background_response"]

_PENDING = ("queued", "in_progress")
_FIRST_POLL = 0.1


def background_model(model: Model, settings: ModelSettings) -> OpenAIResponsesModel | None:
    """``model``, if a call of it with ``settings`` goes through background mode; else None."""
    asked = MODEL_CALLS.background or (settings.extra_args or {}).get("background") is True
    if not asked or not isinstance(model, OpenAIResponsesModel):
        return None
    kind = type(model)
    # The HTTP Responses model as the SDK ships it (not the websocket one, nor a subclass that calls otherwise).
    shipped = (
        kind._fetch_response is OpenAIResponsesModel._fetch_response
        and kind.get_response is OpenAIResponsesModel.get_response
        and kind.stream_response is OpenAIResponsesModel.stream_response
    )
    return model if shipped else None


def _background_settings(settings: ModelSettings) -> ModelSettings:
    if settings.store is False:
        raise UsageError(
            "background mode keeps the response at the provider, which needs store=True: remove "
            "ModelSettings(store=False) from this agent, or turn background mode off (STEAD_MODEL_BACKGROUND=0)"
        )
    extra = {**(settings.extra_args or {}), "background": True}
    return dataclasses.replace(settings, store=True, extra_args=extra)


def _client(model: OpenAIResponsesModel) -> AsyncOpenAI:
    return model._get_client()


async def _accepted(response_id: str, after: int | None, *, resumed: bool = False) -> None:
    """Keep the id of an accepted response for later attempts, then tell watchers (after it is durable)."""
    if not resumed:
        await save_progress({"response_id": response_id, "after": after})
    emit("background", {"response_id": response_id, "resumed": resumed})


async def _resumable(client: AsyncOpenAI) -> tuple[Response, int | None] | None:
    """The response an earlier attempt of this step had the provider make, if it is still coming or done."""
    saved = saved_progress()
    if not isinstance(saved, dict) or not isinstance(saved.get("response_id"), str):
        return None
    try:
        response = await client.responses.retrieve(saved["response_id"])
    except NotFoundError:
        response = None
    if response is None or response.status not in (*_PENDING, "completed"):
        await save_progress(None)  # gone or failed: ask again
        return None
    await _accepted(response.id, None, resumed=True)
    after = saved.get("after")
    return response, after if isinstance(after, int) else None


async def _failed(response: Response) -> ModelBehaviorError:
    await save_progress(None)  # the next attempt asks again
    return response_terminal_failure_error(f"response.{response.status}", response)


async def background_response(
    model: OpenAIResponsesModel, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> ModelResponse:
    """``get_response`` in background mode: ask (or pick up what an earlier attempt asked), then poll."""
    client = _client(model)
    found = await _resumable(client)
    if found is not None:
        response = found[0]
    else:
        instructions, items, settings, tools, output_schema, handoffs, _tracing = args
        response = await model._fetch_response(
            instructions,
            items,
            _background_settings(settings),
            tools,
            output_schema,
            handoffs,
            previous_response_id=kwargs.get("previous_response_id"),
            conversation_id=kwargs.get("conversation_id"),
            stream=False,
            prompt=kwargs.get("prompt"),
        )
        await _accepted(response.id, None)
    request_id = getattr(response, "_request_id", None)
    delay = _FIRST_POLL
    while response.status in _PENDING:
        await asyncio.sleep(delay)
        delay = min(delay * 1.5, MODEL_CALLS.background_poll)
        response = await client.responses.retrieve(response.id)
    if response.status != "completed":
        raise await _failed(response)
    return ModelResponse(
        output=list(response.output),
        usage=_usage_from_response(response),
        response_id=response.id,
        request_id=request_id,
    )


async def background_events(
    model: OpenAIResponsesModel, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> AsyncIterator[ResponseStreamEvent]:
    """``stream_response`` in background mode: stream a new response, or resume the one an earlier attempt
    asked for from the event after the one it kept."""
    client = _client(model)
    found = await _resumable(client)
    if found is not None:
        response, after = found
        if response.status == "completed":
            for event in events_of(response):
                yield event
            return
        stream = await client.responses.retrieve(
            response.id, stream=True, starting_after=omit if after is None else after
        )
        try:
            async for event in stream:
                if isinstance(event, ResponseFailedEvent | ResponseIncompleteEvent):
                    raise await _failed(event.response)
                yield event
        finally:
            await stream.close()
        return
    args = (args[0], args[1], _background_settings(args[2]), *args[3:])
    accepted = False
    async for event in model.stream_response(*args, **kwargs):
        if not accepted and isinstance(event, ResponseCreatedEvent):
            await _accepted(event.response.id, event.sequence_number)
            accepted = True
        elif isinstance(event, ResponseFailedEvent | ResponseIncompleteEvent):
            await save_progress(None)  # the SDK raises next; the next attempt asks again
        yield event
