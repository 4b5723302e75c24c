"""The OpenAI Agents SDK inside stead workflows.

Nothing to call: when a worker starts, stead makes ``Runner.run`` / ``Runner.run_streamed`` durable inside
``@stead.workflow`` functions. Every model call and every function tool call becomes a journaled step; outside
a workflow the SDK behaves exactly as before. A session passed to ``Runner.run`` is journaled too (its reads and
writes are steps); :class:`RunSession` is conversation memory kept by the run itself.
"""

from ._approvals import approval_call_id, approval_message, approve, reject
from ._mcp import MCP_RETRY, install_mcp
from ._model import MODEL_RETRY, DurableModel
from ._provider import ModelNotConfigured, env_provider
from ._request import normalize_tool_output, response_from_json, response_to_json
from ._runner import SteadAgentRunner
from ._runner import install as _install_runner
from ._sessions import SESSION_RETRY, JournaledSession, RunSession, install_memory_sessions, journaled_session
from ._stream import MODEL_CALLS, ModelCallOptions
from ._toolcall import TOOL_RETRY, ToolOptions, tool_defaults, tool_options


def install() -> None:
    """Make ``Runner.run`` durable inside workflows, in-memory sessions run memory, and MCP servers connect on
    the worker (idempotent). stead calls it when a worker starts."""
    _install_runner()
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
