"""The support-chat example, instrumented for crash tests: its tools log to a side-effect file and one can hang.

STEAD_TEST_LOG: the side-effect log. CRASH_TOOL=name: the first call of that tool in this process prints
CRASH-POINT and hangs, waiting for the kill.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Any

from agents.tool import FunctionTool
from agents.tool_context import ToolContext

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "examples"))

import support_chat as example  # noqa: E402

from tests.apps.crash_app import log  # noqa: E402

support_chat = example.support_chat

__all__ = ["support_chat"]

_crashed = False


def _instrument(tool: FunctionTool) -> None:
    original = tool.on_invoke_tool

    async def instrumented(ctx: ToolContext[Any], arguments: str) -> Any:
        global _crashed
        log(f"tool start {tool.name} {arguments}")
        if os.environ.get("CRASH_TOOL") == tool.name and not _crashed:
            _crashed = True
            print(f"CRASH-POINT tool {tool.name}", flush=True)
            await asyncio.Event().wait()
        output = await original(ctx, arguments)
        log(f"tool done {tool.name} {arguments}")
        return output

    tool.on_invoke_tool = instrumented


_instrument(example.lookup_order)
_instrument(example.refund_order)
