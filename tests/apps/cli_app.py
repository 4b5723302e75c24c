"""A sample program for the CLI tests: small workflows exercising arguments, messages, failures and retries."""

from __future__ import annotations

import asyncio
from typing import Any

import stead


@stead.step
async def add_step(a: int, b: int) -> int:
    return a + b


@stead.step
def double(x: int) -> int:
    return 2 * x


@stead.workflow
async def add(a: int, b: int, scale: int = 1) -> int:
    total = await add_step(a, b)
    return await double(total) * scale // 2


@stead.workflow
async def haiku(topic: str) -> dict[str, Any]:
    stead.publish("topic", topic)
    return {"topic": topic, "lines": 3}


@stead.workflow
async def bad() -> Any:
    return object()


@stead.workflow
async def approval(order: str) -> dict[str, Any]:
    await add_step(1, 1)
    decision = await stead.wait_for("go")
    return {"order": order, "decision": decision}


@stead.workflow
async def slow(n: int) -> int:
    for i in range(n):
        await add_step(i, 0)
        await asyncio.sleep(0.02)
    return n


@stead.step(retry=stead.RetryPolicy(max_attempts=2, initial_interval=0.01))
async def flaky_once(tag: str) -> str:
    if tag not in _seen:
        _seen.add(tag)
        raise ConnectionError(f"transient failure for {tag}")
    return tag


_seen: set[str] = set()


@stead.workflow
async def retrying(tag: str) -> str:
    return str(await flaky_once(tag))


not_a_workflow = add_step
