"""The streaming wire format: word-sized deltas, server-sent events and HTTP/1.1 chunks."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

__all__ = ["http_chunk", "pieces", "sse_event"]


def pieces(text: str) -> list[str]:
    """Split text into word-sized deltas that concatenate back to ``text``."""
    parts = re.findall(r"\s*\S+", text)
    rest = text[len("".join(parts)) :]
    if rest:
        parts.append(rest)
    return parts


def sse_event(data: Mapping[str, Any] | str, event: str | None = None) -> bytes:
    payload = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    prefix = f"event: {event}\n" if event else ""
    return f"{prefix}data: {payload}\n\n".encode()


def http_chunk(data: bytes) -> bytes:
    """``data`` framed as one chunk of a ``Transfer-Encoding: chunked`` body."""
    return b"%x\r\n%s\r\n" % (len(data), data)
