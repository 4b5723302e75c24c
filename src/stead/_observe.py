"""Observers of runs: the seam through which exporters (``stead.otel``) see executions and step attempts.

Two lifecycles are observable, both engine-agnostic:

* an **execution** of a run's workflow code: the engine brackets it with :func:`execution` (a run may execute
  several times: after a crash, a suspension or a reopen, each execution replays what the journal holds);
* a live **attempt** of a step: ``stead._workflow.call_in_attempt`` brackets it with :func:`attempt`. Steps
  answered from the journal are not attempted, so an observer never sees a replayed step.

And one question engines answer for integrations that emit telemetry from workflow code: :func:`replaying`, whether
the run is re-executing what an earlier execution already did (it then emits nothing new).
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

    from ._context import RunRuntime, StepCall

__all__ = [
    "AttemptOutcome",
    "Execution",
    "Observer",
    "add_observer",
    "attempt",
    "current_execution",
    "execution",
    "remove_observer",
    "replaying",
]


def replaying(runtime: RunRuntime | None) -> bool:
    """Whether what the run's workflow code does at this moment is not news, so that telemetry stays quiet.

    True while an execution re-executes what an earlier one did (nothing new has happened yet), and while an
    execution that the engine abandons unwinds (the worker stops, suspends the run or lost its lease): a later
    execution redoes that part. Engines say it with a ``replaying`` attribute on their runtime (Temporal:
    ``workflow.unsafe.is_replaying()``); a runtime without one never replays as far as telemetry is concerned.
    """
    return bool(getattr(runtime, "replaying", False)) if runtime is not None else False


@dataclass(frozen=True)
class Execution:
    """One execution of a run's workflow code."""

    run_id: str
    workflow: str
    created_at: float | None = None
    """When the run was started (seconds since the epoch), if the engine knows it."""
    resumed: bool = False
    """The execution began by replaying an earlier one's journal."""
    runtime: Any = field(default=None, compare=False, repr=False)
    """The run's runtime, to ask :func:`replaying` (None for executions bound with :func:`bind`)."""

    @property
    def replaying(self) -> bool:
        """Whether the execution is, at this moment, re-executing what an earlier one did."""
        return replaying(self.runtime)


class AttemptOutcome:
    """Filled in by :func:`attempt` for observers: the attempt's result (JSON data or any value) once it returns."""

    __slots__ = ("result", "returned")

    def __init__(self) -> None:
        self.result: Any = None
        self.returned = False


class Observer(Protocol):
    def execution(self, execution: Execution) -> AbstractContextManager[Any]:
        """Bracket one execution; the body raises what the workflow raised (or a cancellation)."""

    def attempt(
        self, execution: Execution | None, call: StepCall, outcome: AttemptOutcome
    ) -> AbstractContextManager[Any]:
        """Bracket one live attempt of a step; ``outcome`` holds its result once the body has returned."""


_observers: tuple[Observer, ...] = ()
_execution: contextvars.ContextVar[Execution | None] = contextvars.ContextVar("stead_execution", default=None)


def add_observer(observer: Observer) -> None:
    global _observers
    if observer not in _observers:
        _observers = (*_observers, observer)


def remove_observer(observer: Observer) -> None:
    global _observers
    _observers = tuple(o for o in _observers if o is not observer)


def current_execution() -> Execution | None:
    return _execution.get()


@contextmanager
def execution(runtime: RunRuntime, workflow: str, created_at: float | None = None) -> Iterator[None]:
    """Bracket one execution of a run's workflow code (engines call this around it)."""
    info = Execution(runtime.run_id, workflow, created_at, replaying(runtime), runtime)
    token = _execution.set(info)
    try:
        observers = _observers
        if not observers:
            yield
            return
        with ExitStack() as stack:
            for observer in observers:
                stack.enter_context(observer.execution(info))
            yield
    finally:
        _execution.reset(token)


@contextmanager
def bind(run_id: str, workflow: str) -> Iterator[None]:
    """Attribute step attempts in this context to a run, without observing an execution (engines whose steps
    run away from the workflow code, as Temporal activities do, wrap each attempt with it)."""
    token = _execution.set(Execution(run_id, workflow))
    try:
        yield
    finally:
        _execution.reset(token)


def attempt(call: StepCall) -> AbstractContextManager[AttemptOutcome] | None:
    """A bracket for one live attempt of ``call``, or None when nobody observes (the common, free case)."""
    if not _observers:
        return None
    return _observed_attempt(call, _observers)


@contextmanager
def _observed_attempt(call: StepCall, observers: tuple[Observer, ...]) -> Iterator[AttemptOutcome]:
    outcome = AttemptOutcome()
    info = _execution.get()
    with ExitStack() as stack:
        for observer in observers:
            stack.enter_context(observer.attempt(info, call, outcome))
        yield outcome
