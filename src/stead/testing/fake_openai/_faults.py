"""Faults a script can answer with (HTTP errors, slowness, dropped connections), and the reply union.

``plan_of`` flattens the wrappers (``Slow``, ``DropMidStream``) of a reply into what the server does.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeAlias

from ._replies import Reply, Text, ToolCall, as_reply

__all__ = [
    "REPLY_TYPES",
    "Drop",
    "DropMidStream",
    "Fault",
    "Gated",
    "Plan",
    "ReplyLike",
    "Slow",
    "check_reply",
    "error_body",
    "plan_of",
]


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


def error_body(status: int, message: str | None = None, code: str | None = None) -> dict[str, Any]:
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
        body = dict(self.body) if self.body is not None else error_body(self.status, self.message)
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


@dataclass(frozen=True)
class Gated:
    """Answer with ``reply`` once ``gate`` is set (a background response stays in progress until then).

    The wait is cut short when the server stops. A test sets the gate when it is ready for the answer.
    """

    gate: threading.Event
    reply: ReplyLike


ReplyLike: TypeAlias = str | Text | ToolCall | Reply | Fault | Slow | Drop | DropMidStream | Gated
"""Anything a script may answer with; ``str``/``Text``/``ToolCall`` mean a one-item ``Reply``."""

REPLY_TYPES = (str, Text, ToolCall, Reply, Fault, Slow, Drop, DropMidStream, Gated)


def check_reply(value: object, where: str) -> ReplyLike:
    if not isinstance(value, REPLY_TYPES):
        raise TypeError(f"{where}: expected a reply (str, Text, ToolCall, Reply, Fault, ...), got {value!r}")
    return value


@dataclass(frozen=True)
class Plan:
    """A reply with its wrappers (Slow, DropMidStream, Gated) flattened out."""

    base: Reply | Fault | Drop
    delay: float = 0.0
    chunk_delay: float = 0.0
    drop_after: int | None = None
    gates: tuple[threading.Event, ...] = ()


def plan_of(reply: ReplyLike) -> Plan:
    delay = chunk_delay = 0.0
    drop_after: int | None = None
    gates: list[threading.Event] = []
    current: ReplyLike = reply
    while True:
        if isinstance(current, Gated):
            gates.append(current.gate)
            current = current.reply
        elif isinstance(current, Slow):
            delay += current.seconds
            chunk_delay = max(chunk_delay, current.chunk_delay)
            current = current.reply
        elif isinstance(current, DropMidStream):
            drop_after = current.after_chunks if drop_after is None else min(drop_after, current.after_chunks)
            current = current.reply
        elif isinstance(current, Reply | Fault | Drop):
            return Plan(current, delay, chunk_delay, drop_after, tuple(gates))
        elif isinstance(current, str | Text | ToolCall):
            return Plan(as_reply(current), delay, chunk_delay, drop_after, tuple(gates))
        else:
            raise TypeError(f"not a reply: {current!r}")
