"""The journal worker: claims runnable runs, executes them, renews its leases, suspends idle runs."""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import random
import time
import uuid
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from ... import _integrations as integrations
from ... import _observe as observe
from ..._context import Scope, enter_scope, install_task_factory, workflow_code
from ..._engine import ErrorInfo, Worker, check_worker
from ..._exceptions import NonDeterminismError, SteadInterrupt
from ..._workflow import Workflow
from ._run import JournalRun
from ._store import RunRow, dead_owners, lease_held

if TYPE_CHECKING:
    from ._engine import JournalEngine

__all__ = ["JournalWorker"]

_CLAIM_BATCH = 4
"""Runs a worker claims per wake-up: with more waiting it comes back after a short random pause, which leaves the
other workers that woke up too their share instead of the first one taking everything."""


class JournalWorker(Worker):
    """Claims runnable runs, executes them, renews its leases, and takes over runs of dead workers."""

    def __init__(
        self,
        engine: JournalEngine,
        workflows: Iterable[Workflow[..., Any]],
        *,
        concurrency: int,
        run_ids: Iterable[str] | None,
    ) -> None:
        self.engine = engine
        self.store = engine.store
        self.workflows = check_worker(workflows, concurrency)
        self.concurrency = concurrency
        self.only = None if run_ids is None else set(run_ids)
        self.owner = f"{engine.host}/{os.getpid()}/{uuid.uuid4().hex[:8]}"
        self.active: dict[str, asyncio.Task[None]] = {}
        self.runtimes: dict[str, JournalRun] = {}
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
                claimed_all = self._claim(now)
                for run_id in self.store.cancel_requested(list(self.active)):
                    if run_id not in self._cancelling:
                        self.cancel_run(run_id)
                self._suspend_idle()
                if not claimed_all:
                    self._make_room(now)
                if self.only is not None and not self.only and not self.active:
                    break
                timeout = min(1.0, self.engine.lease / 3)
                if self.engine.suspend_after > 0:
                    timeout = min(timeout, self.engine.suspend_after / 2)
                if claimed_all:
                    timeout = random.uniform(0.002, 0.02)
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
                self._let_go(run_id)

    def _make_room(self, now: float) -> None:
        """A full worker lets go at once of runs that only wait when other runs are ready to run: a slot is for
        work. Without this a run that reached its wait kept its slot for ``suspend`` seconds, and 10,000 runs
        took minutes to reach theirs 100 at a time."""
        if self.engine.suspend_after <= 0 or len(self.active) - len(self._suspending) < self.concurrency:
            return
        idle = [
            (runtime.idle_for(), run_id)
            for run_id, runtime in self.runtimes.items()
            if run_id not in self._suspending
            and run_id not in self._cancelling
            and runtime.idle_for() > 0
            # A timer due soon keeps its slot: letting go of it would cost a replay for nothing.
            and (runtime.wake_at() or math.inf) - now > self.engine.suspend_after
        ]
        if not idle:
            return
        only = sorted(self.only - set(self.active)) if self.only is not None else None
        if only is not None and not only:
            return
        ready = self._candidates(only, now, _CLAIM_BATCH)
        wanted = sum(1 for row in ready if self._claimable(row, now))
        for _, run_id in sorted(idle, reverse=True)[:wanted]:
            self._let_go(run_id)

    def _candidates(self, only: list[str] | None, now: float, limit: int) -> list[RunRow]:
        # Runs whose worker died on this machine are free at once, without waiting for their lease to expire.
        dead = dead_owners(self.store.lease_owners(self.engine.host + "/", now), self.engine.host)
        return self.store.candidates(list(self.workflows), only, now, dead, limit)

    def _let_go(self, run_id: str) -> None:
        runtime = self.runtimes[run_id]
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
        return row.run_id not in self.active and not lease_held(row, self.engine.host, now)

    def _claim(self, now: float) -> bool:
        """Claim up to a batch of runs; True if the batch was full (more may be waiting)."""
        free = min(self.concurrency - len(self.active), _CLAIM_BATCH)
        if free <= 0 or (self.only is not None and not self.only):
            return False
        only = sorted(self.only - set(self.active)) if self.only is not None else None
        if only is not None and not only:
            return False
        candidates = self._candidates(only, now, free * 2)
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
        return free == 0

    async def _execute(self, row: RunRow) -> None:
        run_id, token = row.run_id, row.lease_token
        workflow = self.workflows[row.workflow]
        runtime = JournalRun(
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
                    root = asyncio.current_task()
                    assert root is not None
                    runtime.track_task(root)
                    with enter_scope(Scope(runtime)), observed:
                        value = await workflow_code(workflow.fn(*args, **kwargs))
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
