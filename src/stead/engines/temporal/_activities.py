"""The activity that runs stead steps on Temporal workers.

One activity type runs every step. It finds the step's code by name: a ``@stead.step`` of the loaded program, a
remote handler (the agents integration's model and tool handlers, ``StepCall.remote``), or, for a closure over
live objects that cannot travel, the closure itself, held by the worker whose workflow code made it (such steps
go to that worker's own task queue). It heartbeats in the background while the step runs, so that a worker
killed mid-step is noticed within seconds, and decides retries with stead's policy: jitter, Retry-After
(``next_retry_delay``), and errors not worth retrying (``non_retryable``). The errors of earlier attempts travel to
the next attempt in the heartbeat details, so that the history shows every attempt's error.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import OrderedDict
from datetime import timedelta
from typing import Any

from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError

from ... import _observe, _serde
from ..._context import StepAttributes, StepCall
from ..._engine import ErrorInfo
from ..._events import Attempt, attempt_scope
from ..._exceptions import SerializationError, StepLost
from ..._limits import limiter_scope
from ..._retry import RetryPolicy
from ..._workflow import call_in_attempt, find_step, resolve_remote
from ._codec import ACTIVITY_STEP, error_dict, policy_of
from ._config import TemporalOptions
from ._limiter import TemporalLimiter
from ._stream import STREAMED, AttemptStream

__all__ = ["CLOSURE_LOST", "StepActivities", "closures", "heartbeat_interval"]

#: Steps whose function cannot travel, by token, held for the activity that runs them on this worker. The
#: workflow code that asked for the step registers it and removes it when the step ends.
closures: dict[str, StepCall] = {}

CLOSURE_LOST = "ClosureLost"
"""The failure type of a closure step whose worker no longer holds it: the workflow asks again."""

_MAX_REMEMBERED = 4096


class PayloadTooLarge(SerializationError):
    """A value over Temporal's payload size limit."""


class WorkerStopped(Exception):
    """The worker running an attempt was stopped: the attempt is retried by another worker."""


class ClosureLost(Exception):
    """The worker no longer holds the closure of a step (its workflow moved on or was evicted)."""


class _RemoteContext:
    def __init__(self, owner: StepActivities, run_id: str, temporal_run_id: str, position: str) -> None:
        self.owner = owner
        self.run_id = run_id
        self.temporal_run_id = temporal_run_id
        self.position = position

    async def earlier(self, position: str) -> tuple[Any, Any] | None:
        return await self.owner.earlier(self.run_id, self.temporal_run_id, position)


class StepActivities:
    """The step activity of one worker, with the client it reads earlier steps through."""

    def __init__(self, client: Client, options: TemporalOptions) -> None:
        self.client = client
        self.options = options
        self.limiter = TemporalLimiter(client)
        # Remote steps this worker ran or read from a history: (run id, Temporal run id, position) -> (input,
        # result). A model call's base is usually the previous call of the same run, often run here.
        self._remembered: OrderedDict[tuple[str, str, str], tuple[Any, Any]] = OrderedDict()

    @activity.defn(name=ACTIVITY_STEP)
    async def step(self, data: dict[str, Any]) -> dict[str, Any]:
        info = activity.info()
        prior: list[dict[str, Any]] = []
        details = info.heartbeat_details
        if details and isinstance(details[0], list):
            prior = list(details[0])
        beats = _Beats(prior, details[1] if len(details) > 1 else None, info.heartbeat_timeout)
        # Attempts that raised; the others before this one were lost with their worker (heartbeat timeout).
        if len(details) > 2 and isinstance(details[2], int):
            beats.failures = details[2]
        else:
            beats.failures = len(prior)
        beat = None
        if info.heartbeat_timeout:
            interval = heartbeat_interval(info.heartbeat_timeout.total_seconds())
            beat = asyncio.create_task(_heartbeat(beats, interval), name="stead-heartbeat")
        policy = policy_of(info.retry_policy, data)
        run_id = info.workflow_id or ""
        temporal_run_id = info.workflow_run_id or ""
        position = data["position"]
        stream = AttemptStream(
            self.client,
            self.options.task_queue,
            run_id,
            position,
            info.attempt,
            {
                "name": data["step"],
                "summary": data.get("summary"),
                "attributes": data.get("attributes") or {},
            },
        )
        try:
            lost = info.attempt - 1 - beats.failures
            if policy.lost_too_often(lost):
                raise StepLost(data["step"], lost)
            with (
                _observe.bind(run_id, info.workflow_type or ""),
                attempt_scope(
                    Attempt(
                        run_id,
                        position,
                        info.attempt,
                        stream.sink,
                        beats,
                        beats.failures,
                        watched=bool(data.get("watched")),
                    )
                ),
                limiter_scope(self.limiter),
            ):
                value, policy = await self._run(data, run_id, temporal_run_id, policy)
            envelope = {"step": data["step"], "position": position, "fp": data.get("fp"), "value": value}
            if "args_json" in data:
                envelope["args_json"] = data["args_json"]
            if stream.emitted:
                envelope[STREAMED] = info.attempt  # its last events may reach the log after the step is done
            size = len(json.dumps(envelope, ensure_ascii=False).encode())
            if size > self.options.payload_limit:
                raise PayloadTooLarge(
                    f"the result of step {data['step']!r} takes {size:,} bytes, over the {self.options.payload_limit:,}"
                    " bytes a Temporal payload may take; store large data elsewhere (a file, a bucket) and return "
                    "a reference to it"
                )
            if "remote" in data:
                self._remember((run_id, temporal_run_id, position), (data["remote"][1], value))
            stream.end_soon("step_done", None)  # in the background: consumers wait for it (STREAMED)
            return envelope
        except asyncio.CancelledError:
            if not activity.is_worker_shutdown():
                await stream.flush()
                raise
            stopped = WorkerStopped("the worker stopped during this attempt; another worker retries it")
            failure, retry_in = self._failure(stopped, data, info.attempt, beats, policy, retry_now=True)
        except Exception as exc:
            failure, retry_in = self._failure(exc, data, info.attempt, beats, policy)
        finally:
            if beat is not None:
                beat.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await beat
        # Consumers drop what this attempt streamed.
        await stream.end(
            "attempt_failed", {"error": f"{failure.type}: {failure.message}", "retry_in": retry_in}
        )
        raise failure

    async def _run(
        self, data: dict[str, Any], run_id: str, temporal_run_id: str, policy: RetryPolicy
    ) -> tuple[Any, RetryPolicy]:
        name = data["step"]
        timeout = data.get("timeout")
        if "remote" in data:
            handler_name, payload = data["remote"]
            handler = resolve_remote(handler_name)
            context = _RemoteContext(self, run_id, temporal_run_id, data["position"])

            async def remote() -> Any:
                return await handler(payload, context)

            call = StepCall(
                name,
                remote,
                timeout=timeout,
                kind=data.get("kind", "step"),
                summary=data.get("summary"),
                attributes=StepAttributes.from_json(data.get("attributes")),
                position=data["position"],
            )
        elif "token" in data:
            held = closures.get(data["token"])
            if held is None:
                raise ClosureLost(f"this worker no longer holds step {name!r}; its workflow asks again")
            call = held
        else:
            step = find_step(name, data.get("module"))
            policy = step.retry
            args, kwargs = step.decode_args(data["args"])
            call = StepCall(
                name, step.fn, tuple(args), kwargs, timeout=timeout, retry=policy, position=data["position"]
            )
        result, _ = _serde.step_result(name, await call_in_attempt(call))
        return result, policy

    def _failure(
        self,
        exc: BaseException,
        data: dict[str, Any],
        attempt: int,
        beats: _Beats,
        policy: RetryPolicy,
        *,
        retry_now: bool = False,
    ) -> tuple[ApplicationError, float | None]:
        """The failure to report for an attempt, and the seconds until the next attempt (None: no more)."""
        prior = beats.prior
        timeout = data.get("timeout")
        if isinstance(exc, TimeoutError) and not str(exc) and timeout is not None:
            exc = TimeoutError(f"attempt {attempt} timed out after {timeout:g}s")
        full = ErrorInfo.from_exception(exc)
        # Temporal replaces an activity failure over 4 KB by "Failure exceeds size limit": keep it well under.
        error = ErrorInfo(
            full.type, _clip(full.message, 600) or "", _clip(full.details, 1500, tail=True), full.data
        )
        prior = [
            {"type": e.get("type"), "message": _clip(str(e.get("message", "")), 200)} for e in prior[-6:]
        ]
        lost = isinstance(exc, ClosureLost)
        failures = beats.failures if retry_now else beats.failures + 1
        final = lost or isinstance(exc, StepLost)
        retry = not final and (retry_now or (policy.retryable(exc) and policy.allows(failures)))
        delay = 0.0 if retry_now else policy.delay(failures, exc) if retry else 0.0
        with contextlib.suppress(Exception):
            # The next attempt reads its predecessors' errors, how many raised, and the step's progress.
            activity.heartbeat([*prior, error_dict(error)], beats.progress, failures)
        details = {
            "step": data["step"],
            "position": data["position"],
            "fp": data.get("fp"),
            "args_json": data.get("args_json"),
            "attempt": attempt,
            "errors": prior,
            "traceback": error.details,
        }
        if error.data is not None:
            details["data"] = error.data
        failure = ApplicationError(
            error.message,
            details,
            type=CLOSURE_LOST if lost else error.type,
            non_retryable=not retry,
            next_retry_delay=timedelta(seconds=max(delay, 0.001)) if retry else None,
        )
        return failure, delay if retry else None

    # -- earlier steps of a run, for remote handlers ---------------------------------------------------------------

    def _remember(self, key: tuple[str, str, str], record: tuple[Any, Any]) -> None:
        self._remembered[key] = record
        self._remembered.move_to_end(key)
        while len(self._remembered) > _MAX_REMEMBERED:
            self._remembered.popitem(last=False)

    async def earlier(self, run_id: str, temporal_run_id: str, position: str) -> tuple[Any, Any] | None:
        record = self._remembered.get((run_id, temporal_run_id, position))
        if record is not None:
            return record
        # Another worker ran it: read the run's history once, remembering every remote step in it.
        handle = self.client.get_workflow_handle(run_id, run_id=temporal_run_id or None)
        converter = self.client.data_converter.payload_converter
        inputs: dict[int, tuple[str, Any]] = {}
        found: dict[str, tuple[Any, Any]] = {}
        async for event in handle.fetch_history_events():
            if event.HasField("activity_task_scheduled_event_attributes"):
                attrs = event.activity_task_scheduled_event_attributes
                if attrs.activity_type.name != ACTIVITY_STEP or not attrs.input.payloads:
                    continue
                data = converter.from_payload(attrs.input.payloads[0])
                if isinstance(data, dict) and "remote" in data:
                    inputs[event.event_id] = (data["position"], data["remote"][1])
            elif event.HasField("activity_task_completed_event_attributes"):
                done = event.activity_task_completed_event_attributes
                scheduled = inputs.get(done.scheduled_event_id)
                if scheduled is not None and done.result.payloads:
                    envelope = converter.from_payload(done.result.payloads[0])
                    found[scheduled[0]] = (scheduled[1], envelope.get("value"))
                    self._remember((run_id, temporal_run_id, scheduled[0]), found[scheduled[0]])
        return found.get(position)


def heartbeat_interval(timeout: float) -> float:
    """Seconds between a running step's heartbeats: four fit in the heartbeat timeout."""
    return max(timeout / 4, 0.05)


def _clip(text: str | None, limit: int, *, tail: bool = False) -> str | None:
    if text is None or len(text) <= limit:
        return text
    return "…" + text[-limit:] if tail else text[:limit] + "…"


class _Beats:
    """The heartbeat details of one attempt: the errors of the attempts before it and the step's progress (the
    ``stead._events.ProgressKeeper`` of steps on Temporal: the next attempt finds it in its heartbeat details).

    The worker sends at most one heartbeat per throttle interval (at most 0.8 × the heartbeat timeout; stead's
    worker asks for less, see ``heartbeat_interval``) and holds back later details until the interval ends; saving
    progress waits for the heartbeat that carries it, assuming the longest interval.
    """

    def __init__(self, prior: list[dict[str, Any]], progress: Any, timeout: timedelta | None) -> None:
        self.prior = prior
        self.progress = progress
        self.throttle = min(0.8 * timeout.total_seconds(), 60.0) if timeout else 30.0
        self.sent_at: float | None = None
        self.pending_at: float | None = None
        self.failures = 0
        """Attempts before this one that raised (the others were lost with their worker)."""

    def beat(self) -> float:
        """Heartbeat the details now; the seconds until the worker sends them."""
        activity.heartbeat(self.prior, self.progress, self.failures)
        now = time.monotonic()
        if self.pending_at is not None:
            if now < self.pending_at:
                return self.pending_at - now  # these details replace the held-back ones
            self.sent_at, self.pending_at = self.pending_at, None
        if self.sent_at is None or now - self.sent_at >= self.throttle:
            self.sent_at = now
            return 0.0
        self.pending_at = self.sent_at + self.throttle
        return self.pending_at - now

    def saved(self) -> Any:
        return self.progress

    async def save(self, data: Any) -> None:
        self.progress = data
        wait = self.beat()
        if wait > 0:
            await asyncio.sleep(wait + 0.05)


async def _heartbeat(beats: _Beats, interval: float) -> None:
    # Not at once: a step that ends within the interval sends no heartbeat (a heartbeat pending at completion
    # costs the step another round trip to the server).
    while True:
        await asyncio.sleep(interval)
        beats.beat()
