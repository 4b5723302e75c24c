"""The deep-research example, instrumented for crash tests: its web_search tool logs to a side-effect file and
can hang on request, waiting for the kill.

STEAD_TEST_LOG: the side-effect log. CRASH_TOOL=k: the k-th web_search of this process prints CRASH-POINT and
hangs.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Any

from agents.tool_context import ToolContext

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "examples"))

from deep_research import research_tools  # noqa: E402
from deep_research.workflow import deep_research  # noqa: E402

from tests.apps.crash_app import log  # noqa: E402

__all__ = ["deep_research"]

_original = research_tools.web_search.on_invoke_tool
_calls = 0


async def _instrumented(ctx: ToolContext[Any], arguments: str) -> Any:
    global _calls
    _calls += 1
    log(f"tool start {arguments}")
    if os.environ.get("CRASH_TOOL") == str(_calls):
        print("CRASH-POINT tool", flush=True)
        await asyncio.Event().wait()
    output = await _original(ctx, arguments)
    log(f"tool done {arguments}")
    return output


research_tools.web_search.on_invoke_tool = _instrumented
