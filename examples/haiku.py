"""The smallest durable agent: one agent, one model call, journaled.

Run it against OpenAI (or any OpenAI-compatible server: set OPENAI_BASE_URL, and STEAD_OPENAI_API=responses|chat
to pick the API)::

    OPENAI_API_KEY=sk-... stead run examples/haiku.py:haiku "Tell me about recursion"

Run it offline, against stead's fake model server playing the canned replies of ``haiku.offline.json`` (no key,
no network)::

    stead run --offline examples/haiku.py:haiku "Tell me about recursion"

Then look at the journal: ``stead show RUN_ID`` lists one step, ``model · Assistant · gpt-4o-mini``. Run it again
with the same ``--run-id`` (or ``stead resume RUN_ID`` after a crash) and the model is not asked twice.
"""

from __future__ import annotations

from agents import Agent, Runner

import stead

assistant = Agent(
    name="Assistant",
    instructions="You only respond in haikus.",
    model="gpt-4o-mini",
)


@stead.workflow
async def haiku(prompt: str) -> str:
    """Answer ``prompt`` with a haiku."""
    result = await Runner.run(assistant, prompt)
    return str(result.final_output)
