"""Which model a name like "gpt-4o-mini" means inside a workflow, configured from the environment.

``OPENAI_API_KEY`` alone: OpenAI's Responses API. ``OPENAI_BASE_URL`` (with a key if the server needs one): any
OpenAI-compatible server (Ollama, vLLM, a LiteLLM proxy), through Chat Completions unless ``STEAD_OPENAI_API``
says ``responses``. Traces go to OpenAI (the SDK's default exporter) only with an OpenAI key and no
``OPENAI_BASE_URL``. The client's own retries are off: stead retries model calls itself, visibly, honouring
Retry-After. ``STEAD_RUN_HEADER=NAME`` sends the id of the run each model request belongs to in header ``NAME``
(offline mode answers each run from its own program's script by it; a proxy can route or account by it).
"""

from __future__ import annotations

import asyncio
import importlib
import os
import ssl
import threading
import weakref
from typing import Any

from agents import Model, ModelProvider
from agents.models import _openai_shared
from agents.models.multi_provider import MultiProvider
from openai import AsyncOpenAI, DefaultAsyncHttpxClient

from .._context import run_id
from .._exceptions import UsageError

__all__ = ["ModelNotConfigured", "close_providers", "env_provider", "is_default_provider", "is_env_client"]

NO_MODEL_HELP = (
    "no model provider is configured for agent runs. Set OPENAI_API_KEY to use OpenAI; or set OPENAI_BASE_URL "
    "to an OpenAI-compatible server (Ollama: http://localhost:11434/v1, vLLM, a LiteLLM proxy) and name its "
    "model in Agent(model=...) (STEAD_OPENAI_API=responses|chat picks the API); or give the agent a Model "
    "object, or RunConfig(model_provider=...)."
)


class ModelNotConfigured(UsageError):
    """No credentials or endpoint for the model an agent names."""


class _Unconfigured(ModelProvider):
    def get_model(self, model_name: str | None) -> Model:
        raise ModelNotConfigured(NO_MODEL_HELP)


_providers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, ModelProvider] = weakref.WeakKeyDictionary()
# Weak: on Temporal every workflow execution has its own event loop, hence its own provider; they must not pile up.
_clients: weakref.WeakKeyDictionary[ModelProvider, AsyncOpenAI] = weakref.WeakKeyDictionary()
# The same clients, for a membership test that needs no iteration: Temporal's workflow threads add providers while
# others look a client up, and iterating a dict another thread grows fails ("dictionary changed size").
_env_clients: weakref.WeakSet[AsyncOpenAI] = weakref.WeakSet()


def env_provider() -> ModelProvider:
    """The provider for model names, one per event loop (an HTTP client belongs to the loop it runs on)."""
    loop = asyncio.get_running_loop()
    provider = _providers.get(loop)
    if provider is None:
        provider = _providers[loop] = _build()
    return provider


async def close_providers() -> None:
    """Close the HTTP clients of this loop's provider (when its last worker stops)."""
    provider = _providers.pop(asyncio.get_running_loop(), None)
    if provider is not None:
        await provider.aclose()
        client = _clients.pop(provider, None)
        if client is not None:
            await client.close()


def _build() -> ModelProvider:
    key = os.environ.get("OPENAI_API_KEY") or None
    base_url = os.environ.get("OPENAI_BASE_URL") or None
    if key is None or base_url is not None:
        _no_trace_upload()
    if key is None and base_url is None:
        return _Unconfigured()
    api = (os.environ.get("STEAD_OPENAI_API") or ("chat" if base_url else "responses")).lower()
    if api not in ("chat", "responses"):
        raise UsageError(f"STEAD_OPENAI_API={api!r}: use 'responses' or 'chat'")
    header = os.environ.get("STEAD_RUN_HEADER") or None
    hooks = None if header is None else {"request": [_tag(header)]}
    http_client = DefaultAsyncHttpxClient(verify=_tls_context(), event_hooks=hooks)
    client = AsyncOpenAI(api_key=key or "unused", base_url=base_url, max_retries=0, http_client=http_client)
    provider = MultiProvider(openai_client=client, openai_use_responses=api == "responses")
    _clients[provider] = client
    _env_clients.add(client)
    return provider


_tls: list[ssl.SSLContext] = []
_tls_lock = threading.Lock()


def _tls_context() -> ssl.SSLContext:
    """The TLS settings of every environment client, made once per process.

    What the HTTP library would make for each client (its defaults, from the environment), but making it loads the
    CA store: tens of milliseconds, for each Temporal workflow execution (a loop of its own, hence a client of its
    own, though workflow code never sends a request with it). A context may serve many clients and threads.
    """
    with _tls_lock:
        if not _tls:
            # openai is built on httpx or on its fork httpx2, depending on its version: ask the one it uses.
            http = importlib.import_module(DefaultAsyncHttpxClient.__mro__[1].__module__.partition(".")[0])
            _tls.append(http.create_ssl_context())
        return _tls[0]


def is_env_client(client: object) -> bool:
    """Whether ``client`` is the HTTP client of an environment provider (on any event loop)."""
    try:
        return client in _env_clients
    except TypeError:  # not weakly referenceable: not one of ours
        return False


def _no_trace_upload() -> None:
    """Drop the SDK's default trace exporter, which uploads to OpenAI, when there is no OpenAI key to upload with.

    Without a key it warns at every batch; with the key of another server (OPENAI_BASE_URL) it would send that
    key and the traces to OpenAI. Processors added by the program stay.
    """
    from agents.tracing import get_trace_provider
    from agents.tracing.processors import default_processor

    provider = get_trace_provider()
    multi = getattr(getattr(provider, "inner", provider), "_multi_processor", None)
    processors = tuple(getattr(multi, "_processors", ()))
    default = default_processor()
    if any(p is default for p in processors):
        provider.set_processors([p for p in processors if p is not default])


def _tag(header: str) -> Any:
    async def tag(request: Any) -> None:  # an httpx.Request
        try:
            request.headers[header] = run_id()
        except UsageError:  # a model call outside any run
            pass

    return tag


def is_default_provider(provider: Any) -> bool:
    """Whether ``provider`` is the SDK's default, which nobody configured: stead may put its own in its place."""
    if type(provider) is not MultiProvider or _openai_shared.get_default_openai_client() is not None:
        return False
    if getattr(provider, "provider_map", None):
        return False
    openai_provider = getattr(provider, "openai_provider", None)
    if openai_provider is None or getattr(openai_provider, "_client", None) is not None:
        return False
    return not any(
        getattr(openai_provider, attr, None)
        for attr in ("_stored_api_key", "_stored_base_url", "_stored_organization", "_stored_project")
    )
