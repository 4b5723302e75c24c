"""``@stead.workflow`` and ``@stead.step``."""

from __future__ import annotations

import asyncio
import functools
import inspect
import typing
from collections.abc import Awaitable, Callable
from typing import Any, Generic, ParamSpec, TypeVar, overload

from . import _serde
from ._context import StepCall, current_scope
from ._exceptions import InvalidArguments, UsageError
from ._retry import RetryPolicy

__all__ = ["Step", "Workflow", "step", "workflow"]

P = ParamSpec("P")
R = TypeVar("R")


def _signature(fn: Callable[..., Any]) -> inspect.Signature:
    try:
        return inspect.signature(fn, eval_str=True)
    except Exception:  # annotations that cannot be resolved here: show them as written
        return inspect.signature(fn)


def _hints(fn: Callable[..., Any]) -> dict[str, Any]:
    try:
        return typing.get_type_hints(fn)
    except Exception:  # unresolvable forward references: fall back to plain JSON values
        return {}


class Workflow(Generic[P, R]):
    """A durable workflow: an async function whose steps, timers and waits are journaled.

    Calling it directly runs the function as ordinary code; engines run it durably
    (``engine.start(wf, ...)``, ``stead run FILE.py:NAME``).
    """

    def __init__(self, fn: Callable[P, Awaitable[R]], name: str | None = None) -> None:
        if not inspect.iscoroutinefunction(fn):
            raise UsageError(f"@stead.workflow needs an async function; {fn.__qualname__} is not `async def`")
        self.fn = fn
        self.name = name or fn.__name__
        self.signature = _signature(fn)
        hints = _hints(fn)
        self._param_types = {p: hints.get(p, Any) for p in self.signature.parameters}
        self._result_type = hints.get("return", Any)
        functools.update_wrapper(self, fn)

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> Awaitable[R]:
        return self.fn(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<stead.Workflow {self.name}>"

    def encode_args(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
        """Check the arguments against the signature and return them as JSON."""
        try:
            bound = self.signature.bind(*args, **kwargs)
        except TypeError as exc:
            raise InvalidArguments(
                f"arguments do not fit workflow {self.name}{self.signature}: {exc}"
            ) from None
        return _serde.dumps(
            {"args": list(bound.args), "kwargs": bound.kwargs}, f"the arguments of workflow {self.name!r}"
        )

    def decode_args(self, args_json: str) -> tuple[list[Any], dict[str, Any]]:
        data = _serde.loads(args_json)
        bound = self.signature.bind(*data["args"], **data["kwargs"])
        for name, value in bound.arguments.items():
            kind = self.signature.parameters[name].kind
            annotation = self._param_types[name]
            what = f"argument {name!r} of workflow {self.name!r}"
            if kind is inspect.Parameter.VAR_POSITIONAL:
                bound.arguments[name] = tuple(_serde.decode(v, annotation, what) for v in value)
            elif kind is inspect.Parameter.VAR_KEYWORD:
                bound.arguments[name] = {k: _serde.decode(v, annotation, what) for k, v in value.items()}
            else:
                bound.arguments[name] = _serde.decode(value, annotation, what)
        return list(bound.args), dict(bound.kwargs)

    def encode_result(self, value: Any) -> str:
        return _serde.dumps(value, f"the result of workflow {self.name!r}")

    def decode_result(self, result_json: str | None) -> R:
        return typing.cast(
            R,
            _serde.decode(
                _serde.loads(result_json), self._result_type, f"the result of workflow {self.name!r}"
            ),
        )


@overload
def workflow(fn: Callable[P, Awaitable[R]], /) -> Workflow[P, R]: ...
@overload
def workflow(*, name: str | None = None) -> Callable[[Callable[P, Awaitable[R]]], Workflow[P, R]]: ...


def workflow(
    fn: Callable[P, Awaitable[R]] | None = None, /, *, name: str | None = None
) -> Workflow[P, R] | Callable[[Callable[P, Awaitable[R]]], Workflow[P, R]]:
    """Declare an async function a durable workflow. ``name`` defaults to the function's name."""
    if fn is not None:
        return Workflow(fn)

    def decorate(f: Callable[P, Awaitable[R]]) -> Workflow[P, R]:
        return Workflow(f, name=name)

    return decorate


class Step(Generic[P, R]):
    """A journaled side effect. Always awaited: ``result = await my_step(...)``.

    Inside a workflow each call runs at least once and is recorded exactly once; a replay returns the recorded
    result without running the function. Outside a workflow the function simply runs.
    """

    def __init__(
        self,
        fn: Callable[P, R] | Callable[P, Awaitable[R]],
        *,
        name: str | None = None,
        retry: RetryPolicy | None = None,
        timeout: float | None = None,
    ) -> None:
        if timeout is not None and timeout <= 0:
            raise UsageError(f"@stead.step timeout must be positive, got {timeout}")
        self.fn = fn
        self.name = name or fn.__qualname__
        self.retry = retry or RetryPolicy()
        self.timeout = timeout
        self.is_async = inspect.iscoroutinefunction(fn)
        self.signature = _signature(fn)
        self._result_type = _hints(fn).get("return", Any)
        functools.update_wrapper(self, fn)

    def __repr__(self) -> str:
        return f"<stead.Step {self.name}>"

    async def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        scope = current_scope()
        if scope is None:
            if self.is_async:
                return await typing.cast(Awaitable[R], self.fn(*args, **kwargs))
            return typing.cast(R, self.fn(*args, **kwargs))
        try:
            self.signature.bind(*args, **kwargs)
        except TypeError as exc:
            raise InvalidArguments(f"arguments do not fit step {self.name}{self.signature}: {exc}") from None
        call = StepCall(
            name=self.name,
            fn=self.fn,
            args=args,
            kwargs=kwargs,
            args_json=_serde.dumps([args, kwargs], f"the arguments of step {self.name!r}"),
            retry=self.retry,
            timeout=self.timeout,
        )
        data = await scope.runtime.execute_step(scope, call)
        return typing.cast(R, _serde.decode(data, self._result_type, f"the result of step {self.name!r}"))


@overload
def step(fn: Callable[P, Awaitable[R]], /) -> Step[P, R]: ...
@overload
def step(fn: Callable[P, R], /) -> Step[P, R]: ...
@overload
def step(
    *, name: str | None = None, retry: RetryPolicy | None = None, timeout: float | None = None
) -> Callable[[Callable[P, Any]], Step[P, Any]]: ...


def step(
    fn: Callable[P, Any] | None = None,
    /,
    *,
    name: str | None = None,
    retry: RetryPolicy | None = None,
    timeout: float | None = None,
) -> Step[P, Any] | Callable[[Callable[P, Any]], Step[P, Any]]:
    """Declare a function (sync or async) a durable step, with its retry policy and per-attempt timeout.

    Sync functions run in a worker thread so that they do not block other runs.
    """
    if fn is not None:
        return Step(fn)

    def decorate(f: Callable[P, Any]) -> Step[P, Any]:
        return Step(f, name=name, retry=retry, timeout=timeout)

    return decorate


async def call_in_attempt(call: StepCall) -> Any:
    """Run one attempt of a step's function: async functions on the loop, sync ones in a thread."""
    if inspect.iscoroutinefunction(call.fn):
        coro = call.fn(*call.args, **call.kwargs)
    else:
        coro = asyncio.to_thread(call.fn, *call.args, **call.kwargs)
    if call.timeout is None:
        return await coro
    return await asyncio.wait_for(coro, call.timeout)
