"""A customer-service conversation as one long-lived durable run: messages in, state out.

The run waits for a customer message (``stead.wait_for("user")``), lets the agent answer it with the whole
conversation as memory, publishes the reply and the transcript (``stead.publish``), and waits for the next
message, until the customer says goodbye or stays silent for ``idle_timeout`` seconds. The memory is a
``stead.agents.RunSession``: kept by the run itself and rebuilt from the journal after a crash, so it needs no
database and works the same on every engine. The agent looks orders up and refunds them (canned data); a
refund is a journaled tool call, never repeated by a replay.

Start the conversation against OpenAI (or any OpenAI-compatible server: set OPENAI_BASE_URL)::

    OPENAI_API_KEY=sk-... stead run examples/support_chat.py:support_chat --run-id chat-1

or offline, against the canned replies of ``support_chat.offline.json`` (no key, no network)::

    stead run --offline examples/support_chat.py:support_chat --run-id chat-1

The run now waits. From another terminal, send messages and read the published state::

    stead send chat-1 user '"Where is my order 123?"'
    stead show chat-1            # published state: status, turn, reply, transcript
    stead send chat-1 user '"It arrived damaged, can I get a refund?"'
    stead send chat-1 user '"Thanks, bye!"'

From Python, ``await engine.send("chat-1", "user", "Where is my order 123?")`` sends and
``(await engine.get("chat-1")).state`` reads; :func:`ask` below does both and waits for the reply. Kill the
``stead run`` process at any point (``kill -9`` too) and continue with ``stead resume chat-1``: messages sent in
the meantime wait for the run, the conversation goes on where it stopped, and no model call, refund or
transcript line happens twice.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

from agents import Agent, Runner, function_tool

import stead
from stead.agents import RunSession

# -- canned shop data -------------------------------------------------------------------------------------------

ORDERS: dict[str, dict[str, str]] = {
    "123": {"item": "Trail running shoes", "total": "$89.90", "status": "delivered on Monday"},
    "456": {"item": "Rain jacket", "total": "$129.00", "status": "shipped with UPS, arriving on Friday"},
    "789": {"item": "Camping stove", "total": "$45.50", "status": "being prepared, shipping within two days"},
}
REFUNDS: dict[str, str] = {}
"""Refunds issued, by order: the side effect a replay must not repeat."""


@function_tool
def lookup_order(order_id: str) -> str:
    """Look an order up by its number: item, total and delivery status."""
    order = ORDERS.get(order_id.strip().lstrip("#"))
    if order is None:
        return f"No order {order_id} exists."
    return f"Order {order_id}: {order['item']}, {order['total']}, {order['status']}."


@function_tool
def refund_order(order_id: str, reason: str) -> str:
    """Refund a delivered order in full. Only when the customer asks for a refund."""
    order_id = order_id.strip().lstrip("#")
    order = ORDERS.get(order_id)
    if order is None:
        return f"No order {order_id} exists."
    if not order["status"].startswith("delivered"):
        return f"Order {order_id} is not delivered yet: it cannot be refunded."
    if order_id in REFUNDS:
        return f"Order {order_id} was already refunded ({REFUNDS[order_id]})."
    REFUNDS[order_id] = f"R-{order_id}"
    return (
        f"Refund R-{order_id} of {order['total']} for order {order_id} issued ({reason}): "
        "back on the card in 3-5 business days."
    )


INSTRUCTIONS = (
    "You are the customer-service agent of Northwind Outfitters. Help customers with their orders: look orders "
    "up with lookup_order; refund a delivered order with refund_order only when the customer asks for a "
    "refund. Be brief and friendly. When the customer says goodbye, say goodbye."
)

support_agent = Agent(
    name="Support",
    instructions=INSTRUCTIONS,
    tools=[lookup_order, refund_order],
    model="gpt-4o-mini",
)

_GOODBYE = re.compile(r"\b(bye|goodbye)\b", re.IGNORECASE)


def _text_of(message: Any) -> str:
    if isinstance(message, dict) and isinstance(message.get("text"), str):
        return str(message["text"])
    return message if isinstance(message, str) else str(message)


# -- the conversation -------------------------------------------------------------------------------------------


@stead.workflow
async def support_chat(customer: str = "guest", idle_timeout: float = 1800.0) -> dict[str, Any]:
    """Answer the messages ``user`` sent to this run until the customer says goodbye or stays silent for
    ``idle_timeout`` seconds; ``customer`` names who the conversation is with.

    Published state: ``status`` ("waiting", "answering" or "closed"), ``turn`` (messages answered), ``reply``
    (the latest answer), ``transcript`` (``{"role", "text"}`` per message, both sides).
    """
    session = RunSession()
    turn = 0
    ended = "idle"
    reply: str | None = None

    def show(status: str, reply: str | None = None) -> None:
        stead.publish("status", status)
        stead.publish("turn", turn)
        stead.publish("reply", reply)
        stead.publish("transcript", session.messages())

    show("waiting")
    while True:
        try:
            message = await stead.wait_for("user", timeout=idle_timeout)
        except stead.WaitTimeout:
            break
        text = _text_of(message)
        show("answering")
        result = await Runner.run(support_agent, text, session=session, max_turns=6)
        turn += 1
        reply = str(result.final_output)
        if _GOODBYE.search(text):
            ended = "goodbye"
            break
        show("waiting", reply)
    show("closed", reply)
    return {"customer": customer, "ended": ended, "turns": turn, "transcript": session.messages()}


# -- the other side: a client -----------------------------------------------------------------------------------


async def ask(engine: stead.Engine, run_id: str, text: str, *, timeout: float = 60.0) -> str:
    """Send one customer message to a running ``support_chat`` and return the agent's reply.

    The reply is read from the run's published state: the run answered once ``turn`` went up. Send one message
    at a time (messages sent together are answered in order, each in its own turn).
    """
    before = (await engine.get(run_id)).state.get("turn", 0)
    await engine.send(run_id, "user", text)
    async with asyncio.timeout(timeout):
        while True:
            info = await engine.get(run_id)
            if info.state.get("turn", 0) > before:
                return str(info.state["reply"])
            if info.status.finished:
                raise stead.RunFinished(f"run {run_id!r} ended ({info.status}) without answering {text!r}")
            await asyncio.sleep(0.05)  # the engine API has no event for state changes: poll
