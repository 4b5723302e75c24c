"""The shared rate limiter: its algorithm, its SQLite records, and model calls of many runs under one limit."""

from __future__ import annotations

import asyncio
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from agents import Agent, OpenAIResponsesModel, Runner
from openai import AsyncOpenAI

import stead
from stead._limits import Limit, LimitState, RecordLimiter, parse_limits, reserve, settle
from stead.engines.sqlite._store import SqliteStore
from stead.testing import FakeOpenAIServer, ProviderLimit

from .procs import track


def test_calls_within_the_burst_go_at_once_and_the_next_waits_for_the_refill() -> None:
    limit = Limit(requests=4, period=2.0)
    state = LimitState()
    for _ in range(3):
        state, first = reserve(state, limit, 100.0, 0, "a")
        assert first.booked and first.wait == 0
    state, late = reserve(state, limit, 100.0, 0, "a")
    assert not late.booked and late.reason == "requests"
    # The slack (0.5 s, for the lag between booking and arrival) keeps the fourth call of the burst back a while.
    assert late.wait == pytest.approx(0.5, abs=0.01)


def test_reported_usage_gives_back_what_the_estimate_overbooked() -> None:
    limit = Limit(tokens=1000, period=10.0)
    state, first = reserve(LimitState(), limit, 0.0, 900, "a")
    assert first.booked
    _, refused = reserve(state, limit, 0.0, 500, "b")
    assert not refused.booked and refused.reason == "tokens"
    state = settle(state, limit, 0.0, "a", estimated=900, actual=100, retry_after=None, limited=False)
    _, fits = reserve(state, limit, 0.0, 500, "b")
    assert fits.booked


def test_retry_after_blocks_the_key_and_a_429_halves_the_concurrency_window() -> None:
    limit = Limit()
    state, ok = reserve(LimitState(window=4), limit, 0.0, 10, "a")
    assert ok.booked
    state = settle(state, limit, 1.0, "a", estimated=10, actual=None, retry_after=3.0, limited=True)
    assert state.window == 2 and not state.leases
    _, blocked = reserve(state, limit, 2.0, 10, "b")
    assert not blocked.booked and blocked.reason == "retry-after" and blocked.wait == pytest.approx(2.0)
    for lease in ("b", "c"):
        state, booked = reserve(state, limit, 5.0, 10, lease)
        assert booked.booked
    _, full = reserve(state, limit, 5.0, 10, "d")
    assert not full.booked and full.reason == "concurrency"
    grown = settle(state, limit, 5.0, "b", estimated=10, actual=10, retry_after=None, limited=False)
    assert grown.window == pytest.approx(2.5)


def test_a_429_brings_a_record_that_was_too_full_down_to_the_providers_bucket() -> None:
    # The record believes in room for three calls; the provider answers the first with a 429 and Retry-After
    # 0.5 s: once that has passed one call fits, not three.
    limit = Limit(requests=None, tokens=1000.0, period=10.0)
    state = LimitState(token_tat=100.0 - 10.0 + 0.5 + 3 * 100 * 10.0 / 1000.0)  # at t=100: room for 3 x 100
    state, first = reserve(state, limit, 100.0, 100, "a")
    assert first.booked
    state = settle(state, limit, 100.1, "a", estimated=100, actual=None, retry_after=0.5, limited=True)
    state, blocked = reserve(state, limit, 100.3, 100, "b")
    assert not blocked.booked and blocked.reason == "retry-after"
    state, again = reserve(state, limit, 100.6, 100, "a")
    assert again.booked
    _, second = reserve(state, limit, 100.6, 100, "b")
    assert not second.booked and second.reason == "tokens"
    assert second.wait == pytest.approx(100 * 10.0 / 1000.0)


def test_limits_parse_from_text_and_bad_text_says_what_to_write() -> None:
    limits = parse_limits("gpt-4o-mini=60rpm,20000tpm,per10s; *=500rpm")
    assert limits["gpt-4o-mini"] == Limit(60, 20000, 10.0)
    assert limits["*"] == Limit(500, None, 60.0)
    with pytest.raises(stead.UsageError, match="60rpm"):
        parse_limits("gpt-4o-mini=lots")


def test_the_records_are_shared_by_every_connection_to_the_file(tmp_path: Path) -> None:
    first, second = SqliteStore(str(tmp_path / "s.db")), SqliteStore(str(tmp_path / "s.db"))
    limit = Limit(requests=2, period=60.0)
    try:
        assert first.update_limit("m", lambda s: reserve(s, limit, 0.0, 0, "a")).booked
        assert not second.update_limit("m", lambda s: reserve(s, limit, 0.0, 0, "b")).booked
    finally:
        first.close()
        second.close()


_HOLD_A_SLOT = """
import asyncio, sys, time
from stead._limits import Limit, RecordLimiter
from stead.engines.sqlite._store import SqliteStore

async def main() -> None:
    limiter = RecordLimiter(SqliteStore(sys.argv[1]))
    booked = await limiter.reserve("m", Limit(), 0.0, "held")
    print("booked" if booked.booked else "refused", flush=True)
    await asyncio.Event().wait()  # the call in flight, until the kill

asyncio.run(main())
"""


async def test_a_concurrency_slot_of_a_killed_process_is_given_back_at_once(tmp_path: Path) -> None:
    db = str(tmp_path / "s.db")
    store = SqliteStore(db)
    limiter = RecordLimiter(store)
    try:
        # Without a configured limit the AIMD window decides: 429s have shrunk it to one call at a time.
        store.update_limit("m", lambda s: (replace(s, window=1.0), None))
        holder = track(
            await asyncio.create_subprocess_exec(
                sys.executable, "-c", _HOLD_A_SLOT, db, stdout=asyncio.subprocess.PIPE, start_new_session=True
            )
        )
        assert holder.stdout is not None
        assert await holder.stdout.readline() == b"booked\n"
        refused = await limiter.reserve("m", Limit(), 0.0, "mine")
        assert not refused.booked and refused.reason == "concurrency"  # the other process holds the slot

        holder.kill()  # kill -9 in the middle of its call: it never gives the slot back
        await holder.wait()
        assert (await limiter.reserve("m", Limit(), 0.0, "mine")).booked
    finally:
        store.close()


_client: list[AsyncOpenAI] = []


@stead.workflow
async def ask(i: int) -> str:
    agent: Agent[Any] = Agent(name="Ask", model=OpenAIResponsesModel("limited-model", _client[0]))
    return str((await Runner.run(agent, f"question {i}")).final_output)


async def test_runs_under_the_shared_limit_get_no_429_and_say_they_wait(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STEAD_RATE_LIMITS", "limited-model=3rpm,per1s")
    with FakeOpenAIServer(lambda r: "an answer", limit=ProviderLimit(3, None, 1.0)) as server:
        _client[:] = [AsyncOpenAI(base_url=server.base_url, api_key="fake", max_retries=0)]
        engine = stead.connect(f"sqlite:///{tmp_path}/stead.db")
        try:
            handles = [await engine.start(ask, i) for i in range(6)]
            async with engine.worker([ask], concurrency=6):
                for handle in handles:
                    assert await handle.result(timeout=60) == "an answer"
            kinds = [e.kind for h in handles async for e in engine.events(h.run_id, follow=False)]
        finally:
            await engine.close()
            await _client[0].close()
        assert server.rate_limited == 0
        assert len(server.requests) == 6
        assert "rate_limited" in kinds
