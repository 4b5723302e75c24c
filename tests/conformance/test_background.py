"""No token paid twice: kill -9 of a worker while a background-mode model call is in flight, then resume.

The worker asks in OpenAI's background mode (``STEAD_MODEL_BACKGROUND=1``); the fake server keeps the chosen
call's response in progress until the test lets it finish, after the kill. The resumed worker picks that
response up instead of asking again: the server saw one create request for the call.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from agents import Agent, Runner

import stead
from stead.agents import MODEL_CALLS
from stead.testing import DropMidStream, FakeOpenAIServer, FakeRequest, Gated, Reply, ReplyLike, Text
from stead.testing._offline import load_offline_script
from stead.testing.pytest import FakeModels

from ..procs import APPS, ROOT, kill9, run_json, start

APP = f"{APPS / 'research_app.py'}:deep_research"
QUERY = "Are heat pumps worth it in a cold climate?"
ANSWERS = json.dumps(["A 1970s house near Oslo", "Running costs", "A gas boiler"])
STORY = "Once upon a time a small robot learned to paint the sea at dawn."


class GateAt:
    """Answers as the example's offline script does; the ``at``-th request's response waits for ``gate``."""

    def __init__(self) -> None:
        self.script = load_offline_script(ROOT / "examples" / "deep_research" / "offline.json")
        self.at: int | None = None
        self.count = 0
        self.gate = threading.Event()
        self.request: FakeRequest | None = None
        self.reached = threading.Event()
        self._lock = threading.Lock()

    def __call__(self, request: FakeRequest) -> ReplyLike:
        with self._lock:
            self.count += 1
            hit = self.count == self.at
        reply: ReplyLike = self.script(request)
        if not hit:
            return reply
        self.request = request
        self.reached.set()
        return Gated(self.gate, reply)


def key(request: FakeRequest) -> str:
    return json.dumps([request.instructions, request.input_text, [o.output for o in request.tool_outputs]])


async def accepted(engine: stead.Engine, run_id: str, server: FakeOpenAIServer, gated: GateAt) -> str:
    """The response id of the gated call, once the run's worker has kept it (its ``background`` event)."""
    async for event in engine.events(run_id):
        if event.kind != "background" or gated.request is None:
            continue
        made = server.background.requests
        response_id = str(event.data["response_id"])
        if response_id in made and made[response_id].index == gated.request.index:
            return response_id
    raise AssertionError("the run ended without a background model call")


@pytest.mark.slow
@pytest.mark.timeout(360)
@pytest.mark.parametrize("nth", [1, 3])
async def test_kill_during_a_background_model_call_then_resume(
    engine_url: str, fake_openai: FakeModels, nth: int, tmp_path: Path
) -> None:
    gated = GateAt()
    server = fake_openai(gated)
    env = {
        "OPENAI_BASE_URL": server.base_url,
        "OPENAI_API_KEY": "sk-test-secret-key",
        "STEAD_TEST_LOG": str(tmp_path / "effects.log"),
        "STEAD_MODEL_BACKGROUND": "1",
        "STEAD_OPENAI_API": "responses",
    }
    args = ("run", APP, QUERY, "-k", f"answers={ANSWERS}")
    reference = run_json(engine_url, *args, "--run-id", "reference", **env)
    assert reference["status"] == "completed"
    assert all(r.body.get("background") is True for r in server.requests), "background mode was not asked for"

    first = len(server.requests)
    gated.count, gated.at = 0, nth
    proc = start(engine_url, *args, "--run-id", "crashy", **env)
    assert await asyncio.to_thread(gated.reached.wait, 120), "the worker never made that model call"
    engine = stead.connect(engine_url)
    try:
        response_id = await accepted(engine, "crashy", server, gated)
        kill9(proc)
        gated.gate.set()  # the provider finishes the response while no worker is there
        polled_before = server.background.retrievals[response_id]
        resumed = run_json(engine_url, "resume", "crashy", **env)
        steps = await engine.steps("crashy")
    finally:
        await engine.close()
    assert resumed["status"] == "completed"
    assert resumed["result"] == reference["result"], "the report differs from an uninterrupted run's"

    assert gated.request is not None
    creates = [r for r in server.requests[first:] if key(r) == key(gated.request)]
    assert len(creates) == 1, f"the in-flight call was sent {len(creates)} times"
    assert server.background.retrievals[response_id] > polled_before, "the resumed worker never picked it up"
    assert len(server.requests) - first == len(server.requests[:first]), "a call was asked twice or skipped"
    dumped = json.dumps([s.attributes.to_json() for s in steps]) + json.dumps(resumed)
    assert "sk-test-secret-key" not in dumped


@stead.workflow
async def story(prompt: str) -> str:
    agent = Agent(name="Storyteller", instructions="Tell a story.", model="gpt-4o-mini")
    return str((await Runner.run(agent, prompt)).final_output)


@pytest.fixture
def background_mode() -> Iterator[None]:
    saved = MODEL_CALLS.background, MODEL_CALLS.background_poll
    MODEL_CALLS.background, MODEL_CALLS.background_poll = True, 0.1
    yield
    MODEL_CALLS.background, MODEL_CALLS.background_poll = saved


async def test_a_retry_picks_up_the_response_the_provider_accepted(
    engine: stead.Engine, fake_openai: FakeModels, background_mode: None
) -> None:
    # The stream drops after the provider accepted the request; the response goes on there.
    server = fake_openai([DropMidStream(3, Reply(Text(STORY))), Reply(Text("asked twice"))], api="responses")
    handle = await engine.start(story, "a robot")
    async with engine.worker([story]):
        assert await handle.result(timeout=60) == STORY
    assert len(server.requests) == 1, "the retry asked the model again"
    [response_id] = server.background.requests
    assert server.background.retrievals[response_id] >= 1
    [step] = [s for s in await engine.steps(handle.run_id) if s.kind == "model"]
    assert step.attempts == 2
