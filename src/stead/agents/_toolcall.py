"""One attempt of a function tool call, wherever it runs, and the policy that decides what its errors become.

The SDK's ``@function_tool`` invokes a tool through ``_FailureHandlingFunctionToolInvoker``: the tool's own code
(``_invoke_tool_impl``), and around it the failure handling that turns an exception into text for the model. stead
sits between the two: every attempt of the implementation is a journaled step attempt, transient errors are
retried by stead's policy, a bug can stop the run for a fix, and only the final error reaches the SDK's failure
handling. The same attempt runs in the workflow's process (embedded engine) or on a worker (Temporal).

An attempt's journaled result is the tool's output as JSON, or, when there is more to tell, an envelope
``{"stead:tool": {"output" | "error": ..., "context": ...}}``: the handled error's text, and the fields of the run
context the call changed (so that a replay leaves the same context as the live run).
"""

from __future__ import annotations

import contextvars
import copy
import dataclasses
import importlib
import sys
import typing
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

from agents.exceptions import ModelBehaviorError
from agents.tool import (
    FunctionTool,
    _FailureHandlingFunctionToolInvoker,
    maybe_invoke_function_tool_failure_error_function,
)
from agents.tool_context import ToolContext
from pydantic import BaseModel

from .. import _serde
from .._events import current_attempt
from .._exceptions import SerializationError, UsageError
from .._retry import RetryPolicy, is_retryable
from ._request import normalize_tool_output

__all__ = [
    "ENVELOPE",
    "TOOL_RETRY",
    "OnBug",
    "ToolOptions",
    "apply_context",
    "changes_since",
    "context_fields",
    "context_type_name",
    "has_fields",
    "implementation_of",
    "is_transient",
    "options_for",
    "resolve_context_type",
    "run_attempt",
    "tool_defaults",
    "tool_options",
]

TOOL_RETRY = RetryPolicy(max_attempts=3, initial_interval=1.0)
"""Retries of a tool whose own code raised a transient error (see :func:`is_transient`); after the last attempt
the error goes to the SDK's failure handling (by default, text for the model)."""

OnBug = Literal["stop", "model"]

ENVELOPE = "stead:tool"
_OPTIONS = "__stead_tool_options__"


@dataclass(frozen=True)
class ToolOptions:
    """How stead runs one function tool. ``None`` fields inherit from :func:`tool_defaults`."""

    retry: RetryPolicy | None = None
    """Retries of transient errors (HTTP 408/409/429/5xx, connection errors, timeouts); default ``TOOL_RETRY``."""

    on_bug: OnBug | None = None
    """What an unexpected exception (a bug: not transient) does. ``"stop"``: the run fails at this step, resumable
    with ``stead resume`` once the code is fixed; ``"model"``: the SDK's failure handling turns it into text for
    the model. Default: ``"stop"``, except for tools with their own ``failure_error_function``."""


_global = ToolOptions()
_scoped: contextvars.ContextVar[ToolOptions | None] = contextvars.ContextVar(
    "stead_tool_options", default=None
)


def tool_options(
    tool: FunctionTool, *, retry: RetryPolicy | None = None, on_bug: OnBug | None = None
) -> FunctionTool:
    """Set how stead retries ``tool`` and what a bug in it does; returns the tool (usable around ``@function_tool``)."""
    if not isinstance(tool, FunctionTool):
        raise UsageError(
            f"stead.agents.tool_options() takes a FunctionTool (made by @function_tool), got {type(tool).__name__}"
        )
    _check(retry, on_bug)
    setattr(tool, _OPTIONS, ToolOptions(retry, on_bug))
    return tool


def tool_defaults(*, retry: RetryPolicy | None = None, on_bug: OnBug | None = None) -> None:
    """Defaults for every function tool: called inside a workflow, for the rest of that run; elsewhere, for the
    process (call it where the program starts, before workers run)."""
    global _global
    _check(retry, on_bug)
    from .._context import in_workflow

    if in_workflow():
        base = _scoped.get() or _global
        _scoped.set(ToolOptions(retry or base.retry, on_bug or base.on_bug))
    else:
        _global = ToolOptions(retry or _global.retry, on_bug or _global.on_bug)


def _check(retry: RetryPolicy | None, on_bug: str | None) -> None:
    if on_bug is not None and on_bug not in ("stop", "model"):
        raise UsageError(f"on_bug must be 'stop' or 'model', got {on_bug!r}")
    if retry is not None and not isinstance(retry, RetryPolicy):
        raise UsageError(f"retry must be a stead.RetryPolicy, got {type(retry).__name__}")


def options_for(tool: FunctionTool) -> tuple[RetryPolicy, OnBug]:
    """The tool's effective retry policy and bug policy: the tool's own, else the run's, else the process's."""
    own: ToolOptions = getattr(tool, _OPTIONS, None) or ToolOptions()
    scoped = _scoped.get() or ToolOptions()
    retry = own.retry or scoped.retry or _global.retry or TOOL_RETRY
    on_bug = own.on_bug or scoped.on_bug or _global.on_bug
    if on_bug is None:
        # A tool whose author wrote a failure_error_function has said what its errors mean to the model.
        on_bug = "stop" if getattr(tool, "_use_default_failure_error_function", True) else "model"
    return retry, on_bug


def is_transient(error: BaseException, policy: RetryPolicy) -> bool:
    """Whether a tool's error says "try again later": the classification of model calls (HTTP 408/409/429/5xx,
    connection errors, timeouts), or an error marked ``stead_retryable = True``; never one the policy excludes."""
    explicit = getattr(error, "stead_retryable", None)
    if isinstance(explicit, bool):
        transient = explicit
    else:
        status = getattr(error, "status_code", None)
        if status is None:
            status = getattr(getattr(error, "response", None), "status_code", None)
        if isinstance(status, int):
            transient = is_retryable(error)  # 408/409/429/5xx
        else:
            transient = isinstance(error, ConnectionError | TimeoutError) or _is_network_error(error)
    return transient and policy.retryable(error)


def _is_network_error(error: BaseException) -> bool:
    # httpx's and openai's transport errors carry no status; matched by name, without importing either.
    return any((cls.__module__.split(".")[0], cls.__name__) in _NETWORK_ERRORS for cls in type(error).__mro__)


_NETWORK_ERRORS = frozenset({("httpx", "TransportError"), ("openai", "APIConnectionError")})


def _mark(error: BaseException, retryable: bool) -> None:
    try:
        error.stead_retryable = retryable  # type: ignore[attr-defined]
    except AttributeError:  # pragma: no cover - exceptions with __slots__
        pass


Impl = Callable[[ToolContext[Any], str], Awaitable[Any]]


def implementation_of(tool: FunctionTool) -> Impl | None:
    """The tool's own code inside the SDK's failure handling, if the SDK built the tool (``@function_tool``)."""
    invoker = tool.on_invoke_tool
    if isinstance(invoker, _FailureHandlingFunctionToolInvoker):
        return invoker._invoke_tool_impl
    return None


async def run_attempt(
    tool: FunctionTool, impl: Impl, ctx: ToolContext[Any], arguments: str, retry: RetryPolicy, on_bug: OnBug
) -> Any:
    """One attempt of a tool call; what it returns is journaled. Raises what the engine should retry, or what
    stops the run."""
    before = context_fields(ctx.context)
    try:
        output = await impl(ctx, arguments)
    except Exception as exc:
        attempt = current_attempt()
        number = attempt.counted if attempt is not None else 1  # attempts lost with a worker do not count
        if is_transient(exc, retry):
            if retry.allows(number):
                _mark(exc, True)
                raise
        elif on_bug == "stop" and not isinstance(exc, ModelBehaviorError):
            # A bug (the model's malformed arguments are not one): stop here until the code is fixed.
            _mark(exc, False)
            raise
        text = await maybe_invoke_function_tool_failure_error_function(
            function_tool=tool, context=ctx, error=exc
        )
        if text is None:  # failure_error_function=None: the SDK lets the error escape the run
            _mark(exc, False)
            raise
        body: dict[str, Any] = {
            "error": {
                "type": type(exc).__name__,
                "message": str(exc),
                "text": text,
                "default": bool(getattr(ctx, "_function_tool_default_failure_handled", False)),
            }
        }
    else:
        body = {"output": normalize_tool_output(output)}
    changes = _changes(before, context_fields(ctx.context))
    if not changes and "output" in body:
        return body["output"]
    if changes:
        body["context"] = changes
    return {ENVELOPE: body}


# -- the run context ------------------------------------------------------------------------------------------


def context_fields(context: Any) -> dict[str, Any]:
    """The run context's top-level fields as JSON (a dataclass's fields, a pydantic model's, a dict's keys)."""
    if context is None:
        return {}
    if isinstance(context, BaseModel):
        names: list[str] = list(type(context).model_fields)
    elif dataclasses.is_dataclass(context) and not isinstance(context, type):
        names = [f.name for f in dataclasses.fields(context)]
    elif isinstance(context, dict):
        names = [k for k in context if isinstance(k, str)]
    else:
        return {}
    out: dict[str, Any] = {}
    for name in names:
        value = context[name] if isinstance(context, dict) else getattr(context, name, None)
        try:
            # A copy: JSON data made of plain values is the live object itself, which the tool may mutate.
            out[name] = copy.deepcopy(_serde.to_json_value(value, f"the run context's field {name!r}"))
        except SerializationError:
            continue  # a field that cannot be journaled (a client, a lock) is the program's own business
    return out


def _changes(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in after.items() if k not in before or before[k] != v}


def has_fields(context: Any) -> bool:
    """Whether the run context is one whose changes stead journals (a dataclass, a pydantic model, a dict)."""
    return isinstance(context, BaseModel | dict) or (
        dataclasses.is_dataclass(context) and not isinstance(context, type)
    )


def changes_since(before: dict[str, Any], context: Any) -> dict[str, Any]:
    """The fields of ``context`` that differ from ``before`` (what :func:`context_fields` gave earlier)."""
    return _changes(before, context_fields(context))


def _field_types(cls: type) -> dict[str, Any]:
    if issubclass(cls, BaseModel):
        return {name: f.annotation for name, f in cls.model_fields.items()}
    try:
        return typing.get_type_hints(cls)
    except Exception:
        return {}


def apply_context(context: Any, changes: dict[str, Any]) -> None:
    """Set the fields a tool call changed onto the live context (a replay, or a call that ran on a worker)."""
    if context is None or not changes:
        return
    current = context_fields(context)
    types = {} if isinstance(context, dict) else _field_types(type(context))
    for name, data in changes.items():
        if name in current and current[name] == data:
            continue  # the call ran here: the live object has the change already
        if isinstance(context, dict):
            context[name] = data
            continue
        value = _serde.decode(data, types.get(name), f"the run context's field {name!r}")
        try:
            setattr(context, name, value)
        except (AttributeError, TypeError, ValueError):
            object.__setattr__(context, name, value)  # frozen dataclasses and models: the recorded value wins


def context_type_name(context: Any) -> str | None:
    """``module:qualname`` of a typed context, for a worker to rebuild it."""
    if isinstance(context, BaseModel) or (
        dataclasses.is_dataclass(context) and not isinstance(context, type)
    ):
        cls = type(context)
        return f"{cls.__module__}:{cls.__qualname__}"
    return None


def resolve_context_type(name: str) -> type | None:
    """The class ``module:qualname`` names on this worker, found under another module name if need be."""
    module_name, _, qualname = name.partition(":")

    def lookup(module: Any) -> type | None:
        value: Any = module
        for part in qualname.split("."):
            value = getattr(value, part, None)
        return value if isinstance(value, type) and value.__qualname__ == qualname else None

    module = sys.modules.get(module_name)
    if module is None and not module_name.startswith("_stead_app_"):
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            module = None
    found = lookup(module) if module is not None else None
    if found is not None:
        return found
    # The program may be loaded under another module name on this worker.
    candidates = {id(c): c for m in list(sys.modules.values()) if m is not None for c in [lookup(m)] if c}
    return next(iter(candidates.values())) if len(candidates) == 1 else None
