"""Events a run streams (``stead._events``: model tokens, attempts) on Temporal.

A run's events go to a companion workflow, its event log ``<run id>/events``: a mailbox of signals on a task queue
no worker polls, so that appending a batch costs one history event and no workflow task, and the run's own
history stays lean. An attempt's events are batched (one signal per 50 ms). The log is readable by any client,
live or after the run, with no worker running; it closes itself after ``LOG_RETENTION``. Replayed steps do not run,
so a replay streams nothing again. An attempt that streams nothing sends nothing: its lifecycle
(``attempt_started``, ``attempt_failed``, ``step_done``) is streamed only around events the step emitted (the
run's timeline shows every attempt anyway).

A step does not wait for its last batch before it counts as done (that would put a round trip to the log, its
creation for a run's first call, on every model call's path): the batch leaves in the background, after the
attempt's earlier ones, and the step's result says that the attempt streamed (``STREAMED``), so that a consumer
reaching the end of the run waits for the attempt's closing event (up to ``LATE_GRACE``) before it stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client, WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.service import RPCError, RPCStatusCode

from ..._events import RunEvent

__all__ = ["EVENTS_SIGNAL", "STREAMED", "WATCH_SIGNAL", "AttemptStream", "drain", "read_events"]

EVENTS_SIGNAL = "stead.events"
WATCH_SIGNAL = "stead.watch"
"""Sent to a run when somebody follows its events: from then on its steps run watched (``Attempt.watched``)."""
LOG_WORKFLOW = "stead.events"
LOG_RETENTION = timedelta(days=7)
STREAMED = "streamed"
"""The key of a step's result that holds the attempt number, when that attempt streamed events."""
LATE_GRACE = 5.0
_BATCH = 0.05
_ENDS = ("step_done", "attempt_failed")

# The last batch this process sends for each run: a run's batches leave in order, a step's last one included.
_last_send: dict[str, asyncio.Task[None]] = {}


def log_id(run_id: str) -> str:
    return f"{run_id}/events"


class AttemptStream:
    """The sink (``stead._events.Attempt.sink``) of one step attempt running in this activity worker."""

    def __init__(
        self, client: Client, task_queue: str, run_id: str, position: str, attempt: int, started: Any
    ) -> None:
        self.client = client
        self.task_queue = f"{task_queue}/events"
        self.run_id = run_id
        self.position = position
        self.attempt = attempt
        self.started = started
        self.emitted = False
        self._pending: list[list[Any]] = []
        self._timer: asyncio.TimerHandle | None = None

    def sink(self, kind: str, position: str, attempt: int, data: Any) -> None:
        if not self.emitted:
            self.emitted = True
            self._pending.append([self.position, self.attempt, "attempt_started", self.started, time.time()])
        self._pending.append([position, attempt, kind, data, time.time()])
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(_BATCH, self._send_soon)

    def _send_soon(self) -> None:
        self._timer = None
        self._send()

    def _send(self) -> asyncio.Task[None] | None:
        """Send what is pending, after the batches this process sent for the run before."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._pending:
            return None
        batch, self._pending = self._pending, []
        before = _last_send.get(self.run_id)
        task = asyncio.get_running_loop().create_task(self._deliver(batch, before))
        _last_send[self.run_id] = task
        task.add_done_callback(lambda done: _forget(self.run_id, done))
        return task

    async def _deliver(self, batch: list[list[Any]], before: asyncio.Task[None] | None) -> None:
        if before is not None:
            with contextlib.suppress(BaseException):
                await before
        # Streaming is best effort: a lost batch must not fail the step.
        with contextlib.suppress(Exception):
            await self.client.start_workflow(
                LOG_WORKFLOW,
                id=log_id(self.run_id),
                task_queue=self.task_queue,
                start_signal=EVENTS_SIGNAL,
                start_signal_args=[batch],
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                execution_timeout=LOG_RETENTION,
            )

    async def flush(self) -> None:
        task = self._send()
        if task is not None:
            await asyncio.shield(task)

    def end_soon(self, kind: str, data: Any) -> None:
        """Close the attempt's stream with ``attempt_failed`` or ``step_done``, if it streamed anything; what is
        pending leaves in the background."""
        if self.emitted:
            self._pending.append([self.position, self.attempt, kind, data, time.time()])
        self._send()

    async def end(self, kind: str, data: Any) -> None:
        """``end_soon``, and wait until what was pending has left."""
        self.end_soon(kind, data)
        before = _last_send.get(self.run_id)
        if before is not None:
            await asyncio.shield(before)


def _forget(run_id: str, task: asyncio.Task[None]) -> None:
    if _last_send.get(run_id) is task:
        del _last_send[run_id]


async def drain(timeout: float = LATE_GRACE) -> None:
    """Let the batches still on their way leave (a stopping worker)."""
    pending = [t for t in _last_send.values() if t.get_loop() is asyncio.get_running_loop()]
    if pending:
        await asyncio.wait(pending, timeout=timeout)


def _events_in(event: HistoryEvent, client: Client, after: int) -> list[RunEvent]:
    if not event.HasField("workflow_execution_signaled_event_attributes"):
        return []
    signal = event.workflow_execution_signaled_event_attributes
    if signal.signal_name != EVENTS_SIGNAL or not signal.input.payloads:
        return []
    batch = client.data_converter.payload_converter.from_payload(signal.input.payloads[0]) or []
    out = []
    for index, (position, attempt, kind, data, at) in enumerate(batch):
        event_id = event.event_id * 10_000 + index
        if event_id > after:
            out.append(
                RunEvent(
                    event_id, str(position), int(attempt), str(kind), data, datetime.fromtimestamp(at, UTC)
                )
            )
    return out


async def _read(
    log: WorkflowHandle[Any, Any], client: Client, after: int, *, wait: bool
) -> AsyncIterator[RunEvent]:
    try:
        async for event in log.fetch_history_events(wait_new_event=wait):
            for run_event in _events_in(event, client, after):
                yield run_event
    except RPCError as exc:
        if exc.status is not RPCStatusCode.NOT_FOUND:  # no log: the run has streamed nothing yet
            raise


async def _streamed(client: Client, run_id: str) -> set[tuple[str, int]]:
    """The (position, attempt) of the run's steps whose results say that the attempt streamed events."""
    found: set[tuple[str, int]] = set()
    converter = client.data_converter.payload_converter
    with contextlib.suppress(RPCError):
        async for event in client.get_workflow_handle(run_id).fetch_history_events():
            if not event.HasField("activity_task_completed_event_attributes"):
                continue
            payloads = event.activity_task_completed_event_attributes.result.payloads
            envelope = converter.from_payload(payloads[0]) if payloads else None
            if isinstance(envelope, dict) and STREAMED in envelope and "position" in envelope:
                found.add((str(envelope["position"]), int(envelope[STREAMED])))
    return found


async def _pump(
    log: WorkflowHandle[Any, Any], client: Client, after: int, queue: asyncio.Queue[RunEvent | None]
) -> None:
    try:
        async for event in _read(log, client, after, wait=True):
            await queue.put(event)
    finally:
        await queue.put(None)


async def read_events(
    client: Client, run_id: str, after: int, follow: bool, finished: Any
) -> AsyncIterator[RunEvent]:
    """The run's events, from after event ``after``; with ``follow``, until ``finished()`` (the run's end)."""
    log = client.get_workflow_handle(log_id(run_id))
    last = after
    ended: set[tuple[str, int]] = set()
    if not follow:
        async for event in _read(log, client, last, wait=False):
            yield event
        return
    done = asyncio.ensure_future(finished())
    try:
        while True:
            queue: asyncio.Queue[RunEvent | None] = asyncio.Queue()
            pumping = asyncio.ensure_future(_pump(log, client, last, queue))
            try:
                while True:
                    getting = asyncio.ensure_future(queue.get())
                    await asyncio.wait({getting, done}, timeout=0.5, return_when=asyncio.FIRST_COMPLETED)
                    if not getting.done():
                        getting.cancel()
                        if done.done():
                            break
                        if pumping.done():
                            break  # no log yet: look again
                        continue
                    item = getting.result()
                    if item is None:
                        break
                    last = item.id
                    if item.kind in _ENDS:
                        ended.add((item.position, item.attempt))
                    yield item
            finally:
                pumping.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await pumping
            if done.done():
                # What came before the end, and the last batches of steps that streamed, still on their way.
                late = await _streamed(client, run_id)
                deadline = time.monotonic() + LATE_GRACE
                while True:
                    async for event in _read(log, client, last, wait=False):
                        last = event.id
                        if event.kind in _ENDS:
                            ended.add((event.position, event.attempt))
                        yield event
                    if late <= ended or time.monotonic() > deadline:
                        return
                    await asyncio.sleep(0.05)
            await asyncio.wait({done}, timeout=0.2)  # the run has no event log yet
    finally:
        done.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await done
