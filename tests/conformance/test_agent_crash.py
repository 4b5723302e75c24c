"""kill -9 of a worker in the middle of a model call or a tool call of the deep-research example, then resume.

The fake model server runs in the test process, so it counts every model call across the worker's lifetimes.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

import stead
from stead.testing import FakeOpenAIServer, FakeRequest, HangingResponder
from stead.testing._offline import load_offline_script
from stead.testing.pytest import FakeModels

from ..procs import APPS, ROOT, kill9, log_counts, read_until, run_json, start

pytestmark = pytest.mark.slow

APP = f"{APPS / 'research_app.py'}:deep_research"
QUERY = "Are heat pumps worth it in a cold climate?"
ANSWERS = json.dumps(["A 1970s house near Oslo", "Running costs", "A gas boiler"])


def request_keys(requests: list[FakeRequest]) -> Counter[str]:
    return Counter(
        json.dumps([r.instructions, r.input_text, [o.output for o in r.tool_outputs]]) for r in requests
    )


async def settled_journal(engine: stead.Engine, run_id: str) -> list[stead.StepInfo]:
    """The journal once what the killed worker had already sent has arrived (on Temporal a completion can reach
    the server a moment after the kill; the embedded engine is settled at once)."""
    previous = await engine.steps(run_id)
    for _ in range(25):
        await asyncio.sleep(0.2)
        current = await engine.steps(run_id)
        if [(s.position, s.status) for s in current] == [(s.position, s.status) for s in previous]:
            return current
        previous = current
    return previous


@pytest.fixture
def models() -> Iterator[HangingResponder]:
    """The example's offline script; the test chooses a request to hang (the first time) until released."""
    hanging = HangingResponder(load_offline_script(ROOT / "examples" / "deep_research" / "offline.json"))
    yield hanging
    hanging.release()  # before fake_openai stops the server, which waits for the hanging request


@pytest.fixture
def server(fake_openai: FakeModels, models: HangingResponder) -> FakeOpenAIServer:
    return fake_openai(models)


@pytest.mark.parametrize("where", ["model:2", "model:6", "tool:1", "tool:3"])
async def test_crash_during_a_model_or_tool_call_then_resume(
    engine_url: str, tmp_path: Path, models: HangingResponder, server: FakeOpenAIServer, where: str
) -> None:
    kind, _, nth = where.partition(":")
    env = {"OPENAI_BASE_URL": server.base_url, "OPENAI_API_KEY": "test", "STEAD_TEST_LOG": ""}

    reference = run_json(
        engine_url,
        "run",
        APP,
        QUERY,
        "-k",
        f"answers={ANSWERS}",
        "--run-id",
        "reference",
        **{**env, "STEAD_TEST_LOG": str(tmp_path / "reference.log")},
    )
    reference_requests = len(server.requests)
    assert reference["status"] == "completed"

    log = tmp_path / "effects.log"
    env["STEAD_TEST_LOG"] = str(log)
    first = len(server.requests)
    if kind == "model":
        models.count, models.hang_at = 0, int(nth)
        proc = start(engine_url, "run", APP, QUERY, "-k", f"answers={ANSWERS}", "--run-id", "crashy", **env)
        assert await asyncio.to_thread(models.reached.wait, 60), "the worker never made that model call"
    else:
        proc = start(
            engine_url,
            "run",
            APP,
            QUERY,
            "-k",
            f"answers={ANSWERS}",
            "--run-id",
            "crashy",
            CRASH_TOOL=nth,
            **env,
        )
        await asyncio.to_thread(read_until, proc, "CRASH-POINT")
    kill9(proc)  # reaped: everything it sent is in the server's sockets or its listen queue
    models.release()
    await asyncio.to_thread(server.wait_idle, 60)  # the killed worker's parallel requests have all arrived
    at_kill = len(server.requests)
    tools_at_kill = log_counts(log)
    engine = stead.connect(engine_url)
    try:
        journal = await settled_journal(engine, "crashy")
    finally:
        await engine.close()
    recorded_models = sum(1 for s in journal if s.kind == "model" and s.status == "done")
    recorded_tools = sum(1 for s in journal if s.kind == "tool" and s.status == "done")

    resumed = run_json(engine_url, "resume", "crashy", **env)
    assert resumed["status"] == "completed"
    assert resumed["result"] == reference["result"], "the report differs from an uninterrupted run's"

    # The resumed worker asks the model only what the journal did not hold: no finished call twice. (What it did
    # hold may be undercounted on Temporal, where a completion sent just before the kill can still be on its way
    # when the journal is read; the equal report above shows nothing was skipped.)
    after = server.requests[at_kill:]
    assert len(after) <= reference_requests - recorded_models
    assert 1 <= recorded_models < reference_requests
    recorded_keys = request_keys(server.requests[first:at_kill])
    for key in request_keys(after):
        assert recorded_keys[key] <= 1  # at most the in-flight call, which never reached the journal
    tools = log_counts(log)
    tool_total = sum(
        v for k, v in log_counts(tmp_path / "reference.log").items() if k.startswith("tool done")
    )
    executed_after = sum(v for k, v in tools.items() if k.startswith("tool start")) - sum(
        v for k, v in tools_at_kill.items() if k.startswith("tool start")
    )
    assert executed_after <= tool_total - recorded_tools, "a finished tool call ran again"
    assert sum(v for k, v in tools.items() if k.startswith("tool done")) >= tool_total, (
        "a tool call was skipped"
    )
