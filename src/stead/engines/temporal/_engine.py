"""The Temporal engine, seen from outside the runs: start, inspect, message, cancel and reopen runs.

A run id is a Temporal workflow id, used once: starting it again with the same arguments returns that run (the
start is refused with ``REJECT_DUPLICATE``/``FAIL`` and the existing run's arguments, fingerprinted in its memo, are
compared). Runs of an engine are the workflows of its task queue. Reopening a failed run resets it (Temporal's
reset) to the workflow task before its first failed step was scheduled: recorded steps before that point replay,
that step and everything after it run again (steps scheduled in the same workflow task as the failed one run
again too, which the embedded engine would replay).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import gc
import json
import time
import uuid
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any, TypeVar

from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import ResetReapplyType, WorkflowExecutionStatus, WorkflowTaskFailedCause
from temporalio.api.history.v1 import HistoryEvent
from temporalio.api.workflowservice.v1 import ResetWorkflowExecutionRequest
from temporalio.client import (
    Client,
    WorkflowFailureError,
    WorkflowHandle,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from ... import _serde
from ..._context import REQUEST_PREFIX
from ..._engine import (
    Engine,
    ErrorInfo,
    RunHandle,
    RunInfo,
    RunStatus,
    StepInfo,
    WaitUntil,
    check_message,
    check_request,
    check_run_id,
    check_until,
    fork_plan,
    no_reply_within,
    not_reached,
    prepare_start,
    reached,
    result_of,
)
from ..._events import RunEvent
from ..._exceptions import (
    EngineError,
    EngineUnavailable,
    NonDeterminismError,
    RunError,
    RunFinished,
    RunIdConflict,
    RunNotFound,
    SerializationError,
    UsageError,
)
from ..._replay import ReplayResult
from ..._workflow import Workflow
from ._codec import (
    DATA_CONVERTER,
    FORK_SEED,
    MEMO_ARGS,
    MEMO_SOURCE,
    MEMO_STATE,
    MEMO_WAITING,
    MEMO_WATCHED,
    json_size,
)
from ._config import TemporalOptions
from ._history import error_of, run_status, timeline, ts
from ._stream import WATCH_SIGNAL, read_events

__all__ = ["TemporalEngine"]

R = TypeVar("R")


# Workflow task failures that are part of normal operation, not a reason the run cannot move.
_ROUTINE_TASK_FAILURES = {
    WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_RESET_WORKFLOW,
    WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_RESET_STICKY_TASK_QUEUE,
    WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_UNHANDLED_COMMAND,
}

_RUNNING = WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_RUNNING
# The events that end a workflow execution's history.
_CLOSING = {
    f"workflow_execution_{end}_event_attributes"
    for end in ("completed", "failed", "timed_out", "canceled", "terminated", "continued_as_new")
}

_STATUS_QUERY = {
    RunStatus.PENDING: ["Running"],
    RunStatus.RUNNING: ["Running"],
    RunStatus.COMPLETED: ["Completed"],
    RunStatus.FAILED: ["Failed", "TimedOut"],
    RunStatus.CANCELLED: ["Canceled", "Terminated"],
}


def _quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


class TemporalEngine(Engine):
    """``temporal://host:port?namespace=default&task_queue=stead``: runs on a Temporal server or cloud.

    Options in the URL: ``heartbeat`` (seconds without a heartbeat before a running step is retried elsewhere,
    default 4), ``step_timeout`` (seconds an attempt without its own timeout may take), ``route.<step or kind>``
    (the task queue of those steps: ``route.model=models`` sends model calls to workers of the ``models`` queue).
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.options = TemporalOptions.from_url(url)
        self._client: Client | None = None
        self._connecting: asyncio.Task[Client] | None = None
        self._closed = False
        self._watched: set[str] = set()
        """Runs this engine told that somebody watches them (one signal each is enough)."""

    def __repr__(self) -> str:
        return f"<TemporalEngine {self.options.target} {self.options.namespace}/{self.options.task_queue}>"

    async def client(self) -> Client:
        if self._client is not None:
            return self._client
        # Callers at once (a worker coming up as a run starts) share one connection: each used to make its own,
        # which left the worker on a client the engine's starts did not use (so never started eagerly on it).
        loop = asyncio.get_running_loop()
        connecting = self._connecting
        if connecting is None or connecting.get_loop() is not loop:
            connecting = self._connecting = loop.create_task(self._connect(), name="stead-temporal-connect")
        try:
            return await asyncio.shield(connecting)
        finally:
            if connecting.done() and self._connecting is connecting:
                self._connecting = None

    async def _connect(self) -> Client:
        try:
            client = await Client.connect(
                self.options.target,
                namespace=self.options.namespace,
                tls=self.options.tls,
                data_converter=DATA_CONVERTER,
            )
        except RuntimeError as exc:
            raise EngineUnavailable(self._unreachable(str(exc))) from None
        self._client = client
        return client

    def _unreachable(self, reason: str) -> str:
        reason = reason.splitlines()[0] if reason else "no answer"
        return (
            f"cannot reach the Temporal server at {self.options.target} ({reason}); start a local one with "
            f"`stead dev`, or fix the address in the engine URL {self.url}"
        )

    @asynccontextmanager
    async def _rpc(self, run_id: str | None = None) -> AsyncIterator[None]:
        """Temporal's RPC errors as stead's."""
        try:
            yield
        except RPCError as exc:
            message = exc.message or str(exc)
            if exc.status is RPCStatusCode.NOT_FOUND and "namespace" in message.lower():
                ns = self.options.namespace
                raise UsageError(
                    f"namespace {ns!r} does not exist on {self.options.target}: create it with `temporal "
                    f"operator namespace create --namespace {ns}`, or use namespace=default"
                ) from None
            if exc.status is RPCStatusCode.NOT_FOUND and run_id is not None:
                raise RunNotFound.missing(run_id, f"on {self.options.target}") from None
            if exc.status in (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED):
                raise EngineUnavailable(self._unreachable(message)) from None
            raise EngineError(f"Temporal refused the request: {message}") from None

    def _handle(
        self, client: Client, run_id: str, temporal_run_id: str | None = None
    ) -> WorkflowHandle[Any, Any]:
        return client.get_workflow_handle(run_id, run_id=temporal_run_id)

    # -- Engine --------------------------------------------------------------------------------------------------

    async def start(
        self,
        workflow: Workflow[..., R],
        *args: Any,
        run_id: str | None = None,
        source: str | None = None,
        **kwargs: Any,
    ) -> RunHandle[R]:
        run_id, args_json = prepare_start(workflow, args, kwargs, run_id)
        data = json.loads(args_json)
        size = json_size(data)
        if size > self.options.payload_limit:
            raise SerializationError(
                f"the arguments of workflow {workflow.name!r} take {size:,} bytes, over the "
                f"{self.options.payload_limit:,} bytes a Temporal payload may take; pass a reference to large data"
            )
        fingerprint = _serde.fingerprint(json.dumps(data, sort_keys=True))
        client = await self.client()
        try:
            await self._start_workflow(
                client, workflow.name, data, run_id, fingerprint, source, _short(data, 120)
            )
        except WorkflowAlreadyStartedError:
            await self._check_existing(client, run_id, workflow, data, fingerprint)
        return RunHandle(self, run_id, workflow)

    async def _start_workflow(
        self,
        client: Client,
        name: str,
        data: Any,
        run_id: str,
        fingerprint: str,
        source: str | None,
        summary: str,
    ) -> None:
        """Start the Temporal workflow of a run: its arguments' fingerprint and source in the memo."""
        memo: dict[str, Any] = {MEMO_ARGS: fingerprint}
        if source is not None:
            memo[MEMO_SOURCE] = source
        async with self._rpc():
            await client.start_workflow(
                name,
                data,
                id=run_id,
                task_queue=self.options.task_queue,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
                memo=memo,
                task_timeout=timedelta(seconds=self.options.task_timeout),
                static_summary=summary,
                # A worker of this client on the task queue (``async with engine.worker(...)``) gets the run's
                # first workflow task in the start's answer instead of through the server's task queue (a hop of
                # ~15 ms, and the server's work for it); without one, or with its slots full, the start is as
                # before. A process that dies holding that task costs the run ``task_timeout``, as a worker
                # dying in any workflow task does.
                request_eager_start=True,
            )

    async def fork(
        self, source: str, /, at: str, *, run_id: str | None = None, replace: Any = None
    ) -> RunHandle[Any]:
        info = await self.get(source)
        target, kept = fork_plan(await self.steps(source), at)
        steps: dict[str, dict[str, Any]] = {}
        messages: dict[str, list[Any]] = {}
        chosen = [*kept, dataclasses.replace(target, result=replace)] if replace is not None else kept
        for step in chosen:
            if step.position.startswith("message:"):
                messages.setdefault(step.name, []).append(step.result)
            elif step.kind not in ("now", "timer", "wait", "patch", "reply"):  # a reply is workflow code's
                steps[step.position] = {
                    "step": step.name,
                    "position": step.position,
                    "fp": step.fp,
                    "args_json": step.args_json,
                    "value": step.result,
                }
        data = dict(info.args or {"args": [], "kwargs": {}})
        fingerprint = _serde.fingerprint(json.dumps(data, sort_keys=True))
        data[FORK_SEED] = {"steps": steps, "messages": messages}
        new_id = check_run_id(run_id or f"{info.workflow}-{uuid.uuid4().hex[:12]}")
        client = await self.client()
        try:
            await self._start_workflow(
                client,
                info.workflow,
                data,
                new_id,
                fingerprint,
                info.source,
                f"fork of {source} at {target.position}",
            )
        except WorkflowAlreadyStartedError:
            raise UsageError(f"a run {new_id!r} exists already: choose another id for the fork") from None
        return RunHandle(self, new_id)

    async def _check_existing(
        self, client: Client, run_id: str, workflow: Workflow[..., Any], data: Any, fingerprint: str
    ) -> None:
        async with self._rpc(run_id):
            description = await self._handle(client, run_id).describe()
            memo = await description.memo()
        if description.workflow_type != workflow.name:
            raise RunIdConflict.other_workflow(run_id, description.workflow_type, workflow.name)
        if memo.get(MEMO_ARGS) != fingerprint:
            raise RunIdConflict.other_arguments(run_id, json.dumps(data, separators=(",", ":")))

    async def _events(
        self, client: Client, run_id: str, temporal_run_id: str | None = None
    ) -> list[HistoryEvent]:
        async with self._rpc(run_id):
            return [e async for e in self._handle(client, run_id, temporal_run_id).fetch_history_events()]

    async def _read(self, run_id: str, *, closed: bool = False) -> tuple[RunInfo, list[HistoryEvent], Any]:
        client = await self.client()

        async def describe() -> Any:
            async with self._rpc(run_id):
                return await self._handle(client, run_id).describe()

        if closed:
            # A run known to have ended changes no more: both reads at once, one round trip less for `result()`.
            events, description = await asyncio.gather(self._events(client, run_id), describe())
        else:
            # The history before the description: a step the history shows that the description no longer lists
            # as pending has ended (see timeline), never one scheduled after the description was taken.
            events = await self._events(client, run_id)
            description = await describe()
        memo = await description.memo()
        raw = description.raw_description.workflow_execution_info
        if raw.status != _RUNNING and not (events and events[-1].WhichOneof("attributes") in _CLOSING):
            # The run ended between the two reads: read the history again, which now says how (its result).
            events = await self._events(client, run_id, description.run_id)
        converter = client.data_converter.payload_converter
        status = run_status(raw.status, events)
        result: Any = None
        error: ErrorInfo | None = None
        stuck: ErrorInfo | None = None
        args: Any = None
        for event in events:
            kind = event.WhichOneof("attributes")
            if kind == "workflow_task_completed_event_attributes":
                stuck = None
            elif kind == "workflow_task_failed_event_attributes":
                failed = event.workflow_task_failed_event_attributes
                if failed.cause not in _ROUTINE_TASK_FAILURES:
                    stuck = error_of(failed.failure, converter)
            elif kind == "workflow_execution_started_event_attributes":
                payloads = event.workflow_execution_started_event_attributes.input.payloads
                args = converter.from_payload(payloads[0]) if payloads else None
                if isinstance(args, dict):
                    args.pop(FORK_SEED, None)
            elif kind == "workflow_execution_completed_event_attributes":
                payloads = event.workflow_execution_completed_event_attributes.result.payloads
                result = converter.from_payload(payloads[0]) if payloads else None
            elif kind == "workflow_execution_failed_event_attributes":
                error = error_of(event.workflow_execution_failed_event_attributes.failure, converter)
            elif kind == "workflow_execution_timed_out_event_attributes":
                error = ErrorInfo("TimeoutError", "the run exceeded its Temporal execution timeout")
        if stuck is not None and not status.finished:
            # Its workflow task keeps failing: say why, since the run will not move until that is fixed.
            hint = (
                f"; no worker serves workflow {description.workflow_type!r} on task queue "
                f"{raw.task_queue!r}: start one with the program that defines it (stead worker app.py)"
                if "not registered" in stuck.message
                else " (the run waits: it continues once a worker whose code matches its history takes it)"
            )
            error = ErrorInfo(stuck.type, stuck.message.rstrip(".") + hint, stuck.details)
        info = RunInfo(
            run_id=run_id,
            workflow=description.workflow_type,
            status=status,
            created_at=ts(events[0].event_time) if events else description.start_time,
            updated_at=ts(events[-1].event_time) if events else description.start_time,
            finished_at=description.close_time,
            result=result,
            error=error,
            state=dict(memo.get(MEMO_STATE) or {}),
            source=memo.get(MEMO_SOURCE),
            waiting_for=list(memo.get(MEMO_WAITING) or []) if not status.finished else [],
            args=args,
            steps=len(timeline(events, converter)),
        )
        return info, events, description

    async def get(self, run_id: str) -> RunInfo:
        info, _, _ = await self._read(run_id)
        return info

    async def steps(self, run_id: str) -> list[StepInfo]:
        info, events, description = await self._read(run_id)
        client = await self.client()
        pending = list(description.raw_description.pending_activities)
        return timeline(events, client.data_converter.payload_converter, pending, info.waiting_for)

    async def list(
        self,
        *,
        status: RunStatus | Sequence[RunStatus] | None = None,
        workflow: str | None = None,
        limit: int = 100,
    ) -> list[RunInfo]:
        statuses = {status} if isinstance(status, RunStatus) else set(status) if status else None
        query = f"TaskQueue = {_quote(self.options.task_queue)}"
        if workflow is not None:
            query += f" AND WorkflowType = {_quote(workflow)}"
        if statuses:
            names = sorted({n for s in statuses for n in _STATUS_QUERY[s]})
            query += " AND (" + " OR ".join(f"ExecutionStatus = {_quote(n)}" for n in names) + ")"
        client = await self.client()
        ids: list[str] = []
        async with self._rpc():
            async for execution in client.list_workflows(query, limit=limit * 2):
                if execution.id not in ids:
                    ids.append(execution.id)
        gate = asyncio.Semaphore(16)

        async def one(run_id: str) -> RunInfo | None:
            async with gate:
                try:
                    return await self.get(run_id)
                except RunNotFound:
                    return None

        found = [i for i in await asyncio.gather(*(one(r) for r in ids)) if i is not None]
        if statuses:
            found = [i for i in found if i.status in statuses]
        found.sort(key=lambda i: i.created_at, reverse=True)
        return found[:limit]

    async def send(self, run_id: str, name: str, payload: Any = None) -> None:
        check_message(name)
        data = _serde.to_json_value(payload, f"the payload of message {name!r}")
        client = await self.client()
        try:
            await self._handle(client, run_id).signal(name, data)
            return
        except RPCError as exc:
            if exc.status is not RPCStatusCode.NOT_FOUND or "namespace" in (exc.message or "").lower():
                async with self._rpc(run_id):
                    raise
        info = await self.get(run_id)  # RunNotFound if there is no such run
        raise RunFinished.no_messages(run_id, info.status)

    async def request(
        self, run_id: str, name: str, payload: Any = None, *, timeout: float | None = 60.0
    ) -> Any:
        """A request is a Temporal update (``stead.request:NAME``, its id the request's): the run's handler queues
        it for ``stead.receive`` and returns the reply, which the update's completion records. A request no worker
        has taken yet is held by the server, not the history: after ``timeout`` the caller stops waiting for it."""
        check_request(name, timeout)
        data = _serde.to_json_value(payload, f"the payload of request {name!r}")
        request_id = uuid.uuid4().hex
        handle = self._handle(await self.client(), run_id)
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                raise no_reply_within(run_id, name, timeout)
            update = handle.execute_update(
                REQUEST_PREFIX + name, {"request": request_id, "payload": data}, id=request_id
            )
            try:
                return await asyncio.wait_for(update, remaining)
            except (TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError):
                continue  # asked again with the same id, the server answers for the request it holds
            except WorkflowUpdateFailedError as exc:
                raise await self._request_failed(run_id, name, exc.cause) from None
            except RPCError as exc:
                if exc.status is not RPCStatusCode.NOT_FOUND or "namespace" in (exc.message or "").lower():
                    async with self._rpc(run_id):
                        raise
                info = await self.get(run_id)  # RunNotFound if there is no such run
                raise RunFinished.no_messages(run_id, info.status) from None

    async def _request_failed(self, run_id: str, name: str, cause: BaseException) -> Exception:
        info = await self.get(run_id)
        if info.status.finished:
            return RunFinished.no_reply(run_id, info.status, name)
        if isinstance(cause, ApplicationError) and cause.type == "UsageError":
            return UsageError(f"run {run_id!r} rejected request {name!r}: {cause.message}")
        kind = cause.type if isinstance(cause, ApplicationError) and cause.type else type(cause).__name__
        message = cause.message if isinstance(cause, ApplicationError) else str(cause)
        return RunError(f"request {name!r} to run {run_id!r} failed: {kind}: {message}")

    async def cancel(self, run_id: str) -> None:
        client = await self.client()
        async with self._rpc(run_id):
            description = await self._handle(client, run_id).describe()
        events = await self._events(client, run_id, description.run_id)
        status = run_status(description.raw_description.workflow_execution_info.status, events)
        if status in (RunStatus.COMPLETED, RunStatus.FAILED):
            raise RunFinished.no_cancel(run_id, status)
        if status is RunStatus.CANCELLED:
            return
        handle = self._handle(client, run_id, description.run_id)
        async with self._rpc(run_id):
            await handle.cancel()
            if status is RunStatus.PENDING:
                # No worker ever ran it, so no code of it has cleanup to do: end it now rather than when a worker
                # comes by (an idle run is cancelled at once, as on the embedded engine).
                await handle.terminate(reason="stead: cancelled before any worker started it")

    async def wait(
        self, run_id: str, timeout: float | None = None, *, until: WaitUntil = "finished"
    ) -> RunInfo:
        check_until(until)
        if until != "finished":
            return await self._wait_waiting(run_id, timeout, until)
        closed = await self._until_closed(run_id, timeout)
        if isinstance(closed, RunInfo):
            return closed
        info, _, _ = await self._read(run_id, closed=True)
        return info

    async def outcome(self, run_id: str, timeout: float | None = None) -> Any:
        # The result of a completed run comes with the long poll that sees it close: no further reads.
        closed = await self._until_closed(run_id, timeout)
        if isinstance(closed, _Completed):
            return closed.value
        if closed is None:
            closed, _, _ = await self._read(run_id, closed=True)
        return result_of(closed)

    async def _until_closed(self, run_id: str, timeout: float | None) -> _Completed | RunInfo | None:
        """Wait until the run's workflow closes: its result if it completed, None if it ended otherwise, or the
        run's information if the wait timed out just as it ended (TimeoutError if it had not)."""
        client = await self.client()

        async def finished() -> _Completed | None:
            while True:
                try:
                    return _Completed(await self._handle(client, run_id).result(follow_runs=True))
                except WorkflowFailureError:
                    return None
                except RPCError as exc:
                    if not _timed_out(exc):
                        async with self._rpc(run_id):
                            raise
                # A long poll a busy server did not answer in time: ask again (``timeout`` bounds the wait).
                await asyncio.sleep(0.2)

        try:
            return await asyncio.wait_for(finished(), timeout)
        except TimeoutError:
            info = await self.get(run_id)
            if info.status.finished:
                return info
            raise TimeoutError(
                f"run {run_id!r} did not finish within {timeout}s (it is {info.status})"
            ) from None

    async def _wait_waiting(self, run_id: str, timeout: float | None, until: WaitUntil) -> RunInfo:
        """Temporal has no event for "the run waits" (its memo changes): read the run with a growing pause.
        A suspension is Temporal's own business (it evicts idle workflows), so "suspended" waits as "waiting"."""
        deadline = None if timeout is None else time.monotonic() + timeout
        pause = 0.02
        while True:
            info = await self.get(run_id)
            if reached(info, until):
                return info
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                raise not_reached(run_id, until, timeout, info.status)
            await asyncio.sleep(pause if remaining is None else min(pause, remaining))
            pause = min(pause * 1.5, 0.5)

    async def watch(self, run_id: str) -> None:
        """Tell the run (a signal, once: its memo then says so) that somebody follows its events: its later model
        calls stream their tokens. Unwatched, a plain ``Runner.run`` call asks without streaming."""
        client = await self.client()
        async with self._rpc(run_id):
            description = await self._handle(client, run_id).describe()
        await self._watch(client, run_id, description)

    async def _watch(self, client: Client, run_id: str, description: Any) -> None:
        if run_id in self._watched:
            return
        if description.raw_description.workflow_execution_info.status != _RUNNING:
            return  # nothing left to stream
        if not (await description.memo()).get(MEMO_WATCHED):
            try:
                await self._handle(client, run_id).signal(WATCH_SIGNAL)
            except RPCError as exc:
                if exc.status is not RPCStatusCode.NOT_FOUND or "namespace" in (exc.message or "").lower():
                    async with self._rpc(run_id):
                        raise
                return  # it finished meanwhile
        if len(self._watched) >= 10_000:
            self._watched.clear()
        self._watched.add(run_id)

    async def events(self, run_id: str, *, after: int = 0, follow: bool = True) -> AsyncIterator[RunEvent]:
        client = await self.client()
        info, _, description = await self._read(run_id)  # RunNotFound
        if follow and not info.status.finished:
            await self._watch(client, run_id, description)

        async def finished() -> None:
            with contextlib.suppress(Exception):
                await self._handle(client, run_id).result(follow_runs=True)

        async with self._rpc(run_id):
            async for event in read_events(client, run_id, after, follow, finished):
                yield event

    async def reopen(self, run_id: str) -> RunInfo:
        info, events, description = await self._read(run_id)
        if info.status in (RunStatus.COMPLETED, RunStatus.CANCELLED):
            raise RunFinished.no_reopen(run_id, info.status)
        if info.status is not RunStatus.FAILED:
            return info
        client = await self.client()
        request = ResetWorkflowExecutionRequest(
            namespace=self.options.namespace,
            workflow_execution=WorkflowExecution(workflow_id=run_id, run_id=description.run_id),
            reason="stead: reopened after a fix",
            workflow_task_finish_event_id=_reset_point(events),
            request_id=str(uuid.uuid4()),
            # Messages and requests that came after the reset point reach the run again, as a replay gets them.
            reset_reapply_type=ResetReapplyType.RESET_REAPPLY_TYPE_ALL_ELIGIBLE,
        )
        async with self._rpc(run_id):
            await client.workflow_service.reset_workflow_execution(request)
        return await self.get(run_id)

    async def replay(self, run_id: str, workflows: Iterable[Workflow[..., Any]]) -> ReplayResult:
        """Replay the run's recorded history with the given code, running nothing; raise NonDeterminismError if
        the code no longer asks for what the history recorded (check a change before deploying it)."""
        from temporalio.worker import Replayer, UnsandboxedWorkflowRunner

        from ._runtime import Serving, workflow_class

        client = await self.client()
        async with self._rpc(run_id):
            history = await self._handle(client, run_id).fetch_history()
        serving = Serving(self.options, {}, own_queue=f"{self.options.task_queue}/replay")
        replayer = Replayer(
            workflows=[workflow_class(wf, serving) for wf in workflows],
            workflow_runner=UnsandboxedWorkflowRunner(),
        )
        result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
        if serving.diverged:
            raise serving.diverged[0]
        if result.replay_failure is not None:
            failure = result.replay_failure
            raise NonDeterminismError(run_id, "?", "the recorded history", f"other commands: {failure}")
        info = await self.get(run_id)
        return ReplayResult(run_id, info.steps, info.status.finished, info.result)

    def worker(
        self,
        workflows: Iterable[Workflow[..., Any]],
        *,
        concurrency: int = 100,
        run_ids: Iterable[str] | None = None,
    ) -> Any:
        from ._worker import TemporalWorker

        return TemporalWorker(self, workflows, concurrency=concurrency, run_ids=run_ids)

    async def close(self) -> None:
        self._closed = True
        self._connecting = None
        # Temporal's client has no close: drop it, so that its connection goes with it now rather than while the
        # interpreter shuts down (when a callback from its threads into Python would crash the process).
        self._client = None
        gc.collect()


@dataclasses.dataclass(frozen=True)
class _Completed:
    value: Any


def _timed_out(exc: RPCError) -> bool:
    """Whether an RPC failed only because the server did not answer within the call's deadline."""
    return exc.status is RPCStatusCode.DEADLINE_EXCEEDED or (
        exc.status is RPCStatusCode.CANCELLED and "timeout" in (exc.message or "").lower()
    )


def _reset_point(events: list[HistoryEvent]) -> int:
    """The workflow task to reset a failed run to: the one that scheduled its first failed step, else its last."""
    scheduled_by: dict[int, int] = {}
    last_completed = 0
    for event in events:
        kind = event.WhichOneof("attributes")
        if kind == "workflow_task_completed_event_attributes":
            last_completed = event.event_id
        elif kind == "activity_task_scheduled_event_attributes":
            scheduled_by[event.event_id] = (
                event.activity_task_scheduled_event_attributes.workflow_task_completed_event_id
            )
        elif kind in ("activity_task_failed_event_attributes", "activity_task_timed_out_event_attributes"):
            scheduled = getattr(event, kind).scheduled_event_id
            if scheduled in scheduled_by:
                return scheduled_by[scheduled]
        elif kind == "marker_recorded_event_attributes" and event.marker_recorded_event_attributes.HasField(
            "failure"
        ):
            return event.marker_recorded_event_attributes.workflow_task_completed_event_id
    return last_completed


def _short(data: Any, limit: int = 80) -> str:
    text = json.dumps(data, separators=(",", ":"))
    return text if len(text) <= limit else text[: limit - 1] + "…"
