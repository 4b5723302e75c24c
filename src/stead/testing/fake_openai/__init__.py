"""A scriptable fake of the OpenAI HTTP API, for tests and offline examples.

The server speaks just enough of two endpoints for the ``openai`` client and the
OpenAI Agents SDK to work against it unchanged:

* ``POST /v1/responses`` (Responses API), JSON or SSE (``"stream": true``);
* ``POST /v1/chat/completions`` (Chat Completions), JSON or SSE;
* background mode of the Responses API (``"background": true``): ``GET /v1/responses/{id}``, JSON or SSE with
  ``?stream=true&starting_after=N`` (``server.background.retrievals`` counts them).

What it answers is scripted, either as a list of replies consumed one per
request or as a callable deciding from the request (for parallel agents, where
the arrival order is not deterministic)::

    with FakeOpenAIServer([ToolCall("add", {"a": 1}), "the answer is 1"]) as srv:
        client = AsyncOpenAI(base_url=srv.base_url, api_key="fake", max_retries=0)
        ...

Faults (``Fault``, ``Slow``, ``Drop``, ``DropMidStream``) exercise retry and
crash paths; ``Gated`` holds an answer until the test sets an event. The same scripts can be written as JSON (see ``load_script``) and
served from a separate process::

    python -m stead.testing.fake_openai --port 0 --script script.json [--log calls.jsonl]

which prints ``READY http://127.0.0.1:PORT/v1`` once it accepts connections and
serves until SIGTERM/SIGINT.

Token usage is deterministic unless a ``Reply`` sets it: input tokens are the
words (whitespace-separated) in the instructions, messages, tool calls and tool
outputs of the request; output tokens the words in the reply's texts and tool
call argument strings; cached and reasoning tokens are 0.
"""

from ._faults import Drop, DropMidStream, Fault, Gated, ReplyLike, Slow
from ._limit import ProviderLimit
from ._main import main
from ._replies import Reply, Text, ToolCall, Usage
from ._requests import FakeRequest, Responder, ToolOutput
from ._rules import load_script
from ._server import FakeOpenAIServer

__all__ = [
    "Drop",
    "DropMidStream",
    "FakeOpenAIServer",
    "FakeRequest",
    "Fault",
    "Gated",
    "ProviderLimit",
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
