"""A stead worker on Temporal: a Temporal worker polling the engine's task queue for workflows and steps.

Any number of them, on any number of machines, share a task queue; Temporal gives each workflow task and each
step to one of them and moves a dead worker's work to the others (steps after a missed heartbeat, workflow tasks
after ``sticky_timeout``). With ``run_ids`` (``stead run``, ``stead resume``) a worker cannot pick the runs it
executes, as Temporal hands out tasks by queue: it serves the queue until those runs have finished.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import uuid
from collections.abc import Iterable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from temporalio import workflow as temporal_workflow
from temporalio.worker import UnsandboxedWorkflowRunner
from temporalio.worker import Worker as TemporalSdkWorker

from ... import _integrations as integrations
from ..._engine import Worker, check_worker
from ..._workflow import Workflow
from ._activities import StepActivities, heartbeat_interval
from ._limiter import LIMITER_QUEUE, LimiterWorkflow
from ._runtime import Serving, workflow_class
from ._stream import drain

if TYPE_CHECKING:
    from ._engine import TemporalEngine

__all__ = ["TemporalWorker"]


class TemporalWorker(Worker):
    """Executes the runs and steps of the engine's task queue until :meth:`stop`."""

    def __init__(
        self,
        engine: TemporalEngine,
        workflows: Iterable[Workflow[..., Any]],
        *,
        concurrency: int,
        run_ids: Iterable[str] | None,
    ) -> None:
        self.engine = engine
        self.workflows = check_worker(workflows, concurrency)
        self.concurrency = concurrency
        self.only = None if run_ids is None else list(run_ids)
        self.finished: dict[str, str] = {}
        self._stop: asyncio.Event | None = None
        self._stopping = False

    def stop(self) -> None:
        self._stopping = True
        if self._stop is not None:
            self._stop.set()

    async def run(self) -> None:
        self._stop = asyncio.Event()
        if self._stopping:
            return
        options = self.engine.options
        client = await self.engine.client()
        identity = f"stead@{socket.gethostname()}/{os.getpid()}"
        own_queue = f"{options.task_queue}/{identity}/{uuid.uuid4().hex[:8]}"
        serving = Serving(options, self.finished, own_queue)
        activities = StepActivities(client, options)
        integrations.acquire()
        try:
            common: dict[str, Any] = {
                "activities": [activities.step],
                "max_concurrent_activities": self.concurrency,
                "graceful_shutdown_timeout": timedelta(0),
                "identity": identity,
                # The SDK forwards an activity's heartbeats at most every 0.8 x its heartbeat timeout, which leaves
                # a healthy step a fifth of the timeout for every delay on the way: on a loaded machine its attempt
                # timed out, ran again, and its finished result was refused ("Activity not found on completion").
                # Forwarded as often as steps beat (a quarter of the timeout), three quarters are left.
                "max_heartbeat_throttle_interval": timedelta(seconds=heartbeat_interval(options.heartbeat)),
            }
            shared = TemporalSdkWorker(
                client,
                task_queue=options.task_queue,
                workflows=[workflow_class(wf, serving) for wf in self.workflows.values()],
                workflow_runner=UnsandboxedWorkflowRunner(),
                max_concurrent_workflow_tasks=min(self.concurrency, 100),
                # A run whose code no longer matches its history fails (to be fixed and reopened), as on the
                # embedded engine, instead of retrying its workflow task forever.
                workflow_failure_exception_types=[temporal_workflow.NondeterminismError],
                sticky_queue_schedule_to_start_timeout=timedelta(seconds=options.sticky_timeout),
                **common,
            )
            # Steps whose closures live in this worker's workflows (they cannot travel) come here.
            own = TemporalSdkWorker(client, task_queue=own_queue, **common)
            # Every worker serves the limiter workflows (stead._limits on Temporal), whatever its task queue.
            limiter = TemporalSdkWorker(
                client,
                task_queue=LIMITER_QUEUE,
                workflows=[LimiterWorkflow],
                workflow_runner=UnsandboxedWorkflowRunner(),
                max_concurrent_workflow_tasks=10,
                graceful_shutdown_timeout=timedelta(0),
                identity=identity,
            )
            await self._serve([shared, own, limiter])
        finally:
            await drain()  # the last events of steps that are done
            await integrations.release()

    async def _serve(self, workers: list[TemporalSdkWorker]) -> None:
        assert self._stop is not None
        watchers = [asyncio.create_task(self._watch(run_id)) for run_id in self.only or []]
        done_watching = (
            asyncio.create_task(self._all_finished(watchers), name="stead-worker-runs") if watchers else None
        )
        runners = [asyncio.create_task(w.run(), name="stead-temporal-worker") for w in workers]
        stop = asyncio.create_task(self._stop.wait(), name="stead-worker-stop")
        try:
            waiting = {stop, *runners} | ({done_watching} if done_watching is not None else set())
            await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (stop, done_watching, *watchers):
                if task is not None:
                    task.cancel()
            await asyncio.gather(
                *(w.shutdown() for w, r in zip(workers, runners, strict=True) if not r.done()),
                return_exceptions=True,
            )
            for runner in runners:
                with contextlib.suppress(asyncio.CancelledError):
                    await runner

    async def _watch(self, run_id: str) -> None:
        with contextlib.suppress(Exception):
            await self.engine.wait(run_id)

    async def _all_finished(self, watchers: list[asyncio.Task[None]]) -> None:
        await asyncio.gather(*watchers)
