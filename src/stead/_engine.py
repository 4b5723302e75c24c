"""The engine protocol: what every engine (embedded SQLite, Temporal) offers to callers outside a run."""

from __future__ import annotations

import abc
import asyncio
import enum
import importlib
import math
import os
import re
import time
import uuid
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar, get_args

from ._context import REQUEST_PREFIX, StepAttributes, StepExit, reply_step
from ._events import RunEvent
from ._exceptions import (
    RunCancelled,
    RunFailed,
    RunFinished,
    SteadError,
    UsageError,
    WaitTimeout,
    WorkflowExited,
)
from ._workflow import Workflow

if TYPE_CHECKING:
    from ._replay import ReplayResult

__all__ = [
    "DEFAULT_ENGINE",
    "NO_REPLY",
    "Engine",
    "ErrorInfo",
    "RunHandle",
    "RunInfo",
    "RunStatus",
    "StepInfo",
    "WaitUntil",
    "Worker",
    "check_message",
    "check_request",
    "check_run_id",
    "check_until",
    "check_worker",
    "connect",
    "engine_url",
    "fork_plan",
    "no_reply_within",
    "not_reached",
    "prepare_start",
    "reached",
    "result_of",
]

R = TypeVar("R")

#: The engine used when neither ``--engine`` nor ``STEAD_ENGINE`` names one.
DEFAULT_ENGINE = "sqlite:///.stead/stead.db"

#: Engines stead ships, by URL scheme: "module:factory". The core imports them lazily and only by name.
_ENGINES = {
    "sqlite": "stead.engines.sqlite:SqliteEngine",
    "temporal": "stead.engines.temporal:TemporalEngine",
}


class RunStatus(enum.StrEnum):
    PENDING = "pending"
    """Started, not yet picked up by a worker."""
    RUNNING = "running"
    """A worker executes it, or will resume it (its worker stopped before it finished)."""
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in (RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELLED)


@dataclass(frozen=True)
class ErrorInfo:
    """An exception as recorded in the journal."""

    type: str
    message: str
    details: str | None = None
    """The traceback, where one was recorded."""
    data: dict[str, Any] | None = None
    """The error as data, for stead's errors that carry some (``SteadError.error_data``: a budget refusal) and
    for an exit (``{"exit_code": ...}``)."""

    def __str__(self) -> str:
        return f"{self.type}: {self.message}" if self.message else self.type

    @classmethod
    def from_exception(cls, error: BaseException, *, traceback: bool = True) -> ErrorInfo:
        details = None
        if traceback:
            import traceback as tb

            details = "".join(tb.format_exception(error)).rstrip()
        if isinstance(error, StepExit):  # what the step's code raised, as the user wrote it
            return cls("SystemExit", str(error), details, WorkflowExited.exit_data(error.code))
        data = error.error_data() if isinstance(error, SteadError) else None
        return cls(type(error).__name__, str(error), details, data)

    def to_json(self) -> str:
        import json

        fields: dict[str, Any] = {"type": self.type, "message": self.message, "details": self.details}
        if self.data is not None:
            fields["data"] = self.data
        return json.dumps(fields)

    @classmethod
    def from_json(cls, text: str) -> ErrorInfo:
        import json

        data = json.loads(text)
        extra = data.get("data")
        return cls(
            str(data.get("type", "Error")),
            str(data.get("message", "")),
            data.get("details"),
            extra if isinstance(extra, dict) else None,
        )


@dataclass(frozen=True)
class RunInfo:
    """One run as the engine knows it."""

    run_id: str
    workflow: str
    status: RunStatus
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None = None
    result: Any = None
    """The result as JSON data (see ``RunHandle.result`` for the typed value)."""
    error: ErrorInfo | None = None
    state: dict[str, Any] = field(default_factory=dict)
    """What the run published with ``stead.publish``."""
    source: str | None = None
    """Where the workflow's code was loaded from when the run started (a file or a module)."""
    waiting_for: list[str] = field(default_factory=list)
    """Names of the messages the run is waiting for, if any."""
    args: Any = None
    """The arguments as JSON data: {"args": [...], "kwargs": {...}}."""
    steps: int = 0
    """Steps recorded so far."""
    worker_alive: bool | None = None
    """For a running run, whether a live worker holds it (``False``: its worker died or stopped, so it goes on
    only when resumed or taken over); ``None`` when that does not apply or the engine cannot tell."""


@dataclass(frozen=True)
class StepInfo:
    """One journaled step of a run, for timelines."""

    position: str
    name: str
    kind: str
    status: str
    """"running", "pending" (a timer or wait), "done" or "failed"."""
    attempts: int
    started_at: datetime
    finished_at: datetime | None = None
    result: Any = None
    error: ErrorInfo | None = None
    summary: str | None = None
    attempt_errors: list[ErrorInfo] = field(default_factory=list)
    """Errors of the attempts that were retried."""
    attributes: StepAttributes = field(default_factory=StepAttributes)
    """What the step is, as data (agent, model, tool, ...), as its producer set it."""
    fp: str | None = None
    """The digest of the step's arguments, which replay compares."""
    args_json: str | None = None
    """The step's arguments as JSON, where the engine kept them (up to ``stead._replay.ARGS_LIMIT``)."""

    @property
    def duration(self) -> float | None:
        if self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()


class RunHandle(Generic[R]):
    """A run started on an engine: wait for its result, send it messages, cancel it."""

    def __init__(self, engine: Engine, run_id: str, workflow: Workflow[..., R] | None = None) -> None:
        self.engine = engine
        self.run_id = run_id
        self.workflow = workflow

    def __repr__(self) -> str:
        return f"<RunHandle {self.run_id}>"

    async def result(self, timeout: float | None = None) -> R:
        """Wait for the run to finish and return its result; raise RunFailed or RunCancelled otherwise."""
        value = await self.engine.outcome(self.run_id, timeout=timeout)
        if self.workflow is None:
            return value  # type: ignore[no-any-return]
        import json

        return self.workflow.decode_result(json.dumps(value))

    async def info(self) -> RunInfo:
        return await self.engine.get(self.run_id)

    async def send(self, name: str, payload: Any = None) -> None:
        await self.engine.send(self.run_id, name, payload)

    async def cancel(self) -> None:
        await self.engine.cancel(self.run_id)

    async def state(self) -> dict[str, Any]:
        return (await self.engine.get(self.run_id)).state


def result_of(info: RunInfo, workflow: Workflow[..., R] | None = None) -> R:
    """The outcome of a finished run: its result, or the exception that describes its end."""
    if info.status is RunStatus.COMPLETED:
        if workflow is None:
            return info.result  # type: ignore[no-any-return]
        import json

        return workflow.decode_result(json.dumps(info.result))
    if info.status is RunStatus.CANCELLED:
        raise RunCancelled(info.run_id)
    error = info.error or ErrorInfo("Error", "unknown failure")
    raise RunFailed(info.run_id, error.type, error.message, error.details, error.data)


WaitUntil = Literal["finished", "waiting", "suspended"]
"""A state ``Engine.wait`` waits for.

* ``"finished"``: the run completed, failed or was cancelled;
* ``"waiting"``: the run waits for a message or an approval (``RunInfo.waiting_for`` is not empty), or finished;
* ``"suspended"``: the run waits and no worker holds it in memory (the embedded engine parks it after its
  ``suspend`` seconds), or finished. Temporal evicts waiting runs by itself and does not say when: there it
  means the same as ``"waiting"``.
"""


def check_until(until: str) -> None:
    if until not in get_args(WaitUntil):
        raise UsageError(
            f"engine.wait(until={until!r}): use one of " + ", ".join(repr(u) for u in get_args(WaitUntil))
        )


def reached(info: RunInfo, until: WaitUntil) -> bool:
    """Whether the run is in the state ``until`` as far as ``info`` tells (a suspension it cannot tell)."""
    return info.status.finished or (until != "finished" and bool(info.waiting_for))


def not_reached(run_id: str, until: WaitUntil, timeout: float | None, status: RunStatus) -> TimeoutError:
    if until == "finished":
        return TimeoutError(f"run {run_id!r} did not finish within {timeout}s (it is {status})")
    return TimeoutError(f"run {run_id!r} was not {until} within {timeout}s (it is {status})")


class Worker(abc.ABC):
    """Executes runs of the given workflows and recovers those whose worker died."""

    finished: dict[str, str]
    """Runs this worker brought to an end, with their final status; whoever reports them may pop entries."""

    @abc.abstractmethod
    async def run(self) -> None:
        """Execute runs until :meth:`stop` is called or the task is cancelled."""

    @abc.abstractmethod
    def stop(self) -> None: ...

    async def __aenter__(self) -> Worker:
        import asyncio

        self._task = asyncio.create_task(self.run())
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
        await self._task


class Engine(abc.ABC):
    """A durable execution engine, seen from outside the runs."""

    url: str

    @abc.abstractmethod
    async def start(
        self,
        workflow: Workflow[..., R],
        *args: Any,
        run_id: str | None = None,
        source: str | None = None,
        **kwargs: Any,
    ) -> RunHandle[R]:
        """Start a run of ``workflow``; with ``run_id`` of a run that exists with the same arguments, return it.

        ``source`` records where the workflow's code lives (a file path or a module) so that ``stead resume``
        finds it again.
        """

    def handle(self, run_id: str, workflow: Workflow[..., R] | None = None) -> RunHandle[R]:
        return RunHandle(self, run_id, workflow)

    @abc.abstractmethod
    async def get(self, run_id: str) -> RunInfo:
        """The run's current information; raises RunNotFound."""

    @abc.abstractmethod
    async def steps(self, run_id: str) -> list[StepInfo]:
        """The run's journal, in the order the steps started."""

    @abc.abstractmethod
    async def list(
        self,
        *,
        status: RunStatus | Sequence[RunStatus] | None = None,
        workflow: str | None = None,
        limit: int = 100,
    ) -> list[RunInfo]:
        """Runs, newest first."""

    @abc.abstractmethod
    async def send(self, run_id: str, name: str, payload: Any = None) -> None:
        """Deliver a message to a run that is not finished; it receives it with ``stead.wait_for(name)``."""

    @abc.abstractmethod
    async def cancel(self, run_id: str) -> None:
        """Ask a run to stop; an idle run is cancelled at once."""

    @abc.abstractmethod
    async def wait(
        self, run_id: str, timeout: float | None = None, *, until: WaitUntil = "finished"
    ) -> RunInfo:
        """Wait until the run reaches the state ``until`` (see ``WaitUntil``; a finished run has reached every
        state) and return its information; raise TimeoutError after ``timeout`` seconds."""

    async def outcome(self, run_id: str, timeout: float | None = None) -> Any:
        """Wait for the run to finish; return its result as JSON, or raise RunFailed or RunCancelled
        (``RunHandle.result``). Engines that learn a result faster than the whole ``RunInfo`` answer sooner."""
        return result_of(await self.wait(run_id, timeout=timeout))

    @abc.abstractmethod
    async def reopen(self, run_id: str) -> RunInfo:
        """Make a failed run runnable again (after a fix): its recorded steps replay, its failed steps rerun."""

    async def replay(self, run_id: str, workflows: Iterable[Workflow[..., Any]]) -> ReplayResult:
        """Check the given code against the run's recorded steps, executing none; raise NonDeterminismError at
        the first divergence (another step, the same step with other arguments, a recorded step never reached).
        """
        from ._replay import replay_recorded

        info = await self.get(run_id)
        by_name = {wf.name: wf for wf in workflows}
        workflow = by_name.get(info.workflow)
        if workflow is None:
            raise UsageError(
                f"run {run_id!r} is of workflow {info.workflow!r}; the code given has only "
                + (", ".join(sorted(by_name)) or "no workflows")
            )
        return await replay_recorded(workflow, info, await self.steps(run_id))

    async def fork(
        self, source: str, /, at: str, *, run_id: str | None = None, replace: Any = None
    ) -> RunHandle[Any]:
        """Start a new run of ``source``'s workflow and arguments that takes the results ``source`` recorded
        before step ``at`` (a position such as ``0:3``, or a step number as ``stead inspect`` counts them) and
        executes from there on with the current code. With ``replace`` (JSON data), step ``at`` is not executed:
        its result (or the payload of the message it received) is ``replace``."""
        raise UsageError(f"the engine {self.url} cannot fork runs")

    @abc.abstractmethod
    def worker(
        self,
        workflows: Iterable[Workflow[..., Any]],
        *,
        concurrency: int = 100,
        run_ids: Iterable[str] | None = None,
    ) -> Worker:
        """A worker for these workflows; with ``run_ids``, it executes only those runs and stops after them."""

    def events(self, run_id: str, *, after: int = 0, follow: bool = True) -> AsyncIterator[RunEvent]:
        """The events the run's steps stream (model tokens, attempts), oldest first, from after event ``after``.

        With ``follow``, waits for new events until the run finishes (and watches the run: :meth:`watch`); else
        stops at the last one stored.
        """
        raise UsageError(f"the engine {self.url} does not stream run events")

    async def watch(self, run_id: str) -> None:
        """Say that somebody follows the run's events from now on, so that its model calls stream their tokens.

        ``events(follow=True)`` does it; call it before a worker takes the run to be sure that the run's first
        model call streams. A plain ``Runner.run`` call of a run nobody watches asks the model without streaming,
        as the SDK does (``Runner.run_streamed`` always streams). Engines that cannot tell only check the run
        exists.
        """
        await self.get(run_id)

    @abc.abstractmethod
    async def close(self) -> None: ...

    async def __aenter__(self) -> Engine:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def request(
        self, run_id: str, name: str, payload: Any = None, *, timeout: float | None = 60.0
    ) -> Any:
        """Send a request to a running run and return its reply (the run answers with ``stead.receive(name)`` and
        ``await request.reply(value)``). Raises ``stead.WaitTimeout`` when no reply came within ``timeout``
        seconds (the request stays queued), ``RunFinished`` when the run ended without replying."""
        check_request(name, timeout)
        request_id = uuid.uuid4().hex
        await self.send(run_id, REQUEST_PREFIX + name, {"request": request_id, "payload": payload})
        deadline = None if timeout is None else time.monotonic() + timeout
        found = await self._reply(run_id, reply_step(request_id), deadline)
        if found is NO_REPLY:
            raise no_reply_within(run_id, name, timeout)
        if isinstance(found, RunInfo):
            raise RunFinished.no_reply(run_id, found.status, name)
        return found.result

    async def _reply(self, run_id: str, step: str, deadline: float | None) -> Any:
        """The done step ``step`` once there is one, the run's info if it finished first, ``NO_REPLY`` at the
        deadline. This one reads the run's steps, ever less often; engines with change notification do better."""
        pause = 0.05
        while True:
            for info in await self.steps(run_id):
                if info.name == step and info.status == "done":
                    return info
            run = await self.get(run_id)
            if run.status.finished:
                return run
            if deadline is not None and time.monotonic() >= deadline:
                return NO_REPLY
            wait = pause if deadline is None else min(pause, max(0.0, deadline - time.monotonic()))
            await asyncio.sleep(wait)
            pause = min(pause * 1.5, 0.5)


NO_REPLY = object()
"""What ``Engine._reply`` returns when the deadline passed."""


def fork_plan(steps: Sequence[StepInfo], at: str) -> tuple[StepInfo, list[StepInfo]]:
    """The step ``at`` names and the recorded steps a fork at it takes over: those done that started before it
    started (in every branch of the task tree: a concurrent branch's step that started later runs again)."""
    chosen = [s for s in steps if s.kind != "patch"]
    target = next((s for s in chosen if s.position == at), None)
    if target is None and at.isdigit() and 1 <= int(at) <= len(chosen):
        target = chosen[int(at) - 1]
    if target is None:
        raise UsageError(
            f"no step {at!r} in the run: give a step's position (as `stead inspect RUN --steps` shows, "
            f"e.g. {chosen[0].position if chosen else '0:0'}) or its number, 1 to {len(chosen)}"
        )
    index = list(steps).index(target)
    kept = [
        s
        for i, s in enumerate(steps)
        if s is not target
        and s.status == "done"
        and (s.started_at < target.started_at or (s.started_at == target.started_at and i < index))
    ]
    return target, kept


_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@+=-]{0,199}$")


def prepare_start(
    workflow: Workflow[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any], run_id: str | None
) -> tuple[str, str]:
    """What every engine checks before it starts a run; returns the run id (given or new) and the arguments' JSON."""
    if not isinstance(workflow, Workflow):
        raise UsageError(f"engine.start() needs a @stead.workflow function, got {workflow!r}")
    args_json = workflow.encode_args(args, kwargs)
    if run_id is None:
        run_id = f"{workflow.name}-{uuid.uuid4().hex[:12]}"
    return check_run_id(run_id), args_json


def check_run_id(run_id: str) -> str:
    if not _RUN_ID.match(run_id):
        raise UsageError(
            f"invalid run id {run_id!r}: use 1 to 200 letters, digits and . _ : @ + = -, starting with a letter "
            "or digit"
        )
    return run_id


def check_message(name: str) -> None:
    """What every engine checks before it sends a message."""
    if not name or not isinstance(name, str):
        raise UsageError(f"a message needs a name (a non-empty string), got {name!r}")


def check_request(name: str, timeout: float | None) -> None:
    """What every engine checks before it sends a request."""
    check_message(name)
    if timeout is not None and not (math.isfinite(timeout) and timeout > 0):
        raise UsageError(f"timeout={timeout!r}: give a positive number of seconds, or None to wait forever")


def no_reply_within(run_id: str, name: str, timeout: float | None) -> WaitTimeout:
    """The error of a request whose reply did not come within ``timeout`` seconds."""
    return WaitTimeout(f"run {run_id!r} did not reply to request {name!r} within {timeout:g}s")


def check_worker(workflows: Iterable[Workflow[..., Any]], concurrency: int) -> dict[str, Workflow[..., Any]]:
    """What every engine checks before it makes a worker; returns the workflows by name."""
    by_name: dict[str, Workflow[..., Any]] = {}
    for wf in workflows:
        if not isinstance(wf, Workflow):
            raise UsageError(f"a worker runs @stead.workflow functions, got {wf!r}")
        by_name[wf.name] = wf
    if not by_name:
        raise UsageError("a worker needs at least one @stead.workflow")
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise UsageError(f"concurrency must be at least 1, got {concurrency!r}")
    return by_name


def engine_url(url: str | None = None) -> str:
    """The engine URL to use: the given one, else ``STEAD_ENGINE``, else the default SQLite file."""
    return url or os.environ.get("STEAD_ENGINE") or DEFAULT_ENGINE


def connect(url: str | None = None) -> Engine:
    """An engine client for ``url`` (``sqlite:///path.db``, ``temporal://host:port?namespace=…``)."""
    url = engine_url(url)
    scheme, sep, _ = url.partition("://")
    target = _ENGINES.get(scheme) if sep else None
    if target is None:
        known = ", ".join(f"{s}://…" for s in _ENGINES)
        raise UsageError(f"unknown engine URL {url!r}: use one of {known} (for example {DEFAULT_ENGINE})")
    module_name, _, attr = target.partition(":")
    module = importlib.import_module(module_name)
    factory = getattr(module, attr)
    engine: Engine = factory(url)
    return engine
