"""Retry policies: how often a failing step is tried again, and how long to wait between attempts."""

from __future__ import annotations

import dataclasses
import email.utils
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["RetryPolicy", "is_retryable", "retry_after_hint"]

#: HTTP statuses that mean "try again later": timeouts, conflicts, rate limits and server errors.
RETRYABLE_STATUS = frozenset({408, 409, 429})


@dataclass(frozen=True)
class RetryPolicy:
    """How a step is retried when an attempt raises."""

    max_attempts: int = 5
    """Attempts in all, the first included. ``1`` means never retry; ``0`` means retry without limit."""

    initial_interval: float = 1.0
    """Seconds to wait before the second attempt."""

    backoff: float = 2.0
    """Each wait is this many times the previous one."""

    max_interval: float = 60.0
    """No wait between attempts is longer than this, unless the error itself asks for longer (Retry-After)."""

    jitter: float = 0.2
    """Each computed wait is moved at random by up to this fraction, so that many clients do not retry at once."""

    non_retryable: tuple[type[BaseException] | str, ...] = field(default=())
    """Exception types (or their class names) that fail the step at once."""

    max_lost_attempts: int = 50
    """Attempts cut short by their worker stopping (``kill -9``, out of memory, a lost machine) before the step
    fails with ``StepLost``. They do not count against ``max_attempts``, which counts the attempts that raised;
    this bound stops a step that kills every worker it runs on. ``0`` means no limit."""

    def __post_init__(self) -> None:
        if self.max_attempts < 0:
            raise ValueError(f"RetryPolicy.max_attempts must be >= 0, got {self.max_attempts}")
        if self.initial_interval < 0 or self.max_interval < 0:
            raise ValueError("RetryPolicy intervals must be >= 0")
        if self.max_lost_attempts < 0:
            raise ValueError(f"RetryPolicy.max_lost_attempts must be >= 0, got {self.max_lost_attempts}")
        if self.backoff < 1:
            raise ValueError(f"RetryPolicy.backoff must be >= 1, got {self.backoff}")
        if not 0 <= self.jitter <= 1:
            raise ValueError(f"RetryPolicy.jitter must be between 0 and 1, got {self.jitter}")

    def replace(self, **changes: Any) -> RetryPolicy:
        return dataclasses.replace(self, **changes)

    def allows(self, attempt: int) -> bool:
        """Whether another attempt may follow attempt number ``attempt`` (1-based, counting the attempts that
        raised: attempts lost with their worker are not counted)."""
        return self.max_attempts == 0 or attempt < self.max_attempts

    def lost_too_often(self, lost: int) -> bool:
        """Whether ``lost`` attempts cut short by their worker stopping use up the allowance."""
        return self.max_lost_attempts != 0 and lost >= self.max_lost_attempts

    def delay(self, attempt: int, error: BaseException | None = None) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based) before the next one.

        A Retry-After hint carried by the error replaces the computed backoff: the server knows best.
        """
        hint = retry_after_hint(error) if error is not None else None
        if hint is not None:
            return hint
        base = min(self.initial_interval * self.backoff ** (attempt - 1), self.max_interval)
        if self.jitter:
            base *= 1 + random.uniform(-self.jitter, self.jitter)
        return max(base, 0.0)

    def retryable(self, error: BaseException) -> bool:
        for entry in self.non_retryable:
            if isinstance(entry, str):
                if any(cls.__name__ == entry or cls.__qualname__ == entry for cls in type(error).__mro__):
                    return False
            elif isinstance(error, entry):
                return False
        return is_retryable(error)


def _status_of(error: BaseException) -> int | None:
    status = getattr(error, "status_code", None)
    if status is None:
        response = getattr(error, "response", None)
        status = getattr(response, "status_code", None)
    return status if isinstance(status, int) else None


def is_retryable(error: BaseException) -> bool:
    """The default classification, shared by every engine.

    Errors that carry an HTTP status (the ``openai`` and ``httpx`` errors do) are retried for 408, 409, 429 and
    5xx and fail at once for other statuses. Errors marked by stead as final, programming errors (TypeError and
    friends) and cancellations are not retried; everything else (connection errors, timeouts, the user's own
    exceptions) is.
    """
    from ._exceptions import NonDeterminismError, SerializationError, SteadInterrupt, UsageError

    if isinstance(error, SteadInterrupt | NonDeterminismError | SerializationError | UsageError):
        return False
    explicit = getattr(error, "stead_retryable", None)
    if isinstance(explicit, bool):
        return explicit
    status = _status_of(error)
    if status is not None:
        return status in RETRYABLE_STATUS or status >= 500
    return not isinstance(error, TypeError | NameError | AttributeError | SyntaxError | NotImplementedError)


def _headers_of(error: BaseException) -> Mapping[str, str] | None:
    response = getattr(error, "response", None)
    headers = getattr(response, "headers", None)
    if headers is None:
        headers = getattr(error, "headers", None)
    return headers if isinstance(headers, Mapping) else None


def retry_after_hint(error: BaseException) -> float | None:
    """Seconds the error asks us to wait, from ``retry_after`` on the error or the response's headers.

    Understands ``retry-after-ms`` (OpenAI), ``retry-after`` as seconds or as an HTTP date.
    """
    value: Any = getattr(error, "retry_after", None)
    if isinstance(value, int | float):
        return max(float(value), 0.0)
    headers = _headers_of(error)
    if headers is None:
        return None
    lowered = {str(k).lower(): str(v) for k, v in headers.items()}
    ms = lowered.get("retry-after-ms")
    if ms is not None:
        try:
            return max(float(ms) / 1000.0, 0.0)
        except ValueError:
            pass
    raw = lowered.get("retry-after")
    if raw is None:
        return None
    try:
        return max(float(raw), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - time.time(), 0.0)
