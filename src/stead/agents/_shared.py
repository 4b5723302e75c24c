"""One ``Agent`` object shared by many workflow runs, without the SDK comparing each run with all the others.

openai-agents 0.24 refuses an ``Agent.tools`` changed while concurrent runs use the same agent: it keeps, per
agent object (``agents.run_internal.agent_tool_configuration._resolutions``), the list of every run in progress
with it, and several times a turn compares the agent's tools with each run on that list. With the module-level
agent of the README shared by 1,000 concurrent runs that is 1,000 comparisons a check, and the runs went 2x
slower. Inside workflows the registry is kept per workflow run: the runs of one workflow run are still checked
against each other (a hook changing the tools in the middle of a run still fails it), runs of other workflow
runs are not. Outside workflows nothing changes.
"""

from __future__ import annotations

from typing import Any

from agents.run_internal import agent_tool_configuration

from .._context import current_scope

__all__ = ["install_per_run_registry"]


class _PerWorkflowRun(dict[Any, Any]):
    """The SDK's registry, whose keys (``id(agent)``) get the workflow run's id inside workflows.

    The SDK reads and writes it only with ``[key]``, ``del``, ``get`` and ``setdefault``, all from the task
    of the run they concern (or a task it started, which has its context), so one agent run always finds its
    own entries."""

    @staticmethod
    def _key(key: Any) -> Any:
        scope = current_scope()
        return key if scope is None else (scope.runtime.run_id, key)

    def __getitem__(self, key: Any) -> Any:
        return super().__getitem__(self._key(key))

    def __setitem__(self, key: Any, value: Any) -> None:
        super().__setitem__(self._key(key), value)

    def __delitem__(self, key: Any) -> None:
        super().__delitem__(self._key(key))

    def __contains__(self, key: object) -> bool:
        return super().__contains__(self._key(key))

    def get(self, key: Any, default: Any = None) -> Any:
        return super().get(self._key(key), default)

    def setdefault(self, key: Any, default: Any = None) -> Any:
        return super().setdefault(self._key(key), default)

    def pop(self, key: Any, *default: Any) -> Any:
        return super().pop(self._key(key), *default)


def install_per_run_registry() -> None:
    """Replace the SDK's registry (idempotent); runs in progress keep their entries."""
    with agent_tool_configuration._resolution_lock:
        registry = agent_tool_configuration._resolutions
        if not isinstance(registry, _PerWorkflowRun):
            agent_tool_configuration._resolutions = _PerWorkflowRun(registry)
