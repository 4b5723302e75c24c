"""Integrations that stead switches on by itself when the program uses the library they serve."""

from __future__ import annotations

import sys

_agents_done = False


def activate() -> None:
    """Called by engines before executing workflow code. Cheap when there is nothing to do."""
    global _agents_done
    if not _agents_done and "agents" in sys.modules:
        from .agents import install

        install()
        _agents_done = True
