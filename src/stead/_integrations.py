"""Integrations that stead switches on by itself when the program uses the library they serve.

Engines call :func:`activate` before running workflow code, and bracket each worker with :func:`acquire` and
:func:`release`, so that resources an integration holds for workers (HTTP clients) are closed with the last one.
"""

from __future__ import annotations

import sys

__all__ = ["acquire", "activate", "release"]

_agents_done = False
_workers = 0


def activate() -> None:
    """Cheap when there is nothing to do."""
    global _agents_done
    if not _agents_done and "agents" in sys.modules:
        from .agents import install

        install()
        _agents_done = True


def acquire() -> None:
    global _workers
    _workers += 1
    activate()


async def release() -> None:
    global _workers
    _workers -= 1
    if _workers == 0 and _agents_done:
        from .agents._mcp import close_connections
        from .agents._provider import close_providers

        await close_providers()
        await close_connections()
