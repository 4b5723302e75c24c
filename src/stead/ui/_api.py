"""JSON shapes of runs, steps, usage, timelines and conversations for the dashboard and its HTTP API.

Small pure functions over the engine's public types (``RunInfo``, ``StepInfo``, ``RunEvent``), so that another
front end (the CLI) can render from the same shapes.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from .. import _views as views
from .._engine import ErrorInfo, RunInfo, RunStatus, StepInfo
from .._events import RunEvent
from .._usage import RunUsage, usage
from .._views import BOOKKEEPING_KINDS, display_status, run_view, step_view
from ..agents import approval_call_id

__all__ = [
    "HIDDEN_KINDS",
    "approvals_of",
    "cli_for",
    "conversation",
    "display_status",
    "error_view",
    "event_json",
    "lane_of",
    "lanes",
    "run_json",
    "step_json",
    "steps_json",
    "usage_json",
]

#: Journal entries that are bookkeeping rather than work: hidden from timelines.
HIDDEN_KINDS = BOOKKEEPING_KINDS


def error_view(error: ErrorInfo | None) -> dict[str, Any] | None:
    return views.error_view(error, details=True)


def _agent_of(step: StepInfo) -> str:
    """The agent a model step called the model for."""
    return step.attributes.agent or step.name.removeprefix("model:")


HANDOFF_PREFIX = "transfer_to_"


def run_json(info: RunInfo, run_usage: RunUsage | None = None) -> dict[str, Any]:
    out = {**run_view(info, run_usage), "display_status": display_status(info)}
    if run_usage is not None:
        out["usage"] = usage_json(run_usage)
    return out


def usage_json(run_usage: RunUsage) -> dict[str, Any]:
    """Tokens and cost in all, per agent, and per agent and model."""
    out = run_usage.to_json()
    out["by_model"] = [
        {"agent": agent.agent, "model": model, **tokens.to_json()}
        for agent in run_usage.agents.values()
        for model, tokens in agent.by_model.items()
    ]
    return out


def lane_of(position: str) -> str:
    """The branch of the task tree a step belongs to: its agent run (``0:0`` of ``0:0/model:1``) or its task."""
    if "/" in position:
        return position.rsplit("/", 1)[0]
    return position.rsplit(":", 1)[0] if ":" in position else position


def steps_json(steps: Sequence[StepInfo]) -> list[dict[str, Any]]:
    """The run's steps for timelines (bookkeeping hidden), each with the agent that made it, where one did."""
    callers: dict[str, str] = {}
    for step in steps:
        if step.kind == "model" and isinstance(step.result, dict):
            for item in step.result.get("output") or []:
                if isinstance(item, dict) and item.get("call_id") is not None:
                    callers[f"{lane_of(step.position)}/{item['call_id']}"] = _agent_of(step)
    out = []
    for step in steps:
        if step.kind in HIDDEN_KINDS:
            continue
        agent = _agent_of(step) if step.kind == "model" else callers.get(step.position)
        lane = lane_of(step.position)
        call_id = approval_call_id(step.name) if step.kind == "wait" else None
        if agent is None and call_id is not None:
            caller = next(((pos, a) for pos, a in callers.items() if pos.endswith("/" + call_id)), None)
            if caller is not None:
                # An approval belongs to the agent run whose tool call waits for it.
                agent, lane = caller[1], lane_of(caller[0])
        if not lane[:1].isdigit():
            lane = "0"  # an engine's synthetic position (a message that arrived): the workflow's own lane
        entry = step_json(step, agent)
        entry["lane"] = lane
        out.append(entry)
    return out


def step_json(step: StepInfo, agent: str | None = None) -> dict[str, Any]:
    return {**step_view(step), "lane": lane_of(step.position), "agent": agent, "label": _step_label(step)}


def _step_label(step: StepInfo) -> str:
    if step.kind == "wait":
        call_id = approval_call_id(step.name)
        if call_id is not None:
            return f"approval · {call_id}"
        return f"wait · {step.name}"
    if step.kind == "timer":
        return "sleep"
    return step.summary or step.name


def lanes(steps: Sequence[StepInfo]) -> list[dict[str, Any]]:
    """One lane per agent run or task branch, in the order their first step started, labelled by who ran."""
    found: dict[str, dict[str, Any]] = {}
    for step in steps:
        if step.kind in HIDDEN_KINDS:
            continue
        lane = lane_of(step.position)
        entry = found.setdefault(
            lane, {"id": lane, "agents": [], "kind": "agent" if "/" in step.position else "task"}
        )
        if step.kind == "model" and step.name.startswith("model:"):
            agent = _agent_of(step)
            if agent not in entry["agents"]:
                entry["agents"].append(agent)
    for entry in found.values():
        if entry["agents"]:
            entry["label"] = " → ".join(entry["agents"])
        elif entry["id"] == "0":
            entry["label"] = "workflow"
        else:
            entry["label"] = f"task {entry['id']}"
    return list(found.values())


def approvals_of(info: RunInfo) -> list[dict[str, Any]]:
    """The tool calls the run waits to have approved, as it published them (state ``approvals``)."""
    waiting = {c for c in map(approval_call_id, info.waiting_for) if c is not None}
    published = info.state.get("approvals") if isinstance(info.state, dict) else None
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for item in published if isinstance(published, list) else []:
        if isinstance(item, dict) and str(item.get("call_id")) in waiting:
            call_id = str(item["call_id"])
            seen.add(call_id)
            out.append({"run_id": info.run_id, "workflow": info.workflow, **item, "call_id": call_id})
    for call_id in sorted(waiting - seen):
        out.append({"run_id": info.run_id, "workflow": info.workflow, "call_id": call_id, "tool": None})
    for item in out:
        item["cli"] = {
            "approve": cli_for("approve", info.run_id, call_id=item["call_id"]),
            "reject": cli_for("reject", info.run_id, call_id=item["call_id"]),
        }
    return out


def cli_for(action: str, run_id: str, **extra: Any) -> str:
    """The ``stead`` command that does what a dashboard button does."""
    if action == "approve":
        return f"stead approve {run_id} {extra['call_id']}"
    if action == "reject":
        message = extra.get("message")
        return f"stead reject {run_id} {extra['call_id']}" + (f" -m {_quote(message)}" if message else "")
    if action == "send":
        payload = json.dumps(extra.get("payload"), ensure_ascii=False)
        return f"stead send {run_id} {extra['name']} {_quote(payload)}"
    if action == "fork":
        command = f"stead fork {run_id} --at {_quote(extra['at'])}"
        if extra.get("set_result") is not None:
            command += " --set-result " + _quote(
                json.dumps(extra["set_result"], ensure_ascii=False, separators=(",", ":"))
            )
        if extra.get("new_id"):
            command += f" --run-id {_quote(extra['new_id'])}"
        return command
    if action == "start":
        args = " ".join(_quote(a if isinstance(a, str) else json.dumps(a)) for a in extra.get("args") or [])
        return f"stead run {extra['source']} {args}".rstrip()
    return f"stead {action} {run_id}"


def _quote(text: str) -> str:
    import shlex

    return shlex.quote(text)


def event_json(event: RunEvent) -> dict[str, Any]:
    return {
        "id": event.id,
        "position": event.position,
        "attempt": event.attempt,
        "kind": event.kind,
        "data": event.data,
        "at": event.at.isoformat(),
    }


# -- conversation ---------------------------------------------------------------------------------------------


def conversation(info: RunInfo, steps: Iterable[StepInfo]) -> list[dict[str, Any]]:
    """What was said in the run: the input, each agent's messages, tool calls with results, handoffs, approvals.

    Built from the journal: model steps record the responses (messages and tool calls), tool steps the results,
    waits for ``approval:<call id>`` the decisions; retried attempts appear as their errors.
    """
    items: list[dict[str, Any]] = []
    args = info.args if isinstance(info.args, dict) else {}
    inputs = [*args.get("args", []), *args.get("kwargs", {}).values()]
    if inputs:
        text = (
            inputs[0]
            if len(inputs) == 1 and isinstance(inputs[0], str)
            else json.dumps(inputs, ensure_ascii=False)
        )
        items.append({"type": "input", "text": text})
    calls: dict[str, dict[str, Any]] = {}
    for step in steps:
        if step.kind in HIDDEN_KINDS:
            continue
        for error in step.attempt_errors:
            items.append(
                {
                    "type": "retry",
                    "position": step.position,
                    "label": _step_label(step),
                    "error": error_view(error),
                }
            )
        if step.kind == "model":
            items.extend(_model_items(step, calls))
        elif step.kind == "tool":
            call_id = step.position.rsplit("/", 1)[-1]
            call = calls.get(call_id)
            tool = step.attributes.tool or step.name.removeprefix("tool:")
            if call is not None:
                call["status"] = step.status
                call["output"] = step.result
                call["error"] = error_view(step.error)
                call["output_position"] = step.position
            else:
                items.append(
                    {
                        "type": "tool_call",
                        "position": step.position,
                        "tool": tool,
                        "call_id": call_id,
                        "arguments": None,
                        "status": step.status,
                        "output": step.result,
                        "error": error_view(step.error),
                    }
                )
        elif step.kind == "wait" and (approved_call := approval_call_id(step.name)) is not None:
            call_id = approved_call
            decision = step.result if isinstance(step.result, dict) else {}
            state = (
                "pending"
                if step.status == "pending"
                else "approved"
                if decision.get("approved")
                else "rejected"
            )
            call = calls.get(call_id)
            approval = {
                "type": "approval",
                "position": step.position,
                "call_id": call_id,
                "tool": call["tool"] if call else None,
                "arguments": call["arguments"] if call else None,
                "decision": state,
                "message": decision.get("message"),
            }
            # Right after the call it decides on, which the model asked for earlier.
            at = next((n for n, item in enumerate(items) if item is call), None)
            items.insert(len(items) if at is None else at + 1, approval)
        elif step.kind == "wait":
            items.append(
                {
                    "type": "message",
                    "position": step.position,
                    "name": step.name,
                    "status": step.status,
                    "payload": step.result,
                }
            )
        elif step.status == "failed" and step.error is not None:
            items.append(
                {
                    "type": "error",
                    "position": step.position,
                    "label": _step_label(step),
                    "error": error_view(step.error),
                }
            )
    _resolve_handoffs(items)
    if info.status is RunStatus.COMPLETED:
        items.append({"type": "result", "result": info.result})
    elif info.error is not None:
        items.append({"type": "error", "position": None, "label": "run", "error": error_view(info.error)})
    return items


def _model_items(step: StepInfo, calls: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    agent = _agent_of(step)
    if step.status == "failed":
        return [
            {
                "type": "error",
                "position": step.position,
                "agent": agent,
                "label": _step_label(step),
                "error": error_view(step.error),
            }
        ]
    if step.status != "done":
        return [{"type": "thinking", "position": step.position, "agent": agent}]
    result = step.result if isinstance(step.result, dict) else {}
    out: list[dict[str, Any]] = []
    for item in result.get("output") or []:
        if not isinstance(item, dict):
            continue
        kind = item.get("type")
        if kind == "message":
            text = "".join(
                str(c.get("text") or c.get("refusal") or "")
                for c in item.get("content") or []
                if isinstance(c, dict)
            )
            out.append(
                {
                    "type": "message",
                    "position": step.position,
                    "agent": agent,
                    "role": item.get("role", "assistant"),
                    "text": text,
                }
            )
        elif kind == "function_call":
            name = str(item.get("name"))
            arguments = _parse_arguments(item.get("arguments"))
            if name.startswith(HANDOFF_PREFIX):
                out.append(
                    {
                        "type": "handoff",
                        "position": step.position,
                        "agent": agent,
                        "to": name.removeprefix(HANDOFF_PREFIX).replace("_", " "),
                        "call_id": item.get("call_id"),
                    }
                )
                continue
            call = {
                "type": "tool_call",
                "position": step.position,
                "agent": agent,
                "tool": name,
                "call_id": item.get("call_id"),
                "arguments": arguments,
                "status": "requested",
                "output": None,
                "error": None,
            }
            if item.get("call_id") is not None:
                calls[str(item["call_id"])] = call
            out.append(call)
        elif kind == "reasoning":
            summary = " ".join(
                str(s.get("text", "")) for s in item.get("summary") or [] if isinstance(s, dict)
            ).strip()
            if summary:
                out.append({"type": "reasoning", "position": step.position, "agent": agent, "text": summary})
        else:
            out.append({"type": "other", "position": step.position, "agent": agent, "item": item})
    return out


def _resolve_handoffs(items: list[dict[str, Any]]) -> None:
    """A handoff goes to the agent whose model answers next (the tool name only spells it in snake case)."""
    for n, item in enumerate(items):
        if item["type"] != "handoff":
            continue
        for later in items[n + 1 :]:
            agent = later.get("agent")
            if agent and agent != item["agent"]:
                item["to"] = agent
                break


def _parse_arguments(arguments: Any) -> Any:
    if isinstance(arguments, str):
        try:
            return json.loads(arguments)
        except ValueError:
            return arguments
    return arguments


def run_usage(steps: Sequence[StepInfo]) -> RunUsage:
    return usage(steps)
