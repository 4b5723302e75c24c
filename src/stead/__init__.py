"""stead: crash-proof AI agents.

Inside a ``@stead.workflow`` function every step (and, with the OpenAI Agents SDK, every model and tool call) is
journaled: a crashed run resumes where it stopped and never repeats a finished step. One program runs on the
embedded SQLite engine (the default) or on Temporal, chosen by an engine URL.
"""

from ._context import StepAttributes, in_workflow, now, patched, publish, random, sleep, uuid4, wait_for
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
from ._events import RunEvent, emit
from ._exceptions import (
    BudgetExceeded,
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
from ._usage import AgentUsage, Budget, Price, PriceTable, RunUsage, TokenUsage, budget, prices, usage
from ._workflow import Step, Workflow, step, workflow

__version__ = "0.1.0"

__all__ = [
    "AgentUsage",
    "Budget",
    "BudgetExceeded",
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
    "Price",
    "PriceTable",
    "RetryPolicy",
    "RunCancelled",
    "RunEvent",
    "RunError",
    "RunFailed",
    "RunFinished",
    "RunHandle",
    "RunIdConflict",
    "RunInfo",
    "RunNotFound",
    "RunStatus",
    "RunUsage",
    "SchemaTooNew",
    "SerializationError",
    "SteadError",
    "SteadInterrupt",
    "Step",
    "StepAttributes",
    "StepFailed",
    "StepInfo",
    "TokenUsage",
    "UsageError",
    "WaitTimeout",
    "Worker",
    "Workflow",
    "WorkflowNotFound",
    "__version__",
    "budget",
    "connect",
    "emit",
    "in_workflow",
    "now",
    "patched",
    "prices",
    "publish",
    "random",
    "sleep",
    "step",
    "usage",
    "uuid4",
    "wait_for",
    "workflow",
]
