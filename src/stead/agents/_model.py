"""Model calls as journaled steps.

``DurableModel`` wraps any ``agents.Model``. Outside a workflow it is the model itself; inside one, each call is a
step whose result is the ``ModelResponse`` as JSON (dumped with aliases and only the fields that were set, the
one lossless round trip). The live run returns the response read back from that JSON, exactly what a replay
returns, so the next request is the same in both.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from agents import Model, ModelResponse, ModelSettings, ModelTracing
from agents.agent_output import AgentOutputSchemaBase
from agents.handoffs import Handoff
from agents.items import TResponseInputItem, TResponseStreamEvent
from agents.tool import Tool
from openai.types.responses import Response, ResponseCompletedEvent, ResponseTextDeltaEvent
from pydantic import TypeAdapter

from .. import _serde
from .._context import StepAttributes, StepCall, current_scope
from .._events import emit
from .._retry import RetryPolicy
from ._identity import current_agent_run
from ._remote import ModelRequest, model_remote
from ._usage import execute_model_step

__all__ = ["MODEL_RETRY", "DurableModel", "response_from_json", "response_to_json"]

_RESPONSE = TypeAdapter(ModelResponse)

MODEL_RETRY = RetryPolicy(max_attempts=10, initial_interval=1.0, backoff=2.0, max_interval=60.0)
"""Retries of a model call: rate limits, 408/409/5xx, timeouts and dropped connections; other 4xx fail at once."""


def response_to_json(response: ModelResponse) -> Any:
    return _RESPONSE.dump_python(response, mode="json", by_alias=True, exclude_unset=True)


def response_from_json(data: Any) -> ModelResponse:
    return _RESPONSE.validate_python(data)


def model_name_of(model: Model) -> str:
    for attr in ("model", "model_name", "name"):
        value = getattr(model, attr, None)
        if isinstance(value, str):
            return value
    return type(model).__name__


def _request_fingerprint(r: ModelRequest) -> str:
    """The request as JSON: on replay the same position must ask the model the same thing."""
    request = {
        "instructions": r.system_instructions,
        "input": r.input,
        "settings": r.model_settings.to_json_dict(),
        "tools": [getattr(t, "name", type(t).__name__) for t in r.tools],
        "output": r.output_schema.name() if r.output_schema is not None else None,
        "handoffs": [h.tool_name for h in r.handoffs],
        "previous_response_id": r.previous_response_id,
        "conversation_id": r.conversation_id,
    }
    return json.dumps(_serde.to_json_value(request, "the model request"), sort_keys=True, default=str)


def _arguments(r: ModelRequest) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """The request as the arguments of ``Model.get_response`` / ``stream_response``."""
    positional = (
        r.system_instructions,
        r.input,
        r.model_settings,
        r.tools,
        r.output_schema,
        r.handoffs,
        r.tracing,
    )
    keywords = {
        "previous_response_id": r.previous_response_id,
        "conversation_id": r.conversation_id,
        "prompt": r.prompt,
    }
    return positional, keywords


class DurableModel(Model):
    """A model whose calls inside a workflow are journaled steps."""

    def __init__(self, inner: Model, agent_name: str, retry: RetryPolicy = MODEL_RETRY) -> None:
        self.inner = inner
        self.agent_name = agent_name
        self.retry = retry
        self.model = model_name_of(inner)

    def __getattr__(self, name: str) -> Any:
        # Provider-specific capabilities the runner asks for (prompt cache keys, retry advice, ...).
        return getattr(self.inner, name)

    async def close(self) -> None:
        await self.inner.close()

    async def _cleanup_on_run_end(self, owner: object) -> None:
        await self.inner._cleanup_on_run_end(owner)

    def _step(self, fn: Any, fingerprint: str, request: ModelRequest | None = None) -> StepCall:
        run = current_agent_run()
        position = run.next_model_position() if run is not None else None
        return StepCall(
            position=position,
            name=f"model:{self.agent_name}",
            fn=fn,
            args_json=fingerprint,
            retry=self.retry,
            kind="model",
            summary=f"model · {self.agent_name} · {self.model}",
            attributes=StepAttributes(agent=self.agent_name, model=self.model, show_while_running=True),
            remote=None if request is None else model_remote(self.inner, run, position, request),
        )

    async def get_response(
        self,
        system_instructions: str | None,
        input: str | list[TResponseInputItem],
        model_settings: ModelSettings,
        tools: list[Tool],
        output_schema: AgentOutputSchemaBase | None,
        handoffs: list[Handoff],
        tracing: ModelTracing,
        *,
        previous_response_id: str | None,
        conversation_id: str | None,
        prompt: Any | None,
    ) -> ModelResponse:
        request = ModelRequest(
            system_instructions,
            input,
            model_settings,
            tools,
            output_schema,
            handoffs,
            previous_response_id,
            conversation_id,
            prompt,
            tracing=tracing,
        )
        args, kwargs = _arguments(request)
        scope = current_scope()
        if scope is None:
            return await self.inner.get_response(*args, **kwargs)

        async def call() -> Any:
            return response_to_json(await self.inner.get_response(*args, **kwargs))

        step = self._step(call, _request_fingerprint(request), request)
        data = await execute_model_step(scope, self.agent_name, self.model, step)
        return response_from_json(data)

    async def stream_response(
        self,
        system_instructions: str | None,
        input: str | list[TResponseInputItem],
        model_settings: ModelSettings,
        tools: list[Tool],
        output_schema: AgentOutputSchemaBase | None,
        handoffs: list[Handoff],
        tracing: ModelTracing,
        *,
        previous_response_id: str | None,
        conversation_id: str | None,
        prompt: Any | None,
    ) -> AsyncIterator[TResponseStreamEvent]:
        request = ModelRequest(
            system_instructions,
            input,
            model_settings,
            tools,
            output_schema,
            handoffs,
            previous_response_id,
            conversation_id,
            prompt,
            stream=True,
            tracing=tracing,
        )
        args, kwargs = _arguments(request)
        scope = current_scope()
        if scope is None:
            async for event in self.inner.stream_response(*args, **kwargs):
                yield event
            return

        async def call() -> Any:
            completed: Response | None = None
            async for event in self.inner.stream_response(*args, **kwargs):
                if isinstance(event, ResponseTextDeltaEvent):
                    emit("text", event.delta)  # to consumers outside the worker, tagged with this attempt
                elif isinstance(event, ResponseCompletedEvent):
                    completed = event.response
            if completed is None:
                raise ConnectionError("the model's stream ended without a response.completed event")
            return completed.model_dump(mode="json", by_alias=True, exclude_unset=True)

        step = self._step(call, _request_fingerprint(request), request)
        data = await execute_model_step(scope, self.agent_name, self.model, step)
        response = Response.model_validate(data)
        # One synthetic terminal event carries the whole response; the runner builds its items from it.
        yield ResponseCompletedEvent(type="response.completed", response=response, sequence_number=0)
