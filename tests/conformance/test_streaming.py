"""Streaming: tokens reach consumers outside the worker, tagged by attempt; replays stream nothing again."""

from __future__ import annotations

import asyncio

import pytest

import stead
from stead.testing import DropMidStream, Reply, Slow, Text
from stead.testing.pytest import FakeModels

from ..apps.stream_app import storyteller
from ..procs import APPS, kill9, run_json, start

STORY = "Once upon a time a small robot learned to paint the sea at dawn."


def text_of(events: list[stead.RunEvent]) -> str:
    """What a careful consumer shows: the text of each step's last attempt only."""
    kept: dict[str, tuple[int, list[str]]] = {}
    for event in events:
        attempt, parts = kept.get(event.position, (0, []))
        if event.attempt > attempt or event.kind == "attempt_failed":
            parts = []  # a newer attempt (or a failed one) voids what came before
        if event.kind == "text":
            parts.append(event.data)
        kept[event.position] = (max(attempt, event.attempt), parts)
    return "".join("".join(parts) for _, parts in kept.values())


async def consume(engine: stead.Engine, run_id: str) -> list[stead.RunEvent]:
    return [event async for event in engine.events(run_id)]


async def test_tokens_stream_to_a_consumer_outside_the_workflow(
    engine: stead.Engine, fake_openai: FakeModels
) -> None:
    fake_openai([Reply(Text(STORY))])
    handle = await engine.start(storyteller, "a robot")
    consumer = asyncio.create_task(consume(engine, handle.run_id))
    async with engine.worker([storyteller]):
        assert await handle.result(timeout=30) == STORY
    events = await asyncio.wait_for(consumer, 30)
    texts = [e for e in events if e.kind == "text"]
    assert len(texts) > 3, "the story arrived in one piece, not as tokens"
    assert "".join(e.data for e in texts) == STORY
    assert [e.kind for e in events][0] == "attempt_started" and events[-1].kind == "step_done"
    assert events[0].data["summary"] == "model · Storyteller · gpt-4o-mini"


async def test_a_retried_call_marks_the_failed_attempts_tokens(
    engine: stead.Engine, fake_openai: FakeModels
) -> None:
    fake_openai([DropMidStream(6, Reply(Text(STORY))), Reply(Text(STORY))])
    handle = await engine.start(storyteller, "a robot")
    async with engine.worker([storyteller]):
        assert await handle.result(timeout=30) == STORY
    events = await consume(engine, handle.run_id)
    first = [e for e in events if e.attempt == 1]
    assert first[-1].kind == "attempt_failed"
    # Partial output of the dropped attempt.
    assert "".join(e.data for e in first if e.kind == "text") != STORY
    assert "".join(e.data for e in events if e.attempt == 2 and e.kind == "text") == STORY
    assert text_of(events) == STORY


failing_once = {"armed": False}


@stead.workflow
async def story_then_fail(prompt: str) -> str:
    story = await storyteller(prompt)
    if failing_once["armed"]:
        failing_once["armed"] = False
        raise RuntimeError("fail after the story")
    return story


async def test_a_replay_streams_nothing_again(engine: stead.Engine, fake_openai: FakeModels) -> None:
    fake_openai([Reply(Text(STORY))])
    failing_once["armed"] = True
    handle = await engine.start(story_then_fail, "a robot")
    async with engine.worker([story_then_fail]):
        with pytest.raises(stead.RunFailed):
            await handle.result(timeout=30)
        before = await consume(engine, handle.run_id)
        await engine.reopen(handle.run_id)
        assert await handle.result(timeout=30) == STORY
    assert await consume(engine, handle.run_id) == before


@pytest.mark.slow
async def test_crash_in_the_middle_of_a_streamed_call(engine_url: str, fake_openai: FakeModels) -> None:
    server = fake_openai([Slow(0, Reply(Text(STORY)), chunk_delay=0.3), Reply(Text(STORY))])
    env = {"OPENAI_BASE_URL": server.base_url, "OPENAI_API_KEY": "test"}
    engine = stead.connect(engine_url)
    try:
        await engine.start(storyteller, "a robot", run_id="story", source=str(APPS / "stream_app.py"))
        proc = start(engine_url, "resume", "story", **env)
        async for event in engine.events("story"):
            if event.kind == "text":
                break  # the worker is in the middle of the stream
        kill9(proc)
        resumed = run_json(engine_url, "resume", "story", **env)
        assert resumed["result"] == STORY
        events = await consume(engine, "story")
    finally:
        await engine.close()
    assert {e.attempt for e in events if e.kind == "text"} == {1, 2}
    assert text_of(events) == STORY
    assert len(server.requests) == 2
