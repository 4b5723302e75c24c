"""Model calls under the engine's shared rate limit (``stead._limits``), inside the model step's attempt.

The reservation is part of the attempt, never of the workflow code: a replay reads the journal and asks for
nothing. While a call waits for capacity its attempt emits a ``rate_limited`` event, so ``stead tail``/``show``
and the dashboard say "waiting for rate limit on gpt-4o-mini".
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from .._events import emit
from .._limits import LimiterStore, MemoryLimiterStore, acquire, configured_limit, settle
from .._retry import retry_after_hint
from .._usage import tokens_of_result
from ._request import ModelRequest

__all__ = ["limited", "store_of"]

_process_store = MemoryLimiterStore()


def store_of(runtime: object | None) -> LimiterStore:
    """The engine's shared limiter store when it has one (the embedded engine's SQLite file), else this process's."""
    store = getattr(runtime, "store", None)
    return store if isinstance(store, LimiterStore) else _process_store


def _estimate(request: ModelRequest) -> float:
    """Tokens the call will cost, before it is sent: about four characters a token, plus the output cap."""
    text = json.dumps([request.system_instructions, request.input], default=str)
    return len(text) / 4 + float(request.model_settings.max_tokens or 0)


def _status(error: BaseException) -> int | None:
    status = getattr(error, "status_code", None)
    return status if isinstance(status, int) else None


async def limited(
    store: LimiterStore, model: str, request: ModelRequest, call: Callable[[], Awaitable[Any]]
) -> Any:
    """Run ``call`` (one attempt of the model step) once the limit for ``model`` allows it."""
    limit = configured_limit(model)
    if limit is None:
        return await call()
    lease = uuid.uuid4().hex
    estimated = _estimate(request)

    def waiting(seconds: float, reason: str) -> None:
        if seconds >= 0.01:
            emit("rate_limited", {"key": model, "wait": round(seconds, 3), "reason": reason})

    await acquire(store, model, limit, estimated, lease, waiting)
    try:
        result = await call()
    except BaseException as error:
        limited_now = _status(error) == 429
        hint = retry_after_hint(error) if limited_now else None
        now = time.time()
        store.update_limit(
            model,
            lambda s: (
                settle(
                    s,
                    limit,
                    now,
                    lease,
                    estimated=estimated,
                    actual=None,
                    retry_after=hint,
                    limited=limited_now,
                ),
                None,
            ),
        )
        raise
    tokens = tokens_of_result(result)
    actual = float(tokens.total_tokens) if tokens is not None and tokens.total_tokens else None
    now = time.time()
    store.update_limit(
        model,
        lambda s: (
            settle(s, limit, now, lease, estimated=estimated, actual=actual, retry_after=None, limited=False),
            None,
        ),
    )
    return result
