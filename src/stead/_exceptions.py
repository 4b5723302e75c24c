"""The exceptions stead raises.

One root, three branches: misuse (the caller gave something stead cannot take), failures of runs and engines,
and control flow that user code must not swallow::

    SteadError
    ├── UsageError                  bad input: fix the call, the file or the arguments
    │   ├── WorkflowNotFound
    │   ├── InvalidArguments
    │   ├── SerializationError
    │   ├── RunIdConflict
    │   ├── RunNotFound
    │   ├── RunFinished
    │   └── ExtraMissing
    ├── EngineError                 the engine cannot do its work
    │   ├── DatabaseError
    │   │   └── SchemaTooNew
    │   └── EngineUnavailable
    └── RunError                    a run, or a step of it, did not succeed
        ├── RunFailed
        ├── RunCancelled
        ├── StepFailed
        ├── StepLost                a step kept stopping its workers
        ├── WaitTimeout
        ├── NonDeterminismError
        ├── BudgetExceeded
        └── WorkflowExited

    SteadInterrupt (BaseException)  control flow; `except Exception` does not catch it
    └── LeaseLost
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "BudgetExceeded",
    "DatabaseError",
    "EngineError",
    "EngineUnavailable",
    "ExtraMissing",
    "InvalidArguments",
    "LeaseLost",
    "NonDeterminismError",
    "RunCancelled",
    "RunError",
    "RunFailed",
    "RunFinished",
    "RunIdConflict",
    "RunNotFound",
    "SchemaTooNew",
    "SerializationError",
    "SteadError",
    "SteadInterrupt",
    "StepFailed",
    "StepLost",
    "UsageError",
    "WaitTimeout",
    "WorkflowExited",
    "WorkflowNotFound",
]


class SteadError(Exception):
    """Root of every error stead raises."""

    def error_data(self) -> dict[str, Any] | None:
        """What the error says as JSON data, journaled with it (``ErrorInfo.data``) so that it can be rebuilt
        without reading its message; None for errors that only have a message."""
        return None


# -- misuse ---------------------------------------------------------------------------------------------------


class UsageError(SteadError, ValueError):
    """The caller gave stead something it cannot take; the message says what to change."""


class WorkflowNotFound(UsageError):
    """No workflow of that name is known here (wrong file, wrong name, or not decorated)."""


class InvalidArguments(UsageError):
    """Arguments that do not fit the workflow's signature."""


class SerializationError(UsageError):
    """A value that must cross the journal is not JSON-serializable."""


class RunIdConflict(UsageError):
    """A run with this id already exists with other arguments or another workflow."""

    @classmethod
    def other_workflow(cls, run_id: str, existing: str, wanted: str) -> RunIdConflict:
        return cls(
            f"run {run_id!r} already exists for workflow {existing!r}, not {wanted!r}; choose another run id"
        )

    @classmethod
    def other_arguments(cls, run_id: str, given_json: str, recorded_json: str | None = None) -> RunIdConflict:
        """``recorded_json``: the existing run's arguments, where the engine can tell them."""
        was = f"{_short(recorded_json)}, now " if recorded_json is not None else "now "
        return cls(
            f"run {run_id!r} already exists with other arguments ({was}{_short(given_json)}); choose another run "
            "id, or pass the same arguments to get that run"
        )


class RunNotFound(UsageError, LookupError):
    """No run has this id."""

    @classmethod
    def missing(cls, run_id: str, where: str) -> RunNotFound:
        """``where``: the engine's place, as in "in stead.db" or "on localhost:7233"."""
        return cls(f"no run {run_id!r} {where}; `stead ls` lists the runs")


class RunFinished(UsageError):
    """The run has already finished; it takes no more messages or cancellations."""

    @classmethod
    def no_messages(cls, run_id: str, status: str) -> RunFinished:
        return cls(
            f"run {run_id!r} has already {_past(status)}; it takes no more messages. Start a new run instead."
        )

    @classmethod
    def no_reply(cls, run_id: str, status: str, request: str) -> RunFinished:
        return cls(f"run {run_id!r} has {_past(status)} without replying to request {request!r}")

    @classmethod
    def no_cancel(cls, run_id: str, status: str) -> RunFinished:
        return cls(f"run {run_id!r} has already {_past(status)}; there is nothing to cancel")

    @classmethod
    def no_reopen(cls, run_id: str, status: str) -> RunFinished:
        return cls(f"run {run_id!r} has {_past(status)}; only failed or unfinished runs resume")


def _past(status: str) -> str:
    """A finished run's status as a verb: "completed", "failed", "been cancelled"."""
    return "been cancelled" if status == "cancelled" else str(status)


def _short(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


class ExtraMissing(UsageError, ImportError):
    """An optional part of stead needs a package that is not installed."""


# -- engine failures ------------------------------------------------------------------------------------------


class EngineError(SteadError):
    """The engine cannot do its work (storage, server, configuration)."""


class DatabaseError(EngineError):
    """The database file is unreadable, corrupt, or not a stead database."""


class SchemaTooNew(DatabaseError):
    """The database was written by a newer stead; upgrade stead to use it."""


class EngineUnavailable(EngineError):
    """The engine's server cannot be reached."""


# -- run outcomes ---------------------------------------------------------------------------------------------


class RunError(SteadError):
    """A run, or a step of it, did not succeed."""


class RunFailed(RunError):
    """The run ended with an error. ``error_type`` and ``message`` describe the original exception."""

    def __init__(
        self,
        run_id: str,
        error_type: str,
        message: str,
        details: str | None = None,
        data: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(f"run {run_id!r} failed: {error_type}: {message}")
        self.run_id = run_id
        self.error_type = error_type
        self.message = message
        self.details = details
        self.data = data
        """The error as data, where it has some (``WorkflowExited``: ``{"exit_code": ...}``)."""


class RunCancelled(RunError):
    """The run was cancelled before it finished."""

    def __init__(self, run_id: str) -> None:
        super().__init__(f"run {run_id!r} was cancelled")
        self.run_id = run_id


class StepFailed(RunError):
    """A step raised on its last allowed attempt (or raised an error that is not retried).

    The workflow sees this same exception live and on replay; ``error_type`` and ``message`` describe the
    step's own exception, which is also chained as ``__cause__`` when the step ran in this process.
    """

    def __init__(
        self, step: str, error_type: str, message: str, attempts: int, data: dict[str, Any] | None = None
    ) -> None:
        super().__init__(f"step {step!r} failed after {attempts} attempt(s): {error_type}: {message}")
        self.step = step
        self.error_type = error_type
        self.message = message
        self.attempts = attempts
        self.data = data
        """The step's error as data, where it was a stead error that has some (``SteadError.error_data``)."""


class StepLost(RunError):
    """A step's attempts were cut short by their worker stopping (``kill -9``, out of memory, a lost machine) more
    often than its ``RetryPolicy.max_lost_attempts`` allows: the step may be what kills its workers.

    The step fails with this as its error (``StepFailed.error_type == "StepLost"``); once the cause is found,
    ``stead resume`` runs it again with a fresh allowance.
    """

    def __init__(self, step: str, lost: int) -> None:
        super().__init__(
            f"{lost} attempt(s) of step {step!r} were cut short by their worker stopping (killed, out of memory, "
            "crashed); the step may be what stops its workers. Look at the workers' logs and their memory, fix "
            "the cause, then `stead resume` the run (or raise RetryPolicy.max_lost_attempts)"
        )
        self.step = step
        self.lost = lost

    def error_data(self) -> dict[str, Any] | None:
        return {"step": self.step, "lost": self.lost}


class WaitTimeout(RunError, TimeoutError):
    """``stead.wait_for`` reached its timeout before a message arrived."""


class NonDeterminismError(RunError):
    """On replay, the workflow asked for a different step than the one recorded at that position.

    The run is not advanced: fix the code (or guard the change with ``stead.patched``) and resume it.
    """

    def __init__(
        self, run_id: str, position: str, recorded: str, requested: str, *, diff: str | None = None
    ) -> None:
        super().__init__(
            f"run {run_id!r} diverged from its journal at step {position}: the journal recorded {recorded}, "
            f"the code now asks for {requested}. Restore the old behaviour for runs started before the change "
            "(branch on stead.patched('<change-id>')), or cancel the run." + (f"\n{diff}" if diff else "")
        )
        self.diff = diff
        self.run_id = run_id
        self.position = position
        self.recorded = recorded
        self.requested = requested


class BudgetExceeded(RunError):
    """The run's budget (``stead.budget``) does not allow its next model call, which was not made.

    ``limit`` says which limit ("tokens" or "cost_usd"); ``spent`` is what the run had used, ``maximum`` the
    limit, ``next_call`` the least the refused call would have added (0 when the limit was already reached),
    ``agent`` whose call it was. The decision is journaled: a replay raises the same exception at the same point.
    """

    stead_retryable = False

    def __init__(
        self,
        limit: str,
        spent: float,
        maximum: float,
        next_call: float = 0.0,
        agent: str | None = None,
        calls: int = 0,
    ) -> None:
        def amount(value: float) -> str:
            return f"{int(value)} tokens" if limit == "tokens" else f"${value:.6f}"

        what = "token" if limit == "tokens" else "cost"
        message = f"{what} budget exceeded: the run has used {amount(spent)} in {calls} model call"
        message += "" if calls == 1 else "s"
        if next_call > 0:
            verb = "sends" if limit == "tokens" else "costs"
            message += f", and its next call {verb} at least {amount(next_call)}"
        message += f"; the limit is {amount(maximum)}. The model call of agent {agent!r} was not made."
        super().__init__(message)
        whole = limit == "tokens"
        self.limit = limit
        self.spent: float = int(spent) if whole else spent
        self.maximum: float = int(maximum) if whole else maximum
        self.next_call: float = int(next_call) if whole else next_call
        self.agent = agent
        self.calls = calls

    def error_data(self) -> dict[str, Any]:
        return {
            "limit": self.limit,
            "spent": self.spent,
            "maximum": self.maximum,
            "next_call": self.next_call,
            "agent": self.agent,
            "calls": self.calls,
        }

    @classmethod
    def from_data(cls, data: Any) -> BudgetExceeded | None:
        """The exception again from its ``error_data`` (as journaled), or None if the data is not a refusal's."""
        if not isinstance(data, dict) or data.get("limit") not in ("tokens", "cost_usd"):
            return None
        try:
            return cls(
                str(data["limit"]),
                float(data["spent"]),
                float(data["maximum"]),
                float(data.get("next_call") or 0.0),
                data["agent"] if isinstance(data.get("agent"), str) else None,
                int(data.get("calls") or 0),
            )
        except (KeyError, TypeError, ValueError):
            return None


# -- control flow ---------------------------------------------------------------------------------------------


class SteadInterrupt(BaseException):
    """Control flow inside a workflow. Derived from BaseException so that ``except Exception`` lets it pass."""


class LeaseLost(SteadInterrupt):
    """Another worker took this run over; this worker stops executing it without recording anything."""


class WorkflowExited(RunError):
    """Workflow code, or a step or tool it called, called ``exit()`` / ``sys.exit()`` (raised ``SystemExit``): the
    run fails with this error. ``code`` is the exit code, also journaled as the error's data (``exit_code``).

    ``SystemExit`` ends a program; inside a run it would end the worker with every run it holds, so stead ends
    only the run, and says so.
    """

    def __init__(self, code: object = None, step: str | None = None) -> None:
        called = "exit()" if code is None else f"exit({code!r})"
        who = "workflow code" if step is None else f"step {step!r}"
        super().__init__(
            f"{who} called {called} (SystemExit, exit code {code!r}); the run ends as failed. "
            "Return a value or raise an exception to end a run"
        )
        self.code = code
        self.step = step

    def error_data(self) -> dict[str, Any]:
        return self.exit_data(self.code)

    @staticmethod
    def exit_data(code: object) -> dict[str, Any]:
        """An exit code as JSON data: ``None``, a number or a string as they are, anything else as its text."""
        return {"exit_code": code if code is None or isinstance(code, int | str) else str(code)}
