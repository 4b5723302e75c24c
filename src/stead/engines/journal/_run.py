"""One run executing on a journal engine: replay from the journal, then record as it goes."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ... import _serde
from ..._context import Scope, StepCall, derived_random, derived_uuid4, outside_workflow, step_failure
from ..._engine import ErrorInfo
from ..._events import Attempt, attempt_scope
from ..._exceptions import NonDeterminismError, SteadInterrupt, StepLost, WaitTimeout
from ..._limits import limiter_scope
from ..._replay import diverged_inputs, kept_args
from ..._workflow import call_in_attempt
from ._order import DeliveryGate
from ._store import StepRow

__all__ = ["JournalRun"]

if TYPE_CHECKING:
    from ._engine import JournalEngine


class JournalRun:
    """The runtime (``stead._context.RunRuntime``) of one run on a journal engine."""

    def __init__(
        self,
        engine: JournalEngine,
        run_id: str,
        token: int,
        journal: dict[str, StepRow],
        state: dict[str, Any],
    ) -> None:
        self.engine = engine
        self.store = engine.store
        self.run_id = run_id
        self.token = token
        self.journal = journal
        # True until this execution does something the journal does not hold, and again once the worker abandons
        # the execution (suspension, shutdown, lost lease): see stead._observe.replaying.
        self.replaying = bool(journal)
        self.visited: set[str] = set()
        self.state = state
        self._state_dirty = False
        self.fatal: NonDeterminismError | None = None
        numbered = {row.delivered: row.burst for row in journal.values() if row.delivered is not None}
        self.gate = DeliveryGate(numbered, {n: first for n, first in numbered.items() if first is not None})
        # For suspension: the run is idle when it only waits (timers, messages) and no step is under way.
        self._events: list[tuple[str, int, str, str, float]] = []
        self._flush_handle: asyncio.TimerHandle | None = None
        self.in_flight = 0
        self._blocked: dict[object, float | None] = {}
        self._last_activity = time.monotonic()
        # Steps whose progress the store may hold (saved or read by this execution): forgotten when they end.
        self.progressed: set[str] = set()

    # -- events ---------------------------------------------------------------------------------------------------

    def _sink(self, kind: str, position: str, attempt: int, data: Any) -> None:
        self._events.append((position, attempt, kind, json.dumps(data, separators=(",", ":")), time.time()))
        # Batched: a token stream costs one write per 50 ms, not one per token, and no token waits longer.
        if self._flush_handle is None:
            self._flush_handle = asyncio.get_running_loop().call_later(0.05, self._timed_flush)

    def _timed_flush(self) -> None:
        self._flush_handle = None
        try:
            self.flush_events()
        except SteadInterrupt:
            self._events.clear()  # the run is no longer ours: its events are not either

    def flush_events(self) -> None:
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        if self._events:
            events, self._events = self._events, []
            self.store.append_events(self.run_id, self.token, events)
            self.engine.notify_local()

    def idle_for(self) -> float:
        """Seconds the run has done nothing but wait durably (0 while a step runs or nothing waits)."""
        if self.in_flight or not self._blocked:
            return 0.0
        return time.monotonic() - self._last_activity

    def wake_at(self) -> float | None:
        """When the earliest timer or wait timeout of a suspended run is due."""
        due = [d for d in self._blocked.values() if d is not None]
        return min(due) if due else None

    @contextmanager
    def _waiting(self, due_at: float | None) -> Iterator[None]:
        key = object()
        self._blocked[key] = due_at
        self._last_activity = time.monotonic()
        try:
            yield
        finally:
            del self._blocked[key]
            self._last_activity = time.monotonic()

    # -- journal helpers -----------------------------------------------------------------------------------------

    def _recorded(
        self, position: str, kind: str, name: str, fp: str | None, args_json: str | None = None
    ) -> StepRow | None:
        """The journal's row at ``position``, checked against what the code asks for now."""
        if self.fatal is not None:
            raise self.fatal
        row = self.journal.get(position)
        if row is None:
            return None
        self.visited.add(position)
        if row.name != name or row.kind != kind:
            self.fatal = NonDeterminismError(
                self.run_id, position, f"{row.kind} {row.name!r}", f"{kind} {name!r}"
            )
            raise self.fatal
        if fp is not None and row.fp is not None and row.fp != fp:
            self.fatal = diverged_inputs(self.run_id, position, name, row.args_json, args_json)
            raise self.fatal
        return row

    def take_state(self) -> str | None:
        """The published state as JSON if it changed since it was last written, to write with the next row."""
        if not self._state_dirty:
            return None
        self._state_dirty = False
        return json.dumps(self.state, separators=(",", ":"))

    def _write(self, row: StepRow, *, upsert: bool = False) -> None:
        self.replaying = False
        self.store.record_step(self.run_id, self.token, row, self.take_state(), upsert=upsert)

    def unvisited(self) -> list[StepRow]:
        """Recorded steps the code never asked for: the code changed under the run."""
        return [
            row
            for pos, row in self.journal.items()
            if pos not in self.visited and row.status in ("done", "failed") and row.kind not in ("patch",)
        ]

    async def _write_delivered(self, row: StepRow, *, upsert: bool = False) -> None:
        """Write the row of a result about to reach workflow code, numbered with its turn among the results.

        Mostly the turn is now, and the number goes into the row. When results recorded before (or waiting
        already) go first, the row is written at once, so that waiting for the turn does not delay its
        durability, and the number follows in a second write.
        """
        if self.gate.passes():
            row.delivered, row.burst = self.gate.next_number, self.gate.next_burst
            self._write(row, upsert=upsert)
            await self.gate.deliver(None)  # takes the number just written, without waiting
            return
        row.delivered = row.burst = None
        self._write(row, upsert=upsert)
        await self._deliver_late(row.position)

    async def _deliver_late(self, position: str) -> None:
        number = await self.gate.deliver(None)
        self.store.record_delivered(self.run_id, self.token, position, number, self.gate.burst_of(number))

    def track_task(self, task: asyncio.Task[Any]) -> None:
        """Count a task of the run's code, for the delivery order (``stead._context.scoped_task_factory``)."""
        self.gate.track(task)

    # -- RunRuntime ----------------------------------------------------------------------------------------------

    async def execute_step(self, scope: Scope, call: StepCall) -> Any:
        position = call.position or scope.next_position()
        fp = _serde.fingerprint(call.args_json) if call.args_json is not None else None
        row = self._recorded(position, call.kind, call.name, fp, call.args_json)
        attempt = failures = 0
        started = time.time()
        if row is not None:
            if row.status == "done":
                await self.gate.deliver(row.delivered)
                return _serde.loads(row.result_json)
            if row.status == "failed":
                await self.gate.deliver(row.delivered)
                error = ErrorInfo.from_json(row.error_json or "{}")
                raise step_failure(call.name, error.type, error.message, row.attempts, error.data)
            # It was under way when its worker stopped. Attempt numbers go on from there; the retry budget counts
            # only the attempts that raised, and the attempts cut short by a stopped worker have a budget of
            # their own (RetryPolicy.max_lost_attempts).
            attempt = row.attempts
            started = row.started_at
            failures = self.store.failed_attempts(self.run_id, position, started)
            lost = attempt - failures
            if call.retry.lost_too_often(lost):
                await self._fail_lost(call, position, fp, attempt, started, lost)
        self.in_flight += 1
        try:
            return await self._run_attempts(call, position, fp, row, attempt, started, failures)
        finally:
            self.in_flight -= 1
            self._last_activity = time.monotonic()

    async def _fail_lost(
        self, call: StepCall, position: str, fp: str | None, attempt: int, started: float, lost: int
    ) -> None:
        self.replaying = False
        error = StepLost(call.name, lost)
        info = ErrorInfo.from_exception(error)
        await self._write_failed(call, position, fp, attempt, started, info, upsert=True)
        raise step_failure(call.name, info.type, info.message, attempt, info.data) from error

    async def _write_failed(
        self,
        call: StepCall,
        position: str,
        fp: str | None,
        attempt: int,
        started: float,
        info: ErrorInfo,
        *,
        upsert: bool,
    ) -> None:
        """Record the step as failed with ``info``, its last error."""
        self._forget_progress(position)  # first: a reopened run's rerun must start afresh
        row = _attempt_row(
            call, position, fp, attempt, started, "failed", error_json=info.to_json(), finished_at=time.time()
        )
        await self._write_delivered(row, upsert=upsert)

    async def _run_attempts(
        self,
        call: StepCall,
        position: str,
        fp: str | None,
        row: StepRow | None,
        attempt: int,
        started: float,
        failures: int,
    ) -> Any:
        # Written before it runs, so that a timeline shows it while it takes its time.
        show = lifecycle = call.attributes.show_while_running
        self.replaying = False
        while True:
            attempt += 1
            attempt_started = time.time()
            if show:
                self._write(
                    _attempt_row(call, position, fp, attempt, started, "running"),
                    upsert=True,
                )
            if lifecycle:
                self._sink("attempt_started", position, attempt, _started(call))
            try:
                attempt_info = Attempt(
                    self.run_id,
                    position,
                    attempt,
                    self._sink,
                    _Progress(self, position),
                    failures,
                    # Asked at each attempt of a model call: somebody may have started to follow the run since.
                    watched=call.kind != "model" or self.store.watched(self.run_id),
                )
                with outside_workflow(), attempt_scope(attempt_info), limiter_scope(self.engine.limiter):
                    value = await call_in_attempt(call)
            except (asyncio.CancelledError, SteadInterrupt):
                self.flush_events()
                raise
            except Exception as exc:
                if isinstance(exc, TimeoutError) and not str(exc) and call.timeout is not None:
                    exc = TimeoutError(f"attempt {attempt} timed out after {call.timeout:g}s")
                info = ErrorInfo.from_exception(exc)
                failures += 1
                delay = (
                    call.retry.delay(failures, exc)
                    if call.retry.retryable(exc) and call.retry.allows(failures)
                    else None
                )
                if lifecycle or self._events:
                    # Consumers drop what this attempt streamed.
                    self._sink("attempt_failed", position, attempt, {"error": str(info), "retry_in": delay})
                    self.flush_events()
                if delay is not None:
                    self.store.record_attempt(
                        self.run_id, self.token, position, attempt, info.to_json(), attempt_started, delay
                    )
                    # The step shows in timelines while it waits for its next attempt.
                    self._write(
                        _attempt_row(
                            call, position, fp, attempt, started, "running", due_at=time.time() + delay
                        ),
                        upsert=True,
                    )
                    show = True
                    self.engine.notify_local()
                    await asyncio.sleep(delay)
                    continue
                await self._write_failed(
                    call, position, fp, attempt, started, info, upsert=show or row is not None
                )
                raise step_failure(call.name, info.type, info.message, attempt, info.data) from exc
            data, text = _serde.step_result(call.name, value)
            self.flush_events()  # what the attempt streamed, before the step counts as done
            await self._write_delivered(
                _attempt_row(
                    call, position, fp, attempt, started, "done", result_json=text, finished_at=time.time()
                ),
                upsert=show or row is not None,
            )
            self._forget_progress(position)
            if lifecycle or self._events:
                self._sink("step_done", position, attempt, None)
                self.flush_events()
            return data

    def _forget_progress(self, position: str) -> None:
        if position in self.progressed:
            self.progressed.discard(position)
            self.store.save_progress(self.run_id, self.token, position, None)

    async def sleep(self, scope: Scope, seconds: float) -> None:
        position = scope.next_position()
        row = self._recorded(position, "timer", "sleep", None)
        if row is not None and row.status == "done":
            await self.gate.deliver(row.delivered)
            return
        if row is None:
            now = time.time()
            row = StepRow(
                position,
                "sleep",
                "timer",
                None,
                "pending",
                None,
                None,
                1,
                f"sleep {seconds:g}s",
                now,
                None,
                now + seconds,
            )
            self._write(row)
        assert row.due_at is not None
        remaining = row.due_at - time.time()
        if remaining > 0:
            with self._waiting(row.due_at):
                await asyncio.sleep(remaining)
        row.status, row.finished_at, row.result_json = "done", time.time(), "null"
        await self._write_delivered(row, upsert=True)

    async def wait_for(self, scope: Scope, name: str, timeout: float | None) -> Any:
        position = scope.next_position()
        row = self._recorded(position, "wait", name, None)
        if row is not None:
            if row.status == "done":
                await self.gate.deliver(row.delivered)
                return _serde.loads(row.result_json)
            if row.status == "failed":
                await self.gate.deliver(row.delivered)
                raise WaitTimeout(f"no message {name!r} arrived within {timeout}s")
        else:
            now = time.time()
            row = StepRow(
                position,
                name,
                "wait",
                None,
                "pending",
                None,
                None,
                1,
                f"wait for {name!r}",
                now,
                None,
                None if timeout is None else now + timeout,
            )
            self._write(row)
            self.engine.notify_local()  # for whoever waits for the run to be waiting
        with self._waiting(row.due_at):  # idle from here on, however often it looks for its message
            taken = await self._next_message(name, row)
        if taken is None:
            error = WaitTimeout(f"no message {name!r} arrived within {timeout}s")
            row.status, row.finished_at = "failed", time.time()
            row.error_json = ErrorInfo.from_exception(error, traceback=False).to_json()
            await self._write_delivered(row, upsert=True)
            raise error
        payload, passes = taken
        self.replaying = False
        self.engine.notify_local()
        if passes:
            await self.gate.deliver(None)  # the number just written, at once
        else:
            await self._deliver_late(row.position)
        return _serde.loads(payload)

    async def _next_message(self, name: str, row: StepRow) -> tuple[str, bool] | None:
        """The message the wait at ``row`` took (its payload, and whether it passed the delivery gate), once
        one is sent; None at the wait's timeout."""
        while True:
            sent = self.engine.message_sent()
            passes = self.gate.passes()
            row.delivered = self.gate.next_number if passes else None
            row.burst = self.gate.next_burst if passes else None
            payload = self.store.consume_message(self.run_id, self.token, name, row, self.take_state())
            if payload is not None:
                return payload, passes
            remaining = None if row.due_at is None else row.due_at - time.time()
            if remaining is not None and remaining <= 0:
                return None
            # asyncio.timeout, not wait_for: a task created here would take a place in the run's task tree.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(remaining):
                    await sent.wait()

    def now(self, scope: Scope) -> datetime:
        position = scope.next_position()
        row = self._recorded(position, "now", "now", None)
        if row is not None:
            return datetime.fromtimestamp(float(_serde.loads(row.result_json)), UTC)
        now = time.time()
        self._write(StepRow(position, "now", "now", None, "done", repr(now), None, 1, None, now, now, None))
        return datetime.fromtimestamp(now, UTC)

    def uuid4(self, scope: Scope) -> uuid.UUID:
        return derived_uuid4(scope.deterministic_seed())

    def random(self, scope: Scope) -> float:
        return derived_random(scope.deterministic_seed())

    def publish(self, key: str, value: Any) -> None:
        if self.state.get(key, _MISSING) != value:
            self.state[key] = value
            self._state_dirty = True

    def patched(self, scope: Scope, change_id: str) -> bool:
        name = f"patch:{change_id}"
        position = scope.peek_position()
        row = self.journal.get(position)
        if row is not None and row.name != name:
            return False  # this point was recorded by the code from before the change
        scope.next_position()
        if row is not None:
            self.visited.add(position)
            return True
        now = time.time()
        self._write(StepRow(position, name, "patch", None, "done", "true", None, 1, None, now, now, None))
        return True


_MISSING = object()


class _Progress:
    """The progress of one in-flight step, kept in the store (``stead._events.ProgressKeeper``)."""

    __slots__ = ("position", "run")

    def __init__(self, run: JournalRun, position: str) -> None:
        self.run = run
        self.position = position

    def saved(self) -> Any:
        text = self.run.store.load_progress(self.run.run_id, self.position)
        if text is None:
            return None
        self.run.progressed.add(self.position)
        return json.loads(text)

    async def save(self, data: Any) -> None:
        text = None if data is None else json.dumps(data, separators=(",", ":"))
        self.run.store.save_progress(self.run.run_id, self.run.token, self.position, text)
        self.run.progressed.add(self.position)


def _started(call: StepCall) -> dict[str, Any]:
    """The data of an ``attempt_started`` event."""
    return {"name": call.name, "summary": call.summary, "attributes": call.attributes.to_json()}


def _attempt_row(
    call: StepCall,
    position: str,
    fp: str | None,
    attempt: int,
    started: float,
    status: str,
    *,
    result_json: str | None = None,
    error_json: str | None = None,
    finished_at: float | None = None,
    due_at: float | None = None,
) -> StepRow:
    return StepRow(
        position,
        call.name,
        call.kind,
        fp,
        status,
        result_json,
        error_json,
        attempt,
        call.summary,
        started,
        finished_at,
        due_at,
        _attributes_json(call),
        args_json=kept_args(call.args_json),
    )


def _attributes_json(call: StepCall) -> str | None:
    data = call.attributes.to_json()
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False) if data else None
