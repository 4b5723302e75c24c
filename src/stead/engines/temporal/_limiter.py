"""The shared rate limit on Temporal: one long-running limiter workflow per key, booked through workflow updates.

The workflow ``stead-limiter/<key>`` (type ``stead.limiter``, on the task queue ``stead-limiter`` that every stead
worker of the namespace serves) owns the key's ``LimitState`` and applies the core's ``reserve``/``settle`` to it
with ``workflow.now()`` as the clock, so that every worker on every machine books in one record, timed by one
clock. Model attempts reach it with updates (update-with-start: the first call of a key starts it). After a few
hundred updates it continues as new, carrying the record; idle with nothing left to remember, it ends.

Only configured limits travel: without one, the AIMD concurrency window stays per worker process here
(``process_limiter``), so that a model call without a limit pays no extra round trip.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.client import Client, WithStartWorkflowOperation
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.service import RPCError, RPCStatusCode

from ..._context import outside_workflow
from ..._limits import Limit, LimitState, Reservation, process_limiter, reserve, settle

__all__ = ["LIMITER_QUEUE", "LIMITER_WORKFLOW", "LimiterWorkflow", "TemporalLimiter", "limiter_id"]

LIMITER_WORKFLOW = "stead.limiter"
LIMITER_QUEUE = "stead-limiter"
"""The task queue of the limiter workflows, served by every stead worker: a key's limiter stays served while any
worker of the namespace runs, whatever task queue its runs use."""

_UPDATES_PER_RUN = 300
"""Updates after which the workflow continues as new: its history stays a few thousand events."""
_IDLE = timedelta(minutes=10)
"""Without an update for this long (and nothing booked ahead or blocked), the workflow ends."""
_ATTEMPTS = 5


def limiter_id(key: str) -> str:
    return f"stead-limiter/{key}"


def _limit(data: list[Any]) -> Limit:
    requests, tokens, period = data
    return Limit(requests, tokens, period)


@workflow.defn(name=LIMITER_WORKFLOW)
class LimiterWorkflow:
    """The record of one key, changed only by its updates (synchronous handlers: one at a time, in order)."""

    @workflow.init
    def __init__(self, carried: str | None) -> None:
        self.state = LimitState.from_json(carried)
        self.updates = 0
        self.touched = False

    @workflow.run
    async def run(self, carried: str | None) -> None:
        while self.updates < _UPDATES_PER_RUN:
            self.touched = False
            try:
                await workflow.wait_condition(
                    lambda: self.updates >= _UPDATES_PER_RUN, timeout=_IDLE, timeout_summary="idle"
                )
            except TimeoutError:
                now = workflow.now().timestamp()
                stale = max(self.state.request_tat, self.state.token_tat, self.state.blocked_until) <= now
                if not self.touched and stale and not self.state.leases:
                    return  # a fresh record is the same as this one: the next call starts a new workflow
        await workflow.wait_condition(workflow.all_handlers_finished)
        workflow.continue_as_new(self.state.to_json())

    @workflow.update(name="book")
    def book(self, operations: list[dict[str, Any]]) -> list[dict[str, Any] | None]:
        """Reservations and settlements of one worker process, applied in order: one update for many calls."""
        answers: list[dict[str, Any] | None] = []
        for operation in operations:
            if operation["op"] == "reserve":
                answers.append(self._reserve(operation))
            else:
                self._settle(operation)
                answers.append(None)
        return answers

    @workflow.update(name="reserve")
    def reserve(self, data: dict[str, Any]) -> dict[str, Any]:
        """One reservation (what workers sent before ``book``)."""
        return self._reserve(data)

    @workflow.update(name="settle")
    def settle(self, data: dict[str, Any]) -> None:
        """One settlement (what workers sent before ``book``)."""
        self._settle(data)

    def _reserve(self, data: dict[str, Any]) -> dict[str, Any]:
        self.state, booked = reserve(
            self.state,
            _limit(data["limit"]),
            workflow.now().timestamp(),
            float(data["cost"]),
            str(data["lease"]),
        )
        self._count()
        return {"wait": booked.wait, "booked": booked.booked, "reason": booked.reason}

    def _settle(self, data: dict[str, Any]) -> None:
        self.state = settle(
            self.state,
            _limit(data["limit"]),
            workflow.now().timestamp(),
            str(data["lease"]),
            estimated=float(data["estimated"]),
            actual=data["actual"],
            retry_after=data["retry_after"],
            limited=bool(data["limited"]),
        )
        self._count()

    def _count(self) -> None:
        self.updates += 1
        self.touched = True


class TemporalLimiter:
    """The ``stead._limits.Limiter`` of a Temporal worker: configured limits book in the key's limiter workflow.

    One update at a time per key from this process: the calls that ask while it is in flight go together in the
    next one. Temporal admits only a few updates in flight per workflow (10 on the dev server, refused with
    RESOURCE_EXHAUSTED beyond); one per process keeps a fan-out of a worker's every slot within that, and a
    worker's calls pay one round trip together instead of queueing for their own."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self._started: set[str] = set()
        """Keys whose workflow this process has seen running: a plain update reaches it (cheaper than a start)."""
        self._queued: dict[str, list[tuple[dict[str, Any], asyncio.Future[Any]]]] = {}
        self._senders: dict[str, asyncio.Task[None]] = {}
        self.updates = 0
        """Updates this limiter has sent (each one carrying one or more calls' operations)."""

    async def reserve(self, key: str, limit: Limit, cost: float, lease: str) -> Reservation:
        if not limit.configured:
            return await process_limiter().reserve(key, limit, cost, lease)
        data = {
            "op": "reserve",
            "limit": [limit.requests, limit.tokens, limit.period],
            "cost": cost,
            "lease": lease,
        }
        answer = await self._book(key, data)
        return Reservation(float(answer["wait"]), bool(answer["booked"]), str(answer["reason"]))

    async def settle(
        self,
        key: str,
        limit: Limit,
        lease: str,
        *,
        estimated: float,
        actual: float | None,
        retry_after: float | None,
        limited: bool,
    ) -> None:
        if not limit.configured:
            await process_limiter().settle(
                key,
                limit,
                lease,
                estimated=estimated,
                actual=actual,
                retry_after=retry_after,
                limited=limited,
            )
            return
        data = {
            "op": "settle",
            "limit": [limit.requests, limit.tokens, limit.period],
            "lease": lease,
            "estimated": estimated,
            "actual": actual,
            "retry_after": retry_after,
            "limited": limited,
        }
        await self._book(key, data)

    async def _book(self, key: str, operation: dict[str, Any]) -> Any:
        """Send ``operation`` with the next update for ``key``; its answer."""
        answer: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._queued.setdefault(key, []).append((operation, answer))
        sender = self._senders.get(key)
        if sender is None or sender.done():
            # Not a task of the activity that asked first: cancelling that one must not stop the others' update.
            with outside_workflow():
                self._senders[key] = asyncio.get_running_loop().create_task(self._send(key))
        return await answer

    async def _send(self, key: str) -> None:
        while queued := self._queued.pop(key, None):
            try:
                self.updates += 1
                answers = await self._update(key, "book", [operation for operation, _ in queued])
            except BaseException as error:
                for _, answer in queued:
                    if not answer.done():
                        answer.set_exception(error)
                if isinstance(error, asyncio.CancelledError):
                    raise
                continue
            for (_, answer), value in zip(queued, answers, strict=True):
                if not answer.done():
                    answer.set_result(value)

    async def _update(self, key: str, name: str, data: Any) -> Any:
        workflow_id = limiter_id(key)
        for attempt in range(1, _ATTEMPTS + 1):
            try:
                if workflow_id in self._started:
                    return await self.client.get_workflow_handle(workflow_id).execute_update(name, data)
                answer = await self.client.execute_update_with_start_workflow(
                    name,
                    data,
                    start_workflow_operation=WithStartWorkflowOperation(
                        LIMITER_WORKFLOW,
                        None,
                        id=workflow_id,
                        task_queue=LIMITER_QUEUE,
                        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                        static_summary=f"rate limit · {key}",
                    ),
                )
                self._started.add(workflow_id)
                return answer
            except RPCError as error:
                # The workflow ended (idle) or moved on (continue-as-new) between our look and the update.
                self._started.discard(workflow_id)
                # Or, with many worker processes, more updates are in flight than Temporal admits: try again.
                again = error.status in (
                    RPCStatusCode.NOT_FOUND,
                    RPCStatusCode.FAILED_PRECONDITION,
                    RPCStatusCode.RESOURCE_EXHAUSTED,
                )
                if not again or attempt == _ATTEMPTS:
                    raise
                await asyncio.sleep(0.05 * attempt)
        raise AssertionError("unreachable")  # pragma: no cover
