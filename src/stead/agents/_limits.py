"""Model calls under the engine's shared rate limit (``stead._limits``), inside the model step's attempt.

The reservation is part of the attempt, never of the workflow code: a replay reads the journal and asks for
nothing. While a call waits for capacity its attempt emits a ``rate_limited`` event, so ``stead tail``/``show``
and the dashboard say "waiting for rate limit on gpt-4o-mini". The limiter is the one the engine provides to
the attempt (``stead._limits.current_limiter``): this module never knows which engine runs it.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from .._events import emit
from .._limits import acquire, configured_limit, current_limiter
from .._retry import retry_after_hint
from .._usage import tokens_of_result
from ._request import ModelRequest

__all__ = ["limited"]


def _estimate(request: ModelRequest) -> float:
    """Tokens the call will cost, before it is sent: about four characters a token, plus the output cap."""
    text = json.dumps([request.system_instructions, request.input], default=str)
    return len(text) / 4 + float(request.model_settings.max_tokens or 0)


def _status(error: BaseException) -> int | None:
    status = getattr(error, "status_code", None)
    return status if isinstance(status, int) else None


async def limited(model: str, request: ModelRequest, call: Callable[[], Awaitable[Any]]) -> Any:
    """Run ``call`` (one attempt of the model step) once the limit for ``model`` allows it."""
    limit = configured_limit(model)
    if limit is None:
        return await call()
    limiter = current_limiter()
    lease = uuid.uuid4().hex
    estimated = _estimate(request)

    def waiting(seconds: float, reason: str) -> None:
        if seconds >= 0.01:
            emit("rate_limited", {"key": model, "wait": round(seconds, 3), "reason": reason})

    await acquire(limiter, model, limit, estimated, lease, waiting)
    try:
        result = await call()
    except BaseException as error:
        limited_now = _status(error) == 429
        hint = retry_after_hint(error) if limited_now else None
        await limiter.settle(
            model, limit, lease, estimated=estimated, actual=None, retry_after=hint, limited=limited_now
        )
        raise
    tokens = tokens_of_result(result)
    actual = float(tokens.total_tokens) if tokens is not None and tokens.total_tokens else None
    await limiter.settle(
        model, limit, lease, estimated=estimated, actual=actual, retry_after=None, limited=False
    )
    return result
