"""``POST /v1/responses`` payloads: the final response object and the SSE event sequence of a stream."""

from __future__ import annotations

from typing import Any

from ._rendered import Call, Rendered
from ._replies import Text
from ._requests import FakeRequest
from ._sse import pieces

__all__ = ["responses_events", "responses_final", "responses_pending"]


def _usage_responses(r: Rendered) -> dict[str, Any]:
    return {
        "input_tokens": r.input_tokens,
        "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
        "output_tokens": r.output_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": r.input_tokens + r.output_tokens,
    }


def _message_item(item_id: str, text: str | None, status: str) -> dict[str, Any]:
    content = (
        [] if text is None else [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}]
    )
    return {"id": item_id, "type": "message", "role": "assistant", "status": status, "content": content}


def _call_item(call: Call, arguments: str, status: str) -> dict[str, Any]:
    return {
        "id": call.item_id,
        "type": "function_call",
        "call_id": call.call_id,
        "name": call.name,
        "arguments": arguments,
        "status": status,
    }


def _response_object(
    request: FakeRequest,
    r: Rendered,
    *,
    status: str,
    output: list[dict[str, Any]],
    usage: dict[str, Any] | None,
) -> dict[str, Any]:
    body = request.body
    extra = {"background": True} if body.get("background") is True else {}
    return {
        **extra,
        "id": r.response_id,
        "object": "response",
        "created_at": r.created,
        "completed_at": r.created if status == "completed" else None,
        "status": status,
        "model": request.model,
        "output": output,
        "instructions": body.get("instructions"),
        "tools": body.get("tools") or [],
        "tool_choice": body.get("tool_choice") or "auto",
        "parallel_tool_calls": bool(body.get("parallel_tool_calls", True)),
        "previous_response_id": body.get("previous_response_id"),
        "temperature": body.get("temperature"),
        "top_p": body.get("top_p"),
        "max_output_tokens": body.get("max_output_tokens"),
        "metadata": body.get("metadata") or {},
        "text": body.get("text") or {"format": {"type": "text"}},
        "truncation": body.get("truncation") or "disabled",
        "reasoning": None,
        "error": None,
        "incomplete_details": None,
        "usage": usage,
    }


def responses_final(request: FakeRequest, r: Rendered) -> dict[str, Any]:
    output = [
        _message_item(item_id, item.text, "completed")
        if isinstance(item, Text)
        else _call_item(item, item.arguments, "completed")
        for item_id, item in r.items
    ]
    return _response_object(request, r, status="completed", output=output, usage=_usage_responses(r))


def responses_pending(request: FakeRequest, r: Rendered, status: str) -> dict[str, Any]:
    """The response object of a background request that is not done yet ("queued" or "in_progress")."""
    return _response_object(request, r, status=status, output=[], usage=None)


def responses_events(request: FakeRequest, r: Rendered) -> list[tuple[str, dict[str, Any]]]:
    """The SSE event sequence of a streamed Responses API answer, as (event name, data)."""
    events: list[tuple[str, dict[str, Any]]] = []

    def emit(kind: str, **fields: Any) -> None:
        events.append((kind, {"type": kind, "sequence_number": len(events), **fields}))

    pending = _response_object(request, r, status="in_progress", output=[], usage=None)
    emit("response.created", response=pending)
    emit("response.in_progress", response=pending)
    for index, (item_id, item) in enumerate(r.items):
        if isinstance(item, Text):
            emit(
                "response.output_item.added",
                output_index=index,
                item=_message_item(item_id, None, "in_progress"),
            )
            empty_part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
            where = {"item_id": item_id, "output_index": index, "content_index": 0}
            emit("response.content_part.added", **where, part=empty_part)
            for piece in pieces(item.text):
                emit("response.output_text.delta", **where, delta=piece, logprobs=[])
            emit("response.output_text.done", **where, text=item.text, logprobs=[])
            emit("response.content_part.done", **where, part={**empty_part, "text": item.text})
            emit(
                "response.output_item.done",
                output_index=index,
                item=_message_item(item_id, item.text, "completed"),
            )
        else:
            emit("response.output_item.added", output_index=index, item=_call_item(item, "", "in_progress"))
            where = {"item_id": item_id, "output_index": index}
            for piece in pieces(item.arguments):
                emit("response.function_call_arguments.delta", **where, delta=piece)
            emit("response.function_call_arguments.done", **where, name=item.name, arguments=item.arguments)
            emit(
                "response.output_item.done",
                output_index=index,
                item=_call_item(item, item.arguments, "completed"),
            )
    emit("response.completed", response=responses_final(request, r))
    return events
