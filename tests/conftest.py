"""Shared fixtures. Every test runs with warnings as errors, and no test may reach a real model provider."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator

import pytest

# No real model call may leave a test: point the SDK at nowhere and strip real credentials.
os.environ.pop("OPENAI_API_KEY", None)
os.environ["OPENAI_BASE_URL"] = "http://127.0.0.1:9/v1"
os.environ.setdefault("OPENAI_AGENTS_DISABLE_TRACING", "1")

_real_connect = socket.socket.connect


def _guarded_connect(self: socket.socket, address: object) -> None:
    host = address[0] if isinstance(address, tuple) else address
    local = not isinstance(host, str) or host in ("localhost", "::1") or host.startswith("127.")
    if not local and self.family in (socket.AF_INET, socket.AF_INET6):
        raise AssertionError(f"a test tried to reach {address!r}: tests talk only to local fake servers")
    _real_connect(self, address)  # type: ignore[arg-type]


@pytest.fixture(autouse=True)
def _no_outside_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(socket.socket, "connect", _guarded_connect)
    yield
