"""Reading runs back from Temporal: a run's status, result and error, and its timeline of steps.

A timeline is built from the workflow's history: activities are steps (their input names the step; the
``ActivityTaskStarted`` event carries the final attempt number and the previous attempt's failure, whose details
list the errors before it), timers are sleeps or wait timeouts, signals are the messages the run received, updates
its requests (accepted: the request as a message, completed: the reply), memo updates carry ``stead.now()`` readings. Steps still running get their attempt and last error from the workflow's
description (pending activities).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp
from temporalio.api.enums.v1 import WorkflowExecutionStatus
from temporalio.api.failure.v1 import Failure
from temporalio.api.history.v1 import HistoryEvent
from temporalio.api.workflow.v1 import PendingActivityInfo
from temporalio.converter import PayloadConverter

from ..._context import REQUEST_PREFIX, StepAttributes, reply_step
from ..._engine import ErrorInfo, RunStatus, StepInfo
from ._codec import ACTIVITY_STEP, MEMO_CLOCK
from ._stream import WATCH_SIGNAL

__all__ = ["error_of", "run_status", "timeline", "ts"]

_STATUS = {
    WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_RUNNING: RunStatus.RUNNING,
    WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW: RunStatus.RUNNING,
    WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_COMPLETED: RunStatus.COMPLETED,
    WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_FAILED: RunStatus.FAILED,
    WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_TIMED_OUT: RunStatus.FAILED,
    WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_CANCELED: RunStatus.CANCELLED,
    # A terminated run was stopped from outside without running cleanup: stead calls that cancelled.
    WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_TERMINATED: RunStatus.CANCELLED,
}


def run_status(status: int, events: list[HistoryEvent]) -> RunStatus:
    """A running workflow no worker has touched yet is pending."""
    mapped = _STATUS.get(WorkflowExecutionStatus.ValueType(status), RunStatus.RUNNING)
    if mapped is RunStatus.RUNNING and not any(
        e.HasField("workflow_task_started_event_attributes") for e in events
    ):
        return RunStatus.PENDING
    return mapped


def ts(value: Timestamp) -> datetime:
    return value.ToDatetime(tzinfo=UTC)


def _first(converter: PayloadConverter, payloads: Any) -> Any:
    items = list(payloads.payloads) if payloads is not None else []
    return converter.from_payload(items[0]) if items else None


def error_of(failure: Failure, converter: PayloadConverter) -> ErrorInfo:
    """An ErrorInfo for a Temporal failure, with the original exception's type and traceback where stead put them."""
    details = None
    if failure.HasField("application_failure_info"):
        info = failure.application_failure_info
        error_type = info.type or "Error"
        extra = _first(converter, info.details) if info.HasField("details") else None
        data = None
        if isinstance(extra, dict):
            if isinstance(extra.get("traceback"), str):
                details = extra["traceback"]
            if isinstance(extra.get("data"), dict):
                data = extra["data"]
        return ErrorInfo(error_type, failure.message, details or failure.stack_trace or None, data)
    if failure.HasField("timeout_failure_info"):
        kind = failure.timeout_failure_info.timeout_type
        name = {1: "start-to-close", 2: "schedule-to-start", 3: "schedule-to-close", 4: "heartbeat"}.get(
            kind, ""
        )
        message = f"{name} timeout" if name else failure.message
        if failure.HasField("cause") and failure.cause.message:
            message += f" (last error: {failure.cause.message})"
        return ErrorInfo("TimeoutError", message)
    if failure.HasField("canceled_failure_info"):
        return ErrorInfo("CancelledError", failure.message or "cancelled")
    if failure.HasField("terminated_failure_info"):
        return ErrorInfo("Terminated", failure.message or "terminated")
    return ErrorInfo("Error", failure.message, failure.stack_trace or None)


def _attempt_errors(failure: Failure, converter: PayloadConverter) -> list[ErrorInfo]:
    """The errors of every attempt up to the one that ended with ``failure`` (its details list the earlier ones)."""
    earlier: list[ErrorInfo] = []
    if failure.HasField("application_failure_info") and failure.application_failure_info.HasField("details"):
        extra = _first(converter, failure.application_failure_info.details)
        if isinstance(extra, dict):
            for item in extra.get("errors") or []:
                if isinstance(item, dict):
                    earlier.append(ErrorInfo(str(item.get("type", "Error")), str(item.get("message", ""))))
    return [*earlier, error_of(failure, converter)]


@dataclass
class _Step:
    position: str
    name: str
    kind: str
    summary: str | None
    started_at: datetime
    status: str = "running"
    attempts: int = 1
    finished_at: datetime | None = None
    result: Any = None
    error: ErrorInfo | None = None
    attempt_errors: list[ErrorInfo] = field(default_factory=list)
    activity_id: str | None = None
    base_attempts: int = 0
    """Attempts of earlier activities of the same step (a closure step asked again)."""
    base_errors: list[ErrorInfo] = field(default_factory=list)
    attributes: StepAttributes = field(default_factory=StepAttributes)
    fp: str | None = None
    args_json: str | None = None

    def info(self) -> StepInfo:
        return StepInfo(
            position=self.position,
            name=self.name,
            kind=self.kind,
            status=self.status,
            attempts=self.base_attempts + self.attempts if self.base_attempts else self.attempts,
            started_at=self.started_at,
            finished_at=self.finished_at,
            result=self.result,
            error=self.error,
            summary=self.summary,
            attempt_errors=self.attempt_errors,
            attributes=self.attributes,
            fp=self.fp,
            args_json=self.args_json,
        )


def _summary(event: HistoryEvent, converter: PayloadConverter) -> str | None:
    if event.HasField("user_metadata") and event.user_metadata.HasField("summary"):
        value = converter.from_payload(event.user_metadata.summary)
        return value if isinstance(value, str) else None
    return None


def timeline(
    events: list[HistoryEvent],
    converter: PayloadConverter,
    pending: list[PendingActivityInfo] | None = None,
    waiting: list[str] | None = None,
) -> list[StepInfo]:
    """The steps of a run, in the order they started."""
    steps: list[_Step] = []
    by_event: dict[int, _Step] = {}
    by_position: dict[str, _Step] = {}
    timers: dict[str, _Step] = {}
    requests: dict[str, str] = {}  # update id -> request name
    accepted_at: dict[str, int] = {}  # update id -> index of its request in steps
    task_start = 0  # index in steps of the first step the current workflow task made
    for event in events:
        kind = event.WhichOneof("attributes")
        when = ts(event.event_time)
        if kind == "workflow_task_completed_event_attributes":
            task_start = len(steps)
        elif kind == "activity_task_scheduled_event_attributes":
            attrs = event.activity_task_scheduled_event_attributes
            if attrs.activity_type.name != ACTIVITY_STEP:
                continue
            data = _first(converter, attrs.input) or {}
            position = str(data.get("position", attrs.activity_id))
            earlier = by_position.get(position)
            if earlier is not None and earlier.status == "failed":
                # A closure step asked again after its worker was lost: one step, more attempts.
                assert earlier.error is not None
                base_errors = [*earlier.attempt_errors, earlier.error]
                earlier.status, earlier.error, earlier.finished_at = "running", None, None
                earlier.activity_id, earlier.base_attempts = attrs.activity_id, earlier.attempts
                earlier.attempt_errors = earlier.base_errors = base_errors
                by_event[event.event_id] = earlier
                continue
            step = _Step(
                position,
                str(data.get("step", "?")),
                str(data.get("kind", "step")),
                data.get("summary") or _summary(event, converter),
                when,
                activity_id=attrs.activity_id,
                attributes=StepAttributes.from_json(data.get("attributes")),
                fp=data.get("fp"),
                args_json=data.get("args_json"),
            )
            by_event[event.event_id] = step
            by_position[position] = step
            steps.append(step)
        elif kind == "activity_task_started_event_attributes":
            started = event.activity_task_started_event_attributes
            step_or_none = by_event.get(started.scheduled_event_id)
            if step_or_none is not None:
                step_or_none.attempts = max(started.attempt, 1)
                if started.HasField("last_failure"):
                    step_or_none.attempt_errors = [
                        *step_or_none.base_errors,
                        *_attempt_errors(started.last_failure, converter),
                    ]
        elif kind == "activity_task_completed_event_attributes":
            done = event.activity_task_completed_event_attributes
            step_or_none = by_event.get(done.scheduled_event_id)
            if step_or_none is not None:
                envelope = _first(converter, done.result)
                step_or_none.status, step_or_none.finished_at = "done", when
                step_or_none.result = envelope.get("value") if isinstance(envelope, dict) else envelope
        elif kind in ("activity_task_failed_event_attributes", "activity_task_timed_out_event_attributes"):
            attrs_f = getattr(event, kind)
            step_or_none = by_event.get(attrs_f.scheduled_event_id)
            if step_or_none is not None:
                errors = _attempt_errors(attrs_f.failure, converter)
                step_or_none.status, step_or_none.finished_at = "failed", when
                step_or_none.error = errors[-1]
                step_or_none.attempt_errors = [*step_or_none.base_errors, *errors[:-1]]
                step_or_none.attempts = max(step_or_none.attempts, len(errors))
        elif kind == "activity_task_canceled_event_attributes":
            step_or_none = by_event.get(event.activity_task_canceled_event_attributes.scheduled_event_id)
            if step_or_none is not None:
                step_or_none.status, step_or_none.finished_at = "failed", when
                step_or_none.error = ErrorInfo("CancelledError", "cancelled")
        elif kind == "marker_recorded_event_attributes":
            if event.marker_recorded_event_attributes.marker_name == "core_patch":
                steps.append(
                    _Step(
                        f"patch:{event.event_id}",
                        "patch",
                        "patch",
                        None,
                        when,
                        status="done",
                        finished_at=when,
                    )
                )
        elif kind == "timer_started_event_attributes":
            timer = event.timer_started_event_attributes
            summary = (
                _summary(event, converter)
                or f"sleep {timer.start_to_fire_timeout.ToTimedelta().total_seconds():g}s"
            )
            is_wait = summary.startswith("wait for ")
            step = _Step(
                f"timer:{timer.timer_id}",
                summary[len("wait for ") :].strip("'\"") if is_wait else "sleep",
                "wait" if is_wait else "timer",
                summary,
                when,
                status="pending",
            )
            timers[timer.timer_id] = step
            if not is_wait:
                steps.append(step)
        elif kind == "timer_fired_event_attributes":
            step_or_none = timers.pop(event.timer_fired_event_attributes.timer_id, None)
            if step_or_none is not None:
                step_or_none.finished_at = when
                if step_or_none.kind == "wait":
                    step_or_none.status = "failed"
                    step_or_none.error = ErrorInfo(
                        "WaitTimeout", f"no message {step_or_none.name!r} arrived in time"
                    )
                    steps.append(step_or_none)
                else:
                    step_or_none.status = "done"
        elif kind == "timer_canceled_event_attributes":
            step_or_none = timers.pop(event.timer_canceled_event_attributes.timer_id, None)
            if step_or_none is not None and step_or_none.kind == "timer":
                step_or_none.status, step_or_none.finished_at = "done", when
        elif kind == "workflow_execution_signaled_event_attributes":
            signal = event.workflow_execution_signaled_event_attributes
            if signal.signal_name == WATCH_SIGNAL:
                continue  # somebody began to follow the run's events: no message of the run's code
            steps.append(
                _Step(
                    f"message:{event.event_id}",
                    signal.signal_name,
                    "wait",
                    f"message {signal.signal_name!r}",
                    when,
                    status="done",
                    finished_at=when,
                    result=_first(converter, signal.input),
                )
            )
        elif kind == "workflow_execution_update_accepted_event_attributes":
            accepted = event.workflow_execution_update_accepted_event_attributes.accepted_request
            name = accepted.input.name
            requests[accepted.meta.update_id] = name.removeprefix(REQUEST_PREFIX)
            accepted_at[accepted.meta.update_id] = len(steps)
            steps.append(
                _Step(
                    f"message:{event.event_id}",
                    name,
                    "wait",
                    f"request {name.removeprefix(REQUEST_PREFIX)!r}",
                    when,
                    status="done",
                    finished_at=when,
                    result=_first(converter, accepted.input.args),
                )
            )
        elif kind == "workflow_execution_update_completed_event_attributes":
            completed = event.workflow_execution_update_completed_event_attributes
            update_id = completed.meta.update_id
            step = _Step(
                f"reply:{update_id}",
                reply_step(update_id),
                "reply",
                f"reply to request {requests.get(update_id, '?')!r}",
                when,
                status="done",
                finished_at=when,
            )
            if completed.outcome.HasField("failure"):
                step.status, step.error = "failed", error_of(completed.outcome.failure, converter)
            else:
                step.result = _first(converter, completed.outcome.success)
            # The workflow task's commands (steps it scheduled after replying) come before its update
            # completions in the history: the reply goes where the code gave it, after its request.
            index = max(task_start, accepted_at.get(update_id, -1) + 1)
            steps.insert(index, step)
            accepted_at = {k: v + 1 if v >= index else v for k, v in accepted_at.items()}
        elif kind == "workflow_properties_modified_event_attributes":
            memo = event.workflow_properties_modified_event_attributes.upserted_memo
            payload = memo.fields.get(MEMO_CLOCK) if memo is not None else None
            readings = converter.from_payload(payload) if payload is not None and payload.data else None
            for position, value in readings or []:
                steps.append(
                    _Step(
                        str(position), "now", "now", None, when, status="done", finished_at=when, result=value
                    )
                )
    _apply_pending(steps, pending or [], converter)
    for name in waiting or []:
        now = (steps[-1].finished_at or steps[-1].started_at) if steps else datetime.now(UTC)
        steps.append(_Step(f"waiting:{name}", name, "wait", f"wait for {name!r}", now, status="pending"))
    return [s.info() for s in steps]


def _apply_pending(
    steps: list[_Step], pending: list[PendingActivityInfo], converter: PayloadConverter
) -> None:
    by_id = {p.activity_id: p for p in pending}
    for step in steps:
        if step.status != "running" or step.activity_id is None:
            continue
        info = by_id.get(step.activity_id)
        if info is None:
            continue
        step.attempts = max(info.attempt, 1)
        if info.HasField("last_failure"):
            step.attempt_errors = [*step.base_errors, *_attempt_errors(info.last_failure, converter)]
