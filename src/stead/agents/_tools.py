"""Function tool calls as journaled steps, keyed by the model's call id."""

from __future__ import annotations

import copy
import json
from typing import Any

from agents.tool import FunctionTool, Tool
from agents.tool_context import ToolContext

from .._context import StepAttributes, StepCall, current_scope
from .._retry import RetryPolicy
from ._identity import current_agent_run, nested_identity, reset_nested
from ._remote import tool_remote
from ._request import normalize_tool_output

__all__ = ["TOOL_RETRY", "durable_tools"]

TOOL_RETRY = RetryPolicy(max_attempts=3, initial_interval=1.0)
"""Retries of a tool whose error escapes it. By default the SDK turns tool errors into text for the model, so
this applies only to tools that let errors through (``failure_error_function=None``)."""

_WRAPPED = "__stead_durable__"


def _durable(tool: FunctionTool) -> FunctionTool:
    original = tool.on_invoke_tool
    name = tool.name
    agent_tool = tool._is_agent_tool

    async def on_invoke_tool(ctx: ToolContext[Any], arguments: str) -> Any:
        scope = current_scope()
        if scope is None:
            return await original(ctx, arguments)

        async def call() -> Any:
            return normalize_tool_output(await original(ctx, arguments))

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
        step = StepCall(
            name=f"tool:{name}",
            fn=call,
            args_json=json.dumps([name, arguments]),
            retry=TOOL_RETRY,
            kind="tool",
            summary=f"tool · {name}",
            attributes=StepAttributes(
                agent=getattr(getattr(ctx, "agent", None), "name", None),
                tool=name,
                call_id=call_id if isinstance(call_id, str) and call_id else None,
                show_while_running=True,
            ),
            position=position,
            remote=tool_remote(tool, ctx, arguments),
        )
        return await scope.runtime.execute_step(scope, step)

    wrapped = copy.copy(tool)
    wrapped.on_invoke_tool = on_invoke_tool
    setattr(wrapped, _WRAPPED, True)
    return wrapped


def durable_tools(tools: list[Tool]) -> list[Tool]:
    """The agent's tools with every function tool (MCP tools included) journaled.

    An agent used as a tool is not one step: its nested run is durable by itself, model call by model call.
    """
    out: list[Tool] = []
    for tool in tools:
        if isinstance(tool, FunctionTool) and not getattr(tool, _WRAPPED, False):
            out.append(_durable(tool))
        else:
            out.append(tool)
    return out
