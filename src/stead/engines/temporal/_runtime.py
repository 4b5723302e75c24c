"""Workflow code on Temporal: each stead workflow becomes a Temporal workflow type of the same name.

The user's async function runs inside Temporal's deterministic event loop, with a ``RunRuntime`` that maps stead's
operations onto Temporal's: steps are activities (closures that cannot travel run on the worker that made them), ``sleep`` a
timer, ``wait_for`` a buffer of signals and ``wait_condition``, requests (``stead.receive``) updates whose handler
returns the run's reply to the caller, ``now``/``uuid4``/``random`` Temporal's
deterministic values, ``publish`` the run's memo (readable without a worker) and a query, ``patched`` Temporal's
patch markers.

Workflows run unsandboxed (``UnsandboxedWorkflowRunner``): stead's contract already asks workflow code to be
deterministic and is checked by replay; the sandbox would re-import the program and the Agents SDK for every run
and reject module-level state the SDK relies on.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import itertools
import json
import traceback
import uuid
from collections import deque
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RawValue
from temporalio.exceptions import ActivityError, ApplicationError, RetryState, TimeoutType
from temporalio.exceptions import CancelledError as TemporalCancelled
from temporalio.exceptions import TimeoutError as TemporalTimeout

from ... import _integrations as integrations
from ... import _observe, _serde
from ..._context import (
    REQUEST_PREFIX,
    Scope,
    StepCall,
    derived_random,
    derived_uuid4,
    replied_request,
    scoped_task_factory,
    step_failure,
    workflow_code,
)
from ..._context import scope_var as current_scope_var
from ..._exceptions import (
    NonDeterminismError,
    SteadError,
    StepFailed,
    UsageError,
    WaitTimeout,
)
from ..._replay import diverged_inputs, kept_args
from ..._retry import RetryPolicy
from ..._workflow import Workflow, find_step
from ._activities import CLOSURE_LOST, closures
from ._codec import (
    ACTIVITY_STEP,
    FORK_SEED,
    MEMO_CLOCK,
    MEMO_STATE,
    MEMO_WAITING,
    MEMO_WATCHED,
    QUERY_STATE,
    json_size,
    temporal_policy,
)
from ._config import TemporalOptions
from ._stream import EVENTS_SIGNAL, WATCH_SIGNAL

__all__ = ["Requests", "Serving", "TemporalRun", "workflow_class"]


class TemporalRun:
    """The runtime (``stead._context.RunRuntime``) of one run, inside its Temporal workflow."""

    def __init__(
        self,
        run_id: str,
        options: TemporalOptions,
        inbox: dict[str, deque[Any]],
        own_queue: str,
        diverged: list[NonDeterminismError] | None = None,
        requests: Requests | None = None,
    ) -> None:
        self.run_id = run_id
        self.diverged = [] if diverged is None else diverged
        """Where this worker collects the runs whose code diverged from their history (for replay checks)."""
        self.options = options
        self.own_queue = own_queue
        """The task queue only this worker polls: steps whose closures live here run through it."""
        self.inbox = inbox
        self.requests = requests if requests is not None else Requests()
        self.state: dict[str, Any] = {}
        self.waiting: list[str] = []
        self.clock: list[list[Any]] = []
        self.fatal: NonDeterminismError | None = None
        self.seeded: dict[str, dict[str, Any]] = {}
        """For a fork: the results of the steps it takes from the run it was forked from, by position."""
        self.watched = False
        """Whether somebody followed the run's events (its steps' attempts are told, see ``Attempt.watched``)."""
        self._dirty = False
        info = workflow.info()
        self._reset = info.run_id != info.first_execution_run_id
        self._fresh = False
        self._first_live: int | None = None

    @property
    def replaying(self) -> bool:
        """Whether the workflow code re-executes what an earlier execution did (telemetry emits nothing then).

        Temporal's replay flag, and more: a run reset by ``reopen`` re-executes its last workflow task live,
        though an earlier execution did that work already; it counts as replaying until it asks for a new step,
        as on the embedded engine.
        """
        try:
            if workflow.unsafe.is_replaying():
                return True
            if self._fresh or not self._reset:
                return False
            length = workflow.info().get_current_history_length()
        except Exception:  # asked outside the workflow's loop (an evicted workflow's teardown)
            return True
        if self._first_live is None:
            self._first_live = length
        return length == self._first_live

    def _live(self) -> None:
        """The code asks for something: once live, that is new work."""
        if not self._fresh and not workflow.unsafe.is_replaying():
            self._fresh = True

    def flush(self) -> None:
        """Write what changed (published state, waits, clock readings) to the memo, in one history event."""
        if not self._dirty:
            return
        self._dirty = False
        updates: dict[str, Any] = {
            MEMO_STATE: dict(self.state) or None,
            MEMO_WAITING: sorted(self.waiting) or None,
            MEMO_CLOCK: self.clock or None,
            MEMO_WATCHED: self.watched or None,
        }
        self.clock = []
        workflow.upsert_memo(updates)

    def watch(self) -> None:
        """Somebody follows the run's events (``WATCH_SIGNAL``): later steps know it, and so does the memo."""
        if not self.watched:
            self.watched = True
            self._dirty = True

    # -- steps ---------------------------------------------------------------------------------------------------

    async def execute_step(self, scope: Scope, call: StepCall) -> Any:
        if self.fatal is not None:
            raise self.fatal
        position = call.position or scope.next_position()
        request_id = replied_request(call)
        if request_id is not None:
            # The request's update returns the reply to its caller; its completion in the history journals it.
            value = call.args[0] if call.args else None
            self.requests.answer(request_id, value)
            return value
        fp = _serde.fingerprint(call.args_json) if call.args_json is not None else None
        self.flush()
        self._live()
        data: dict[str, Any] = {
            "step": call.name,
            "kind": call.kind,
            "position": position,
            "fp": fp,
            "summary": call.summary,
        }
        kept = kept_args(call.args_json)
        if kept is not None:
            data["args_json"] = kept  # echoed in the result, so that a replay shows both versions' arguments
        seeded = self.seeded.pop(position, None)
        if seeded is not None:
            # A fork: the run it was forked from recorded this step's result.
            self._check(data, seeded)
            return seeded.get("value")
        attributes = call.attributes.to_json()
        if attributes:
            data["attributes"] = attributes
        if call.timeout is not None:
            data["timeout"] = call.timeout
        if call.retry.jitter != RetryPolicy.jitter:
            data["jitter"] = call.retry.jitter
        if self.watched:
            data["watched"] = True
        # Temporal's own bound counts the attempts that raised and those lost with their worker in one: the
        # activity applies stead's two bounds (temporal._codec.policy_of).
        data["retry"] = [call.retry.max_attempts, call.retry.max_lost_attempts]
        summary = call.summary or call.name
        retry = temporal_policy(call.retry)
        timeout = timedelta(
            seconds=call.timeout + max(call.timeout, 1.0) if call.timeout else self.options.step_timeout
        )
        options: dict[str, Any] = {
            "start_to_close_timeout": timeout,
            "heartbeat_timeout": timedelta(seconds=self.options.heartbeat),
            "retry_policy": retry,
            "summary": summary,
        }
        form = call.remote() if call.remote is not None else None
        if form is None and not _travels(call):
            return await self._closure(call, data, options)
        if form is not None:
            data["remote"] = list(form)
        else:
            data["module"] = call.fn.__module__
            data["args"] = json.loads(call.args_json) if call.args_json else [call.args, call.kwargs]
        try:
            out = await workflow.execute_activity(
                ACTIVITY_STEP, data, task_queue=self.options.queue_for(call.name, call.kind), **options
            )
        except ActivityError as err:
            raise self._failed(call, data, err) from None
        self._check(data, out)
        return out.get("value")

    async def _closure(self, call: StepCall, data: dict[str, Any], options: dict[str, Any]) -> Any:
        """A step whose function cannot travel runs on this worker, through its own task queue.

        A normal activity (not a local one) so that it is recorded when it finishes, heartbeats, and survives a
        reopen. If this worker dies, the activity cannot start anywhere else: its schedule-to-start timeout
        brings the workflow, replayed by another worker that made the same closure again, to ask that worker.
        """
        for tries in itertools.count(1):
            token = f"{workflow.info().run_id}/{data['position']}/{tries}"
            closures[token] = call
            try:
                out = await workflow.execute_activity(
                    ACTIVITY_STEP,
                    {**data, "token": token},
                    task_queue=self.own_queue,
                    schedule_to_start_timeout=timedelta(seconds=max(2 * self.options.heartbeat, 5.0)),
                    **options,
                )
            except ActivityError as err:
                if _lost(err):
                    continue
                raise self._failed(call, data, err) from None
            finally:
                if closures.get(token) is call:
                    del closures[token]
            self._check(data, out)
            return out.get("value")
        raise AssertionError("unreachable")  # pragma: no cover

    def _check(self, asked: dict[str, Any], recorded: dict[str, Any]) -> None:
        """The recorded step at this point of the history must be the one the code asks for now."""
        same_fp = asked["fp"] is None or recorded.get("fp") is None or recorded.get("fp") == asked["fp"]
        if (
            recorded.get("step") == asked["step"]
            and recorded.get("position") == asked["position"]
            and same_fp
        ):
            return
        was, now = f"step {recorded.get('step')!r}", f"step {asked['step']!r}"
        if recorded.get("position") != asked["position"]:
            was += f" at {recorded.get('position')}"
            now += f" at {asked['position']}"
        if recorded.get("position") == asked["position"] and recorded.get("step") == asked["step"]:
            self.fatal = diverged_inputs(
                self.run_id,
                asked["position"],
                asked["step"],
                recorded.get("args_json"),
                asked.get("args_json"),
            )
        else:
            self.fatal = NonDeterminismError(self.run_id, asked["position"], was, now)
        self.diverged.append(self.fatal)
        raise self.fatal

    def _failed(self, call: StepCall, asked: dict[str, Any], err: ActivityError) -> BaseException:
        cause = err.cause
        if isinstance(cause, ApplicationError):
            details = cause.details[0] if cause.details and isinstance(cause.details[0], dict) else {}
            if "step" in details:
                self._check(asked, details)
            attempts = int(details.get("attempt", 1))
            data = details.get("data")
            return step_failure(
                call.name,
                cause.type or "Error",
                cause.message,
                attempts,
                data if isinstance(data, dict) else None,
            )
        attempts = call.retry.max_attempts if err.retry_state == RetryState.MAXIMUM_ATTEMPTS_REACHED else 1
        if isinstance(cause, TemporalTimeout):
            what = cause.type.name.lower().replace("_", "-") if cause.type is not None else "activity"
            return StepFailed(call.name, "TimeoutError", f"{what} timeout: {cause.message}", attempts)
        if isinstance(cause, TemporalCancelled):
            return asyncio.CancelledError()
        return StepFailed(call.name, type(cause).__name__, str(cause), attempts)

    # -- timers, messages, values --------------------------------------------------------------------------------

    async def sleep(self, scope: Scope, seconds: float) -> None:
        scope.next_position()
        self.flush()
        self._live()
        if seconds > 0:
            await workflow.sleep(seconds, summary=f"sleep {seconds:g}s")
        else:
            await asyncio.sleep(0)

    async def wait_for(self, scope: Scope, name: str, timeout: float | None) -> Any:
        scope.next_position()
        box = self.inbox.setdefault(name, deque())
        if box:
            return box.popleft()
        self.waiting.append(name)
        self._dirty = True
        self.flush()
        self._live()
        deadline = None if timeout is None else workflow.time() + timeout
        try:
            while not box:
                remaining = None if deadline is None else deadline - workflow.time()
                if remaining is not None and remaining <= 0:
                    raise WaitTimeout(f"no message {name!r} arrived within {timeout}s")
                try:
                    await workflow.wait_condition(
                        lambda: bool(box), timeout=remaining, timeout_summary=f"wait for {name!r}"
                    )
                except TimeoutError:
                    raise WaitTimeout(f"no message {name!r} arrived within {timeout}s") from None
        finally:
            self.waiting.remove(name)
            self._dirty = True
        return box.popleft()

    def now(self, scope: Scope) -> datetime:
        position = scope.next_position()
        value = workflow.now()
        self.clock.append([position, value.timestamp()])
        self._dirty = True
        return value

    # Derived from the run id and the position in the code, as on every engine: Temporal's own workflow.random()
    # is reseeded when a run is reset (stead's reopen), so values drawn before the fix would change after it.
    def uuid4(self, scope: Scope) -> uuid.UUID:
        return derived_uuid4(scope.deterministic_seed())

    def random(self, scope: Scope) -> float:
        return derived_random(scope.deterministic_seed())

    def publish(self, key: str, value: Any) -> None:
        if self.state.get(key, _MISSING) != value:
            self.state[key] = value
            self._dirty = True

    def patched(self, scope: Scope, change_id: str) -> bool:
        if workflow.patched(change_id):
            scope.next_position()
            return True
        return False


_MISSING = object()


def _lost(err: ActivityError) -> bool:
    """Whether a closure step failed only because no worker held its closure (its worker died or moved on)."""
    cause = err.cause
    if isinstance(cause, ApplicationError):
        return cause.type == CLOSURE_LOST
    return isinstance(cause, TemporalTimeout) and cause.type == TimeoutType.SCHEDULE_TO_START


def _travels(call: StepCall) -> bool:
    """Whether another worker can run the call: it is a ``@stead.step`` defined at module level."""
    module = getattr(call.fn, "__module__", None)
    if module is None or "<locals>" in getattr(call.fn, "__qualname__", "<locals>"):
        return False
    try:
        step = find_step(call.name, module)
    except UsageError:
        return False
    return step.fn is call.fn


def _scope_tasks(loop: asyncio.AbstractEventLoop) -> None:
    """Give tasks created by workflow code their own scopes, as the embedded engine's task factory does.

    Temporal's workflow loop creates tasks itself and takes no task factory, so its ``create_task`` is wrapped.
    """
    if getattr(loop, "_stead_scoped", False):
        return
    original = loop.create_task

    def create_task(
        coro: Coroutine[Any, Any, Any], *, name: str | None = None, context: contextvars.Context | None = None
    ) -> asyncio.Task[Any]:
        def make(
            _: asyncio.AbstractEventLoop,
            c: Coroutine[Any, Any, Any],
            context: contextvars.Context | None = None,
        ) -> asyncio.Task[Any]:
            return original(c, name=name, context=context)

        task: asyncio.Task[Any] = scoped_task_factory(make)(loop, coro, context=context)
        return task

    loop.create_task = create_task  # type: ignore[method-assign,assignment]
    loop._stead_scoped = True  # type: ignore[attr-defined]


class Requests:
    """The requests (Temporal updates) of one run whose callers wait for a reply, and the replies given."""

    def __init__(self) -> None:
        self.open: set[str] = set()
        self.replies: dict[str, Any] = {}

    def answer(self, request_id: str, value: Any) -> None:
        # A request with no caller waiting (one a fork inherited) is answered to nobody.
        if request_id in self.open:
            self.replies[request_id] = value


def _request_envelope(name: str, args: Sequence[RawValue]) -> dict[str, Any]:
    """The request an update carries, or the reason it is no stead request (the update is rejected)."""
    if not name.startswith(REQUEST_PREFIX) or len(name) == len(REQUEST_PREFIX):
        raise ApplicationError(
            f"this run takes updates named {REQUEST_PREFIX}NAME (stead request RUN NAME), not {name!r}",
            type="UsageError",
            non_retryable=True,
        )
    envelope = workflow.payload_converter().from_payload(args[0].payload) if len(args) == 1 else None
    if not isinstance(envelope, dict) or not isinstance(envelope.get("request"), str):
        raise ApplicationError(
            f"update {name!r} takes one argument, {{'request': ID, 'payload': ...}}; send requests with "
            "`stead request` or engine.request()",
            type="UsageError",
            non_retryable=True,
        )
    return envelope


class _SteadWorkflow:
    """What every generated workflow class shares: the message buffer, requests and the state query."""

    def __init__(self) -> None:
        self._inbox: dict[str, deque[Any]] = {}
        self._requests = Requests()
        self._run: TemporalRun | None = None
        self._watched = False

    @workflow.signal(dynamic=True)
    def _message(self, name: str, args: Sequence[RawValue]) -> None:
        if name == EVENTS_SIGNAL:
            return  # what steps streamed, for consumers outside: the history holds it
        if name == WATCH_SIGNAL:
            self._watched = True
            if self._run is not None:
                self._run.watch()
                self._run.flush()  # the memo says it at once: the next watcher sends no signal
            return
        payload = workflow.payload_converter().from_payload(args[0].payload) if args else None
        self._inbox.setdefault(name, deque()).append(payload)

    # Abandoned when the run ends without a reply: the caller is told the run finished without replying.
    @workflow.update(dynamic=True, unfinished_policy=workflow.HandlerUnfinishedPolicy.ABANDON)
    async def _request(self, name: str, args: Sequence[RawValue]) -> Any:
        """A request (``engine.request``): queued for ``stead.receive``; returns the run's reply to the caller."""
        envelope = _request_envelope(name, args)
        request_id = envelope["request"]
        requests = self._requests
        requests.open.add(request_id)
        self._inbox.setdefault(name, deque()).append(envelope)
        try:
            await workflow.wait_condition(lambda: request_id in requests.replies)
        finally:
            requests.open.discard(request_id)
        return requests.replies.pop(request_id)

    @_request.validator
    def _check_request(self, name: str, args: Sequence[RawValue]) -> None:
        _request_envelope(name, args)

    @workflow.query(name=QUERY_STATE)
    def _state(self) -> dict[str, Any]:
        run = self._run
        return {"state": dict(run.state) if run else {}, "waiting_for": sorted(run.waiting) if run else []}


@dataclass(frozen=True)
class Serving:
    """What the workflows of one worker share."""

    options: TemporalOptions
    finished: dict[str, str]
    """Runs this worker finished, with their status (for `stead worker` to report)."""
    own_queue: str
    """The task queue only this worker polls."""
    diverged: list[NonDeterminismError] = field(default_factory=list)


def _closed_elsewhere(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is not loop
    except RuntimeError:
        return True


async def _observed(run: TemporalRun, wf: Workflow[..., Any], created: float, fn: Any) -> Any:
    """The workflow code inside an observed execution (``stead._observe``), for exporters such as stead.otel."""
    bracket = _observe.execution(run, wf.name, created)
    bracket.__enter__()
    try:
        value = await fn()
    except BaseException as exc:
        with contextlib.suppress(ValueError):  # an evicted workflow is closed outside its context
            bracket.__exit__(type(exc), exc, exc.__traceback__)
        raise
    bracket.__exit__(None, None, None)
    return value


async def _execute(instance: _SteadWorkflow, wf: Workflow[..., Any], serving: Serving, data: Any) -> Any:
    info = workflow.info()
    options = serving.options
    run = TemporalRun(
        info.workflow_id, options, instance._inbox, serving.own_queue, serving.diverged, instance._requests
    )
    instance._run = run
    if instance._watched:  # a watch signal that came with the run's first workflow task
        run.watch()
    loop = asyncio.get_running_loop()
    _scope_tasks(loop)
    integrations.activate()

    def done(status: str) -> None:
        # Not in a `finally`: a workflow evicted from the cache is closed outside its event loop.
        if not workflow.unsafe.is_replaying():
            serving.finished[info.workflow_id] = status

    async def body() -> Any:
        seed = data.pop(FORK_SEED, None) if isinstance(data, dict) else None
        if isinstance(seed, dict):
            run.seeded = dict(seed.get("steps") or {})
            for name, payloads in (seed.get("messages") or {}).items():
                instance._inbox.setdefault(name, deque()).extendleft(reversed(payloads))
        args, kwargs = wf.decode_args(json.dumps(data))
        # Set, never reset: the context belongs to the workflow's task and ends with it, and an evicted workflow
        # is closed outside its context, where a reset would fail.
        current_scope_var.set(Scope(run))
        value = await workflow_code(wf.fn(*args, **kwargs))
        if run.fatal is not None:
            raise run.fatal
        return value

    try:
        value = await _observed(run, wf, info.start_time.timestamp(), body)
        result = json.loads(wf.encode_result(value))
        size = json_size(result)
        if size > options.payload_limit:
            raise UsageError(
                f"the result of workflow {wf.name!r} takes {size:,} bytes, over the {options.payload_limit:,} bytes "
                "a Temporal payload may take; return a reference to large data instead"
            )
        run.flush()
        done("completed")
        return result
    except asyncio.CancelledError:
        if _closed_elsewhere(loop):
            raise GeneratorExit from None
        done("cancelled")
        raise
    except (ApplicationError, workflow.NondeterminismError):
        run.flush()
        done("failed")
        raise
    except Exception as exc:
        if _closed_elsewhere(loop):
            # A workflow its worker dropped, closed by the garbage collector outside its loop: the code in it
            # that resets context variables fails; that is no failure of the run, which another worker continues.
            raise GeneratorExit from None
        error = run.fatal or exc
        if isinstance(error, NonDeterminismError) and workflow.unsafe.is_replaying():
            # The code diverged in the middle of the recorded history, where failing the run is itself a divergence:
            # fail the workflow task instead, with stead's message. The run waits, unchanged, for a worker whose
            # code matches (fixed, or guarded with stead.patched); `stead show` says why it does not move.
            raise error from None
        run.flush()
        done("failed")
        details: dict[str, Any] = {"traceback": "".join(traceback.format_exception(error)).rstrip()}
        data = error.error_data() if isinstance(error, SteadError) else None
        if data is not None:
            details["data"] = data
        raise ApplicationError(str(error), details, type=type(error).__name__, non_retryable=True) from None


def workflow_class(wf: Workflow[..., Any], serving: Serving) -> type:
    """A Temporal workflow class named after ``wf``, whose run executes it with stead's runtime."""
    class_name = f"SteadWorkflow_{abs(hash(wf.name)):x}"

    async def run(self: _SteadWorkflow, data: Any) -> Any:
        return await _execute(self, wf, serving, data)

    run.__qualname__ = f"{class_name}.run"
    cls = type(class_name, (_SteadWorkflow,), {"run": workflow.run(run)})
    cls.__qualname__ = class_name
    defined: type = workflow.defn(name=wf.name, sandboxed=False)(cls)
    return defined
