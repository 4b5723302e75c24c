"""Function tool calls as journaled steps, keyed by the model's call id.

A tool built by ``@function_tool`` keeps the SDK's failure handling around the journaled step: the step runs the
tool's own code (``stead.agents._toolcall``), so stead retries transient errors and stops the run on a bug before
the SDK would turn either into text for the model. Outputs read back as the tool function's declared return type,
live and on replay; the run context's changes are journaled with the call and set again on replay.
"""

from __future__ import annotations

import copy
import inspect
import json
import typing
from typing import Any

from agents.tool import FunctionTool, Tool
from agents.tool_context import ToolContext

from .. import _serde
from .._context import StepAttributes, StepCall, current_scope
from .._exceptions import SerializationError
from ._identity import current_agent_run, nested_identity, reset_nested
from ._remote import tool_remote
from ._request import normalize_tool_output
from ._toolcall import (
    ENVELOPE,
    TOOL_RETRY,
    apply_context,
    implementation_of,
    options_for,
    run_attempt,
)

__all__ = ["TOOL_RETRY", "durable_tools", "tool_output"]

_WRAPPED = "__stead_durable__"
_KEPT = "__stead_durable_copy__"
# Set by the SDK's default failure function; the runner reads it to mark the output as an SDK-generated error.
_DEFAULT_HANDLED = "_function_tool_default_failure_handled"


class _RecordedToolError(Exception):
    """A tool's error as the journal recorded it, for the SDK's handled-error report (spans, logs)."""


def _return_type(tool: FunctionTool) -> Any:
    """The declared return type of the function ``@function_tool`` wrapped, or None if there is none to read."""
    try:
        fn: Any = tool.__wrapped__
    except AttributeError:
        return None
    target = fn if inspect.isfunction(fn) or inspect.ismethod(fn) else getattr(fn, "__call__", fn)  # noqa: B004
    try:
        return typing.get_type_hints(target).get("return")
    except Exception:  # unresolvable forward references, partials, builtins: keep the JSON value
        return None


def tool_output(data: Any, annotation: Any) -> Any:
    """A journaled tool output as the type the tool declares (a pydantic model, a dataclass...), else as JSON.

    The SDK sends the model ``str(output)``: with the declared type it gets ``Weather(city=...)`` as it would
    outside stead. Without a usable annotation, or when the value does not fit it, the JSON value is kept.
    """
    if annotation is None or annotation is str:
        return data
    try:
        return _serde.decode(data, annotation, "a tool's output")
    except SerializationError:
        return data


def _durable(tool: FunctionTool) -> FunctionTool:
    original = tool.on_invoke_tool
    impl = implementation_of(tool)
    on_handled = getattr(original, "_on_handled_error", None)
    name = tool.name
    agent_tool = tool._is_agent_tool
    returns = _return_type(tool)
    wrapped = copy.copy(tool)

    async def on_invoke_tool(ctx: ToolContext[Any], arguments: str) -> Any:
        scope = current_scope()
        if scope is None:
            return await original(ctx, arguments)
        run = current_agent_run()
        call_id = getattr(ctx, "tool_call_id", None)
        position = (
            run.tool_position(call_id) if run is not None and isinstance(call_id, str) and call_id else None
        )
        if agent_tool:
            # The nested agent run is durable by itself, call by call; it takes this tool call's identity.
            if position is None:
                return await original(ctx, arguments)
            token = nested_identity(position)
            try:
                return await original(ctx, arguments)
            finally:
                reset_nested(token)
        retry, on_bug = options_for(tool)

        async def call() -> Any:
            if impl is None:  # a FunctionTool with its own invoker: its errors escape, stead retries them
                return normalize_tool_output(await original(ctx, arguments))
            return await run_attempt(wrapped, impl, ctx, arguments, retry, on_bug)

        step = StepCall(
            name=f"tool:{name}",
            fn=call,
            args_json=json.dumps([name, arguments]),
            retry=retry,
            kind="tool",
            summary=f"tool · {name}",
            attributes=StepAttributes(
                agent=getattr(getattr(ctx, "agent", None), "name", None),
                tool=name,
                call_id=call_id if isinstance(call_id, str) and call_id else None,
                show_while_running=True,
            ),
            position=position,
            remote=tool_remote(tool, ctx, arguments, retry, on_bug) if impl is not None else None,
        )
        data = await scope.runtime.execute_step(scope, step)
        if isinstance(data, dict) and len(data) == 1 and isinstance(data.get(ENVELOPE), dict):
            body = data[ENVELOPE]
            apply_context(ctx.context, body.get("context") or {})
            error = body.get("error")
            if isinstance(error, dict):
                if error.get("default"):
                    setattr(ctx, _DEFAULT_HANDLED, True)
                if callable(on_handled):
                    on_handled(wrapped, _RecordedToolError(error.get("message", "")), arguments, ctx)
                return error.get("text")
            data = body.get("output")
        return tool_output(data, returns)

    wrapped.on_invoke_tool = on_invoke_tool
    setattr(wrapped, _WRAPPED, True)
    return wrapped


def _durable_once(tool: FunctionTool) -> FunctionTool:
    """``_durable(tool)``, made once per tool object and kept on it while none of its fields change.

    The SDK takes the agent's tool inventory several times a turn; copying a ``FunctionTool`` re-runs its
    normalisation (the strict schema) and reading its return type resolves its annotations, each time. The same
    wrapper each time also keeps one tool object per tool, as outside a workflow.
    """
    fields = vars(tool)
    kept = fields.get(_KEPT)
    if kept is not None:
        snapshot, wrapped = kept
        if len(fields) == len(snapshot) + 1 and all(fields.get(k) is v for k, v in snapshot.items()):
            return wrapped  # type: ignore[no-any-return]
    snapshot = {k: v for k, v in fields.items() if k != _KEPT}
    wrapped = _durable(tool)
    vars(wrapped).pop(_KEPT, None)  # the copy carried an older one along
    fields[_KEPT] = (snapshot, wrapped)
    return wrapped


def durable_tools(tools: list[Tool]) -> list[Tool]:
    """The agent's tools with every function tool (MCP tools included) journaled.

    An agent used as a tool is not one step: its nested run is durable by itself, model call by model call.
    """
    out: list[Tool] = []
    for tool in tools:
        if isinstance(tool, FunctionTool) and not getattr(tool, _WRAPPED, False):
            out.append(_durable_once(tool))
        else:
            out.append(tool)
    return out
