"""``POST /v1/chat/completions`` payloads: the final completion and the chunks of a stream."""

from __future__ import annotations

from typing import Any

from ._rendered import Call, Rendered
from ._replies import Text
from ._requests import FakeRequest
from ._sse import pieces

__all__ = ["chat_chunks", "chat_final"]


def _usage_chat(r: Rendered) -> dict[str, Any]:
    return {
        "prompt_tokens": r.input_tokens,
        "completion_tokens": r.output_tokens,
        "total_tokens": r.input_tokens + r.output_tokens,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
    }


def _chat_parts(r: Rendered) -> tuple[str | None, list[Call]]:
    texts = [item.text for _, item in r.items if isinstance(item, Text)]
    calls = [item for _, item in r.items if isinstance(item, Call)]
    # Chat Completions has a single content string; several Text items are concatenated.
    return ("".join(texts) if texts else None), calls


def chat_final(request: FakeRequest, r: Rendered) -> dict[str, Any]:
    content, calls = _chat_parts(r)
    message: dict[str, Any] = {"role": "assistant", "content": content, "refusal": None}
    if calls:
        message["tool_calls"] = [
            {"id": c.call_id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for c in calls
        ]
    return {
        "id": r.response_id,
        "object": "chat.completion",
        "created": r.created,
        "model": request.model,
        "system_fingerprint": None,
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": "tool_calls" if calls else "stop",
                "logprobs": None,
            }
        ],
        "usage": _usage_chat(r),
    }


def chat_chunks(request: FakeRequest, r: Rendered) -> list[dict[str, Any]]:
    """The streamed Chat Completions chunks (without the final ``[DONE]``)."""
    content, calls = _chat_parts(r)
    stream_options = request.body.get("stream_options")
    include_usage = isinstance(stream_options, dict) and bool(stream_options.get("include_usage"))
    chunks: list[dict[str, Any]] = []

    def emit(delta: dict[str, Any], finish_reason: str | None = None) -> None:
        chunk: dict[str, Any] = {
            "id": r.response_id,
            "object": "chat.completion.chunk",
            "created": r.created,
            "model": request.model,
            "system_fingerprint": None,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": None}],
        }
        if include_usage:
            chunk["usage"] = None
        chunks.append(chunk)

    # Like the real API: the first chunk carries the role, content "" only for text answers.
    emit({"role": "assistant", "content": "" if content is not None else None, "refusal": None})
    for piece in pieces(content or ""):
        emit({"content": piece})
    for index, call in enumerate(calls):
        emit(
            {
                "tool_calls": [
                    {
                        "index": index,
                        "id": call.call_id,
                        "type": "function",
                        "function": {"name": call.name, "arguments": ""},
                    }
                ]
            }
        )
        for piece in pieces(call.arguments):
            emit({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
    emit({}, "tool_calls" if calls else "stop")
    if include_usage:
        chunks.append({**chunks[-1], "choices": [], "usage": _usage_chat(r)})
    return chunks
