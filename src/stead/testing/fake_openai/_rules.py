"""JSON scripts: a list of replies, or rules answering by what a request contains (``load_script``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ._faults import Drop, DropMidStream, Fault, ReplyLike, Slow
from ._replies import Reply, Text, ToolCall, Usage
from ._requests import FakeRequest, Responder

__all__ = ["load_script"]


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
