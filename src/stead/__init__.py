"""stead: crash-proof AI agents.

Inside a ``@stead.workflow`` function every step (and, with the OpenAI Agents SDK, every model and tool call) is
journaled: a crashed run resumes where it stopped and never repeats a finished step. One program runs on the
embedded SQLite engine (the default) or on Temporal, chosen by an engine URL.
"""

from ._context import in_workflow, now, patched, publish, random, sleep, uuid4, wait_for
from ._engine import (
    DEFAULT_ENGINE,
    Engine,
    ErrorInfo,
    RunHandle,
    RunInfo,
    RunStatus,
    StepInfo,
    Worker,
    connect,
)
from ._exceptions import (
    DatabaseError,
    EngineError,
    EngineUnavailable,
    ExtraMissing,
    InvalidArguments,
    LeaseLost,
    NonDeterminismError,
    RunCancelled,
    RunError,
    RunFailed,
    RunFinished,
    RunIdConflict,
    RunNotFound,
    SchemaTooNew,
    SerializationError,
    SteadError,
    SteadInterrupt,
    StepFailed,
    UsageError,
    WaitTimeout,
    WorkflowNotFound,
)
from ._retry import RetryPolicy
from ._workflow import Step, Workflow, step, workflow

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_ENGINE",
    "DatabaseError",
    "Engine",
    "EngineError",
    "EngineUnavailable",
    "ErrorInfo",
    "ExtraMissing",
    "InvalidArguments",
    "LeaseLost",
    "NonDeterminismError",
    "RetryPolicy",
    "RunCancelled",
    "RunError",
    "RunFailed",
    "RunFinished",
    "RunHandle",
    "RunIdConflict",
    "RunInfo",
    "RunNotFound",
    "RunStatus",
    "SchemaTooNew",
    "SerializationError",
    "SteadError",
    "SteadInterrupt",
    "Step",
    "StepFailed",
    "StepInfo",
    "UsageError",
    "WaitTimeout",
    "Worker",
    "Workflow",
    "WorkflowNotFound",
    "__version__",
    "connect",
    "in_workflow",
    "now",
    "patched",
    "publish",
    "random",
    "sleep",
    "step",
    "uuid4",
    "wait_for",
    "workflow",
]
