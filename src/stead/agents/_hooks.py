"""Lifecycle hooks that fire once: ``RunHooks`` and ``AgentHooks`` stay quiet for work answered from the journal.

A run that resumes after a crash (or a suspension, or ``stead resume``) re-executes its workflow code, and the
SDK's runner calls the hooks again for every model and tool call the journal answers. Those calls already fired
in the execution that made them, so the hooks seen across a crash and a resume are those of an uncrashed run.
The engine's ``replaying`` flag (``stead._observe.replaying``) says when the code re-executes earlier work.

A hook may change the run context (a dataclass, a pydantic model or a dict given as ``context=``); a quiet hook
would lose that change on replay. In such runs each hook call is a journaled step (kind ``hook``) that runs the
hook and records the fields it changed: on replay the step gives the changes back at the same point of the run,
and the hook does not run again.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from agents import Agent, AgentHooks, RunHooks

from .._context import StepAttributes, StepCall, current_scope
from .._observe import replaying
from .._retry import RetryPolicy
from ._identity import current_agent_run
from ._toolcall import apply_context, changes_since, context_fields, has_fields

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


_ONCE = RetryPolicy(max_attempts=5, non_retryable=(Exception,))
"""A hook's own error ends the run, as under the plain SDK: it is not retried. An attempt lost with its worker
(on Temporal a heartbeat timeout) is: the hook did not finish, it runs again."""


def _quiet(method: Callable[..., Awaitable[Any]], hook: str) -> Callable[..., Awaitable[Any]]:
    async def call(*args: Any, **kwargs: Any) -> Any:
        scope = current_scope()
        run = current_agent_run()
        wrapper = args[0] if args else kwargs.get("context")
        context = getattr(wrapper, "context", None)
        if scope is None or run is None or not has_fields(context):
            if _replayed():
                return None
            return await method(*args, **kwargs)
        agent = args[1] if len(args) > 1 else kwargs.get("agent")
        agent_name = getattr(agent, "name", None)

        async def fire() -> dict[str, Any]:
            before = context_fields(context)
            await method(*args, **kwargs)
            return changes_since(before, context)

        step = StepCall(
            name=f"hook:{hook}",
            fn=fire,
            retry=_ONCE,
            kind="hook",
            summary=f"hook · {hook}" + (f" · {agent_name}" if agent_name else ""),
            attributes=StepAttributes(agent=agent_name if isinstance(agent_name, str) else None),
            position=run.hook_position(hook, getattr(wrapper, "tool_call_id", None)),
        )
        changes = await scope.runtime.execute_step(scope, step)
        apply_context(context, changes if isinstance(changes, dict) else {})
        return None

    return call


def _overrides(hooks: Any, base: type, name: str) -> bool:
    """Whether ``hooks`` has its own ``name`` (the base class's do nothing: no step for them)."""
    return getattr(type(hooks), name, None) is not getattr(base, name, None) or name in vars(hooks)


class _QuietRunHooks(RunHooks[Any]):
    def __init__(self, inner: RunHooks[Any]) -> None:
        self.inner = inner
        for name in _RUN_HOOKS:
            if _overrides(inner, RunHooks, name):
                setattr(self, name, _quiet(getattr(inner, name), f"run.{name}"))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class _QuietAgentHooks(AgentHooks[Any]):
    def __init__(self, inner: AgentHooks[Any]) -> None:
        self.inner = inner
        for name in _AGENT_HOOKS:
            if _overrides(inner, AgentHooks, name):
                setattr(self, name, _quiet(getattr(inner, name), f"agent.{name}"))

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
