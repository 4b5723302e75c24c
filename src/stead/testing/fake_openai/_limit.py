"""A provider's rate limit, as the fake server enforces it: token buckets refilled continuously, 429 beyond."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

__all__ = ["ProviderLimit", "RateBuckets"]


@dataclass(frozen=True)
class ProviderLimit:
    """``requests`` and ``tokens`` (input + output of the reply) per ``period`` seconds; None means unlimited."""

    requests: float | None = 60.0
    tokens: float | None = 20_000.0
    period: float = 60.0


class RateBuckets:
    """Full buckets at first; each answered request takes one request and its tokens, or gets a Retry-After."""

    def __init__(self, limit: ProviderLimit) -> None:
        self.limit = limit
        self._requests = limit.requests or 0.0
        self._tokens = limit.tokens or 0.0
        self._at = time.monotonic()
        self._lock = threading.Lock()

    def take(self, tokens: int) -> float | None:
        """Charge one request of ``tokens``; None when it fits, else the seconds until it would."""
        limit = self.limit
        with self._lock:
            now = time.monotonic()
            elapsed, self._at = now - self._at, now
            waits = [0.0]
            if limit.requests is not None:
                rate = limit.requests / limit.period
                self._requests = min(limit.requests, self._requests + elapsed * rate)
                waits.append((1.0 - self._requests) / rate)
            if limit.tokens is not None:
                rate = limit.tokens / limit.period
                self._tokens = min(limit.tokens, self._tokens + elapsed * rate)
                waits.append((min(float(tokens), limit.tokens) - self._tokens) / rate)
            wait = max(waits)
            if wait > 0:
                return wait
            self._requests -= 1.0
            self._tokens -= float(tokens)
            return None
