"""The OpenAI Agents SDK inside stead workflows.

Nothing to call: when a worker starts, stead makes ``Runner.run`` / ``Runner.run_streamed`` durable inside
``@stead.workflow`` functions. Every model call and every function tool call becomes a journaled step; outside
a workflow the SDK behaves exactly as before. A session passed to ``Runner.run`` is journaled too (its reads and
writes are steps); :class:`RunSession` is conversation memory kept by the run itself.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._approvals import approval_call_id, approval_message, approve, reject
    from ._mcp import MCP_RETRY
    from ._model import MODEL_RETRY, DurableModel
    from ._provider import ModelNotConfigured, env_provider
    from ._request import normalize_tool_output, response_from_json, response_to_json
    from ._runner import SteadAgentRunner
    from ._sessions import SESSION_RETRY, JournaledSession, RunSession, journaled_session
    from ._stream import MODEL_CALLS, ModelCallOptions
    from ._toolcall import TOOL_RETRY, ToolOptions, tool_defaults, tool_options

#: Where each public name lives. Loaded on first use, so that what needs only a few of them (``stead approve``
#: needs the approvals, which need no SDK) does not pay for importing the Agents SDK: seconds.
_WHERE = {
    "approval_call_id": "_approvals",
    "approval_message": "_approvals",
    "approve": "_approvals",
    "reject": "_approvals",
    "MCP_RETRY": "_mcp",
    "MODEL_RETRY": "_model",
    "DurableModel": "_model",
    "ModelNotConfigured": "_provider",
    "env_provider": "_provider",
    "normalize_tool_output": "_request",
    "response_from_json": "_request",
    "response_to_json": "_request",
    "SteadAgentRunner": "_runner",
    "SESSION_RETRY": "_sessions",
    "JournaledSession": "_sessions",
    "RunSession": "_sessions",
    "journaled_session": "_sessions",
    "MODEL_CALLS": "_stream",
    "ModelCallOptions": "_stream",
    "TOOL_RETRY": "_toolcall",
    "ToolOptions": "_toolcall",
    "tool_defaults": "_toolcall",
    "tool_options": "_toolcall",
}


def __getattr__(name: str) -> Any:
    where = _WHERE.get(name)
    if where is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{where}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_WHERE})


def install() -> None:
    """Make ``Runner.run`` durable inside workflows, in-memory sessions run memory, and MCP servers connect on
    the worker (idempotent). stead calls it when a worker starts."""
    from ._mcp import install_mcp
    from ._runner import install as install_runner
    from ._sessions import install_memory_sessions

    install_runner()
    install_memory_sessions()
    install_mcp()


__all__ = [
    "MCP_RETRY",
    "MODEL_CALLS",
    "MODEL_RETRY",
    "SESSION_RETRY",
    "TOOL_RETRY",
    "DurableModel",
    "JournaledSession",
    "ModelCallOptions",
    "ModelNotConfigured",
    "RunSession",
    "SteadAgentRunner",
    "ToolOptions",
    "approval_call_id",
    "approval_message",
    "approve",
    "env_provider",
    "install",
    "journaled_session",
    "normalize_tool_output",
    "reject",
    "response_from_json",
    "response_to_json",
    "tool_defaults",
    "tool_options",
]
