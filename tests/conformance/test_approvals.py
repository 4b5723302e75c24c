"""Tools that need a person's approval pause the run durably; approve/reject continue it, also after a crash."""

from __future__ import annotations

import asyncio
import subprocess
from typing import Any

import pytest

import stead
from stead.agents import approve, reject
from stead.testing import FakeOpenAIServer, FakeRequest, Reply, Text, ToolCall
from stead.testing.pytest import FakeModels

from ..apps.approval_app import refunds, support
from ..procs import APPS, close, log_counts, read_until, run_json, start, stead_cmd
from ..procs import env as proc_env

pytestmark = pytest.mark.asyncio


def respond(request: FakeRequest) -> Reply:
    if request.last_tool_outputs:
        return Reply(Text(f"Done: {request.last_tool_outputs[-1].output}"))
    return Reply(ToolCall("refund", {"order_id": "A17", "amount": 25.0}, call_id="call_refund_1"))


@pytest.fixture
def server(fake_openai: FakeModels) -> FakeOpenAIServer:
    refunds.clear()
    return fake_openai(respond)


@stead.workflow
async def waits_for_a_message() -> Any:
    return await stead.wait_for("go")


async def waiting_for_approval(engine: stead.Engine, run_id: str) -> stead.RunInfo:
    info = await engine.wait(run_id, 20, until="waiting")
    if not info.waiting_for:
        raise AssertionError(f"the run never waited for an approval: it {info.status}")
    return info


async def test_approve_runs_the_tool_once(engine: stead.Engine, server: FakeOpenAIServer) -> None:
    handle = await engine.start(support, "Please refund order A17, it arrived broken.")
    async with engine.worker([support]):
        info = await waiting_for_approval(engine, handle.run_id)
        assert info.waiting_for == ["approval:call_refund_1"]
        assert info.state["approvals"] == [
            {
                "call_id": "call_refund_1",
                "tool": "refund",
                "arguments": '{"order_id": "A17", "amount": 25.0}',
                "agent": "Support",
            }
        ]
        assert refunds == []
        await approve(engine, handle.run_id, "call_refund_1")
        assert await handle.result(timeout=30) == "Done: refunded 25.00 on order A17"
    assert refunds == ["A17"]
    assert (await engine.get(handle.run_id)).state["approvals"] == []
    assert len(server.requests) == 2


async def test_reject_tells_the_model_and_skips_the_tool(
    engine: stead.Engine, server: FakeOpenAIServer
) -> None:
    handle = await engine.start(support, "Refund A17 twice please.")
    async with engine.worker([support]):
        await waiting_for_approval(engine, handle.run_id)
        await reject(engine, handle.run_id, "call_refund_1", message="Refunds over 20 need a manager.")
        assert await handle.result(timeout=30) == "Done: Refunds over 20 need a manager."
    assert refunds == []


async def test_a_decision_on_a_call_the_run_does_not_wait_for_is_refused(
    engine: stead.Engine, server: FakeOpenAIServer
) -> None:
    handle = await engine.start(support, "Please refund order A17.")
    async with engine.worker([support]):
        await waiting_for_approval(engine, handle.run_id)
        with pytest.raises(stead.UsageError, match="waits for approval of call_refund_1, not call_other"):
            await approve(engine, handle.run_id, "call_other")
        with pytest.raises(stead.UsageError, match="waits for approval of call_refund_1, not call_other"):
            await reject(engine, handle.run_id, "call_other")
        await approve(engine, handle.run_id, "call_refund_1")
        assert await handle.result(timeout=30) == "Done: refunded 25.00 on order A17"
    assert refunds == ["A17"]


async def test_a_decision_is_refused_while_the_run_waits_for_another_message(engine: stead.Engine) -> None:
    handle = await engine.start(waits_for_a_message)
    async with engine.worker([waits_for_a_message]):
        info = await waiting_for_approval(engine, handle.run_id)
        assert info.waiting_for == ["go"]
        with pytest.raises(stead.UsageError, match="waits for go, not for the approval of a tool call"):
            await approve(engine, handle.run_id, "call_refund_1")
        with pytest.raises(stead.UsageError, match="call call_refund_1 is not one it will read"):
            await reject(engine, handle.run_id, "call_refund_1", message="no")
        await engine.send(handle.run_id, "go", "went")
        assert await handle.result(timeout=30) == "went"


async def test_the_second_of_two_interrupted_calls_may_be_decided_first(
    engine: stead.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    def two_refunds(request: FakeRequest) -> Reply:
        if request.last_tool_outputs:
            return Reply(Text("Done: " + "; ".join(o.output for o in request.last_tool_outputs)))
        return Reply(
            ToolCall("refund", {"order_id": "A17", "amount": 25.0}, call_id="call_a"),
            ToolCall("refund", {"order_id": "B2", "amount": 5.0}, call_id="call_b"),
        )

    srv = FakeOpenAIServer(two_refunds).start()
    monkeypatch.setenv("OPENAI_BASE_URL", srv.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "test")
    refunds.clear()
    try:
        handle = await engine.start(support, "Refund A17 and B2.")
        async with engine.worker([support]):
            info = await waiting_for_approval(engine, handle.run_id)
            assert info.waiting_for == ["approval:call_a"]  # one at a time, in the model's order
            assert [p["call_id"] for p in info.state["approvals"]] == ["call_a", "call_b"]
            await reject(engine, handle.run_id, "call_b", message="not B2")
            await approve(engine, handle.run_id, "call_a")
            result = await handle.result(timeout=30)
    finally:
        srv.stop()
    assert result == "Done: refunded 25.00 on order A17; not B2"
    assert refunds == ["A17"]


@pytest.mark.slow
async def test_crash_while_waiting_for_approval(
    engine_url: str, tmp_path: Any, server: FakeOpenAIServer
) -> None:
    log = tmp_path / "effects.log"
    env = {"OPENAI_BASE_URL": server.base_url, "OPENAI_API_KEY": "test", "STEAD_TEST_LOG": str(log)}
    app = str(APPS / "approval_app.py")
    engine = stead.connect(engine_url)
    try:
        handle = await engine.start(support, "Please refund order A17.", run_id="refund-a17", source=app)
        first = start(engine_url, "worker", app, **env)
        await asyncio.to_thread(read_until, first, "serving")
        await waiting_for_approval(engine, handle.run_id)
        first.kill()  # SIGKILL: the worker dies while the run waits for a person
        first.wait()
        close(first)
        requests_before = len(server.requests)
        wrong = await asyncio.to_thread(
            subprocess.run,
            stead_cmd(engine_url, "approve", "refund-a17", "call_other"),
            capture_output=True,
            text=True,
            env=proc_env(**env),
        )
        assert wrong.returncode == 2 and "waits for approval of call_refund_1" in wrong.stderr
        done = await asyncio.to_thread(
            subprocess.run,
            stead_cmd(engine_url, "approve", "refund-a17", "call_refund_1"),
            capture_output=True,
            text=True,
            env=proc_env(**env),
        )
        assert done.returncode == 0, done.stderr
        resumed = run_json(engine_url, "resume", "refund-a17", **env)
    finally:
        await engine.close()
    assert resumed["result"] == "Done: refunded 25.00 on order A17"
    assert log_counts(log)["refund A17"] == 1
    assert len(server.requests) == requests_before + 1, "the model call before the approval was repeated"
