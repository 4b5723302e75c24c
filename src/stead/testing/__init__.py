"""Test helpers for stead: a scriptable fake OpenAI-compatible HTTP server, offline mode built on it, and pytest
fixtures in ``stead.testing.pytest``."""

from ._hanging import HangingResponder
from ._offline import (
    OFFLINE_API_KEY,
    RUN_HEADER,
    OfflineScriptError,
    PerRunScripts,
    fake_models,
    load_offline_script,
    offline_models,
    offline_script_for,
)
from ._replay import no_models, replay_file
from .fake_openai import (
    Drop,
    DropMidStream,
    FakeOpenAIServer,
    FakeRequest,
    Fault,
    Gated,
    ProviderLimit,
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
    "OFFLINE_API_KEY",
    "Drop",
    "DropMidStream",
    "FakeOpenAIServer",
    "FakeRequest",
    "Fault",
    "Gated",
    "ProviderLimit",
    "HangingResponder",
    "OfflineScriptError",
    "PerRunScripts",
    "RUN_HEADER",
    "Reply",
    "ReplyLike",
    "Responder",
    "Slow",
    "Text",
    "ToolCall",
    "ToolOutput",
    "Usage",
    "fake_models",
    "load_offline_script",
    "load_script",
    "no_models",
    "offline_models",
    "offline_script_for",
    "replay_file",
]
