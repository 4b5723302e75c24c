"""Workflows for the dashboard tests: one that streams tokens and waits, one that fails until its bug is fixed."""

from __future__ import annotations

import asyncio
import os

from agents import Agent, ModelSettings, Runner

import stead
from stead.testing import FakeRequest, Reply, Text, Usage


@stead.step
async def speak(words: list[str]) -> str:
    for word in words:
        stead.emit("text", word + " ")
    return " ".join(words)


@stead.workflow
async def chatty(words: list[str]) -> str:
    """Streams ``words`` as tokens, then waits for the message ``go``."""
    said = await speak(words)
    reply = await stead.wait_for("go")
    return f"{said} / {reply}"


#: Bugs fixed so far (the test fixes one while its run is failed).
fixed: set[str] = set()


@stead.step(retry=stead.RetryPolicy(max_attempts=2, initial_interval=0.01))
async def check(flag: str) -> str:
    if flag not in fixed:
        raise RuntimeError(f"bug {flag} is not fixed yet")
    return "fixed"


@stead.workflow
async def flaky(flag: str) -> str:
    """Fails until ``flag`` is in ``fixed`` (a bug fixed while the run is failed)."""
    return await check(flag)


#: Gates the storyteller's attempts wait on, so that a test watches its tokens arrive before it goes on.
gates: dict[int, asyncio.Event] = {}
attempts_told: list[int] = []


@stead.step(retry=stead.RetryPolicy(max_attempts=3, initial_interval=0.01))
async def tell(topic: str) -> str:
    attempt = len(attempts_told) + 1
    attempts_told.append(attempt)
    words = ["Once", "upon", "a", "time,"] if attempt == 1 else ["A", "short", "story", "about", topic + "."]
    for word in words:
        stead.emit("text", word + " ")
    await gates.setdefault(attempt, asyncio.Event()).wait()
    if attempt == 1:
        raise ConnectionError("the provider dropped the connection")
    return " ".join(words)


@stead.workflow
async def storyteller(topic: str) -> str:
    """Streams a story; its first attempt breaks off (its tokens are retracted), the second finishes."""
    return await tell(topic)


@stead.step
async def recite(words: list[str]) -> str:
    for word in words:
        stead.emit("text", word + " ")
    if os.environ.get("STEAD_UI_HANG"):
        await asyncio.Event().wait()  # a worker that hangs mid-step until it is killed
    return " ".join(words)


@stead.workflow
async def teller(words: list[str]) -> str:
    """Streams ``words``; with ``STEAD_UI_HANG`` set, its worker hangs after streaming them."""
    return await recite(words)


#: A key sent as a model request header: the journal has it in the request's settings, no page may show it.
HEADER_KEY = "sk-ui-test-" + "k3y" * 8


def frugal_script(request: FakeRequest) -> Reply:
    return Reply(Text("Short answer."), usage=Usage(100, 7))


@stead.workflow
async def frugal(question: str) -> str:
    """One model call under a budget of tokens and cost."""
    stead.budget(max_tokens=1_000, max_cost_usd=0.01)
    agent = Agent(
        name="Frugal",
        instructions="Answer in two words.",
        model="gpt-4o-mini",
        model_settings=ModelSettings(temperature=0.2, extra_headers={"X-Api-Key": HEADER_KEY}),
    )
    return str((await Runner.run(agent, question)).final_output)


WORKER = """
import asyncio, sys
import stead
from tests.ui import ui_app

async def main():
    async with stead.connect(sys.argv[1]) as engine:
        await engine.worker([ui_app.teller], run_ids=[sys.argv[2]]).run()

asyncio.run(main())
"""
