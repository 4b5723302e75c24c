"""Lifecycle hooks that fire once: ``RunHooks`` and ``AgentHooks`` stay quiet for work answered from the journal.

A run that resumes after a crash (or a suspension, or ``stead resume``) re-executes its workflow code, and the
SDK's runner calls the hooks again for every model and tool call the journal answers. Those calls already fired
in the execution that made them, so the hooks seen across a crash and a resume are those of an uncrashed run.
The engine's ``replaying`` flag (``stead._observe.replaying``) says when the code re-executes earlier work.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from agents import Agent, AgentHooks, RunHooks

from .._context import current_scope
from .._observe import replaying

__all__ = ["quiet_agent_hooks", "quiet_run_hooks"]

_RUN_HOOKS = (
    "on_llm_start",
    "on_llm_end",
    "on_agent_start",
    "on_agent_end",
    "on_handoff",
    "on_tool_start",
    "on_tool_end",
)
_AGENT_HOOKS = (
    "on_start",
    "on_end",
    "on_handoff",
    "on_tool_start",
    "on_tool_end",
    "on_llm_start",
    "on_llm_end",
)


def _replayed() -> bool:
    scope = current_scope()
    return scope is not None and replaying(scope.runtime)


def _quiet(method: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    async def call(*args: Any, **kwargs: Any) -> Any:
        if _replayed():
            return None
        return await method(*args, **kwargs)

    return call


class _QuietRunHooks(RunHooks[Any]):
    def __init__(self, inner: RunHooks[Any]) -> None:
        self.inner = inner
        for name in _RUN_HOOKS:
            setattr(self, name, _quiet(getattr(inner, name)))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class _QuietAgentHooks(AgentHooks[Any]):
    def __init__(self, inner: AgentHooks[Any]) -> None:
        self.inner = inner
        for name in _AGENT_HOOKS:
            setattr(self, name, _quiet(getattr(inner, name)))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def quiet_run_hooks(hooks: Any) -> Any:
    """``hooks`` (the ``hooks=`` of ``Runner.run``), silent while the run replays."""
    if hooks is None or isinstance(hooks, _QuietRunHooks):
        return hooks
    return _QuietRunHooks(hooks)


def quiet_agent_hooks(agent: Any) -> None:
    """Make the hooks of ``agent`` and of every agent it can hand off to silent while a run replays.

    In place, on the agents themselves (the runner reads ``agent.hooks``); outside a workflow, or in a live part
    of a run, the wrapped hooks behave exactly as before.
    """
    seen: set[int] = set()
    pending = [agent]
    while pending:
        current = pending.pop()
        if not isinstance(current, Agent) or id(current) in seen:
            continue
        seen.add(id(current))
        if current.hooks is not None and not isinstance(current.hooks, _QuietAgentHooks):
            current.hooks = _QuietAgentHooks(current.hooks)
        for target in current.handoffs:
            ref = getattr(target, "_agent_ref", None)
            pending.append(ref() if ref is not None else target)
