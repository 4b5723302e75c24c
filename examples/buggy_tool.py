"""A tool with a bug stops the run at that step; fix the code and ``stead resume`` continues from there.

The agent splits a bill with ``split_bill``. The first version of the tool divides by the number of people
without checking it: asked to split among 0 people, it raises ``ZeroDivisionError``. Under the plain SDK the model
would get "An error occurred while running the tool" and try again, and again. Under stead a bug in a tool stops
the run at that step, with the traceback, and nothing after it runs::

    stead run --offline examples/buggy_tool.py:split "Split 120 EUR among 0 people" --run-id bill
    stead show bill          # the failed step, tool · split_bill, and its traceback

Fix the bug (here the fixed code is switched on with an environment variable, standing in for your edit) and
resume: the model call before the tool is replayed from the journal, the tool runs again with the new code::

    BUGGY_TOOL_FIXED=1 stead resume bill --offline
"""

from __future__ import annotations

import os

from agents import Agent, Runner, function_tool

import stead


@function_tool
def split_bill(amount: float, people: int) -> str:
    """Split a bill of ``amount`` among ``people`` people."""
    if os.environ.get("BUGGY_TOOL_FIXED") and people <= 0:  # the fix
        return "nobody to split the bill with: ask how many people there are"
    return f"{amount / people:.2f} each"  # the bug: people may be 0


splitter = Agent(
    name="Splitter",
    instructions="You split bills. Use split_bill.",
    tools=[split_bill],
    model="gpt-4o-mini",
)


@stead.workflow
async def split(request: str) -> str:
    """Split the bill ``request`` describes."""
    result = await Runner.run(splitter, request)
    return str(result.final_output)
