"""What a person is shown about runs, steps and usage, as data: the JSON shapes and the small derived facts.

The CLI renders these for a terminal and prints the JSON shapes as they are (``stead ls --json``, ``stead show
--json``, ``stead run --json``); a dashboard renders the same functions, so nothing here knows about terminals.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from ._engine import ErrorInfo, RunInfo, RunStatus, StepInfo
from ._serde import REDACTED, redacted
from ._usage import BUDGET_STATE, RunUsage, usage

__all__ = [
    "BOOKKEEPING_KINDS",
    "REDACTED",
    "age_text",
    "budget_text",
    "budget_view",
    "call_text",
    "cost_text",
    "display_status",
    "duration_text",
    "error_view",
    "is_bookkeeping",
    "outcome_view",
    "pending_waits",
    "redacted",
    "run_detail_view",
    "run_duration",
    "run_list_view",
    "run_status_label",
    "result_text",
    "run_view",
    "short_json",
    "step_detail_view",
    "step_elapsed",
    "step_label",
    "step_request",
    "step_result",
    "step_status_label",
    "step_view",
    "time_text",
    "tokens_text",
    "workerless",
]

#: Journal entries that are bookkeeping rather than work: hidden from timelines unless asked for.
BOOKKEEPING_KINDS = frozenset({"now", "patch"})


# -- JSON shapes ----------------------------------------------------------------------------------------------


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def error_view(error: ErrorInfo | None, *, details: bool = False) -> dict[str, Any] | None:
    if error is None:
        return None
    out: dict[str, Any] = {"type": error.type, "message": error.message}
    if details:
        out["details"] = error.details
    return out


def run_view(info: RunInfo, run_usage: RunUsage | None = None) -> dict[str, Any]:
    """A run as JSON data (an item of ``stead ls --json``, the ``run`` of ``stead show --json``); with its usage,
    its budget says what is used and left."""
    return {
        "run_id": info.run_id,
        "workflow": info.workflow,
        "status": str(info.status),
        "created_at": _iso(info.created_at),
        "updated_at": _iso(info.updated_at),
        "finished_at": _iso(info.finished_at),
        "duration": run_duration(info),
        "source": info.source,
        "args": info.args,
        "steps": info.steps,
        "waiting_for": info.waiting_for,
        "state": info.state,
        "result": info.result,
        "error": error_view(info.error, details=True),
        "worker_alive": info.worker_alive,
        "budget": budget_view(info, run_usage),
    }


def budget_view(info: RunInfo, run_usage: RunUsage | None = None) -> dict[str, Any] | None:
    """The run's budget (``stead.budget``, as the run published it): per limit, ``limit``, ``used`` and ``left``
    (these two ``None`` without the usage). ``None`` for a run without a budget."""
    limits = info.state.get(BUDGET_STATE) if isinstance(info.state, dict) else None
    if not isinstance(limits, dict):
        return None
    out: dict[str, Any] = {}
    max_tokens = limits.get("max_tokens")
    if isinstance(max_tokens, int) and not isinstance(max_tokens, bool):
        used = None if run_usage is None else run_usage.total_tokens
        out["tokens"] = {
            "limit": max_tokens,
            "used": used,
            "left": None if used is None else max(0, max_tokens - used),
        }
    max_cost = limits.get("max_cost_usd")
    if isinstance(max_cost, int | float) and not isinstance(max_cost, bool):
        spent = None if run_usage is None else run_usage.cost_usd
        out["cost_usd"] = {
            "limit": float(max_cost),
            "used": spent,
            "left": None if spent is None else max(0.0, float(max_cost) - spent),
        }
    return out or None


def budget_text(budget: dict[str, Any] | None) -> str | None:
    """``1,000 tokens: 250 used, 750 left · $0.0100: $0.0021 used, $0.0079 left``; ``None`` without a budget."""
    if not budget:
        return None
    parts = []
    tokens = budget.get("tokens")
    if tokens:
        text = f"{tokens_text(tokens['limit'])} tokens"
        if tokens["used"] is not None:
            text += f": {tokens_text(tokens['used'])} used, {tokens_text(tokens['left'])} left"
        parts.append(text)
    cost = budget.get("cost_usd")
    if cost:
        text = cost_text(cost["limit"])
        if cost["used"] is not None:
            text += f": {cost_text(cost['used'])} used, {cost_text(cost['left'])} left"
        parts.append(text)
    return " · ".join(parts)


def step_view(step: StepInfo) -> dict[str, Any]:
    """A journaled step as JSON data."""
    return {
        "position": step.position,
        "kind": step.kind,
        "name": step.name,
        "summary": step.summary,
        "status": step.status,
        "attempts": step.attempts,
        "started_at": _iso(step.started_at),
        "finished_at": _iso(step.finished_at),
        "duration": step.duration,
        "result": step.result,
        "error": error_view(step.error, details=True),
        "attempt_errors": [error_view(e, details=True) for e in step.attempt_errors],
        "attributes": step.attributes.to_json(),
    }


def run_list_view(runs: Sequence[RunInfo], usages: Sequence[RunUsage]) -> list[dict[str, Any]]:
    """Runs with the usage of each (``stead ls --json``)."""
    return [{**run_view(r, u), "usage": u.to_json()} for r, u in zip(runs, usages, strict=True)]


def run_detail_view(info: RunInfo, steps: Sequence[StepInfo]) -> dict[str, Any]:
    """A run, its steps and its usage (``stead show --json``)."""
    run_usage = usage(steps)
    return {
        "run": run_view(info, run_usage),
        "steps": [step_view(s) for s in steps],
        "usage": run_usage.to_json(),
    }


def step_detail_view(step: StepInfo) -> dict[str, Any]:
    """A step with what it was asked (:func:`step_request`), for a step inspector."""
    return {**step_view(step), "request": step_request(step)}


def step_request(step: StepInfo) -> Any:
    """What the step was asked, as JSON data, with anything that looks like a secret :func:`redacted`.

    A model step: the request (instructions, input items, tools, handoffs, output type, the model settings that
    were set); a tool step: ``{"tool": ..., "arguments": ...}``; another step: its arguments. ``None`` when the
    engine kept no arguments (a step recorded before they were kept, or above ``ARGS_LIMIT``).
    """
    if step.args_json is None:
        return None
    try:
        data = json.loads(step.args_json)
    except ValueError:
        return None
    if step.kind == "model" and isinstance(data, dict):
        settings = data.get("settings")
        if isinstance(settings, dict):
            data["settings"] = {k: v for k, v in settings.items() if v is not None}
    elif step.kind == "tool" and isinstance(data, list) and len(data) == 2:
        data = {"tool": data[0], "arguments": _parsed(data[1])}
    return redacted(data)


def _parsed(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def outcome_view(info: RunInfo) -> dict[str, Any]:
    """How a run ended (``stead run --json``)."""
    return {
        "run_id": info.run_id,
        "status": str(info.status),
        "result": info.result,
        "error": error_view(info.error),
    }


# -- derived facts --------------------------------------------------------------------------------------------


def run_duration(info: RunInfo, now: datetime | None = None) -> float | None:
    """Seconds from start to finish; for a running run, so far."""
    if info.finished_at is not None:
        return (info.finished_at - info.created_at).total_seconds()
    if info.status is RunStatus.RUNNING:
        return ((now or datetime.now(UTC)) - info.created_at).total_seconds()
    return None


def display_status(info: RunInfo) -> str:
    """The run's status, with "waiting" for a running run that waits for a person or a message."""
    if info.status is RunStatus.RUNNING and info.waiting_for:
        return "waiting"
    return str(info.status)


def workerless(info: RunInfo) -> bool:
    """A run marked running that no live worker holds (its worker died or stopped): it needs resuming."""
    return info.status is RunStatus.RUNNING and info.worker_alive is False


def run_status_label(info: RunInfo) -> str:
    """A run's status for people: ``running (no worker)`` when no live worker holds a running run."""
    return f"{info.status} (no worker)" if workerless(info) else str(info.status)


def is_bookkeeping(step: StepInfo) -> bool:
    return step.kind in BOOKKEEPING_KINDS


def step_label(step: StepInfo) -> str:
    if step.kind == "wait":
        return f"wait for {step.name!r}"
    return step.summary or step.name


def step_status_label(step: StepInfo) -> str:
    """A step's status for people: a pending wait is ``waiting``."""
    return "waiting" if step.kind == "wait" and step.status == "pending" else step.status


def step_elapsed(step: StepInfo, now: datetime | None = None) -> float | None:
    """How long the step took; for a running step or a wait, so far."""
    if step.duration is not None:
        return step.duration
    if step.status == "running" or step.kind == "wait":
        return ((now or datetime.now(UTC)) - step.started_at).total_seconds()
    return None


def pending_waits(steps: Iterable[StepInfo]) -> list[StepInfo]:
    """The waits for a message that have not been answered yet."""
    return [s for s in steps if s.kind == "wait" and s.status == "pending"]


def short_json(value: Any, limit: int = 60) -> str:
    text = json.dumps(value, ensure_ascii=False, separators=(", ", ": "), default=str)
    return _cut(text, limit)


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def step_result(step: StepInfo, limit: int = 60) -> str:
    """A step's result, short: a model step shows what the model said or which tools it called."""
    result = step.result
    if step.kind == "model" and isinstance(result, dict) and isinstance(result.get("output"), list):
        parts: list[str] = []
        for item in result["output"]:
            if not isinstance(item, dict):
                continue
            if item.get("type") == "function_call":
                parts.append(f"→ {item.get('name')}({item.get('arguments', '')})")
            for content in item.get("content") or []:
                if isinstance(content, dict) and isinstance(content.get("text"), str):
                    parts.append(json.dumps(content["text"], ensure_ascii=False))
        return _cut(" ".join(parts) or "(no output)", limit)
    return short_json(result, limit)


def result_text(value: Any) -> str:
    """A result for people: a string as its text, anything else as indented JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, indent=2, default=str)


def call_text(workflow: str, args: Any) -> str:
    """``calc(5, name="x")`` from the recorded ``{"args": [...], "kwargs": {...}}``."""
    if not isinstance(args, dict):
        return f"{workflow}(…)"
    parts = [short_json(a, 40) for a in args.get("args", [])]
    parts += [f"{k}={short_json(v, 40)}" for k, v in args.get("kwargs", {}).items()]
    return f"{workflow}({', '.join(parts)})"


def duration_text(seconds: float | None) -> str:
    """``0.42s``, ``3m05s``, ``2h10m``, ``3d04h``; ``-`` for none."""
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.2f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h{minutes:02d}m"
    return f"{hours // 24}d{hours % 24:02d}h"


def age_text(moment: datetime, now: datetime | None = None) -> str:
    """``12s ago``, ``5m ago``, ``3h ago``, ``2d ago``."""
    seconds = max(0.0, ((now or datetime.now(UTC)) - moment).total_seconds())
    if seconds < 60:
        return f"{int(seconds)}s ago"
    if seconds < 3600:
        return f"{int(seconds // 60)}m ago"
    if seconds < 172800:
        return f"{int(seconds // 3600)}h ago"
    return f"{int(seconds // 86400)}d ago"


def time_text(moment: datetime | None) -> str:
    """A moment in local time, to the second; ``-`` for none."""
    return "-" if moment is None else moment.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def tokens_text(count: int, *, compact: bool = False) -> str:
    if not compact or count < 10_000:
        return f"{count:,}"
    if count < 1_000_000:
        return f"{count / 1000:.1f}k"
    return f"{count / 1_000_000:.2f}M"


def cost_text(usd: float) -> str:
    return f"${usd:,.4f}" if usd >= 0.01 else f"${usd:.6f}"
