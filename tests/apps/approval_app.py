"""A support agent whose refund tool needs a person's approval. Used by the approval tests (in process and as a
worker subprocess). STEAD_TEST_LOG, when set, logs each refund actually made."""

from __future__ import annotations

import os

from agents import Agent, Runner, function_tool

import stead

refunds: list[str] = []


@function_tool(needs_approval=True)
def refund(order_id: str, amount: float) -> str:
    """Refund an order."""
    refunds.append(order_id)
    if os.environ.get("STEAD_TEST_LOG"):
        from tests.apps.crash_app import log

        log(f"refund {order_id}")
    return f"refunded {amount:.2f} on order {order_id}"


@stead.workflow
async def support(message: str) -> str:
    agent = Agent(
        name="Support", instructions="Help customers; refund when asked.", tools=[refund], model="gpt-4o-mini"
    )
    result = await Runner.run(agent, message)
    return str(result.final_output)
