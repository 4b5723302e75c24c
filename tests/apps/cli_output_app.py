"""A sample program for the CLI output tests: a workflow whose result is text, one that waits for a message."""

from __future__ import annotations

from typing import Any

import stead


@stead.workflow
async def poem(topic: str) -> str:
    return f"a poem on {topic}\nin two lines"


@stead.workflow
async def waiter(order: str) -> dict[str, Any]:
    decision = await stead.wait_for("go")
    return {"order": order, "decision": decision}
