"""Core semantics every engine keeps: steps, identity under concurrency, replay, retries, timers, messages."""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

import stead

calls: Counter[str] = Counter()
gates: dict[str, asyncio.Event] = {}


@pytest.fixture(autouse=True)
def _reset() -> None:
    calls.clear()
    gates.clear()


def gate(name: str) -> asyncio.Event:
    return gates.setdefault(name, asyncio.Event())


@dataclass
class Order:
    id: int
    items: list[str]


# -- plain steps ------------------------------------------------------------------------------------------------


@stead.step
async def double(x: int) -> int:
    calls[f"double:{x}"] += 1
    return 2 * x


@stead.step
def blocking_square(x: int) -> int:
    calls[f"square:{x}"] += 1
    time.sleep(0.001)  # a sync step runs in a thread; it may block
    return x * x


@stead.step
async def make_order(n: int) -> Order:
    return Order(n, [f"item-{i}" for i in range(n)])


@stead.workflow
async def basics(x: int) -> dict[str, Any]:
    a = await double(x)
    b = await blocking_square(a)
    order = await make_order(2)
    assert isinstance(order, Order)
    stead.publish("progress", {"a": a, "b": b})
    return {"a": a, "b": b, "order": order, "uuid": str(stead.uuid4()), "r": stead.random()}


async def test_steps_results_and_state(engine: stead.Engine) -> None:
    handle = await engine.start(basics, 3)
    async with engine.worker([basics]):
        result = await handle.result(timeout=20)
    assert result["a"] == 6 and result["b"] == 36
    assert result["order"] == {"id": 2, "items": ["item-0", "item-1"]}
    info = await engine.get(handle.run_id)
    assert info.status is stead.RunStatus.COMPLETED
    assert info.state == {"progress": {"a": 6, "b": 36}}
    steps = await engine.steps(handle.run_id)
    assert [s.name for s in steps if s.kind == "step"] == ["double", "blocking_square", "make_order"]
    assert all(s.status == "done" and s.attempts == 1 for s in steps)


async def test_steps_run_as_plain_functions_outside_workflows() -> None:
    assert await double(4) == 8
    assert await blocking_square(3) == 9
    with pytest.raises(stead.UsageError, match="only inside a @stead.workflow"):
        await stead.sleep(1)


# -- identity under concurrency ---------------------------------------------------------------------------------


@stead.step
async def jittery(branch: int, i: int) -> str:
    calls[f"jittery:{branch}:{i}"] += 1
    await asyncio.sleep(random.random() / 200)
    return f"{branch}-{i}"


async def branch(b: int, n: int) -> list[str]:
    return [await jittery(b, i) for i in range(n)]


@stead.workflow
async def fan_out(branches: int, n: int) -> list[list[str]]:
    results = await asyncio.gather(*(branch(b, n) for b in range(branches)))
    return list(results)


@stead.workflow
async def fan_out_then_fail(branches: int, n: int) -> list[list[str]]:
    results = await asyncio.gather(*(branch(b, n) for b in range(branches)))
    if not gate("pass").is_set():
        raise RuntimeError("first time: fail after the gather")
    return list(results)


async def test_gather_results_reach_their_own_branch(engine: stead.Engine) -> None:
    handle = await engine.start(fan_out, 6, 4)
    async with engine.worker([fan_out]):
        result = await handle.result(timeout=20)
    assert result == [[f"{b}-{i}" for i in range(4)] for b in range(6)]


async def test_replay_after_failure_keeps_results_in_their_branch(engine: stead.Engine) -> None:
    handle = await engine.start(fan_out_then_fail, 5, 3)
    async with engine.worker([fan_out_then_fail]):
        with pytest.raises(stead.RunFailed, match="first time"):
            await handle.result(timeout=20)
        gate("pass").set()
        await engine.reopen(handle.run_id)
        result = await handle.result(timeout=20)
    assert result == [[f"{b}-{i}" for i in range(3)] for b in range(5)]
    assert set(calls.values()) == {1}, "replay ran a recorded step again"


# -- replay and recovery ----------------------------------------------------------------------------------------


@stead.step
async def slow_step(i: int) -> int:
    calls[f"slow:{i}"] += 1
    if i == 2 and not gate("release").is_set():
        gate("reached").set()
        await gate("release").wait()
    return i * 10


@stead.workflow
async def pipeline(n: int) -> list[int]:
    out = []
    for i in range(n):
        out.append(await slow_step(i))
        stead.publish("done", i + 1)
    return out


async def test_worker_stop_mid_step_resumes_without_repeating(
    engine: stead.Engine, new_engine: Callable[[], stead.Engine]
) -> None:
    handle = await engine.start(pipeline, 4)
    async with engine.worker([pipeline]):
        await asyncio.wait_for(gate("reached").wait(), 20)
    # The first worker stopped in the middle of step 2; another process' worker takes the run over.
    assert (await engine.get(handle.run_id)).status is stead.RunStatus.RUNNING
    gate("release").set()
    other = new_engine()
    try:
        async with other.worker([pipeline]):
            assert await other.handle(handle.run_id, pipeline).result(timeout=20) == [0, 10, 20, 30]
    finally:
        await other.close()
    assert calls["slow:0"] == 1 and calls["slow:1"] == 1 and calls["slow:3"] == 1
    assert calls["slow:2"] == 2  # the interrupted step ran again: at least once, recorded once
    assert (await engine.get(handle.run_id)).state == {"done": 4}


@stead.workflow
async def deterministic_values() -> dict[str, Any]:
    values = {"now": stead.now().isoformat(), "uuid": str(stead.uuid4()), "random": stead.random()}
    await double(1)
    if not gate("pass").is_set():
        raise RuntimeError("fail once")
    return values


async def test_now_uuid_random_replay_identically(engine: stead.Engine) -> None:
    handle = await engine.start(deterministic_values)
    async with engine.worker([deterministic_values]):
        with pytest.raises(stead.RunFailed):
            await handle.result(timeout=20)
    first = [s for s in await engine.steps(handle.run_id) if s.kind == "now"]
    gate("pass").set()
    await engine.reopen(handle.run_id)
    async with engine.worker([deterministic_values]):
        result = await handle.result(timeout=20)
    assert result["now"] == stead.now().fromtimestamp(first[0].result, tz=stead.now().tzinfo).isoformat()
    again = await engine.start(deterministic_values)
    async with engine.worker([deterministic_values]):
        other = await again.result(timeout=20)
    assert other["uuid"] != result["uuid"], "two runs got the same uuid"


# -- non-determinism and patches --------------------------------------------------------------------------------


@stead.step
async def step_a() -> str:
    return "a"


@stead.step
async def step_b() -> str:
    return "b"


@stead.workflow(name="versioned")
async def versioned_v1() -> str:
    first = await step_a()
    if not gate("pass").is_set():
        raise RuntimeError("stop after the first step")
    return first + await step_a()


@stead.workflow(name="versioned")
async def versioned_v2_broken() -> str:
    first = await step_b()  # changed without a patch marker
    return first


@stead.workflow(name="versioned")
async def versioned_v2_patched() -> str:
    if stead.patched("use-b"):
        return await step_b() + "!"
    first = await step_a()
    return first + await step_a()


async def test_changed_code_is_reported_as_non_determinism(engine: stead.Engine) -> None:
    handle = await engine.start(versioned_v1)
    async with engine.worker([versioned_v1]):
        with pytest.raises(stead.RunFailed, match="stop after"):
            await handle.result(timeout=20)
    await engine.reopen(handle.run_id)
    async with engine.worker([versioned_v2_broken]):
        with pytest.raises(stead.RunFailed) as failed:
            await handle.result(timeout=20)
    assert failed.value.error_type == "NonDeterminismError"
    assert handle.run_id in failed.value.message
    assert "'step_a'" in failed.value.message and "'step_b'" in failed.value.message


async def test_patched_keeps_old_runs_on_the_old_path(engine: stead.Engine) -> None:
    old = await engine.start(versioned_v1)
    async with engine.worker([versioned_v1]):
        with pytest.raises(stead.RunFailed):
            await old.result(timeout=20)
    gate("pass").set()
    await engine.reopen(old.run_id)
    new = await engine.start(versioned_v2_patched)
    async with engine.worker([versioned_v2_patched]):
        assert await old.result(timeout=20) == "aa"
        assert await new.result(timeout=20) == "b!"


# -- retries and timeouts ---------------------------------------------------------------------------------------


class Flaky(Exception):
    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        if retry_after is not None:
            self.retry_after = retry_after


class HTTPError(Exception):
    def __init__(self, status_code: int) -> None:
        super().__init__(f"HTTP {status_code}")
        self.status_code = status_code


attempt_times: list[float] = []


@stead.step(retry=stead.RetryPolicy(max_attempts=4, initial_interval=0.01, jitter=0))
async def flaky(fail_times: int) -> str:
    attempt_times.append(time.monotonic())
    calls["flaky"] += 1
    if calls["flaky"] <= fail_times:
        raise Flaky(f"attempt {calls['flaky']}", retry_after=0.2 if calls["flaky"] == 1 else None)
    return "ok"


@stead.step(retry=stead.RetryPolicy(max_attempts=5, initial_interval=0.01))
async def bad_request() -> str:
    calls["bad_request"] += 1
    raise HTTPError(400)


@stead.step(timeout=0.1, retry=stead.RetryPolicy(max_attempts=3, initial_interval=0.01))
async def hangs_once() -> str:
    calls["hangs"] += 1
    if calls["hangs"] == 1:
        await asyncio.Event().wait()
    return "finished"


@stead.workflow
async def retrying(fail_times: int) -> str:
    return await flaky(fail_times)


@stead.workflow
async def catches_failure() -> str:
    try:
        await bad_request()
    except stead.StepFailed as exc:
        return f"caught {exc.error_type} after {exc.attempts}"
    return "unreachable"


@stead.workflow
async def timing_out() -> str:
    return await hangs_once()


async def test_retries_honour_retry_after_and_record_attempts(engine: stead.Engine) -> None:
    attempt_times.clear()
    handle = await engine.start(retrying, 2)
    async with engine.worker([retrying]):
        assert await handle.result(timeout=20) == "ok"
    assert calls["flaky"] == 3
    assert attempt_times[1] - attempt_times[0] >= 0.2, "Retry-After was not honoured"
    [step] = [s for s in await engine.steps(handle.run_id) if s.kind == "step"]
    assert step.attempts == 3
    assert [e.message for e in step.attempt_errors] == ["attempt 1", "attempt 2"]


async def test_exhausted_retries_fail_the_run(engine: stead.Engine) -> None:
    handle = await engine.start(retrying, 10)
    async with engine.worker([retrying]):
        with pytest.raises(stead.RunFailed, match="StepFailed"):
            await handle.result(timeout=20)
    assert calls["flaky"] == 4


async def test_client_errors_are_not_retried(engine: stead.Engine) -> None:
    handle = await engine.start(catches_failure)
    async with engine.worker([catches_failure]):
        assert await handle.result(timeout=20) == "caught HTTPError after 1"
    assert calls["bad_request"] == 1


async def test_step_timeout_abandons_the_attempt_and_retries(engine: stead.Engine) -> None:
    handle = await engine.start(timing_out)
    async with engine.worker([timing_out]):
        assert await handle.result(timeout=20) == "finished"
    [step] = [s for s in await engine.steps(handle.run_id) if s.kind == "step"]
    assert step.attempts == 2
    assert "timed out after 0.1s" in step.attempt_errors[0].message


# -- timers, messages, cancellation -----------------------------------------------------------------------------


@stead.workflow
async def sleeper(seconds: float) -> float:
    start = stead.now()
    await stead.sleep(seconds)
    return (stead.now() - start).total_seconds()


async def test_durable_sleep_survives_a_worker_restart(
    engine: stead.Engine, new_engine: Callable[[], stead.Engine]
) -> None:
    handle = await engine.start(sleeper, 0.6)
    async with engine.worker([sleeper]):
        for _ in range(200):
            if any(s.kind == "timer" for s in await engine.steps(handle.run_id)):
                break
            await asyncio.sleep(0.01)
    other = new_engine()
    try:
        async with other.worker([sleeper]):
            elapsed = await other.handle(handle.run_id, sleeper).result(timeout=20)
    finally:
        await other.close()
    assert 0.6 <= elapsed < 3


@stead.workflow
async def conversation(turns: int) -> list[Any]:
    seen = []
    for _ in range(turns):
        message = await stead.wait_for("user")
        seen.append(message)
        stead.publish("seen", len(seen))
    return seen


@stead.workflow
async def impatient() -> str:
    try:
        await stead.wait_for("never", timeout=0.2)
    except stead.WaitTimeout:
        return "timed out"
    return "got it"


async def test_messages_are_delivered_in_order_once(engine: stead.Engine) -> None:
    handle = await engine.start(conversation, 3)
    await engine.send(handle.run_id, "user", {"text": "hello"})
    async with engine.worker([conversation]):
        await engine.send(handle.run_id, "user", "second")
        await engine.send(handle.run_id, "user", 3)
        assert await handle.result(timeout=20) == [{"text": "hello"}, "second", 3]
    with pytest.raises(stead.RunFinished, match="already completed"):
        await engine.send(handle.run_id, "user", "late")
    with pytest.raises(stead.RunNotFound):
        await engine.send("no-such-run", "user", "x")
    # Both engines say it in the same words (the core's).
    with pytest.raises(stead.RunFinished, match="already completed; it takes no more messages"):
        await engine.send(handle.run_id, "user", "late")
    with pytest.raises(stead.RunFinished, match="already completed; there is nothing to cancel"):
        await engine.cancel(handle.run_id)
    with pytest.raises(stead.RunFinished, match="has completed; only failed or unfinished runs resume"):
        await engine.reopen(handle.run_id)
    with pytest.raises(stead.RunNotFound, match="no run 'no-such-run' .*; `stead ls` lists the runs"):
        await engine.send("no-such-run", "user", "x")
    with pytest.raises(stead.UsageError, match="a message needs a name"):
        await engine.send(handle.run_id, "", "x")
    with pytest.raises(stead.UsageError, match="a worker needs at least one @stead.workflow"):
        engine.worker([])
    with pytest.raises(stead.UsageError, match="concurrency must be at least 1, got 0"):
        engine.worker([conversation], concurrency=0)


async def test_wait_timeout(engine: stead.Engine) -> None:
    handle = await engine.start(impatient)
    async with engine.worker([impatient]):
        assert await handle.result(timeout=20) == "timed out"


async def test_cancel_a_waiting_run_and_a_pending_run(engine: stead.Engine) -> None:
    waiting = await engine.start(conversation, 1)
    pending = await engine.start(conversation, 1)
    await engine.cancel(pending.run_id)
    with pytest.raises(stead.RunCancelled):
        await pending.result(timeout=20)
    async with engine.worker([conversation]):
        assert (await engine.wait(waiting.run_id, 20, until="waiting")).waiting_for == ["user"]
        await engine.cancel(waiting.run_id)
        with pytest.raises(stead.RunCancelled):
            await waiting.result(timeout=20)
    assert (await engine.get(waiting.run_id)).status is stead.RunStatus.CANCELLED


async def test_wait_until_a_run_waits_for_a_message(engine: stead.Engine) -> None:
    handle = await engine.start(conversation, 2)
    with pytest.raises(TimeoutError, match="was not waiting within 0.2s"):
        await engine.wait(handle.run_id, 0.2, until="waiting")  # no worker: it cannot wait yet
    async with engine.worker([conversation]):
        info = await engine.wait(handle.run_id, 20, until="waiting")
        assert info.waiting_for == ["user"] and not info.status.finished
        await engine.send(handle.run_id, "user", "one")
        # Until the run takes it, it still waits: "waiting" is a state, not an event.
        assert (await engine.wait(handle.run_id, 20, until="waiting")).waiting_for == ["user"]
        await engine.send(handle.run_id, "user", "two")
        finished = await engine.wait(handle.run_id, 20)
    assert finished.status is stead.RunStatus.COMPLETED and finished.result == ["one", "two"]
    # A finished run has reached every state: nothing to wait for.
    states: tuple[stead.WaitUntil, ...] = ("finished", "waiting", "suspended")
    for until in states:
        assert (await engine.wait(handle.run_id, 1, until=until)).status is stead.RunStatus.COMPLETED
    with pytest.raises(stead.UsageError, match="until='idle'.*'finished', 'waiting', 'suspended'"):
        await engine.wait(handle.run_id, 1, until="idle")  # type: ignore[arg-type]


async def test_wait_until_a_waiting_run_is_suspended(engine: stead.Engine) -> None:
    """The embedded engine lets go of a run that only waits (after ``suspend`` seconds, 1 by default);
    Temporal evicts it by itself, and there "suspended" means "waiting"."""
    handle = await engine.start(conversation, 1)
    async with engine.worker([conversation]):
        info = await engine.wait(handle.run_id, 20, until="suspended")
        assert info.waiting_for == ["user"] and info.status is stead.RunStatus.RUNNING
        await engine.send(handle.run_id, "user", "wake up")
        assert await handle.result(timeout=20) == ["wake up"]


# -- run ids and bad input --------------------------------------------------------------------------------------


async def test_run_ids_are_idempotent(engine: stead.Engine) -> None:
    first = await engine.start(basics, 1, run_id="order-1")
    second = await engine.start(basics, 1, run_id="order-1")
    assert first.run_id == second.run_id == "order-1"
    with pytest.raises(stead.RunIdConflict, match="order-1"):
        await engine.start(basics, 2, run_id="order-1")
    with pytest.raises(stead.RunIdConflict, match="workflow 'basics'"):
        await engine.start(sleeper, 1.0, run_id="order-1")
    with pytest.raises(stead.RunIdConflict, match=r"other arguments \(.*2.*\); choose another run id"):
        await engine.start(basics, 2, run_id="order-1")
    with pytest.raises(
        stead.RunIdConflict, match="for workflow 'basics', not 'sleeper'; choose another run id"
    ):
        await engine.start(sleeper, 1.0, run_id="order-1")
    assert len(await engine.list()) == 1


@stead.workflow
async def returns_object() -> Any:
    return object()


@stead.step
async def step_returning_set() -> Any:
    return {1, 2} if False else object()


@stead.workflow
async def bad_step_result() -> Any:
    return await step_returning_set()


async def test_bad_arguments_and_results(engine: stead.Engine) -> None:
    with pytest.raises(stead.InvalidArguments, match=r"basics\(x: int\)"):
        await engine.start(basics, 1, 2)
    with pytest.raises(stead.SerializationError, match="not JSON-serializable"):
        await engine.start(basics, object())
    handle = await engine.start(returns_object)
    step_handle = await engine.start(bad_step_result)
    async with engine.worker([returns_object, bad_step_result]):
        with pytest.raises(stead.RunFailed, match="SerializationError"):
            await handle.result(timeout=20)
        with pytest.raises(stead.RunFailed, match="result of step 'step_returning_set'"):
            await step_handle.result(timeout=20)
    with pytest.raises(stead.RunNotFound):
        await engine.get("missing")


@stead.workflow
async def wait_then_gather() -> list[list[str]]:
    await stead.wait_for("go", timeout=60)
    results = await asyncio.gather(branch(0, 2), branch(1, 2))
    if not gate("pass").is_set():
        raise RuntimeError("fail once after the gather")
    return list(results)


async def test_a_wait_with_timeout_does_not_shift_later_positions(engine: stead.Engine) -> None:
    handle = await engine.start(wait_then_gather)
    await engine.send(handle.run_id, "go")
    async with engine.worker([wait_then_gather]):
        with pytest.raises(stead.RunFailed, match="fail once"):
            await handle.result(timeout=20)
        gate("pass").set()
        await engine.reopen(handle.run_id)
        assert await handle.result(timeout=20) == [["0-0", "0-1"], ["1-0", "1-1"]]
