"""``Runner.run`` inside a workflow: the same SDK runner, with model and tool calls journaled.

Three seams of the SDK are used: the default agent runner (public: to give each run deterministic trace ids and
stead's model provider), the run loop's model and tool resolution (private: to wrap the model and the function
tools that a turn uses) and its registry of the runs of each agent (private: kept per workflow run, see
``_shared``); tests/test_sdk_contract.py says why no public seam does, and fails when a release moves them. Outside a workflow nothing changes: the wrappers step aside when no run is executing.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from agents import Agent, Model, RunConfig
from agents.agent import AgentBase
from agents.run import AgentRunner, get_default_agent_runner, set_default_agent_runner
from agents.run_internal import run_loop
from agents.tool import Tool

from .._context import current_scope, uuid4
from ._approvals import settle as settle_approvals
from ._hooks import quiet_agent_hooks, quiet_run_hooks
from ._identity import agent_run
from ._model import DurableModel
from ._provider import env_provider, is_default_provider
from ._sessions import use_in_run
from ._shared import install_per_run_registry
from ._tools import durable_tools
from ._tracing import install_trace_provider

__all__ = ["SteadAgentRunner", "install"]


def _durable_config(run_config: RunConfig | dict[str, Any] | None) -> RunConfig:
    if run_config is None:
        config = RunConfig()
    elif isinstance(run_config, dict):
        config = RunConfig(**run_config)
    else:
        config = run_config
    changes: dict[str, Any] = {}
    scope = current_scope()
    if config.trace_id is None:
        changes["trace_id"] = f"trace_{uuid4().hex}"
    if config.group_id is None and scope is not None:
        # Also makes the SDK's prompt cache key stable (it derives it from the group when there is one).
        changes["group_id"] = scope.runtime.run_id
    if is_default_provider(config.model_provider):
        changes["model_provider"] = env_provider()
    return dataclasses.replace(config, **changes) if changes else config


def _quiet_on_replay(starting_agent: Agent[Any], kwargs: dict[str, Any]) -> None:
    """Hooks fire once: not again for work the journal answers."""
    quiet_agent_hooks(starting_agent)
    if kwargs.get("hooks") is not None:
        kwargs["hooks"] = quiet_run_hooks(kwargs["hooks"])


class SteadAgentRunner(AgentRunner):
    """The SDK's runner, made durable when called from workflow code."""

    async def run(self, starting_agent: Agent[Any], input: Any, **kwargs: Any) -> Any:
        scope = current_scope()
        if scope is None:
            return await super().run(starting_agent, input, **kwargs)
        with agent_run(scope) as run:
            _quiet_on_replay(starting_agent, kwargs)
            kwargs["run_config"] = _durable_config(kwargs.get("run_config"))
            kwargs["session"] = use_in_run(kwargs.get("session"), run.id)  # reads and writes become steps
            result = await super().run(starting_agent, input, **kwargs)
            pending: list[dict[str, Any]] = []
            while result.interruptions:
                # Tools that need approval: wait durably for a person, then continue the same agent run.
                state = result.to_state()
                await settle_approvals(state, result.interruptions, pending)
                result = await super().run(starting_agent, state, **kwargs)
            return result

    def run_streamed(self, starting_agent: Agent[Any], input: Any, **kwargs: Any) -> Any:
        scope = current_scope()
        if scope is None:
            return super().run_streamed(starting_agent, input, **kwargs)
        # The SDK's background task copies the context now, agent run included.
        with agent_run(scope) as run:
            _quiet_on_replay(starting_agent, kwargs)
            kwargs["run_config"] = _durable_config(kwargs.get("run_config"))
            kwargs["session"] = use_in_run(kwargs.get("session"), run.id)
            return super().run_streamed(starting_agent, input, **kwargs)


_installed = False


def install() -> None:
    """Make ``Runner.run`` durable inside workflows (idempotent). stead calls it when a worker starts."""
    global _installed
    if _installed:
        return
    resolve_model = run_loop.get_model
    resolve_tools = AgentBase.get_all_tools

    def get_model(agent: Agent[Any], run_config: RunConfig) -> Model:
        model = resolve_model(agent, run_config)
        if current_scope() is None or isinstance(model, DurableModel):
            return model
        return DurableModel(model, agent.name)

    async def get_all_tools(agent: AgentBase[Any], run_context: Any) -> list[Tool]:
        # On the agent class, so that every inventory the SDK takes is covered: each turn's, and the one it
        # takes to run tool calls approved after an interruption.
        tools = await resolve_tools(agent, run_context)
        return tools if current_scope() is None else durable_tools(tools)

    get_model.__wrapped__ = resolve_model  # type: ignore[attr-defined]  # the SDK's own, for its contract test
    get_all_tools.__wrapped__ = resolve_tools  # type: ignore[attr-defined]
    run_loop.get_model = get_model
    AgentBase.get_all_tools = get_all_tools  # type: ignore[method-assign,assignment]
    if type(get_default_agent_runner()) is AgentRunner:
        set_default_agent_runner(SteadAgentRunner())
    install_trace_provider()  # deterministic trace and span ids in workflows, nothing emitted twice on replay
    install_per_run_registry()  # a module-level agent shared by many runs costs each of them nothing
    _installed = True
