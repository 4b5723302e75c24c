"""Integrations that stead switches on by itself when the program uses the library they serve.

Engines call :func:`activate` before running workflow code, and bracket each worker with :func:`acquire` and
:func:`release`, so that resources an integration holds for workers (HTTP clients) are closed with the last one.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

__all__ = ["acquire", "activate", "release"]

#: The integration for each library, known by name only (as engines are by URL scheme): the core imports no
#: integration module, it loads one when the program has imported the library it serves.
_AGENTS_INSTALL = "stead.agents:install"
_AGENTS_CLOSE = ("stead.agents._provider:close_providers", "stead.agents._mcp:close_connections")


def _load(target: str) -> Any:
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


_agents_done = False
_workers = 0


def activate() -> None:
    """Cheap when there is nothing to do."""
    global _agents_done
    if not _agents_done and "agents" in sys.modules:
        _load(_AGENTS_INSTALL)()
        _agents_done = True


def acquire() -> None:
    global _workers
    _workers += 1
    activate()


async def release() -> None:
    global _workers
    _workers -= 1
    if _workers == 0 and _agents_done:
        for close in _AGENTS_CLOSE:
            await _load(close)()
