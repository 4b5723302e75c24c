"""A scriptable fake of the OpenAI HTTP API, for tests and offline examples.

The server speaks just enough of two endpoints for the ``openai`` client and the
OpenAI Agents SDK to work against it unchanged:

* ``POST /v1/responses`` (Responses API), JSON or SSE (``"stream": true``);
* ``POST /v1/chat/completions`` (Chat Completions), JSON or SSE.

What it answers is scripted, either as a list of replies consumed one per
request or as a callable deciding from the request (for parallel agents, where
the arrival order is not deterministic)::

    with FakeOpenAIServer([ToolCall("add", {"a": 1}), "the answer is 1"]) as srv:
        client = AsyncOpenAI(base_url=srv.base_url, api_key="fake", max_retries=0)
        ...

Faults (``Fault``, ``Slow``, ``Drop``, ``DropMidStream``) exercise retry and
crash paths. The same scripts can be written as JSON (see ``load_script``) and
served from a separate process::

    python -m stead.testing.fake_openai --port 0 --script script.json [--log calls.jsonl]

which prints ``READY http://127.0.0.1:PORT/v1`` once it accepts connections and
serves until SIGTERM/SIGINT.

Token usage is deterministic unless a ``Reply`` sets it: input tokens are the
words (whitespace-separated) in the instructions, messages, tool calls and tool
outputs of the request; output tokens the words in the reply's texts and tool
call argument strings; cached and reasoning tokens are 0.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import select
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType, TracebackType
from typing import Any, Literal, Self, TypeAlias, cast

__all__ = [
    "Drop",
    "DropMidStream",
    "FakeOpenAIServer",
    "FakeRequest",
    "Fault",
    "Reply",
    "ReplyLike",
    "Responder",
    "Slow",
    "Text",
    "ToolCall",
    "ToolOutput",
    "Usage",
    "load_script",
    "main",
]


# --------------------------------------------------------------------------- #
# Reply descriptions
# --------------------------------------------------------------------------- #


@dataclass(frozen=True)
class Text:
    """An assistant text output item."""

    text: str


@dataclass(frozen=True)
class ToolCall:
    """A function tool call output item.

    ``arguments`` may be a dict (serialised to JSON) or a raw string, which is sent
    verbatim (handy for testing malformed arguments). Without ``call_id`` the
    server assigns ``call_fake_<n>`` from a per-server counter.
    """

    name: str
    arguments: Mapping[str, Any] | str = field(default_factory=dict)
    call_id: str | None = None

    @property
    def arguments_json(self) -> str:
        if isinstance(self.arguments, str):
            return self.arguments
        return json.dumps(dict(self.arguments))


@dataclass(frozen=True)
class Usage:
    """Explicit token counts for a reply (otherwise they are derived from word counts)."""

    input_tokens: int
    output_tokens: int


class Reply:
    """One model response made of several output items, e.g. two parallel tool calls.

    Strings are shorthand for ``Text``. An explicit ``usage`` replaces the
    deterministic word-count estimate.
    """

    __slots__ = ("items", "usage")

    def __init__(self, *items: Text | ToolCall | str, usage: Usage | None = None) -> None:
        converted: list[Text | ToolCall] = []
        for item in items:
            if isinstance(item, str):
                converted.append(Text(item))
            elif isinstance(item, Text | ToolCall):
                converted.append(item)
            else:
                raise TypeError(f"Reply items must be Text, ToolCall or str, not {type(item).__name__}")
        self.items: tuple[Text | ToolCall, ...] = tuple(converted)
        self.usage = usage

    @property
    def texts(self) -> list[Text]:
        return [item for item in self.items if isinstance(item, Text)]

    @property
    def tool_calls(self) -> list[ToolCall]:
        return [item for item in self.items if isinstance(item, ToolCall)]

    def __repr__(self) -> str:
        parts = [repr(item) for item in self.items]
        if self.usage is not None:
            parts.append(f"usage={self.usage!r}")
        return f"Reply({', '.join(parts)})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Reply):
            return NotImplemented
        return self.items == other.items and self.usage == other.usage


# OpenAI-style error ``type``/``code`` per status, used when a Fault has no explicit body.
_ERROR_KINDS: dict[int, tuple[str, str | None, str]] = {
    400: ("invalid_request_error", None, "Bad request (fake)."),
    401: ("invalid_request_error", "invalid_api_key", "Incorrect API key provided (fake)."),
    403: ("permission_error", None, "Permission denied (fake)."),
    404: ("invalid_request_error", "model_not_found", "Not found (fake)."),
    409: ("invalid_request_error", None, "Conflict (fake)."),
    422: ("invalid_request_error", None, "Unprocessable entity (fake)."),
    429: ("requests", "rate_limit_exceeded", "Rate limit reached (fake)."),
    500: ("server_error", None, "The server had an error while processing your request (fake)."),
    502: ("server_error", None, "Bad gateway (fake)."),
    503: ("server_error", None, "The engine is currently overloaded (fake)."),
}


def _error_body(status: int, message: str | None = None, code: str | None = None) -> dict[str, Any]:
    kind, default_code, default_message = _ERROR_KINDS.get(
        status, ("server_error" if status >= 500 else "invalid_request_error", None, f"HTTP {status} (fake).")
    )
    return {
        "error": {
            "message": message or default_message,
            "type": kind,
            "param": None,
            "code": code or default_code,
        }
    }


@dataclass(frozen=True)
class Fault:
    """An HTTP error response.

    Without ``body`` an OpenAI-style ``{"error": {"message", "type", "param", "code"}}``
    JSON body is generated from ``status`` (and ``message`` if given). A dict body is
    sent as JSON, a string body verbatim.
    """

    status: int = 500
    headers: Mapping[str, str] = field(default_factory=dict)
    body: Mapping[str, Any] | str | None = None
    message: str | None = None

    def render_body(self) -> tuple[bytes, str]:
        """Return (body bytes, content type)."""
        if isinstance(self.body, str):
            return self.body.encode(), "text/plain; charset=utf-8"
        body = dict(self.body) if self.body is not None else _error_body(self.status, self.message)
        return json.dumps(body).encode(), "application/json"


@dataclass(frozen=True)
class Slow:
    """Wait ``seconds`` before answering with ``reply``.

    For streaming requests ``chunk_delay`` additionally spaces out the SSE events.
    Waits are cut short when the server stops.
    """

    seconds: float
    reply: ReplyLike
    chunk_delay: float = 0.0


@dataclass(frozen=True)
class Drop:
    """Close the connection without sending any response (the client sees a connection error)."""


@dataclass(frozen=True)
class DropMidStream:
    """Send the first ``after_chunks`` SSE events of ``reply``, then close the connection.

    The chunked HTTP body is never terminated, so the client sees a connection
    error rather than a short but clean stream. For a non-streaming request the
    headers and half of the JSON body are sent before closing.
    """

    after_chunks: int
    reply: ReplyLike


ReplyLike: TypeAlias = str | Text | ToolCall | Reply | Fault | Slow | Drop | DropMidStream
"""Anything a script may answer with; ``str``/``Text``/``ToolCall`` mean a one-item ``Reply``."""


# --------------------------------------------------------------------------- #
# Requests
# --------------------------------------------------------------------------- #


@dataclass(frozen=True)
class ToolOutput:
    """A function call output found in a request's input."""

    call_id: str
    output: str
    name: str | None = None
    """Name of the function, when the matching call is also in the input."""


@dataclass(frozen=True)
class _Entry:
    """One conversation element, normalised across both APIs."""

    kind: Literal["message", "call", "output"]
    role: str = ""
    text: str = ""
    call_id: str = ""
    name: str = ""


def _content_text(content: Any) -> str:
    """Text of a message ``content``: a string or a list of parts with ``text`` fields."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = [
            part["text"] for part in content if isinstance(part, dict) and isinstance(part.get("text"), str)
        ]
        return "\n".join(texts)
    return ""


def _entries(api: str, body: Mapping[str, Any]) -> list[_Entry]:
    entries: list[_Entry] = []
    if api == "responses":
        raw = body.get("input")
        if isinstance(raw, str):
            return [_Entry("message", role="user", text=raw)]
        for item in raw if isinstance(raw, list) else []:
            if not isinstance(item, dict):
                continue
            kind = item.get("type")
            if kind == "function_call":
                entries.append(
                    _Entry(
                        "call",
                        call_id=str(item.get("call_id", "")),
                        name=str(item.get("name", "")),
                        text=str(item.get("arguments", "")),
                    )
                )
            elif kind == "function_call_output":
                output = item.get("output")
                text = output if isinstance(output, str) else _content_text(output)
                entries.append(_Entry("output", call_id=str(item.get("call_id", "")), text=text))
            elif "role" in item and kind in (None, "message"):
                entries.append(
                    _Entry("message", role=str(item["role"]), text=_content_text(item.get("content")))
                )
        return entries

    for message in body.get("messages") or []:
        if not isinstance(message, dict):
            continue
        role = str(message.get("role", ""))
        if role == "tool":
            entries.append(
                _Entry(
                    "output",
                    call_id=str(message.get("tool_call_id", "")),
                    text=_content_text(message.get("content")),
                )
            )
            continue
        entries.append(_Entry("message", role=role, text=_content_text(message.get("content"))))
        for call in message.get("tool_calls") or []:
            function = call.get("function") if isinstance(call, dict) else None
            if isinstance(function, dict):
                entries.append(
                    _Entry(
                        "call",
                        call_id=str(call.get("id", "")),
                        name=str(function.get("name", "")),
                        text=str(function.get("arguments", "")),
                    )
                )
    return entries


@dataclass(frozen=True)
class FakeRequest:
    """A request received by the fake server, with helpers for writing rules."""

    path: str
    api: Literal["responses", "chat"]
    body: dict[str, Any]
    headers: dict[str, str]
    """Request headers, keys lower-cased."""
    index: int = 0
    """0-based arrival order among the API requests of this server."""

    @property
    def model(self) -> str:
        return str(self.body.get("model", ""))

    @property
    def stream(self) -> bool:
        return bool(self.body.get("stream", False))

    @property
    def _entries(self) -> list[_Entry]:
        return _entries(self.api, self.body)

    @property
    def instructions(self) -> str:
        """Responses ``instructions`` or the system/developer message(s); "" if none."""
        if self.api == "responses" and isinstance(self.body.get("instructions"), str):
            return cast(str, self.body["instructions"])
        texts = [e.text for e in self._entries if e.kind == "message" and e.role in ("system", "developer")]
        return "\n".join(texts)

    @property
    def input_text(self) -> str:
        """Text of the last user message ("" if there is none)."""
        for entry in reversed(self._entries):
            if entry.kind == "message" and entry.role == "user":
                return entry.text
        return ""

    @property
    def tool_outputs(self) -> list[ToolOutput]:
        """Every function call output in the input, oldest first."""
        entries = self._entries
        names = {e.call_id: e.name for e in entries if e.kind == "call"}
        return [ToolOutput(e.call_id, e.text, names.get(e.call_id)) for e in entries if e.kind == "output"]

    @property
    def last_tool_outputs(self) -> list[ToolOutput]:
        """Function call outputs of the current turn, i.e. after the last user message."""
        entries = self._entries
        start = 0
        for i, entry in enumerate(entries):
            if entry.kind == "message" and entry.role == "user":
                start = i + 1
        names = {e.call_id: e.name for e in entries if e.kind == "call"}
        return [
            ToolOutput(e.call_id, e.text, names.get(e.call_id)) for e in entries[start:] if e.kind == "output"
        ]

    @property
    def tool_names(self) -> list[str]:
        """Names of the tools offered to the model (non-function tools by their type)."""
        names: list[str] = []
        for tool in self.body.get("tools") or []:
            if not isinstance(tool, dict):
                continue
            function = tool.get("function")
            if isinstance(function, dict) and "name" in function:  # chat completions shape
                names.append(str(function["name"]))
            elif "name" in tool:
                names.append(str(tool["name"]))
            elif "type" in tool:
                names.append(str(tool["type"]))
        return names

    @property
    def input_words(self) -> int:
        """Deterministic stand-in for the prompt token count."""
        texts = [self.instructions if self.api == "responses" else ""]
        texts.extend(e.text for e in self._entries)
        return sum(len(text.split()) for text in texts)


Responder: TypeAlias = Sequence[ReplyLike] | Callable[[FakeRequest], ReplyLike]
"""A list of replies consumed in order, or a callable choosing a reply per request.

A callable may be invoked concurrently from several server threads.
"""


# --------------------------------------------------------------------------- #
# Scripts
# --------------------------------------------------------------------------- #


def _as_reply(value: Text | ToolCall | Reply | str) -> Reply:
    return value if isinstance(value, Reply) else Reply(value)


_REPLY_TYPES = (str, Text, ToolCall, Reply, Fault, Slow, Drop, DropMidStream)


def _check_reply(value: object, where: str) -> ReplyLike:
    if not isinstance(value, _REPLY_TYPES):
        raise TypeError(f"{where}: expected a reply (str, Text, ToolCall, Reply, Fault, ...), got {value!r}")
    return value


_BASE_KEYS = {"text", "tool_calls", "usage", "fault", "headers", "body", "message", "drop"}
_MODIFIER_KEYS = {"delay", "chunk_delay", "drop_after_chunks"}


def _parse_reply(obj: Any, where: str = "reply") -> ReplyLike:
    """Parse one JSON reply; see ``load_script``."""
    if isinstance(obj, str):
        return Reply(Text(obj))
    if not isinstance(obj, dict):
        raise ValueError(f"{where}: a reply must be a string or an object, got {obj!r}")
    unknown = set(obj) - _BASE_KEYS - _MODIFIER_KEYS
    if unknown:
        raise ValueError(f"{where}: unknown keys {sorted(unknown)}")

    base: ReplyLike
    if "fault" in obj:
        body = obj.get("body")
        if body is not None and not isinstance(body, dict | str):
            raise ValueError(f"{where}: fault body must be an object or a string")
        base = Fault(
            status=int(obj["fault"]),
            headers={str(k): str(v) for k, v in (obj.get("headers") or {}).items()},
            body=body,
            message=obj.get("message"),
        )
    elif obj.get("drop"):
        base = Drop()
    else:
        items: list[Text | ToolCall] = []
        if "text" in obj:
            items.append(Text(str(obj["text"])))
        for i, call in enumerate(obj.get("tool_calls") or []):
            if not isinstance(call, dict) or "name" not in call:
                raise ValueError(f"{where}: tool_calls[{i}] needs a 'name'")
            arguments = call.get("arguments", {})
            if not isinstance(arguments, dict | str):
                raise ValueError(f"{where}: tool_calls[{i}].arguments must be an object or a string")
            items.append(ToolCall(str(call["name"]), arguments, call.get("call_id")))
        if not items:
            raise ValueError(f"{where}: a reply needs 'text', 'tool_calls', 'fault' or 'drop'")
        usage = obj.get("usage")
        base = Reply(
            *items,
            usage=Usage(int(usage["input_tokens"]), int(usage["output_tokens"])) if usage else None,
        )

    if "drop_after_chunks" in obj:
        base = DropMidStream(int(obj["drop_after_chunks"]), base)
    if "delay" in obj or "chunk_delay" in obj:
        base = Slow(float(obj.get("delay", 0.0)), base, chunk_delay=float(obj.get("chunk_delay", 0.0)))
    return base


_MATCH_KEYS = {
    "api",
    "model",
    "stream",
    "instructions_contains",
    "input_contains",
    "has_tool_output",
    "tool_output_contains",
}


@dataclass(frozen=True)
class _Rule:
    match: Mapping[str, Any]
    reply: ReplyLike

    def matches(self, request: FakeRequest) -> bool:
        m = self.match
        outputs = request.last_tool_outputs
        # Each condition present in the rule must hold; absent ones are ignored.
        return (
            ("api" not in m or request.api == m["api"])
            and ("model" not in m or request.model == m["model"])
            and ("stream" not in m or request.stream == bool(m["stream"]))
            and ("instructions_contains" not in m or str(m["instructions_contains"]) in request.instructions)
            and ("input_contains" not in m or str(m["input_contains"]) in request.input_text)
            and ("has_tool_output" not in m or bool(outputs) == bool(m["has_tool_output"]))
            and (
                "tool_output_contains" not in m
                or any(str(m["tool_output_contains"]) in o.output for o in outputs)
            )
        )


class _RuleResponder:
    """Callable responder answering with the first matching rule (rules are reusable)."""

    def __init__(self, rules: Sequence[_Rule], default: ReplyLike | None) -> None:
        self.rules = list(rules)
        self.default = default

    def __call__(self, request: FakeRequest) -> ReplyLike:
        for rule in self.rules:
            if rule.matches(request):
                return rule.reply
        if self.default is not None:
            return self.default
        raise LookupError(f"no fake rule matched request #{request.index} (input {request.input_text!r})")

    def __repr__(self) -> str:
        return f"_RuleResponder({len(self.rules)} rules)"


def load_script(obj: Any) -> Responder:
    """Turn a parsed JSON script into a responder for ``FakeOpenAIServer``.

    Two forms are accepted:

    * a list of replies, consumed one per request::

        [{"text": "hi"},
         {"tool_calls": [{"name": "f", "arguments": {"x": 1}, "call_id": "c1"}]},
         {"text": "both", "tool_calls": [...], "usage": {"input_tokens": 3, "output_tokens": 1}},
         {"fault": 429, "headers": {"Retry-After": "1"}, "message": "slow down"},
         {"fault": 500, "body": {"error": {"message": "boom"}}},
         {"drop": true},
         {"text": "a long answer", "drop_after_chunks": 3},
         {"text": "late", "delay": 2.0, "chunk_delay": 0.1},
         "plain strings are text replies"]

      ``drop_after_chunks``, ``delay`` and ``chunk_delay`` may be added to any reply.

    * rules, the first match answering (rules are reused any number of times)::

        {"rules": [{"match": {"instructions_contains": "weather", "has_tool_output": false},
                    "reply": {"tool_calls": [{"name": "get_weather", "arguments": {}}]}},
                   {"match": {"has_tool_output": true}, "reply": {"text": "sunny"}}],
         "default": {"text": "fallback"}}

      Match keys (all must hold): ``api`` ("responses"/"chat"), ``model``, ``stream``,
      ``instructions_contains``, ``input_contains`` (last user message),
      ``has_tool_output`` (tool outputs after the last user message),
      ``tool_output_contains``. Without a match and ``default`` the request gets HTTP 500.
    """
    if isinstance(obj, list):
        return [_parse_reply(item, f"script[{i}]") for i, item in enumerate(obj)]
    if isinstance(obj, dict) and "rules" in obj:
        unknown = set(obj) - {"rules", "default"}
        if unknown:
            raise ValueError(f"script: unknown keys {sorted(unknown)}")
        rules: list[_Rule] = []
        for i, raw in enumerate(obj["rules"]):
            if not isinstance(raw, dict) or "reply" not in raw:
                raise ValueError(f"rules[{i}]: expected {{'match': {{...}}, 'reply': ...}}")
            match = raw.get("match") or {}
            bad = set(match) - _MATCH_KEYS
            if bad:
                raise ValueError(f"rules[{i}].match: unknown keys {sorted(bad)}")
            rules.append(_Rule(dict(match), _parse_reply(raw["reply"], f"rules[{i}].reply")))
        default = _parse_reply(obj["default"], "default") if obj.get("default") is not None else None
        return _RuleResponder(rules, default)
    raise ValueError("script must be a list of replies or an object with 'rules'")


# --------------------------------------------------------------------------- #
# Rendering replies as API payloads
# --------------------------------------------------------------------------- #


@dataclass(frozen=True)
class _Plan:
    """A reply with its wrappers (Slow, DropMidStream) flattened out."""

    base: Reply | Fault | Drop
    delay: float = 0.0
    chunk_delay: float = 0.0
    drop_after: int | None = None


def _plan(reply: ReplyLike) -> _Plan:
    delay = chunk_delay = 0.0
    drop_after: int | None = None
    current: ReplyLike = reply
    while True:
        if isinstance(current, Slow):
            delay += current.seconds
            chunk_delay = max(chunk_delay, current.chunk_delay)
            current = current.reply
        elif isinstance(current, DropMidStream):
            drop_after = current.after_chunks if drop_after is None else min(drop_after, current.after_chunks)
            current = current.reply
        elif isinstance(current, Reply | Fault | Drop):
            return _Plan(current, delay, chunk_delay, drop_after)
        elif isinstance(current, str | Text | ToolCall):
            return _Plan(_as_reply(current), delay, chunk_delay, drop_after)
        else:
            raise TypeError(f"not a reply: {current!r}")


def _pieces(text: str) -> list[str]:
    """Split text into word-sized deltas that concatenate back to ``text``."""
    pieces = re.findall(r"\s*\S+", text)
    rest = text[len("".join(pieces)) :]
    if rest:
        pieces.append(rest)
    return pieces


@dataclass(frozen=True)
class _Call:
    item_id: str
    call_id: str
    name: str
    arguments: str


@dataclass(frozen=True)
class _Rendered:
    """A reply with ids and token counts assigned, ready to be serialised."""

    response_id: str
    created: int
    items: list[tuple[str, Text | _Call]]  # (item id, item)
    input_tokens: int
    output_tokens: int


def _usage_responses(r: _Rendered) -> dict[str, Any]:
    return {
        "input_tokens": r.input_tokens,
        "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
        "output_tokens": r.output_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": r.input_tokens + r.output_tokens,
    }


def _usage_chat(r: _Rendered) -> dict[str, Any]:
    return {
        "prompt_tokens": r.input_tokens,
        "completion_tokens": r.output_tokens,
        "total_tokens": r.input_tokens + r.output_tokens,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
    }


def _message_item(item_id: str, text: str | None, status: str) -> dict[str, Any]:
    content = (
        [] if text is None else [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}]
    )
    return {"id": item_id, "type": "message", "role": "assistant", "status": status, "content": content}


def _call_item(call: _Call, arguments: str, status: str) -> dict[str, Any]:
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
    r: _Rendered,
    *,
    status: str,
    output: list[dict[str, Any]],
    usage: dict[str, Any] | None,
) -> dict[str, Any]:
    body = request.body
    return {
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


def _responses_final(request: FakeRequest, r: _Rendered) -> dict[str, Any]:
    output = [
        _message_item(item_id, item.text, "completed")
        if isinstance(item, Text)
        else _call_item(item, item.arguments, "completed")
        for item_id, item in r.items
    ]
    return _response_object(request, r, status="completed", output=output, usage=_usage_responses(r))


def _responses_events(request: FakeRequest, r: _Rendered) -> list[tuple[str, dict[str, Any]]]:
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
            for piece in _pieces(item.text):
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
            for piece in _pieces(item.arguments):
                emit("response.function_call_arguments.delta", **where, delta=piece)
            emit("response.function_call_arguments.done", **where, name=item.name, arguments=item.arguments)
            emit(
                "response.output_item.done",
                output_index=index,
                item=_call_item(item, item.arguments, "completed"),
            )
    emit("response.completed", response=_responses_final(request, r))
    return events


def _chat_parts(r: _Rendered) -> tuple[str | None, list[_Call]]:
    texts = [item.text for _, item in r.items if isinstance(item, Text)]
    calls = [item for _, item in r.items if isinstance(item, _Call)]
    # Chat Completions has a single content string; several Text items are concatenated.
    return ("".join(texts) if texts else None), calls


def _chat_final(request: FakeRequest, r: _Rendered) -> dict[str, Any]:
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


def _chat_chunks(request: FakeRequest, r: _Rendered) -> list[dict[str, Any]]:
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
    for piece in _pieces(content or ""):
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
        for piece in _pieces(call.arguments):
            emit({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
    emit({}, "tool_calls" if calls else "stop")
    if include_usage:
        chunks.append({**chunks[-1], "choices": [], "usage": _usage_chat(r)})
    return chunks


def _sse(data: Mapping[str, Any] | str, event: str | None = None) -> bytes:
    payload = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    prefix = f"event: {event}\n" if event else ""
    return f"{prefix}data: {payload}\n\n".encode()


# --------------------------------------------------------------------------- #
# Server
# --------------------------------------------------------------------------- #

_API_PATHS: tuple[tuple[str, Literal["responses", "chat"]], ...] = (
    ("/responses", "responses"),
    ("/chat/completions", "chat"),
)


class _ClientGone(Exception):
    """The client closed the connection before the answer was (fully) written."""


class _HTTPServer(ThreadingHTTPServer):
    """ThreadingHTTPServer that keeps track of its handler threads and sockets.

    Handler threads are daemons (a forgotten server must not block interpreter
    exit) but ``FakeOpenAIServer.stop`` still joins them, after shutting down
    their sockets so that threads waiting on idle keep-alive connections return.
    """

    def __init__(self, address: tuple[str, int], owner: FakeOpenAIServer) -> None:
        self.owner = owner
        self._tracking_lock = threading.Lock()
        self._handler_threads: set[threading.Thread] = set()
        self._connections: set[socket.socket] = set()
        self._closing = False
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        thread = threading.Thread(
            target=self._run_request, args=(request, client_address), name="fake-openai-request", daemon=True
        )
        with self._tracking_lock:
            self._handler_threads.add(thread)
        thread.start()

    def _run_request(self, request: Any, client_address: Any) -> None:
        try:
            self.process_request_thread(request, client_address)
        finally:
            with self._tracking_lock:
                self._handler_threads.discard(threading.current_thread())

    def track(self, connection: socket.socket) -> None:
        with self._tracking_lock:
            self._connections.add(connection)
            closing = self._closing
        if closing:
            _shutdown_socket(connection)

    def untrack(self, connection: socket.socket) -> None:
        with self._tracking_lock:
            self._connections.discard(connection)

    def close_connections_and_join(self, timeout: float) -> None:
        with self._tracking_lock:
            self._closing = True
            connections = list(self._connections)
            threads = list(self._handler_threads)
        for connection in connections:
            _shutdown_socket(connection)
        deadline = time.monotonic() + timeout
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients hanging up (timeouts, drops) are routine here; report anything else.
        exc = sys.exc_info()[1]
        if isinstance(exc, OSError):
            return
        super().handle_error(request, client_address)


def _shutdown_socket(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, and chunked bodies for SSE
    server_version = "FakeOpenAI/1.0"
    sys_version = ""

    @property
    def _owner(self) -> FakeOpenAIServer:
        return cast(_HTTPServer, self.server).owner

    def setup(self) -> None:
        super().setup()
        cast(_HTTPServer, self.server).track(self.connection)

    def finish(self) -> None:
        cast(_HTTPServer, self.server).untrack(self.connection)
        super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        if self._owner.verbose:
            super().log_message(format, *args)

    def do_GET(self) -> None:
        self._owner._count_path(self.path)
        self.send_json(404, _error_body(404, f"fake server: no route GET {self.path}", code="unknown_url"))

    def do_POST(self) -> None:
        self.status_sent: int | None = None
        try:
            self._owner._handle(self)
        except _ClientGone:
            self.close_connection = True

    # -- helpers used by FakeOpenAIServer._handle ------------------------------

    def read_body(self) -> bytes | None:
        length = self.headers.get("Content-Length")
        if length is None:
            return None
        return self.rfile.read(int(length))

    def peer_closed(self) -> bool:
        """True if the client has hung up (e.g. timed out while we were slow)."""
        try:
            readable, _, _ = select.select([self.connection], [], [], 0)
            return bool(readable) and self.connection.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True

    def write(self, data: bytes) -> None:
        try:
            self.wfile.write(data)
        except OSError as exc:
            raise _ClientGone() from exc

    def start_response(self, status: int, headers: Mapping[str, str]) -> None:
        self.status_sent = status
        try:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
        except OSError as exc:
            raise _ClientGone() from exc

    def send_json(
        self, status: int, body: Mapping[str, Any], headers: Mapping[str, str] | None = None
    ) -> None:
        data = json.dumps(body).encode()
        self.send_bytes(status, data, "application/json", headers or {})

    def send_bytes(self, status: int, data: bytes, content_type: str, headers: Mapping[str, str]) -> None:
        self.start_response(
            status, {"Content-Type": content_type, "Content-Length": str(len(data)), **headers}
        )
        self.write(data)

    def abort(self) -> None:
        """Hang up without finishing the HTTP message."""
        self.close_connection = True
        _shutdown_socket(self.connection)


class FakeOpenAIServer:
    """A fake OpenAI-compatible HTTP server running in background threads.

    ``responder`` is a list of replies (one per request, in order) or a callable
    ``(FakeRequest) -> reply``. Use as a context manager or call ``start``/``stop``.
    With ``log_path`` every answered request is appended as one JSON line
    (index, path, api, model, stream, status, outcome).
    """

    def __init__(
        self,
        responder: Responder,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        log_path: str | os.PathLike[str] | None = None,
        verbose: bool = False,
    ) -> None:
        self._script: list[ReplyLike] | None
        self._callable: Callable[[FakeRequest], ReplyLike] | None
        if isinstance(responder, _REPLY_TYPES):
            raise TypeError(
                "responder must be a list of replies or a callable; wrap a single reply in a list"
            )
        if callable(responder):
            self._script, self._callable = None, responder
        else:
            self._script = [_check_reply(r, f"script[{i}]") for i, r in enumerate(responder)]
            self._callable = None
        self._host = host
        self._port = port
        self._log_path = log_path
        self.verbose = verbose

        self._lock = threading.Lock()
        self._next_reply = 0
        self._counters = {"response": 0, "item": 0, "call": 0}
        self._requests: list[FakeRequest] = []
        self._request_times: list[float] = []
        self._counts: dict[str, int] = {}
        self._completed = 0
        self._errors: list[str] = []

        self._stopping = threading.Event()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._bound_port: int | None = None

    # -- lifecycle -------------------------------------------------------------

    def start(self) -> Self:
        if self._httpd is not None:
            raise RuntimeError("FakeOpenAIServer already started")
        self._stopping.clear()
        self._httpd = _HTTPServer((self._host, self._port), self)
        self._bound_port = int(self._httpd.server_address[1])
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="fake-openai-server",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop serving, hang up on open connections and wait for handler threads."""
        httpd, thread = self._httpd, self._thread
        if httpd is None or thread is None:
            return
        self._stopping.set()  # cuts Slow waits short
        httpd.shutdown()
        httpd.close_connections_and_join(timeout)
        httpd.server_close()
        thread.join(timeout)
        self._httpd = self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """The bound port (kept after ``stop`` so that ``base_url`` stays printable)."""
        if self._bound_port is None:
            raise RuntimeError("FakeOpenAIServer has not been started")
        return self._bound_port

    @property
    def base_url(self) -> str:
        """``http://HOST:PORT/v1``, to pass as the client's ``base_url``."""
        return f"http://{self._host}:{self.port}/v1"

    # -- recording -------------------------------------------------------------

    @property
    def requests(self) -> list[FakeRequest]:
        """Snapshot of the API requests received so far, in arrival order."""
        with self._lock:
            return list(self._requests)

    @property
    def request_times(self) -> list[float]:
        """``time.monotonic()`` at the arrival of each request in ``requests``."""
        with self._lock:
            return list(self._request_times)

    @property
    def counts(self) -> dict[str, int]:
        """Number of requests per path (e.g. ``{"/v1/responses": 2}``), any method/route."""
        with self._lock:
            return dict(self._counts)

    @property
    def completed(self) -> int:
        """Requests answered in full with a non-fault reply."""
        with self._lock:
            return self._completed

    @property
    def errors(self) -> list[str]:
        """Problems of the script itself (exhausted, responder raised, no rule matched)."""
        with self._lock:
            return list(self._errors)

    @property
    def remaining(self) -> int | None:
        """Unconsumed scripted replies (None for a callable responder)."""
        with self._lock:
            return None if self._script is None else len(self._script) - self._next_reply

    def _count_path(self, path: str) -> None:
        with self._lock:
            self._counts[path] = self._counts.get(path, 0) + 1

    # -- request handling ------------------------------------------------------

    def _next_id(self, kind: str) -> int:
        with self._lock:
            self._counters[kind] += 1
            return self._counters[kind]

    def _choose(self, request: FakeRequest) -> ReplyLike:
        if self._callable is not None:
            return _check_reply(self._callable(request), "responder result")
        assert self._script is not None
        with self._lock:
            if self._next_reply >= len(self._script):
                raise LookupError(
                    f"fake server script exhausted: request #{request.index} ({request.path}) arrived "
                    f"but all {len(self._script)} scripted replies were used"
                )
            reply = self._script[self._next_reply]
            self._next_reply += 1
            return reply

    def _render(self, request: FakeRequest, reply: Reply) -> _Rendered:
        prefix = "resp_fake_" if request.api == "responses" else "chatcmpl-fake-"
        items: list[tuple[str, Text | _Call]] = []
        for item in reply.items:
            if isinstance(item, Text):
                item_id = f"msg_fake_{self._next_id('item')}"
                items.append((item_id, item))
            else:
                item_id = f"fc_fake_{self._next_id('item')}"
                call_id = item.call_id or f"call_fake_{self._next_id('call')}"
                items.append((item_id, _Call(item_id, call_id, item.name, item.arguments_json)))
        if reply.usage is not None:
            input_tokens, output_tokens = reply.usage.input_tokens, reply.usage.output_tokens
        else:
            input_tokens = request.input_words
            output_tokens = sum(
                len((item.text if isinstance(item, Text) else item.arguments).split()) for _, item in items
            )
        return _Rendered(
            response_id=f"{prefix}{self._next_id('response')}",
            created=int(time.time()),
            items=items,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
        )

    def _handle(self, handler: _Handler) -> None:
        path = handler.path.split("?", 1)[0]
        self._count_path(path)
        api = next((name for suffix, name in _API_PATHS if path.endswith(suffix)), None)
        raw = handler.read_body()
        if api is None:
            handler.send_json(404, _error_body(404, f"fake server: no route POST {path}", code="unknown_url"))
            return
        if raw is None:
            handler.send_json(411, _error_body(400, "fake server: Content-Length required"))
            return
        try:
            body = json.loads(raw or b"{}")
            if not isinstance(body, dict):
                raise ValueError("body is not a JSON object")
        except ValueError as exc:
            handler.send_json(400, _error_body(400, f"fake server: invalid JSON body: {exc}"))
            return

        with self._lock:
            request = FakeRequest(
                path=path,
                api=api,
                body=body,
                headers={k.lower(): v for k, v in handler.headers.items()},
                index=len(self._requests),
            )
            self._requests.append(request)
            self._request_times.append(time.monotonic())

        outcome = "error"
        try:
            try:
                plan = _plan(self._choose(request))
            except Exception as exc:  # a broken script must not kill the server thread
                message = str(exc) if isinstance(exc, LookupError) else f"fake responder raised {exc!r}"
                with self._lock:
                    self._errors.append(message)
                if self.verbose:
                    print(f"fake openai: {message}", file=sys.stderr, flush=True)
                handler.send_json(500, _error_body(500, message, code="fake_script_error"))
                return
            outcome = self._answer(handler, request, plan)
            if outcome == "ok":
                with self._lock:
                    self._completed += 1
        except _ClientGone:
            outcome = "client_gone"
            raise
        finally:
            self._log(request, handler.status_sent, outcome)

    def _answer(self, handler: _Handler, request: FakeRequest, plan: _Plan) -> str:
        """Send the planned answer; returns the outcome recorded in the log."""
        if plan.delay > 0:
            if self._stopping.wait(plan.delay):
                handler.abort()
                return "server_stopped"
            if handler.peer_closed():
                raise _ClientGone()
        base = plan.base
        if isinstance(base, Drop):
            handler.abort()
            return "drop"
        if isinstance(base, Fault):
            data, content_type = base.render_body()
            handler.send_bytes(base.status, data, content_type, base.headers)
            return "fault"

        rendered = self._render(request, base)
        headers = {"x-request-id": f"req_fake_{request.index}"}
        if request.stream:
            return self._answer_stream(handler, request, plan, rendered, headers)

        final = (
            _responses_final(request, rendered)
            if request.api == "responses"
            else _chat_final(request, rendered)
        )
        data = json.dumps(final).encode()
        if plan.drop_after is None:
            handler.send_bytes(200, data, "application/json", headers)
            return "ok"
        # Promise the full length but hang up halfway, so the client cannot mistake it for a complete body.
        handler.start_response(
            200, {"Content-Type": "application/json", "Content-Length": str(len(data)), **headers}
        )
        handler.write(data[: len(data) // 2])
        handler.abort()
        return "drop_mid_stream"

    def _answer_stream(
        self,
        handler: _Handler,
        request: FakeRequest,
        plan: _Plan,
        rendered: _Rendered,
        headers: dict[str, str],
    ) -> str:
        if request.api == "responses":
            events = [_sse(data, event) for event, data in _responses_events(request, rendered)]
        else:
            events = [_sse(chunk) for chunk in _chat_chunks(request, rendered)] + [_sse("[DONE]")]
        # Chunked transfer encoding (rather than close-delimited) makes a dropped
        # connection detectable by the client as an incomplete body.
        sse_headers = {"Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache"}
        handler.start_response(200, {**sse_headers, "Transfer-Encoding": "chunked", **headers})
        for i, event in enumerate(events):
            if plan.drop_after is not None and i >= plan.drop_after:
                break
            if i and plan.chunk_delay > 0 and self._stopping.wait(plan.chunk_delay):
                handler.abort()
                return "server_stopped"
            handler.write(b"%x\r\n%s\r\n" % (len(event), event))
        if plan.drop_after is not None:  # hang up; the chunked body stays unterminated
            handler.abort()
            return "drop_mid_stream"
        handler.write(b"0\r\n\r\n")
        return "ok"

    def _log(self, request: FakeRequest, status: int | None, outcome: str) -> None:
        if self._log_path is None:
            return
        line = json.dumps(
            {
                "index": request.index,
                "path": request.path,
                "api": request.api,
                "model": request.model,
                "stream": request.stream,
                "status": status,
                "outcome": outcome,
            }
        )
        # Opened per line so that a reader in another process sees complete lines
        # and no handle outlives the server.
        with self._lock, open(self._log_path, "a", encoding="utf-8") as f:
            f.write(line + "\n")


# --------------------------------------------------------------------------- #
# Command line
# --------------------------------------------------------------------------- #


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m stead.testing.fake_openai``: serve a JSON script until SIGTERM/SIGINT."""
    parser = argparse.ArgumentParser(
        prog="python -m stead.testing.fake_openai", description="Fake OpenAI-compatible HTTP server."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (default)")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--script", help="JSON script file (see stead.testing.load_script)")
    source.add_argument("--script-json", help="the JSON script itself")
    parser.add_argument("--log", help="append one JSON line per answered request to this file")
    parser.add_argument("--verbose", action="store_true", help="log requests to stderr")
    args = parser.parse_args(argv)

    if args.script is not None:
        with open(args.script, encoding="utf-8") as f:
            raw = json.load(f)
    else:
        raw = json.loads(args.script_json)
    try:
        responder = load_script(raw)
    except (ValueError, TypeError) as exc:
        parser.error(f"invalid script: {exc}")

    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    with FakeOpenAIServer(
        responder, host=args.host, port=args.port, log_path=args.log, verbose=args.verbose
    ) as srv:
        print(f"READY {srv.base_url}", flush=True)
        while not stop.wait(0.2):
            pass
        for error in srv.errors:
            print(f"fake openai: {error}", file=sys.stderr)
    return 0
