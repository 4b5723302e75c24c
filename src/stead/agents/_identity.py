"""Stable identities for the steps of an agent run, independent of how many tasks the SDK creates inside.

Each ``Runner.run`` in a workflow takes one position of the calling task (or, when an agent runs as a tool of
another agent, the identity of that tool call). Its model calls are numbered in order (they never overlap within
one SDK run) and its tool calls are keyed by their call ids, which the SDK's model contract makes unique in a
run.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from .._context import Scope, enter_scope

__all__ = [
    "AgentRun",
    "agent_run",
    "current_agent_run",
    "nested_identity",
    "reset_nested",
]


@dataclass(eq=False)
class AgentRun:
    id: str
    model_calls: int = 0
    hook_calls: dict[str, int] = field(default_factory=dict)

    def next_model_position(self) -> str:
        self.model_calls += 1
        return f"{self.id}/model:{self.model_calls}"

    def tool_position(self, call_id: str) -> str:
        return f"{self.id}/{call_id}"

    def hook_position(self, hook: str, call_id: str | None = None) -> str:
        """A lifecycle hook's call: tool hooks by their tool call (they run concurrently), the others by the
        model calls made before them (the run loop calls them in order)."""
        key = f"{call_id}/hook:{hook}" if call_id else f"hook:{self.model_calls}:{hook}"
        count = self.hook_calls[key] = self.hook_calls.get(key, 0) + 1
        return f"{self.id}/{key}" if count == 1 else f"{self.id}/{key}#{count}"


_current: contextvars.ContextVar[AgentRun | None] = contextvars.ContextVar("stead_agent_run", default=None)
# Set by an agent-as-tool call for the nested run it is about to start.
_nested: contextvars.ContextVar[str | None] = contextvars.ContextVar("stead_nested_agent_run", default=None)


def current_agent_run() -> AgentRun | None:
    return _current.get()


@contextmanager
def agent_run(scope: Scope) -> Iterator[AgentRun]:
    """Run the body as one agent run, with its own identity and its own branch of the task tree.

    The SDK creates tasks of its own (guardrails, tools, streaming), and how many can depend on timing (a model
    answered from the journal returns at once). Those tasks become children of the agent run, never of the
    workflow task that called ``Runner.run``, so the workflow's own tasks keep their positions on replay.
    """
    nested = _nested.get()
    if nested is not None:
        _nested.set(None)
        identity = nested
    else:
        identity = scope.next_position()
    run = AgentRun(identity)
    token = _current.set(run)
    try:
        with enter_scope(Scope(scope.runtime, path=identity)):
            yield run
    finally:
        _current.reset(token)


def nested_identity(identity: str) -> contextvars.Token[str | None]:
    return _nested.set(identity)


def reset_nested(token: contextvars.Token[str | None]) -> None:
    _nested.reset(token)
