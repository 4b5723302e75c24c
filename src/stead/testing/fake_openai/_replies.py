"""What a reply is made of: assistant texts, tool calls and, optionally, explicit token usage."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Reply", "Text", "ToolCall", "Usage", "as_reply"]


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


def as_reply(value: Text | ToolCall | Reply | str) -> Reply:
    return value if isinstance(value, Reply) else Reply(value)
