"""Test helpers for stead: a scriptable fake OpenAI-compatible HTTP server, and offline mode built on it."""

from ._fake_openai import (
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
from ._offline import (
    OFFLINE_API_KEY,
    OfflineScriptError,
    load_offline_script,
    offline_models,
    offline_script_for,
)

__all__ = [
    "OFFLINE_API_KEY",
    "Drop",
    "DropMidStream",
    "FakeOpenAIServer",
    "FakeRequest",
    "Fault",
    "OfflineScriptError",
    "Reply",
    "ReplyLike",
    "Responder",
    "Slow",
    "Text",
    "ToolCall",
    "ToolOutput",
    "Usage",
    "load_offline_script",
    "load_script",
    "offline_models",
    "offline_script_for",
]
