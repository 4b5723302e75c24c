"""A responder that holds one chosen request, for tests that kill a worker in the middle of a model call."""

from __future__ import annotations

import threading
from collections.abc import Callable

from .fake_openai import Drop, FakeRequest, ReplyLike

__all__ = ["HangingResponder"]


class HangingResponder:
    """Answers as ``responder`` does, except that the ``hang_at``-th request (1-based) hangs.

    That request sets ``reached``, waits until ``release()`` (at most ``timeout`` seconds), then its connection
    drops. A test waits for ``reached``, kills the worker making the call, and releases. ``count`` is the number
    of requests so far; set ``count`` and ``hang_at`` again to hang a later request.
    """

    def __init__(
        self,
        responder: Callable[[FakeRequest], ReplyLike],
        hang_at: int | None = None,
        *,
        timeout: float = 60.0,
    ) -> None:
        self.responder = responder
        self.hang_at = hang_at
        self.count = 0
        self.reached = threading.Event()
        self._released = threading.Event()
        self._timeout = timeout
        self._lock = threading.Lock()

    def release(self) -> None:
        """Let the held request (and any later one that would hang) go on: its connection drops."""
        self._released.set()

    def __call__(self, request: FakeRequest) -> ReplyLike:
        with self._lock:
            self.count += 1
            hang = self.count == self.hang_at
        if hang:
            self.reached.set()
            self._released.wait(self._timeout)
            return Drop()
        return self.responder(request)
