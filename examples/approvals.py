"""A refund desk whose refunds wait for a person: human approval of tool calls, durably.

The ``issue_refund`` tool is declared ``needs_approval=True``. When the agent calls it, the run publishes the call
(state ``approvals``: call id, tool, arguments) and waits. Nobody needs to keep a process around for it: the
worker lets go of a run that only waits, and the approval brings it back on any worker, even after every worker
restarted. Rejected calls are not made; the model is told why.

Against OpenAI (or any OpenAI-compatible server: set OPENAI_BASE_URL)::

    OPENAI_API_KEY=sk-... stead run examples/approvals.py:refund_desk "Order 1042 arrived broken, please refund it"

Offline, against stead's fake model server playing ``approvals.offline.json``::

    stead run --offline examples/approvals.py:refund_desk "Order 1042 arrived broken, please refund it"

The run prints that it waits for ``approval:call_refund_1``. In another terminal::

    stead ls                                   # WAITING FOR: approval:call_refund_1
    stead show RUN_ID                          # state.approvals: what the agent wants to do
    stead approve RUN_ID call_refund_1         # or: stead reject RUN_ID call_refund_1 -m "Refunds need a receipt"

Or serve it with a worker instead (``stead worker --offline examples/approvals.py``), start runs from Python
(``engine.start(refund_desk, ...)``), and approve with ``await stead.agents.approve(engine, run_id, call_id)``.
"""

from __future__ import annotations

from agents import Agent, Runner, function_tool

import stead

#: Refunds actually made in this process (a replayed run does not make them again).
refunds_made: list[str] = []

ORDERS = {"1042": {"item": "espresso machine", "amount": 189.0}, "2077": {"item": "kettle", "amount": 35.5}}


@function_tool
def lookup_order(order_id: str) -> str:
    """Look an order up by its id."""
    order = ORDERS.get(order_id)
    if order is None:
        return f"no order {order_id}"
    return f"order {order_id}: {order['item']}, {order['amount']:.2f} EUR"


@function_tool(needs_approval=True)
def issue_refund(order_id: str, amount: float) -> str:
    """Refund an order. A person approves every refund before it is made."""
    refunds_made.append(order_id)
    return f"refunded {amount:.2f} EUR on order {order_id}"


refund_agent = Agent(
    name="Refund Desk",
    instructions="You handle refund requests. Look the order up, then refund its full amount.",
    tools=[lookup_order, issue_refund],
    model="gpt-4o-mini",
)


@stead.workflow
async def refund_desk(request: str) -> str:
    """Handle one refund request; the refund itself waits for a person's approval."""
    result = await Runner.run(refund_agent, request)
    return str(result.final_output)
