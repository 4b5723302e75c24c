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

    @workflow.update(name="reserve")
    def reserve(self, data: dict[str, Any]) -> dict[str, Any]:
        self.state, booked = reserve(
            self.state,
            _limit(data["limit"]),
            workflow.now().timestamp(),
            float(data["cost"]),
            str(data["lease"]),
        )
        self._count()
        return {"wait": booked.wait, "booked": booked.booked, "reason": booked.reason}

    @workflow.update(name="settle")
    def settle(self, data: dict[str, Any]) -> None:
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
    """The ``stead._limits.Limiter`` of a Temporal worker: configured limits book in the key's limiter workflow."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self._started: set[str] = set()
        """Keys whose workflow this process has seen running: a plain update reaches it (cheaper than a start)."""

    async def reserve(self, key: str, limit: Limit, cost: float, lease: str) -> Reservation:
        if not limit.configured:
            return await process_limiter().reserve(key, limit, cost, lease)
        data = {"limit": [limit.requests, limit.tokens, limit.period], "cost": cost, "lease": lease}
        answer = await self._update(key, "reserve", data)
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
            "limit": [limit.requests, limit.tokens, limit.period],
            "lease": lease,
            "estimated": estimated,
            "actual": actual,
            "retry_after": retry_after,
            "limited": limited,
        }
        await self._update(key, "settle", data)

    async def _update(self, key: str, name: str, data: dict[str, Any]) -> Any:
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
                gone = error.status in (RPCStatusCode.NOT_FOUND, RPCStatusCode.FAILED_PRECONDITION)
                if not gone or attempt == _ATTEMPTS:
                    raise
                await asyncio.sleep(0.05 * attempt)
        raise AssertionError("unreachable")  # pragma: no cover
