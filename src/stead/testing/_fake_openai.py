"""The fake server's former single module, kept so that ``stead.testing._fake_openai`` still imports.

The code lives in the ``stead.testing.fake_openai`` package now; import from there (or ``stead.testing``).
"""

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
    main,
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
    "main",
]
