"""``@stead.workflow`` and ``@stead.step``."""

from __future__ import annotations

import asyncio
import functools
import importlib
import inspect
import typing
import weakref
from collections.abc import Awaitable, Callable
from typing import Any, Generic, ParamSpec, Protocol, TypeVar, overload

from . import _observe, _serde
from ._context import StepCall, StepExit, current_scope
from ._exceptions import InvalidArguments, UsageError
from ._retry import RetryPolicy

__all__ = [
    "RemoteContext",
    "Step",
    "StepDecorator",
    "Workflow",
    "call_in_attempt",
    "find_step",
    "remote_handler",
    "resolve_remote",
    "step",
    "workflow",
]

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


def _decode_bound(
    signature: inspect.Signature,
    param_types: dict[str, Any],
    args: list[Any],
    kwargs: dict[str, Any],
    owner: str,
) -> tuple[list[Any], dict[str, Any]]:
    """Arguments read back from JSON, each rebuilt as the type its parameter is annotated with."""
    bound = signature.bind(*args, **kwargs)
    for name, value in bound.arguments.items():
        kind = signature.parameters[name].kind
        annotation = param_types.get(name, Any)
        what = f"argument {name!r} of {owner}"
        if kind is inspect.Parameter.VAR_POSITIONAL:
            bound.arguments[name] = tuple(_serde.decode(v, annotation, what) for v in value)
        elif kind is inspect.Parameter.VAR_KEYWORD:
            bound.arguments[name] = {k: _serde.decode(v, annotation, what) for k, v in value.items()}
        else:
            bound.arguments[name] = _serde.decode(value, annotation, what)
    return list(bound.args), dict(bound.kwargs)


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
        return _decode_bound(
            self.signature, self._param_types, data["args"], data["kwargs"], f"workflow {self.name!r}"
        )

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
        hints = _hints(fn)
        self._param_types = {p: hints.get(p, Any) for p in self.signature.parameters}
        self._result_type = hints.get("return", Any)
        functools.update_wrapper(self, fn)
        _steps[(getattr(fn, "__module__", None) or "", self.name)] = self

    def __repr__(self) -> str:
        return f"<stead.Step {self.name}>"

    def decode_args(self, data: Any) -> tuple[list[Any], dict[str, Any]]:
        """The arguments of a call from their JSON form ``[args, kwargs]`` (as journaled), typed again."""
        args, kwargs = data
        return _decode_bound(
            self.signature, self._param_types, list(args), dict(kwargs), f"step {self.name!r}"
        )

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


class StepDecorator(Protocol):
    """What ``@stead.step(...)`` with options returns: it types the step as ``@stead.step`` does."""

    @overload
    def __call__(self, fn: Callable[P, Awaitable[R]], /) -> Step[P, R]: ...
    @overload
    def __call__(self, fn: Callable[P, R], /) -> Step[P, R]: ...


@overload
def step(fn: Callable[P, Awaitable[R]], /) -> Step[P, R]: ...
@overload
def step(fn: Callable[P, R], /) -> Step[P, R]: ...
@overload
def step(
    *, name: str | None = None, retry: RetryPolicy | None = None, timeout: float | None = None
) -> StepDecorator: ...


def step(
    fn: Callable[P, Any] | None = None,
    /,
    *,
    name: str | None = None,
    retry: RetryPolicy | None = None,
    timeout: float | None = None,
) -> Step[P, Any] | StepDecorator:
    """Declare a function (sync or async) a durable step, with its retry policy and per-attempt timeout.

    Sync functions run in a worker thread so that they do not block other runs.
    """
    if fn is not None:
        return Step(fn)

    def decorate(f: Callable[P, Any]) -> Step[P, Any]:
        return Step(f, name=name, retry=retry, timeout=timeout)

    return typing.cast(StepDecorator, decorate)


async def call_in_attempt(call: StepCall) -> Any:
    """Run one attempt of a step's function: async functions on the loop, sync ones in a thread."""
    observed = _observe.attempt(call)  # None unless an exporter (stead.otel) observes attempts
    if observed is None:
        return await _attempt(call)
    with observed as outcome:
        outcome.result = await _attempt(call)
        outcome.returned = True
    return outcome.result


async def _attempt(call: StepCall) -> Any:
    if inspect.iscoroutinefunction(call.fn):
        coro = call.fn(*call.args, **call.kwargs)
    else:
        coro = asyncio.to_thread(call.fn, *call.args, **call.kwargs)
    try:
        if call.timeout is None:
            return await coro
        return await asyncio.wait_for(coro, call.timeout)
    except SystemExit as exc:
        # Would end the worker (and every run it holds): the engine records it as the step's error instead.
        raise StepExit(exc.code) from exc


# -- running steps by name, on workers that did not start them ------------------------------------------------

#: Every step defined in this process, by (module, name). Engines whose steps run on other workers (Temporal)
#: find them here: the worker that executes a step has loaded the same program.
_steps: weakref.WeakValueDictionary[tuple[str, str], Step[..., Any]] = weakref.WeakValueDictionary()


def find_step(name: str, module: str | None = None) -> Step[..., Any]:
    """The step called ``name`` (defined in ``module`` if that module defines one); raises UsageError."""
    if module is not None:
        found = _steps.get((module, name))
        if found is not None:
            return found
    candidates = [s for (_, n), s in list(_steps.items()) if n == name]
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        raise UsageError(
            f"no step named {name!r} is defined in this worker; start the worker with the program that "
            "defines it (`stead worker app.py`), at module level"
        )
    modules = ", ".join(sorted(s.fn.__module__ for s in candidates))
    raise UsageError(
        f"several steps are named {name!r} (in {modules}); give them distinct names with @stead.step(name=...)"
    )


class RemoteContext(Protocol):
    """What an engine tells a remote handler about the step it runs."""

    run_id: str
    position: str

    async def earlier(self, position: str) -> tuple[Any, Any] | None:
        """The remote input and the result (JSON) of an earlier step of the same run, if the engine has them."""


RemoteHandler = Callable[[Any, RemoteContext], Awaitable[Any]]

_remote: dict[str, RemoteHandler] = {}


def remote_handler(name: str) -> Callable[[RemoteHandler], RemoteHandler]:
    """Register a handler that runs a step from its JSON input (see ``StepCall.remote``).

    Name it ``"package.module:name"`` after the module that registers it: a worker that does not know the
    handler yet imports that module.
    """

    def register(fn: RemoteHandler) -> RemoteHandler:
        _remote[name] = fn
        return fn

    return register


def resolve_remote(name: str) -> RemoteHandler:
    handler = _remote.get(name)
    if handler is None:
        module, sep, _ = name.partition(":")
        if sep:
            try:
                importlib.import_module(module)
            except ImportError as exc:
                raise UsageError(f"the step handler {name!r} needs module {module!r}: {exc}") from None
        handler = _remote.get(name)
    if handler is None:
        raise UsageError(f"no step handler named {name!r} is registered in this worker")
    return handler
