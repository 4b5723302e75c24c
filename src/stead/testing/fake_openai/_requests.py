"""The requests the server receives, normalised across the Responses and Chat Completions APIs."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias, cast

from ._faults import ReplyLike

__all__ = ["FakeRequest", "Responder", "ToolOutput"]


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
