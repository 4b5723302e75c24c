"""Test helpers for stead: a scriptable fake OpenAI-compatible HTTP server."""

from .fake_openai import (
    Drop,
    DropMidStream,
    FakeOpenAIServer,
    FakeRequest,
    Fault,
    Reply,
    ReplyLike,
    Responder,
    Slow,
    Text,
    ToolCall,
    ToolOutput,
    Usage,
    load_script,
)

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
]
