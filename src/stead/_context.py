"""What a running workflow sees: its run, the position of the current task, and the engine's runtime.

Step identity must not depend on timing. Every task created by workflow code gets a child index from its parent,
in creation order (a task factory on the loop does this); every journaled operation gets a sequence number inside
its task. ``asyncio.gather`` of steps that finish in any order therefore always maps each result to the same
caller. (``asyncio.as_completed`` creates its tasks in set order, by memory address: inside workflows it is
replaced by one that creates them in the order listed.)
"""

from __future__ import annotations

import asyncio
import contextvars
import hashlib
import random as _random
import uuid as _uuid
from collections.abc import Callable, Coroutine, Generator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from ._exceptions import StepFailed, UsageError, WorkflowExited
from ._retry import RetryPolicy

__all__ = [
    "REQUEST_PREFIX",
    "Exited",
    "Random",
    "Request",
    "RunRuntime",
    "Scope",
    "StepAttributes",
    "StepCall",
    "StepExit",
    "current_scope",
    "derived_random",
    "derived_uuid4",
    "enter_scope",
    "in_workflow",
    "install_task_factory",
    "now",
    "outside_workflow",
    "patched",
    "run_id",
    "publish",
    "random",
    "receive",
    "replied_request",
    "reply_step",
    "require_scope",
    "scope_var",
    "scoped_task_factory",
    "sleep",
    "step_failure",
    "uuid4",
    "wait_for",
    "workflow_code",
]


@dataclass(frozen=True)
class StepAttributes:
    """What a step is, as data: timelines, usage and tracing read these, never the step's name or summary.

    Journaled with the step (``to_json``) and returned in ``StepInfo.attributes``. Every field is optional; a
    user's ``@stead.step`` has none.
    """

    agent: str | None = None
    """The agent whose model call (or tool call) this is."""
    model: str | None = None
    """The model a model call asked."""
    tool: str | None = None
    """The tool a tool call ran."""
    call_id: str | None = None
    """The model's id of the tool call."""
    show_while_running: bool = False
    """Write the step's start before it runs (the embedded engine), so timelines show it while it takes its
    time, and stream its attempt lifecycle (``attempt_started``, ...) to watchers."""
    extra: Mapping[str, Any] = field(default_factory=dict)
    """Anything else a producer wants to tell (JSON data)."""

    def to_json(self) -> dict[str, Any]:
        """The attributes that are set, as JSON data."""
        data: dict[str, Any] = {
            key: value
            for key, value in (
                ("agent", self.agent),
                ("model", self.model),
                ("tool", self.tool),
                ("call_id", self.call_id),
            )
            if value is not None
        }
        if self.show_while_running:
            data["show_while_running"] = True
        if self.extra:
            data["extra"] = dict(self.extra)
        return data

    @classmethod
    def from_json(cls, data: Any) -> StepAttributes:
        """The attributes back from ``to_json``'s data (None or anything unreadable: no attributes)."""
        if not isinstance(data, Mapping):
            return cls()

        def text(key: str) -> str | None:
            value = data.get(key)
            return value if isinstance(value, str) else None

        extra = data.get("extra")
        return cls(
            agent=text("agent"),
            model=text("model"),
            tool=text("tool"),
            call_id=text("call_id"),
            show_while_running=data.get("show_while_running") is True,
            extra=dict(extra) if isinstance(extra, Mapping) else {},
        )


@dataclass(frozen=True)
class StepCall:
    """One call of a step, as the core hands it to an engine's runtime."""

    name: str
    """Stable name: the journal checks it on replay, Temporal uses it as the activity's identity."""

    fn: Any
    """The callable to run (sync or async); called with ``args`` and ``kwargs`` as given."""

    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)

    args_json: str | None = None
    """The arguments as JSON, fingerprinted to detect changed inputs on replay; ``None`` skips that check."""

    retry: RetryPolicy = field(default_factory=RetryPolicy)
    timeout: float | None = None
    """Seconds an attempt may take before it is abandoned and retried."""

    kind: str = "step"
    """What the step is for ("step", "model", "tool", ...); shown in timelines."""

    summary: str | None = None
    """One line for people: "model · Triage Agent · gpt-4o-mini". Only shown, never parsed: see ``attributes``."""

    attributes: StepAttributes = field(default_factory=StepAttributes)
    """What the step is, as data (agent, model, tool, ...): journaled with it and returned in ``StepInfo``."""

    position: str | None = None
    """The step's identity in the run, for callers that know a stabler one than the task tree (an agent run's
    tool call id); by default the next position of the calling task."""

    remote: Callable[[], tuple[str, Any] | None] | None = None
    """For engines that run steps on other machines (Temporal), where ``fn`` cannot travel: returns the name of a
    handler registered with ``stead._workflow.remote_handler`` and its JSON input, or None if this call cannot
    travel. Called at most once, only by engines that need it, so that it costs nothing elsewhere."""


class RunRuntime(Protocol):
    """What an engine provides to the workflow code of one run."""

    run_id: str

    async def execute_step(self, scope: Scope, call: StepCall) -> Any:
        """Run (or replay) a step; return its result as JSON data."""

    async def sleep(self, scope: Scope, seconds: float) -> None: ...

    async def wait_for(self, scope: Scope, name: str, timeout: float | None) -> Any:
        """The payload (JSON data) of the next message called ``name``."""

    def now(self, scope: Scope) -> datetime: ...

    def uuid4(self, scope: Scope) -> _uuid.UUID: ...

    def random(self, scope: Scope) -> float: ...

    def publish(self, key: str, value: Any) -> None:
        """Make ``value`` (JSON data) readable from outside the run under ``key``."""

    def patched(self, scope: Scope, change_id: str) -> bool: ...


class Scope:
    """The position of one task inside a run's task tree."""

    __slots__ = ("children", "det", "path", "runtime", "seq")

    def __init__(self, runtime: RunRuntime, path: str = "0") -> None:
        self.runtime = runtime
        self.path = path
        self.seq = 0
        self.children = 0
        self.det = 0

    def child(self) -> Scope:
        child = Scope(self.runtime, f"{self.path}.{self.children}")
        self.children += 1
        return child

    def peek_position(self) -> str:
        return f"{self.path}:{self.seq}"

    def next_position(self) -> str:
        """The identity of the next journaled operation in this task."""
        position = f"{self.path}:{self.seq}"
        self.seq += 1
        return position

    def deterministic_seed(self) -> bytes:
        """Bytes unique to this run, task and draw: the source of ``stead.uuid4`` and ``stead.random``."""
        self.det += 1
        return hashlib.blake2b(
            f"{self.runtime.run_id}|{self.path}|{self.det}".encode(), digest_size=16
        ).digest()


scope_var: contextvars.ContextVar[Scope | None] = contextvars.ContextVar("stead_scope", default=None)


def current_scope() -> Scope | None:
    return scope_var.get()


def in_workflow() -> bool:
    """Whether the caller runs as workflow code (not inside a step) of a stead run."""
    return scope_var.get() is not None


def require_scope(what: str) -> Scope:
    scope = scope_var.get()
    if scope is None:
        raise UsageError(
            f"stead.{what}() works only inside a @stead.workflow function (and not inside a step); "
            "start the workflow through an engine: `stead run FILE.py:WORKFLOW` or engine.start(...)."
        )
    return scope


@contextmanager
def enter_scope(scope: Scope | None) -> Generator[None, None, None]:
    token = scope_var.set(scope)
    try:
        yield
    finally:
        scope_var.reset(token)


def outside_workflow() -> AbstractContextManager[None]:
    """Run the body as ordinary code: steps and tasks started there are not part of the task tree."""
    return enter_scope(None)


def scoped_task_factory(previous: Any) -> Any:
    def factory(
        loop: asyncio.AbstractEventLoop,
        coro: Coroutine[Any, Any, Any],
        *,
        context: contextvars.Context | None = None,
    ) -> asyncio.Future[Any]:
        parent = scope_var.get()
        if parent is not None:
            context = context if context is not None else contextvars.copy_context()
            context.run(scope_var.set, parent.child())
            coro = _exit_in_task(coro)
        task: asyncio.Future[Any]
        if previous is not None:
            task = previous(loop, coro, context=context) if context is not None else previous(loop, coro)
        else:
            task = asyncio.Task(coro, loop=loop, context=context)
        if parent is not None:
            # An engine that hands replayed results out in their recorded order needs to know the run's tasks.
            track = getattr(parent.runtime, "track_task", None)
            if track is not None and isinstance(task, asyncio.Task):
                track(task)
        return task

    factory.stead = True  # type: ignore[attr-defined]
    return factory


_as_completed = asyncio.as_completed


def _ordered_as_completed(fs: Any, *, timeout: float | None = None) -> Any:
    """``asyncio.as_completed`` whose tasks are created in the order the code listed the awaitables.

    asyncio makes a task of each awaitable while iterating a set of them, which orders them by memory address: the
    tasks would take their child indices (their steps' positions) in an order that differs between the execution
    that recorded a run and the one that replays it.
    """
    if scope_var.get() is not None and not (asyncio.isfuture(fs) or asyncio.iscoroutine(fs)):
        fs = [asyncio.ensure_future(f) for f in dict.fromkeys(fs)]
    return _as_completed(fs, timeout=timeout)


def _install_ordered_as_completed() -> None:
    # Module attributes, so that code calling asyncio.as_completed(...) inside a workflow gets the ordered one.
    for module in (asyncio, asyncio.tasks):
        if getattr(module, "as_completed", None) is _as_completed:
            module.as_completed = _ordered_as_completed  # type: ignore[attr-defined]


# -- exit() in a run ------------------------------------------------------------------------------------------


class Exited(BaseException):
    """``SystemExit`` on its way to the run's root, where it becomes ``WorkflowExited``.

    asyncio lets a ``SystemExit`` raised in a task escape the event loop, which would end the worker; this one
    travels like any exception (and, like ``SystemExit``, ``except Exception`` does not catch it). ``step`` names
    the step whose code exited, if one did.
    """

    def __init__(self, code: object, step: str | None = None) -> None:
        super().__init__(code)
        self.code = code
        self.step = step


class StepExit(Exception):
    """A step's attempt called ``exit()``: an error the engines record (never retried) as ``SystemExit``, with the
    exit code as data; the workflow then sees the exit again (``step_failure``), live and on replay."""

    stead_retryable = False

    def __init__(self, code: object) -> None:
        super().__init__(code)
        self.code = code

    def __str__(self) -> str:
        return str(SystemExit(self.code))


def step_failure(
    step: str, error_type: str, message: str, attempts: int, data: dict[str, Any] | None = None
) -> BaseException:
    """What workflow code sees of a failed step: ``StepFailed``, or the exit again if the step's code exited."""
    if error_type == "SystemExit" and data is not None and "exit_code" in data:
        return Exited(data["exit_code"], step)
    return StepFailed(step, error_type, message, attempts, data)


async def _exit_in_task(coro: Coroutine[Any, Any, Any]) -> Any:
    try:
        return await coro
    except SystemExit as exc:
        raise Exited(exc.code) from exc


async def workflow_code(coro: Coroutine[Any, Any, Any]) -> Any:
    """Await a run's workflow function: ``exit()`` anywhere in its code (or in a step's) raises ``WorkflowExited``."""
    try:
        return await coro
    except SystemExit as exc:
        raise WorkflowExited(exc.code) from exc
    except Exited as exc:
        raise WorkflowExited(exc.code, exc.step) from exc
    except BaseExceptionGroup as group:  # a TaskGroup whose task called exit()
        exited, _ = group.split(Exited)
        if exited is None:
            raise
        first: BaseException = exited
        while isinstance(first, BaseExceptionGroup):
            first = first.exceptions[0]
        raise WorkflowExited(getattr(first, "code", None), getattr(first, "step", None)) from group


_install_ordered_as_completed()  # at import: before workflow code can bind asyncio.as_completed to a name


def install_task_factory(loop: asyncio.AbstractEventLoop | None = None) -> None:
    """Make tasks created by workflow code children of their creator's scope. Idempotent."""
    loop = loop or asyncio.get_running_loop()
    current = loop.get_task_factory()
    if getattr(current, "stead", False):
        return
    loop.set_task_factory(scoped_task_factory(current))


# -- the functions workflows call -----------------------------------------------------------------------------


async def sleep(seconds: float) -> None:
    """Sleep durably: the timer survives restarts of the worker."""
    if seconds < 0:
        raise UsageError(f"stead.sleep() needs a non-negative number of seconds, got {seconds}")
    scope = require_scope("sleep")
    await scope.runtime.sleep(scope, float(seconds))


async def wait_for(name: str, timeout: float | None = None) -> Any:
    """Wait durably for the next message ``name`` sent to this run (``stead send`` / ``engine.send``).

    Returns its payload. Raises :class:`stead.WaitTimeout` after ``timeout`` seconds without one.
    """
    if not name:
        raise UsageError("stead.wait_for() needs a message name")
    scope = require_scope("wait_for")
    return await scope.runtime.wait_for(scope, name, timeout)


REQUEST_PREFIX = "stead.request:"
"""A request ``name`` travels as the message ``REQUEST_PREFIX + name``; its reply is the step ``reply_step(id)``."""


_REPLY = "reply:"


def reply_step(request_id: str) -> str:
    """The name of the step that journals the reply to a request: the caller waits for it."""
    return _REPLY + request_id


def replied_request(call: StepCall) -> str | None:
    """The id of the request a step replies to, if it is a reply (``Request.reply``)."""
    return call.name[len(_REPLY) :] if call.kind == "reply" and call.name.startswith(_REPLY) else None


async def _reply_value(value: Any) -> Any:
    return value


class Request:
    """A request sent into the run (``engine.request`` / ``stead request``), whose caller waits for the reply."""

    __slots__ = ("_replied", "id", "name", "payload")

    def __init__(self, name: str, payload: Any, request_id: str) -> None:
        self.name = name
        self.payload = payload
        """The caller's payload (JSON data)."""
        self.id = request_id
        self._replied = False

    def __repr__(self) -> str:
        return f"Request({self.name!r}, {self.payload!r})"

    async def reply(self, value: Any = None) -> None:
        """Answer the request: the caller gets ``value`` (JSON data). Journaled, so a replay does not answer
        again."""
        if self._replied:
            raise UsageError(f"request {self.name!r} was answered already; a request takes one reply")
        scope = require_scope("Request.reply")
        from ._serde import to_json_value

        value = to_json_value(value, f"the reply to request {self.name!r}")
        self._replied = True
        call = StepCall(
            name=reply_step(self.id),
            fn=_reply_value,
            args=(value,),
            kind="reply",
            summary=f"reply to request {self.name!r}",
        )
        await scope.runtime.execute_step(scope, call)


async def receive(name: str, timeout: float | None = None) -> Request:
    """Wait durably for the next request ``name`` sent to this run (``engine.request`` / ``stead request``).

    Answer it with ``await request.reply(value)``: the caller gets ``value``. Raises :class:`stead.WaitTimeout`
    after ``timeout`` seconds without one.
    """
    if not name:
        raise UsageError("stead.receive() needs a request name")
    scope = require_scope("receive")
    envelope = await scope.runtime.wait_for(scope, REQUEST_PREFIX + name, timeout)
    return Request(name, envelope.get("payload"), str(envelope["request"]))


def now() -> datetime:
    """The current time (UTC), recorded so that a replay sees the same value. Outside a workflow: the clock."""
    scope = scope_var.get()
    if scope is None:
        return datetime.now(UTC)
    return scope.runtime.now(scope)


def uuid4() -> _uuid.UUID:
    """A random UUID that a replay of the run reproduces. Outside a workflow: ``uuid.uuid4()``."""
    scope = scope_var.get()
    if scope is None:
        return _uuid.uuid4()
    return scope.runtime.uuid4(scope)


def random() -> float:
    """A number in [0, 1) that a replay of the run reproduces. Outside a workflow: ``random.random()``."""
    scope = scope_var.get()
    if scope is None:
        return _random.random()
    return scope.runtime.random(scope)


def run_id() -> str:
    """The id of the run whose workflow code or step calls it; raises UsageError outside a run."""
    scope = scope_var.get()
    if scope is not None:
        return scope.runtime.run_id
    from ._events import current_attempt

    attempt = current_attempt()
    if attempt is None:
        raise UsageError(
            "stead.run_id() works only inside a run: in a @stead.workflow function or in a step it calls"
        )
    return attempt.run_id


class Random(_random.Random):
    """A ``random.Random`` whose draws a replay reproduces (``choice``, ``randint``, ``shuffle``, ``gauss``...).

    Created inside a workflow without a seed, it is seeded from the run and its position in the code, so every
    execution of the run draws the same values; elsewhere, or with a seed, it is a plain ``random.Random``.
    """

    def __init__(self, x: Any = None) -> None:
        if x is None:
            scope = scope_var.get()
            if scope is not None:
                x = scope.runtime.uuid4(scope).int
        super().__init__(x)


def publish(key: str, value: Any) -> None:
    """Publish ``value`` under ``key`` in the run's state, which outsiders read (``stead show``, ``engine.get``)."""
    from ._serde import to_json_value

    scope = require_scope("publish")
    scope.runtime.publish(key, to_json_value(value, f"the state {key!r}"))


def patched(change_id: str) -> bool:
    """Whether this run executes code written after the change ``change_id``.

    True for runs that reach this point with the new code; False for runs that recorded this point's step with
    the code from before the change. Branch on it to keep old runs replaying as they were recorded.
    """
    scope = require_scope("patched")
    return scope.runtime.patched(scope, change_id)


def derived_uuid4(seed: bytes) -> _uuid.UUID:
    return _uuid.UUID(bytes=seed, version=4)


def derived_random(seed: bytes) -> float:
    return int.from_bytes(seed[:7], "big") / float(1 << 56)
