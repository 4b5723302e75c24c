"""Test helpers for stead: a scriptable fake OpenAI-compatible HTTP server; pytest fixtures in ``stead.testing.pytest``."""

from ._hanging import HangingResponder
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
    "HangingResponder",
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
