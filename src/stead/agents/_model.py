"""Model calls as journaled steps.

``DurableModel`` wraps any ``agents.Model``. Outside a workflow it is the model itself; inside one, each call is a
step whose result is the response as JSON (``stead.agents._request``). The live run returns the response read
back from that JSON, exactly what a replay returns, so the next request is the same in both.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from agents import Model, ModelResponse, ModelSettings, ModelTracing
from agents.agent_output import AgentOutputSchemaBase
from agents.exceptions import ModelBehaviorError
from agents.handoffs import Handoff
from agents.items import TResponseInputItem, TResponseStreamEvent
from agents.tool import Tool
from openai.types.responses import Response

from .._context import Scope, StepAttributes, StepCall, current_scope
from .._exceptions import StepFailed
from .._retry import RetryPolicy
from ._identity import current_agent_run
from ._limits import limited
from ._remote import model_remote
from ._request import ModelRequest, call_model, model_name_of, response_from_json
from ._stream import MODEL_CALLS, events_of
from ._usage import execute_model_step

__all__ = ["MODEL_RETRY", "DurableModel"]

MODEL_RETRY = RetryPolicy(max_attempts=10, initial_interval=1.0, backoff=2.0, max_interval=60.0)
"""Retries of a model call: rate limits, 408/409/5xx, timeouts and dropped connections; other 4xx fail at once."""


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
            timeout=MODEL_CALLS.timeout,
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
        scope = current_scope()
        if scope is None:
            args, kwargs = request.arguments()
            return await self.inner.get_response(*args, **kwargs)
        return response_from_json(await self._journaled(scope, request))

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
        scope = current_scope()
        if scope is None:
            args, kwargs = request.arguments()
            async for event in self.inner.stream_response(*args, **kwargs):
                yield event
            return
        response = Response.model_validate(await self._journaled(scope, request))
        # The provider's events rebuilt from the journaled response: the same live and on replay, on every
        # engine (watchers outside the run got the tokens live, as `text` events).
        for event in events_of(response):
            yield event

    async def _journaled(self, scope: Scope, request: ModelRequest) -> Any:
        """The call as a model step: its journaled JSON, from the live call or from the journal."""

        async def call() -> Any:
            return await limited(self.model, request, lambda: call_model(self.inner, request))

        step = self._step(call, request.fingerprint(), request)
        try:
            return await execute_model_step(scope, self.agent_name, self.model, step)
        except StepFailed as failed:
            if failed.error_type == ModelBehaviorError.__name__:
                raise ModelBehaviorError(failed.message) from None  # what the SDK raises for that answer
            raise
