"""The journal engine: the store-agnostic embedded runtime, seen from outside the runs.

``JournalEngine`` implements ``stead.Engine`` over a ``JournalStore`` and a change notification; a concrete
engine (``stead.engines.sqlite``) provides those two and parses its options. Runs are executed by
``JournalWorker`` (claims, leases, suspension) with ``JournalRun`` (replay, retries, events).
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import dataclasses
import json
import math
import socket
import time
import uuid
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from ... import _serde
from ..._context import StepAttributes, outside_workflow
from ..._engine import (
    NO_REPLY,
    Engine,
    ErrorInfo,
    RunHandle,
    RunInfo,
    RunStatus,
    StepInfo,
    WaitUntil,
    check_message,
    check_run_id,
    check_until,
    fork_plan,
    not_reached,
    prepare_start,
    reached,
)
from ..._events import RunEvent
from ..._exceptions import RunFinished, RunIdConflict, RunNotFound, UsageError
from ..._limits import LimiterStore, RecordLimiter, process_limiter
from ..._workflow import Workflow
from ._store import JournalStore, RunRow, StepRow, lease_held

if TYPE_CHECKING:
    from ._worker import JournalWorker

__all__ = ["JournalEngine", "JournalOptions"]

R = TypeVar("R")


@dataclass(frozen=True, kw_only=True)
class JournalOptions:
    """How the journal runtime leases and suspends runs (the same for every store)."""

    lease: float = 5.0
    """Seconds a worker's claim on a run lasts without renewal: a dead worker's runs are taken over after that.
    Must be more than 0 (a worker renews its leases every third of it)."""

    suspend: float = 1.0
    """Seconds a run may only wait (for a message or a timer) before its worker lets go of it, freeing its memory;
    it is replayed when a message it waits for arrives or its timer is due. 0: never suspend."""

    def __post_init__(self) -> None:
        if not (math.isfinite(self.lease) and self.lease > 0):
            raise UsageError(
                f"lease={self.lease:g}: a lease must last a positive number of seconds (the default is 5); "
                "a worker renews it every third of that"
            )
        if not (math.isfinite(self.suspend) and self.suspend >= 0):
            raise UsageError(f"suspend={self.suspend:g}: use a number of seconds, or 0 to never suspend")


def _ts(value: float) -> datetime:
    return datetime.fromtimestamp(value, UTC)


class JournalEngine(Engine):
    """An engine whose runs are journaled in a ``JournalStore`` and executed by ``JournalWorker`` processes."""

    location: str
    """Where the journal lives, for messages ("the file x.db")."""

    def __init__(self, url: str, store: JournalStore, options: JournalOptions, location: str) -> None:
        self.url = url
        self.store = store
        # Model calls of every worker on this store book in its records (one transaction each).
        self.limiter = RecordLimiter(store) if isinstance(store, LimiterStore) else process_limiter()
        self.options = options
        self.location = location
        self.lease = options.lease
        self.suspend_after = options.suspend
        self.host = socket.gethostname()
        self._changed: asyncio.Event | None = None
        self._sent: asyncio.Event | None = None
        self._last_message: int | None = None
        self._watcher: asyncio.Task[None] | None = None
        self._local: dict[str, tuple[asyncio.Task[None], JournalWorker]] = {}
        self._closed = False

    # -- change notification -------------------------------------------------------------------------------------

    def changed(self) -> asyncio.Event:
        """An event set at the next change of the journal, by this process or another one."""
        self._ensure_watcher()
        if self._changed is None:
            self._changed = asyncio.Event()
        return self._changed

    def message_sent(self) -> asyncio.Event:
        """An event set when the next message is sent, by this process or another one.

        What a run waiting for a message waits on: with the journal's every change instead, each of a worker's
        waiting runs looked for its message at each step of every other run, and never counted as idle."""
        self._ensure_watcher()
        if self._last_message is None:
            self._last_message = self.store.last_message()
        if self._sent is None:
            self._sent = asyncio.Event()
        return self._sent

    def _ensure_watcher(self) -> None:
        if self._watcher is None or self._watcher.done():
            with outside_workflow():  # an engine task, not a task of whichever run asked first
                self._watcher = asyncio.get_running_loop().create_task(self._watch())

    def notify_local(self) -> None:
        """Wake everyone waiting for a change; the runtime calls it after each of its own writes."""
        event, self._changed = self._changed, None
        if event is not None:
            event.set()

    def notify_changed(self) -> None:
        """Another process changed the journal (``_watch`` noticed): wake waiters, and message waits if that
        change sent a message."""
        if self._sent is not None:
            last = self.store.last_message()
            if last != self._last_message:
                self._last_message = last
                self._notify_sent()
        self.notify_local()

    def _notify_sent(self) -> None:
        event, self._sent = self._sent, None
        if event is not None:
            event.set()

    @abc.abstractmethod
    async def _watch(self) -> None:
        """Call ``notify_changed`` whenever another process changes the journal, until the engine closes."""

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
        created, row = self.store.insert_run(run_id, workflow.name, args_json, source)
        if not created:
            if row.workflow != workflow.name:
                raise RunIdConflict.other_workflow(run_id, row.workflow, workflow.name)
            if json.loads(row.args_json) != json.loads(args_json):
                raise RunIdConflict.other_arguments(run_id, args_json, row.args_json)
        else:
            self.notify_local()
        return RunHandle(self, run_id, workflow)

    async def fork(
        self, source: str, /, at: str, *, run_id: str | None = None, replace: Any = None
    ) -> RunHandle[Any]:
        row = self._row(source)
        target, kept = fork_plan(await self.steps(source), at)
        rows = {r.position: r for r in self.store.steps(source)}
        copied = [rows[s.position] for s in kept]
        if replace is not None:
            copied.append(
                dataclasses.replace(
                    rows[target.position],
                    status="done",
                    result_json=json.dumps(replace, separators=(",", ":"), ensure_ascii=False),
                    error_json=None,
                    finished_at=time.time(),
                    due_at=None,
                )
            )
        new_id = check_run_id(run_id or f"{row.workflow}-{uuid.uuid4().hex[:12]}")
        if not self.store.insert_fork(new_id, row.workflow, row.args_json, row.source, copied):
            raise UsageError(f"a run {new_id!r} exists already: choose another id for the fork")
        self.notify_local()
        return RunHandle(self, new_id)

    def _row(self, run_id: str) -> RunRow:
        row = self.store.get_run(run_id)
        if row is None:
            raise RunNotFound.missing(run_id, f"in {self.location}")
        return row

    def _info(self, row: RunRow, steps: int = 0, waiting: list[str] | None = None) -> RunInfo:
        return RunInfo(
            run_id=row.run_id,
            workflow=row.workflow,
            status=RunStatus(row.status),
            created_at=_ts(row.created_at),
            updated_at=_ts(row.updated_at),
            finished_at=_ts(row.finished_at) if row.finished_at else None,
            result=_serde.loads(row.result_json),
            error=ErrorInfo.from_json(row.error_json) if row.error_json else None,
            state=json.loads(row.state_json) if row.state_json else {},
            source=row.source,
            waiting_for=waiting or [],
            args=json.loads(row.args_json),
            steps=steps,
            # A suspended run (waiting for a message or a timer) is held by no worker by design.
            worker_alive=lease_held(row, self.host, time.time())
            if row.status == RunStatus.RUNNING and not row.suspended
            else None,
        )

    async def get(self, run_id: str) -> RunInfo:
        row = self._row(run_id)
        counts = self.store.step_counts([run_id])
        return self._info(row, counts.get(run_id, 0), self.store.waiting_for(run_id))

    async def steps(self, run_id: str) -> list[StepInfo]:
        self._row(run_id)
        retried = self.store.attempt_errors(run_id)
        return [_step_info(row, retried.get(row.position, [])) for row in self.store.steps(run_id)]

    async def list(
        self,
        *,
        status: RunStatus | Sequence[RunStatus] | None = None,
        workflow: str | None = None,
        limit: int = 100,
    ) -> list[RunInfo]:
        statuses = [status] if isinstance(status, RunStatus) else list(status) if status else None
        rows = self.store.list_runs([str(s) for s in statuses] if statuses else None, workflow, limit)
        counts = self.store.step_counts([r.run_id for r in rows])
        return [
            self._info(
                r, counts.get(r.run_id, 0), self.store.waiting_for(r.run_id) if r.status == "running" else []
            )
            for r in rows
        ]

    async def send(self, run_id: str, name: str, payload: Any = None) -> None:
        check_message(name)
        outcome = self.store.insert_message(
            run_id, name, _serde.dumps(payload, f"the payload of message {name!r}")
        )
        if outcome == "missing":
            raise RunNotFound.missing(run_id, f"in {self.location}")
        if outcome is not None:
            raise RunFinished.no_messages(run_id, outcome)
        self._last_message = self.store.last_message()  # ours is not news when the watcher sees it
        self._notify_sent()
        self.notify_local()

    async def cancel(self, run_id: str) -> None:
        before = self.store.request_cancel(run_id, time.time())
        if before is None:
            raise RunNotFound.missing(run_id, f"in {self.location}")
        if before in ("completed", "failed"):
            raise RunFinished.no_cancel(run_id, before)
        local = self._local.get(run_id)
        if local is not None:
            local[1].cancel_run(run_id)
        self.notify_local()

    async def wait(
        self, run_id: str, timeout: float | None = None, *, until: WaitUntil = "finished"
    ) -> RunInfo:
        check_until(until)
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            changed = self.changed()
            row = self._row(run_id)
            if RunStatus(row.status).finished:
                return self._info(row)
            if until == "suspended" and row.suspended:
                return await self.get(run_id)
            if until == "waiting" and row.status == "running":
                info = await self.get(run_id)
                if reached(info, until):
                    return info
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                raise not_reached(run_id, until, timeout, RunStatus(row.status))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), remaining)

    async def watch(self, run_id: str) -> None:
        """Remember in the file that somebody follows the run: its later model calls stream their tokens, whichever
        process runs them. Unwatched, a plain ``Runner.run`` call asks without streaming, as the SDK does."""
        if not RunStatus(self._row(run_id).status).finished:
            self.store.watch(run_id)

    async def events(self, run_id: str, *, after: int = 0, follow: bool = True) -> AsyncIterator[RunEvent]:
        if follow:
            await self.watch(run_id)
        else:
            self._row(run_id)
        last = after
        while True:
            changed = self.changed()
            rows = self.store.events(run_id, last)
            for event_id, position, attempt, kind, data_json, at in rows:
                last = event_id
                yield RunEvent(event_id, position, attempt, kind, _serde.loads(data_json), _ts(at))
            if rows:
                continue
            if not follow or RunStatus(self._row(run_id).status).finished:
                if not self.store.events(run_id, last, limit=1):
                    return
                continue
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(1.0):
                    await changed.wait()

    async def reopen(self, run_id: str) -> RunInfo:
        row = self._row(run_id)
        if row.status == "failed":
            self.store.reopen(run_id)
            self.notify_local()
        elif row.status in ("completed", "cancelled"):
            raise RunFinished.no_reopen(run_id, row.status)
        return await self.get(run_id)

    def worker(
        self,
        workflows: Iterable[Workflow[..., Any]],
        *,
        concurrency: int = 100,
        run_ids: Iterable[str] | None = None,
    ) -> JournalWorker:
        from ._worker import JournalWorker

        return JournalWorker(self, workflows, concurrency=concurrency, run_ids=run_ids)

    async def _reply(self, run_id: str, step: str, deadline: float | None) -> Any:
        while True:
            changed = self.changed()
            for step_row in self.store.journal(run_id).values():
                if step_row.name == step and step_row.status == "done":
                    return _step_info(step_row, [])
            run = self._row(run_id)
            if RunStatus(run.status).finished:
                return self._info(run)
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return NO_REPLY
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), remaining)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._watcher is not None and not self._watcher.done():
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
        self.store.close()


def _step_info(row: StepRow, retried: list[str]) -> StepInfo:
    return StepInfo(
        position=row.position,
        name=row.name,
        kind=row.kind,
        status=row.status,
        attempts=row.attempts,
        started_at=_ts(row.started_at),
        finished_at=_ts(row.finished_at) if row.finished_at else None,
        result=_serde.loads(row.result_json),
        error=ErrorInfo.from_json(row.error_json) if row.error_json else None,
        summary=row.summary,
        attempt_errors=[ErrorInfo.from_json(e) for e in retried],
        attributes=StepAttributes.from_json(json.loads(row.attributes_json) if row.attributes_json else None),
        fp=row.fp,
        args_json=row.args_json,
    )
