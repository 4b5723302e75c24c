"""Model calls under the run's budget, and their usage counted as the workflow receives them.

Before a model step, the run's budget (``stead.budget``) is compared with the usage so far plus the least the
call will send: the input of the previous call of the same agent in the same agent run (the conversation only
grows). A call the budget does not allow still goes through the engine as the same model step, whose attempt
raises ``BudgetExceeded`` instead of calling the model: the refusal is journaled like any other outcome. On
replay the journal answers, whatever the usage so far says then: a call that was made returns its response, a
call that was refused raises the same ``BudgetExceeded``.
"""

from __future__ import annotations

import dataclasses
import weakref
from typing import Any

from .. import _usage
from .._context import Scope, StepCall
from .._exceptions import BudgetExceeded, StepFailed
from .._workflow import remote_handler
from ._identity import AgentRun, current_agent_run

__all__ = ["execute_model_step"]

_REFUSE = "stead.agents._usage:refuse"

# The input tokens of the latest call of each agent, per agent run: the least its next call sends.
_last_input: weakref.WeakKeyDictionary[AgentRun, dict[str, int]] = weakref.WeakKeyDictionary()


def _refused(data: Any) -> BudgetExceeded:
    refused = BudgetExceeded.from_data(data)
    if refused is None:  # pragma: no cover - the data is always one of ours
        raise RuntimeError(f"not a budget refusal: {data!r}")
    return refused


def _refusal(data: dict[str, Any]) -> Any:
    async def refuse() -> None:
        raise _refused(data)

    return refuse


@remote_handler(_REFUSE)
async def _refuse_remote(data: Any, context: Any) -> Any:
    """The refusal of a model call, on engines whose steps run elsewhere."""
    raise _refused(data)


async def execute_model_step(scope: Scope, agent: str, model: str, step: StepCall) -> Any:
    """Run (or replay) a model step under the run's budget; count its usage. Returns the step's result."""
    runtime = scope.runtime
    run = current_agent_run()
    last = _last_input.get(run, {}) if run is not None else {}
    denial = _usage.check_budget(runtime, agent, model, last.get(agent, 0))
    if denial is not None:
        refusal = denial.error_data()
        # The same step (name, position, inputs), whose attempt refuses instead of calling the model.
        step = dataclasses.replace(
            step, fn=_refusal(refusal), args=(), kwargs={}, remote=lambda: (_REFUSE, refusal)
        )
    try:
        data = await runtime.execute_step(scope, step)
    except StepFailed as failed:
        if failed.error_type == BudgetExceeded.__name__:
            refused = BudgetExceeded.from_data(failed.data)
            if refused is not None:
                raise refused from None
        raise
    tokens = _usage.record_model_call(runtime, agent, model, data)
    if tokens is not None and run is not None:
        _last_input.setdefault(run, {})[agent] = tokens.input_tokens
    return data
