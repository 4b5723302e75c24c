"""Replay checks: run workflow code against a recorded run, executing no step, and say where it diverges.

The runtime here answers every operation from the recorded steps (``StepInfo``) and raises
``NonDeterminismError`` with both versions' names and a readable diff of the arguments when the code asks for
something else, or returns before reaching a recorded step. Engines use it for ``Engine.replay``; exported runs
(``export_run``) replay with it without any engine (``stead.testing.replay_file``).
"""

from __future__ import annotations

import difflib
import json
import uuid
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from . import _integrations as integrations
from . import _serde
from ._context import (
    Scope,
    StepAttributes,
    StepCall,
    derived_random,
    derived_uuid4,
    enter_scope,
    step_failure,
)
from ._engine import ErrorInfo, RunInfo, RunStatus, StepInfo
from ._exceptions import NonDeterminismError, UsageError, WaitTimeout
from ._workflow import Workflow

__all__ = [
    "ARGS_LIMIT",
    "EXPORT_FORMAT",
    "ReplayResult",
    "ReplayRuntime",
    "args_diff",
    "diverged_inputs",
    "export_run",
    "kept_args",
    "load_export",
    "replay_recorded",
]

ARGS_LIMIT = 32_768
"""Characters of a step's arguments' JSON the journal keeps for readable divergences; above, only the digest."""

EXPORT_FORMAT = "stead-run/1"


def kept_args(args_json: str | None) -> str | None:
    """The arguments' JSON to journal with a step: all of it, or nothing when it is too long to be worth it."""
    return args_json if args_json is not None and len(args_json) <= ARGS_LIMIT else None


def _pretty(text: str) -> list[str]:
    try:
        return json.dumps(json.loads(text), indent=2, sort_keys=True, ensure_ascii=False).splitlines()
    except ValueError:
        return text.splitlines()


def args_diff(recorded: str | None, requested: str | None) -> str | None:
    """A unified diff of two arguments' JSON texts, or None when either is unknown."""
    if recorded is None or requested is None:
        return None
    lines = difflib.unified_diff(
        _pretty(recorded), _pretty(requested), "recorded", "code now", lineterm="", n=2
    )
    return "\n".join(lines) or None


def diverged_inputs(
    run_id: str, position: str, name: str, recorded_args: str | None, requested_args: str | None
) -> NonDeterminismError:
    """The error for a step asked again with other arguments than those recorded."""
    return NonDeterminismError(
        run_id,
        position,
        f"{name!r} with other arguments",
        f"{name!r} with the arguments below",
        diff=args_diff(recorded_args, requested_args)
        or "(the recorded arguments were not kept: they were too long, or recorded by an older stead)",
    )


@dataclass(frozen=True)
class ReplayResult:
    run_id: str
    steps: int
    """Recorded steps the code asked for."""
    complete: bool
    """Whether the code ran to its end (else it reached the end of an unfinished run's history)."""
    result: Any = None


class _EndOfHistory(BaseException):
    """The code went past what an unfinished run recorded: everything up to there matched."""


def _positional(position: str) -> bool:
    """Whether a step is identified by its place in the code (others: Temporal timers and messages, by order)."""
    return not position.startswith(("timer:", "message:", "patch:", "waiting:"))


class ReplayRuntime:
    """A ``RunRuntime`` that answers every operation from a recorded run and executes nothing."""

    def __init__(self, info: RunInfo, steps: Iterable[StepInfo]) -> None:
        self.run_id = info.run_id
        self.finished = info.status.finished
        recorded = list(steps)
        self.patches = {s.name for s in recorded if s.kind == "patch"}
        self.steps = [s for s in recorded if s.kind != "patch"]
        self.by_position = {s.position: s for s in self.steps if _positional(s.position)}
        self.visited: set[str] = set()
        self.fatal: NonDeterminismError | None = None
        self.replaying = True

    def _diverged(self, error: NonDeterminismError) -> NonDeterminismError:
        self.fatal = error
        return error

    def _lookup(self, position: str, kind: str, name: str) -> StepInfo | None:
        if self.fatal is not None:
            raise self.fatal
        step = self.by_position.get(position)
        if step is None:
            return None
        self.visited.add(position)
        if step.kind != kind or step.name != name:
            raise self._diverged(
                NonDeterminismError(self.run_id, position, f"{step.kind} {step.name!r}", f"{kind} {name!r}")
            )
        return step

    def _missing(self, position: str, kind: str, name: str) -> BaseException:
        if self.finished:
            return self._diverged(
                NonDeterminismError(
                    self.run_id, position, "nothing at this point (the run ended before)", f"{kind} {name!r}"
                )
            )
        return _EndOfHistory()

    def _by_order(self, kind: str, name: str) -> StepInfo | None:
        for step in self.steps:
            free = not _positional(step.position) and step.position not in self.visited
            if free and step.kind == kind and (kind == "timer" or step.name == name):
                self.visited.add(step.position)
                return step
        return None

    async def execute_step(self, scope: Scope, call: StepCall) -> Any:
        position = call.position or scope.next_position()
        step = self._lookup(position, call.kind, call.name)
        if step is None:
            raise self._missing(position, call.kind, call.name)
        if (
            call.args_json is not None
            and step.fp is not None
            and step.fp != _serde.fingerprint(call.args_json)
        ):
            raise self._diverged(
                diverged_inputs(self.run_id, position, call.name, step.args_json, call.args_json)
            )
        if step.status == "done":
            return step.result
        if step.status == "failed" and step.error is not None:
            error = step.error
            raise step_failure(call.name, error.type, error.message, step.attempts, error.data)
        raise _EndOfHistory()  # under way when recorded

    async def sleep(self, scope: Scope, seconds: float) -> None:
        position = scope.next_position()
        step = self._lookup(position, "timer", "sleep") or self._by_order("timer", "sleep")
        if step is None or step.status != "done":
            raise self._missing(position, "timer", "sleep") if step is None else _EndOfHistory()

    async def wait_for(self, scope: Scope, name: str, timeout: float | None) -> Any:
        position = scope.next_position()
        step = self._lookup(position, "wait", name) or self._by_order("wait", name)
        if step is None or step.status == "pending":
            raise _EndOfHistory()  # a run waits: nothing after this point was recorded
        if step.status == "failed":
            raise WaitTimeout(f"no message {name!r} arrived within {timeout}s")
        return step.result

    def now(self, scope: Scope) -> datetime:
        position = scope.next_position()
        step = self._lookup(position, "now", "now")
        if step is None:
            raise self._missing(position, "now", "now")
        return datetime.fromtimestamp(float(step.result), UTC)

    def uuid4(self, scope: Scope) -> uuid.UUID:
        return derived_uuid4(scope.deterministic_seed())

    def random(self, scope: Scope) -> float:
        return derived_random(scope.deterministic_seed())

    def publish(self, key: str, value: Any) -> None:
        pass

    def patched(self, scope: Scope, change_id: str) -> bool:
        # Patch markers are not positional on every engine: a run recorded after the change took the new path
        # iff its journal has the marker.
        marked = f"patch:{change_id}" in self.patches
        if marked:
            scope.next_position()
        return marked

    def unreached(self) -> list[StepInfo]:
        return [
            s
            for s in self.steps
            if _positional(s.position) and s.position not in self.visited and s.status in ("done", "failed")
        ]


async def replay_recorded(workflow: Workflow[..., Any], info: RunInfo, steps: list[StepInfo]) -> ReplayResult:
    """Run ``workflow`` against the recorded run; raise NonDeterminismError at the first divergence."""
    if workflow.name != info.workflow:
        raise UsageError(f"run {info.run_id!r} is of workflow {info.workflow!r}, not {workflow.name!r}")
    runtime = ReplayRuntime(info, steps)
    integrations.activate()  # Runner.run answers from the record as it would in a worker
    data = info.args if info.args is not None else {"args": [], "kwargs": {}}
    args, kwargs = workflow.decode_args(json.dumps(data))
    result: Any = None
    complete = True
    try:
        with enter_scope(Scope(runtime)):
            result = await workflow.fn(*args, **kwargs)
    except _EndOfHistory:
        complete = False
    except NonDeterminismError:
        raise
    except Exception:
        if runtime.fatal is not None:
            raise runtime.fatal from None
        if info.status is not RunStatus.FAILED:
            raise
    if runtime.fatal is not None:
        raise runtime.fatal
    if complete:
        left = runtime.unreached()
        if left:
            first = left[0]
            raise NonDeterminismError(
                info.run_id,
                first.position,
                f"{first.kind} {first.name!r}",
                "nothing: the workflow returned before reaching it",
            )
    return ReplayResult(info.run_id, len(runtime.visited), complete, result)


# -- export ----------------------------------------------------------------------------------------------------


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _parse_time(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) else None


def _error(value: Any) -> ErrorInfo | None:
    return ErrorInfo(**value) if isinstance(value, dict) else None


def export_run(info: RunInfo, steps: list[StepInfo]) -> dict[str, Any]:
    """A run and its steps as JSON data (``stead export``), for replay tests over committed files."""
    run = {
        "run_id": info.run_id,
        "workflow": info.workflow,
        "status": str(info.status),
        "created_at": _time(info.created_at),
        "finished_at": _time(info.finished_at),
        "args": info.args,
        "result": info.result,
        "error": asdict(info.error) if info.error else None,
        "source": info.source,
    }
    rows = [
        {
            "position": s.position,
            "name": s.name,
            "kind": s.kind,
            "status": s.status,
            "attempts": s.attempts,
            "started_at": _time(s.started_at),
            "finished_at": _time(s.finished_at),
            "fp": s.fp,
            "args": json.loads(s.args_json) if s.args_json is not None else None,
            "result": s.result,
            "error": asdict(s.error) if s.error else None,
            "summary": s.summary,
            "attributes": s.attributes.to_json(),
        }
        for s in steps
    ]
    return {"format": EXPORT_FORMAT, "run": run, "steps": rows}


def load_export(data: Any, where: str = "the export") -> tuple[RunInfo, list[StepInfo]]:
    """The run and steps of ``export_run`` data."""
    if not isinstance(data, dict) or data.get("format") != EXPORT_FORMAT:
        raise UsageError(
            f"{where} is not a stead run export (format {EXPORT_FORMAT!r}); make one with stead export"
        )
    run = data["run"]
    created = _parse_time(run.get("created_at")) or datetime.now(UTC)
    info = RunInfo(
        run_id=run["run_id"],
        workflow=run["workflow"],
        status=RunStatus(run["status"]),
        created_at=created,
        updated_at=created,
        finished_at=_parse_time(run.get("finished_at")),
        result=run.get("result"),
        error=_error(run.get("error")),
        source=run.get("source"),
        args=run.get("args"),
    )
    steps = [
        StepInfo(
            position=s["position"],
            name=s["name"],
            kind=s["kind"],
            status=s["status"],
            attempts=int(s.get("attempts", 1)),
            started_at=_parse_time(s.get("started_at")) or created,
            finished_at=_parse_time(s.get("finished_at")),
            result=s.get("result"),
            error=_error(s.get("error")),
            summary=s.get("summary"),
            attributes=StepAttributes.from_json(s.get("attributes")),
            fp=s.get("fp"),
            args_json=json.dumps(s["args"], separators=(",", ":"), ensure_ascii=False)
            if s.get("args") is not None
            else None,
        )
        for s in data["steps"]
    ]
    return info, steps
