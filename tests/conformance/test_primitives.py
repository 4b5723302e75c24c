"""What porting code reaches for: the run id, random draws that replay, exit(), requests (both engines)."""

from __future__ import annotations

import asyncio
import sys
from collections import Counter
from typing import Any

import pytest
from agents import Agent, Runner, function_tool

import stead
from stead.testing import FakeRequest, Reply, Text, ToolCall
from stead.testing.pytest import FakeModels

_first_execution: dict[str, Any] = {}
_allowed = asyncio.Event()


@stead.step
async def seen_in_step() -> str:
    return stead.run_id()


@stead.step
async def remember(values: dict[str, Any]) -> None:
    _first_execution.setdefault(stead.run_id(), values)


@stead.workflow
async def draws() -> dict[str, Any]:
    rng = stead.Random()
    values = {
        "run_id": stead.run_id(),
        "in_step": await seen_in_step(),
        "random": stead.random(),
        "choice": rng.choice("abcdefghijklmnopqrstuvwxyz"),
        "randint": rng.randint(0, 10**9),
        "sample": rng.sample(range(1000), 5),
        "seeded": stead.Random(42).random(),
    }
    await remember(values)
    if not _allowed.is_set():
        raise RuntimeError("stop after the first execution")
    return values


async def test_run_id_and_random_draws_replay(engine: stead.Engine) -> None:
    _allowed.clear()
    handle = await engine.start(draws, run_id="draws-1")
    async with engine.worker([draws]):
        with pytest.raises(stead.RunFailed):
            await handle.result(timeout=20)
    _allowed.set()
    await engine.reopen(handle.run_id)
    async with engine.worker([draws]):
        replayed = await handle.result(timeout=20)
    assert replayed == _first_execution["draws-1"]
    assert replayed["run_id"] == replayed["in_step"] == "draws-1"
    other = await engine.start(draws, run_id="draws-2")
    async with engine.worker([draws]):
        fresh = await other.result(timeout=20)
    assert fresh["randint"] != replayed["randint"] and fresh["random"] != replayed["random"]
    assert fresh["seeded"] == replayed["seeded"]  # an explicit seed is the user's: plain random.Random


def test_run_id_outside_a_run_says_where_it_works() -> None:
    with pytest.raises(stead.UsageError, match="only inside a run"):
        stead.run_id()


# -- exit() in workflow code ------------------------------------------------------------------------------------


@stead.step
async def before_exit() -> int:
    return 1


async def exits_in_a_task(code: int) -> None:
    await before_exit()
    sys.exit(code)


@stead.workflow
async def calls_exit(where: str) -> str:
    await before_exit()
    if where == "root":
        exit(3)
    if where == "gather":
        await asyncio.gather(exits_in_a_task(4), before_exit())
    if where == "taskgroup":
        async with asyncio.TaskGroup() as group:
            group.create_task(exits_in_a_task(5))
    try:
        sys.exit()
    except Exception:  # noqa: BLE001 - as in plain Python, `except Exception` does not catch SystemExit
        return "caught"
    return "unreachable"


@pytest.mark.parametrize(
    ("where", "called"), [("root", "exit(3)"), ("gather", "exit(4)"), ("taskgroup", "exit(5)")]
)
async def test_exit_in_workflow_code_fails_the_run_and_spares_the_worker(
    engine: stead.Engine, where: str, called: str
) -> None:
    handle = await engine.start(calls_exit, where)
    plain = await engine.start(calls_exit, "none")
    async with engine.worker([calls_exit]):
        with pytest.raises(stead.RunFailed) as failed:
            await handle.result(timeout=60)
        with pytest.raises(stead.RunFailed, match=r"workflow code called exit\(\)"):
            await plain.result(timeout=60)
    assert failed.value.error_type == "WorkflowExited"
    assert f"workflow code called {called} (SystemExit" in failed.value.message
    assert (await engine.get(handle.run_id)).status is stead.RunStatus.FAILED


exits: Counter[str] = Counter()


@stead.step
async def quits(code: int) -> int:
    exits["quits"] += 1
    if not _allowed.is_set():
        sys.exit(code)
    return code


@function_tool
def give_up(reason: str) -> str:
    """Stop everything."""
    exits["give_up"] += 1
    if not _allowed.is_set():
        exit(f"giving up: {reason}")
    return "carried on"


@stead.workflow
async def exits_in(where: str) -> str:
    if where == "step":
        return f"step returned {await quits(7)}"
    agent = Agent(name="Quitter", instructions="Use the tool.", tools=[give_up], model="gpt-4o-mini")
    return str((await Runner.run(agent, "go")).final_output)


def quitter(request: FakeRequest) -> Reply:
    if request.last_tool_outputs:
        return Reply(Text(f"saw: {request.last_tool_outputs[0].output}"))
    return Reply(ToolCall("give_up", {"reason": "tired"}))


@pytest.mark.parametrize(
    ("where", "step", "code", "fixed"),
    [
        ("step", "quits", 7, "step returned 7"),
        ("tool", "tool:give_up", "giving up: tired", "saw: carried on"),
    ],
)
async def test_exit_in_a_step_or_tool_fails_the_run_at_that_step(
    engine: stead.Engine, fake_openai: FakeModels, where: str, step: str, code: Any, fixed: str
) -> None:
    server = fake_openai(quitter)
    _allowed.clear()
    exits.clear()
    handle = await engine.start(exits_in, where)
    async with engine.worker([exits_in, calls_exit]):
        with pytest.raises(stead.RunFailed) as failed:
            await handle.result(timeout=60)
        # The worker lives on: it still runs other runs.
        other = await engine.start(calls_exit, "none")
        with pytest.raises(stead.RunFailed, match="WorkflowExited"):
            await other.result(timeout=60)
    assert failed.value.error_type == "WorkflowExited"
    assert f"step {step!r} called exit({code!r}) (SystemExit" in failed.value.message
    assert failed.value.data == {"exit_code": code}
    (recorded,) = [s for s in await engine.steps(handle.run_id) if s.name == step]
    assert recorded.status == "failed"
    # Not retried: no earlier attempt ended with the exit (an attempt Temporal lost on a starved worker may).
    assert [e.type for e in recorded.attempt_errors if e.type == "SystemExit"] == [], "an exit was retried"
    assert recorded.error is not None and (recorded.error.type, recorded.error.message) == (
        "SystemExit",
        str(code),
    )
    # Fixed, the run resumes at that step; the model call before it is not repeated.
    _allowed.set()
    requests, before = len(server.requests), sum(exits.values())
    await engine.reopen(handle.run_id)
    async with engine.worker([exits_in]):
        assert await handle.result(timeout=60) == fixed
    assert sum(exits.values()) == before + 1
    assert len(server.requests) == requests + (1 if where == "tool" else 0)


# -- requests: a call into a running run, answered by the run ---------------------------------------------------

replies: list[Any] = []


@stead.step
async def count_reply(value: Any) -> None:
    replies.append(value)


@stead.workflow
async def counter(requests: int) -> int:
    total = 0
    for _ in range(requests):
        request = await stead.receive("add", timeout=60)
        total += int(request.payload)
        await request.reply({"total": total})
        await count_reply(total)
    if not _allowed.is_set():
        raise RuntimeError("stop after the requests")
    return total


async def test_request_gets_the_runs_reply_and_replay_does_not_reply_again(engine: stead.Engine) -> None:
    _allowed.clear()
    replies.clear()
    handle = await engine.start(counter, 2, run_id="counter-1")
    async with engine.worker([counter]):
        assert await engine.request(handle.run_id, "add", 5, timeout=30) == {"total": 5}
        assert await engine.request(handle.run_id, "add", 3, timeout=30) == {"total": 8}
        with pytest.raises(stead.RunFailed, match="stop after the requests"):
            await handle.result(timeout=30)
        with pytest.raises(stead.RunFinished, match="has already failed; it takes no more messages"):
            await engine.request(handle.run_id, "add", 1, timeout=30)
        _allowed.set()
        await engine.reopen(handle.run_id)
        assert await handle.result(timeout=30) == 8
    assert replies == [5, 8], "a replay answered a request again"
    steps = [s for s in await engine.steps(handle.run_id) if s.kind == "reply"]
    assert [s.result for s in steps] == [{"total": 5}, {"total": 8}]


@stead.workflow
async def ignores_requests() -> str:
    await stead.receive("add", timeout=60)
    return "not answered"


async def test_a_run_that_ends_without_replying_tells_the_caller(engine: stead.Engine) -> None:
    handle = await engine.start(ignores_requests, run_id="ignores-1")
    async with engine.worker([ignores_requests]):
        with pytest.raises(stead.RunFinished, match="has completed without replying to request 'add'"):
            await engine.request(handle.run_id, "add", 1, timeout=60)
        assert await handle.result(timeout=60) == "not answered"


async def test_request_without_a_reply_times_out(engine: stead.Engine) -> None:
    handle = await engine.start(counter, 1, run_id="counter-2")
    with pytest.raises(stead.WaitTimeout, match="did not reply to request 'add' within 0.2s"):
        await engine.request(handle.run_id, "add", 1, timeout=0.2)  # no worker runs it
    with pytest.raises(stead.UsageError, match="a message needs a name"):
        await engine.request(handle.run_id, "", 1)
    await engine.cancel(handle.run_id)
