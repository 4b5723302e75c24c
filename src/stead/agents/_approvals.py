"""Human approval of tool calls, durably.

A tool with ``needs_approval`` stops the SDK's run with interruptions. Inside a workflow stead settles them
itself: it publishes what waits for a person (state ``approvals``), waits durably for a message
``approval:<call id>`` per interrupted call (``stead approve`` / ``stead reject`` send it), applies the
decisions to the run state and continues the same agent run. ``Runner.run`` returns once the agent is done, so
workflow code needs no change; while it waits the run costs no worker memory (the embedded engine suspends it,
Temporal evicts it).
"""

from __future__ import annotations

from typing import Any

from .._context import publish, wait_for
from .._engine import Engine
from .._exceptions import UsageError

__all__ = ["APPROVAL_PREFIX", "approval_call_id", "approval_message", "approve", "reject", "settle"]

APPROVAL_PREFIX = "approval:"


def approval_message(call_id: str) -> str:
    """The name of the message that carries the decision on tool call ``call_id``."""
    return f"{APPROVAL_PREFIX}{call_id}"


def approval_call_id(message: str) -> str | None:
    """The tool call whose decision the message ``message`` carries; ``None`` if it carries none."""
    return message.removeprefix(APPROVAL_PREFIX) if message.startswith(APPROVAL_PREFIX) else None


def _describe(item: Any) -> dict[str, Any]:
    raw = item.raw_item
    get = raw.get if isinstance(raw, dict) else lambda key, default=None: getattr(raw, key, default)
    return {
        "call_id": get("call_id"),
        "tool": item.tool_name or get("name"),
        "arguments": get("arguments"),
        "agent": getattr(item.agent, "name", None),
    }


async def settle(state: Any, interruptions: list[Any], pending: list[dict[str, Any]]) -> None:
    """Wait for a decision on each interrupted tool call and apply it to ``state``."""
    described = [_describe(item) for item in interruptions]
    pending.extend(d for d in described if d["call_id"] not in {p["call_id"] for p in pending})
    publish("approvals", list(pending))
    for item, info in zip(interruptions, described, strict=True):
        decision = await wait_for(approval_message(str(info["call_id"])))
        approved, message, always = _decision(decision)
        if approved:
            state.approve(item, always_approve=always)
        else:
            state.reject(item, always_reject=always, rejection_message=message)
        pending[:] = [p for p in pending if p["call_id"] != info["call_id"]]
        publish("approvals", list(pending))


def _decision(payload: Any) -> tuple[bool, str | None, bool]:
    if isinstance(payload, bool):
        return payload, None, False
    if isinstance(payload, dict):
        return bool(payload.get("approved")), payload.get("message"), bool(payload.get("always", False))
    return False, f"unreadable decision {payload!r}", False


async def _check_pending(engine: Engine, run_id: str, call_id: str) -> None:
    """Refuse a decision on a call the run does not wait for, while it waits for something else.

    A run that waits for nothing yet keeps the decision until it asks (its tools may not have been called yet);
    a finished run is refused by ``Engine.send``.
    """
    info = await engine.get(run_id)
    if info.status.finished or not info.waiting_for:
        return
    described = info.state.get("approvals")
    pending = (
        [str(p["call_id"]) for p in described if isinstance(p, dict)] if isinstance(described, list) else []
    )
    # A run waits for one interrupted call at a time; the others are listed in its state and may go first.
    pending += [
        w.removeprefix(APPROVAL_PREFIX)
        for w in info.waiting_for
        if w.startswith(APPROVAL_PREFIX) and w.removeprefix(APPROVAL_PREFIX) not in pending
    ]
    if call_id in pending:
        return
    if pending:
        raise UsageError(f"run {run_id} waits for approval of {', '.join(pending)}, not {call_id}")
    raise UsageError(
        f"run {run_id} waits for {', '.join(info.waiting_for)}, not for the approval of a tool call; "
        f"call {call_id} is not one it will read (`stead show {run_id}` says what it waits for)"
    )


async def approve(engine: Engine, run_id: str, call_id: str, *, always: bool = False) -> None:
    """Approve a tool call a run waits on (``stead approve RUN_ID CALL_ID``).

    Raises ``UsageError`` naming the pending calls if the run waits, but not for this one.
    """
    await _check_pending(engine, run_id, call_id)
    await engine.send(run_id, approval_message(call_id), {"approved": True, "always": always})


async def reject(
    engine: Engine, run_id: str, call_id: str, *, message: str | None = None, always: bool = False
) -> None:
    """Reject a tool call a run waits on; ``message`` is what the model is told instead of the tool's output.

    Raises ``UsageError`` naming the pending calls if the run waits, but not for this one.
    """
    await _check_pending(engine, run_id, call_id)
    await engine.send(
        run_id, approval_message(call_id), {"approved": False, "message": message, "always": always}
    )
