"""The embedded engine: runs journaled in one SQLite file, executed by any number of worker processes."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import time
import uuid
from collections.abc import AsyncIterator, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

from ... import _integrations as integrations
from ... import _observe as observe
from ... import _serde
from ..._context import Scope, StepAttributes, enter_scope, install_task_factory, outside_workflow
from ..._engine import Engine, ErrorInfo, RunHandle, RunInfo, RunStatus, StepInfo, Worker, prepare_start
from ..._events import RunEvent
from ..._exceptions import (
    NonDeterminismError,
    RunFinished,
    RunIdConflict,
    RunNotFound,
    SteadInterrupt,
    UsageError,
)
from ..._workflow import Workflow
from ._run import SqliteRun
from ._store import RunRow, StepRow, Store

R = TypeVar("R")


def _ts(value: float) -> datetime:
    return datetime.fromtimestamp(value, UTC)


class SqliteEngine(Engine):
    """``sqlite:///path/to/file.db?synchronous=NORMAL&lease=5``: the default, zero-infrastructure engine.

    ``synchronous`` is SQLite's durability setting: NORMAL (the default) survives a crash of any process;
    FULL also survives a power loss, at a higher cost per step. ``lease`` is how many seconds a worker's claim
    on a run lasts without renewal: a dead worker's runs are taken over after that. ``suspend`` is how many
    seconds a run may only wait (for a message or a timer) before its worker lets go of it, freeing its memory;
    it is replayed when a message it waits for arrives or its timer is due (0: never suspend).
    """

    def __init__(self, url: str, *, lease: float | None = None, poll_interval: float = 0.02) -> None:
        parts = urlsplit(url)
        if parts.scheme != "sqlite" or parts.netloc not in ("", "localhost"):
            raise UsageError(
                f"not a SQLite engine URL: {url!r}; expected sqlite:///relative/path.db or "
                "sqlite:////absolute/path.db"
            )
        path = parts.path[1:] if parts.path.startswith("/") else parts.path
        if not path:
            raise UsageError(f"the engine URL {url!r} names no file; expected sqlite:///path/to/stead.db")
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        unknown = set(query) - {"synchronous", "lease", "poll", "suspend"}
        if unknown:
            raise UsageError(
                f"unknown option(s) {', '.join(sorted(unknown))} in {url!r}; known: synchronous, lease, poll"
            )
        synchronous = query.get("synchronous", "NORMAL").upper()
        if synchronous not in ("NORMAL", "FULL", "EXTRA"):
            raise UsageError(f"synchronous={synchronous} in {url!r}: use NORMAL, FULL or EXTRA")
        try:
            self.lease = float(query.get("lease", lease or 5.0))
            self.poll_interval = float(query.get("poll", poll_interval))
            self.suspend_after = float(query.get("suspend", 1.0))
        except ValueError as exc:
            raise UsageError(f"bad number in {url!r}: {exc}") from None
        self.url = url
        self.path = path
        self.store = Store(path, synchronous=synchronous)
        self.host = socket.gethostname()
        self._changed: asyncio.Event | None = None
        self._watcher: asyncio.Task[None] | None = None
        self._local: dict[str, tuple[asyncio.Task[None], SqliteWorker]] = {}
        self._closed = False

    def __repr__(self) -> str:
        return f"<SqliteEngine {self.path}>"

    # -- change notification -------------------------------------------------------------------------------------

    def changed(self) -> asyncio.Event:
        """An event set at the next change of the database, by this process or another one."""
        if self._watcher is None or self._watcher.done():
            with outside_workflow():  # an engine task, not a task of whichever run asked first
                self._watcher = asyncio.get_running_loop().create_task(self._watch())
        if self._changed is None:
            self._changed = asyncio.Event()
        return self._changed

    def notify_local(self) -> None:
        """Wake everyone waiting for a change (our own writes do not move SQLite's data_version)."""
        event, self._changed = self._changed, None
        if event is not None:
            event.set()

    async def _watch(self) -> None:
        version = self.store.data_version()
        while not self._closed:
            await asyncio.sleep(self.poll_interval)
            current = self.store.data_version()
            if current != version:
                version = current
                self.notify_local()

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
                raise RunIdConflict(
                    f"run {run_id!r} already exists for workflow {row.workflow!r}, not {workflow.name!r}; choose "
                    "another run id"
                )
            if json.loads(row.args_json) != json.loads(args_json):
                raise RunIdConflict(
                    f"run {run_id!r} already exists with other arguments ({_short(row.args_json)}, now "
                    f"{_short(args_json)}); choose another run id, or pass the same arguments to get that run"
                )
        else:
            self.notify_local()
        return RunHandle(self, run_id, workflow)

    def _row(self, run_id: str) -> RunRow:
        row = self.store.get_run(run_id)
        if row is None:
            raise RunNotFound(f"no run {run_id!r} in {self.path}; `stead ls` lists the runs")
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
        if not name:
            raise UsageError("a message needs a name")
        outcome = self.store.insert_message(
            run_id, name, _serde.dumps(payload, f"the payload of message {name!r}")
        )
        if outcome == "missing":
            raise RunNotFound(f"no run {run_id!r} in {self.path}; `stead ls` lists the runs")
        if outcome is not None:
            raise RunFinished(
                f"run {run_id!r} has already {_past(outcome)}; it takes no more messages. Start a new run instead."
            )
        self.notify_local()

    async def cancel(self, run_id: str) -> None:
        before = self.store.request_cancel(run_id, time.time())
        if before is None:
            raise RunNotFound(f"no run {run_id!r} in {self.path}; `stead ls` lists the runs")
        if before in ("completed", "failed"):
            raise RunFinished(f"run {run_id!r} has already {_past(before)}; there is nothing to cancel")
        local = self._local.get(run_id)
        if local is not None:
            local[1].cancel_run(run_id)
        self.notify_local()

    async def wait(self, run_id: str, timeout: float | None = None) -> RunInfo:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            changed = self.changed()
            row = self._row(run_id)
            if RunStatus(row.status).finished:
                return self._info(row)
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                raise TimeoutError(f"run {run_id!r} did not finish within {timeout}s (it is {row.status})")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), remaining)

    async def events(self, run_id: str, *, after: int = 0, follow: bool = True) -> AsyncIterator[RunEvent]:
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
            raise RunFinished(
                f"run {run_id!r} has {_past(row.status)}; only failed or unfinished runs resume"
            )
        return await self.get(run_id)

    def worker(
        self,
        workflows: Iterable[Workflow[..., Any]],
        *,
        concurrency: int = 100,
        run_ids: Iterable[str] | None = None,
    ) -> SqliteWorker:
        return SqliteWorker(self, workflows, concurrency=concurrency, run_ids=run_ids)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._watcher is not None and not self._watcher.done():
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
        self.store.close()


def _past(status: str) -> str:
    return {"completed": "completed", "failed": "failed", "cancelled": "been cancelled"}.get(status, status)


def _short(args_json: str, limit: int = 80) -> str:
    return args_json if len(args_json) <= limit else args_json[: limit - 1] + "…"


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
    )


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class SqliteWorker(Worker):
    """Claims runnable runs, executes them, renews its leases, and takes over runs of dead workers."""

    def __init__(
        self,
        engine: SqliteEngine,
        workflows: Iterable[Workflow[..., Any]],
        *,
        concurrency: int,
        run_ids: Iterable[str] | None,
    ) -> None:
        self.engine = engine
        self.store = engine.store
        self.workflows = {wf.name: wf for wf in workflows}
        if not self.workflows:
            raise UsageError("a worker needs at least one @stead.workflow")
        if concurrency < 1:
            raise UsageError(f"concurrency must be at least 1, got {concurrency}")
        self.concurrency = concurrency
        self.only = None if run_ids is None else set(run_ids)
        self.owner = f"{engine.host}/{os.getpid()}/{uuid.uuid4().hex[:8]}"
        self.active: dict[str, asyncio.Task[None]] = {}
        self.runtimes: dict[str, SqliteRun] = {}
        self._suspending: dict[str, float | None] = {}
        self._cancelling: set[str] = set()
        self._stopping = False
        self.finished: dict[str, str] = {}
        """Runs this worker brought to an end, with their final status."""

    def stop(self) -> None:
        self._stopping = True
        self.engine.notify_local()

    def cancel_run(self, run_id: str) -> None:
        task = self.active.get(run_id)
        if task is not None:
            self._cancelling.add(run_id)
            task.cancel()

    async def run(self) -> None:
        install_task_factory()
        integrations.acquire()
        next_renew = 0.0
        try:
            while not self._stopping:
                changed = self.engine.changed()
                now = time.time()
                if now >= next_renew:
                    self._renew(now)
                    next_renew = now + self.engine.lease / 3
                self._claim(now)
                for run_id in self.store.cancel_requested(list(self.active)):
                    if run_id not in self._cancelling:
                        self.cancel_run(run_id)
                self._suspend_idle()
                if self.only is not None and not self.only and not self.active:
                    break
                timeout = min(1.0, self.engine.lease / 3)
                if self.engine.suspend_after > 0:
                    timeout = min(timeout, self.engine.suspend_after / 2)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(changed.wait(), timeout)
        finally:
            await self._shutdown()
            await integrations.release()

    def _abandon(self, run_id: str) -> None:
        """The run goes on later or elsewhere: what its code does while this execution unwinds is not news."""
        runtime = self.runtimes.get(run_id)
        if runtime is not None:
            runtime.replaying = True

    async def _shutdown(self) -> None:
        tasks = list(self.active.values())
        for run_id in list(self.active):
            self._abandon(run_id)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)

    def _suspend_idle(self) -> None:
        """Let go of runs that have only waited for a while: they cost no memory until they wake up."""
        if self.engine.suspend_after <= 0:
            return
        for run_id, runtime in self.runtimes.items():
            if run_id in self._suspending or run_id in self._cancelling:
                continue
            if runtime.idle_for() >= self.engine.suspend_after:
                self._suspending[run_id] = runtime.wake_at()  # before the cancellation unwinds the waits
                self._abandon(run_id)
                self.active[run_id].cancel()

    def _renew(self, now: float) -> None:
        if not self.active:
            return
        held = self.store.renew(self.owner, now + self.engine.lease)
        for run_id, task in list(self.active.items()):
            if run_id not in held:
                self._abandon(run_id)
                task.cancel()  # another worker took it over: stop without writing

    def _claimable(self, row: RunRow, now: float) -> bool:
        if row.run_id in self.active:
            return False
        if row.owner is None or (row.lease_until or 0) < now:
            return True
        host, _, rest = row.owner.partition("/")
        pid_text = rest.partition("/")[0]
        # A lease held by a process of this machine that no longer exists is free at once.
        return host == self.engine.host and pid_text.isdigit() and not _pid_alive(int(pid_text))

    def _claim(self, now: float) -> None:
        free = self.concurrency - len(self.active)
        if free <= 0 or (self.only is not None and not self.only):
            return
        only = sorted(self.only - set(self.active)) if self.only is not None else None
        if only is not None and not only:
            return
        candidates = self.store.candidates(list(self.workflows), only, now, self.engine.host + "/", free * 2)
        for row in candidates:
            if free <= 0:
                break
            if not self._claimable(row, now):
                continue
            claimed = self.store.claim(row.run_id, row.lease_token, self.owner, now + self.engine.lease)
            if claimed is None:
                continue
            free -= 1
            task = asyncio.get_running_loop().create_task(
                self._execute(claimed), name=f"stead-run-{row.run_id}"
            )
            self.active[row.run_id] = task
            self.engine._local[row.run_id] = (task, self)

    async def _execute(self, row: RunRow) -> None:
        run_id, token = row.run_id, row.lease_token
        workflow = self.workflows[row.workflow]
        runtime = SqliteRun(
            self.engine,
            run_id,
            token,
            self.store.journal(run_id),
            json.loads(row.state_json) if row.state_json else {},
        )
        self.runtimes[run_id] = runtime
        status: str | None = None
        try:
            if row.cancel_requested:
                status, result_json, error_json = "cancelled", None, None
            else:
                try:
                    integrations.activate()
                    args, kwargs = workflow.decode_args(row.args_json)
                    observed = observe.execution(runtime, workflow.name, row.created_at)
                    with enter_scope(Scope(runtime)), observed:
                        value = await workflow.fn(*args, **kwargs)
                    if runtime.fatal is not None:
                        raise runtime.fatal
                    leftover = runtime.unvisited()
                    if leftover:
                        first = leftover[0]
                        raise NonDeterminismError(
                            run_id,
                            first.position,
                            f"{first.kind} {first.name!r}",
                            "nothing: the workflow returned before reaching it",
                        )
                    status, result_json, error_json = "completed", workflow.encode_result(value), None
                except asyncio.CancelledError:
                    if run_id not in self._cancelling:
                        raise  # shutdown, or the lease went to another worker
                    status, result_json, error_json = "cancelled", None, None
                except Exception as exc:
                    error = runtime.fatal or exc
                    status, result_json = "failed", None
                    error_json = ErrorInfo.from_exception(error).to_json()
            self.store.finish_run(run_id, token, status, result_json, error_json, runtime.take_state())
            self.finished[run_id] = status
        except (asyncio.CancelledError, SteadInterrupt):
            # Not finished here: give the run back so that another worker (or `stead resume`) continues it.
            with contextlib.suppress(Exception):
                if run_id in self._suspending:
                    self.store.suspend(run_id, token, self._suspending[run_id], runtime.take_state())
                else:
                    self.store.release(run_id, token)
        finally:
            self.active.pop(run_id, None)
            self.runtimes.pop(run_id, None)
            self._suspending.pop(run_id, None)
            self._cancelling.discard(run_id)
            if self.engine._local.get(run_id, (None, None))[1] is self:
                del self.engine._local[run_id]
            if self.only is not None and status is not None:
                self.only.discard(run_id)
            self.engine.notify_local()
