"""Fixing code under recorded runs: replay checks (names, arguments, steps never reached) and forks (both engines)."""

from __future__ import annotations

from collections import Counter

import pytest

import stead

calls: Counter[str] = Counter()
version = {"n": 1}


@pytest.fixture(autouse=True)
def _reset() -> None:
    calls.clear()
    version["n"] = 1


@stead.step
async def work(i: int, note: str) -> str:
    calls[f"work:{i}"] += 1
    return f"{note}{i}v{version['n']}"


@stead.step
async def extra() -> str:
    calls["extra"] += 1
    return "x"


@stead.workflow(name="fixable")
async def fixable_v1(n: int) -> list[str]:
    return [await work(i, "step") for i in range(1, n + 1)]


@stead.workflow(name="fixable")
async def fixable_other_args(n: int) -> list[str]:
    return [await work(i, "step" if i != 2 else "STEP") for i in range(1, n + 1)]


@stead.workflow(name="fixable")
async def fixable_stops_early(n: int) -> list[str]:
    return [await work(i, "step") for i in range(1, n)]


@stead.workflow(name="fixable")
async def fixable_other_step(n: int) -> list[str]:
    return [await work(1, "step"), await extra()]


async def _finished(engine: stead.Engine, n: int = 5) -> str:
    handle = await engine.start(fixable_v1, n)
    async with engine.worker([fixable_v1]):
        await handle.result(timeout=30)
    return handle.run_id


async def test_replay_checks_code_against_a_recorded_run_without_executing_steps(
    engine: stead.Engine,
) -> None:
    run_id = await _finished(engine, 3)
    executed = sum(calls.values())
    await engine.replay(run_id, [fixable_v1])
    assert sum(calls.values()) == executed  # nothing ran again


async def test_replay_reports_changed_arguments_with_a_readable_diff(engine: stead.Engine) -> None:
    run_id = await _finished(engine, 3)
    with pytest.raises(stead.NonDeterminismError) as diverged:
        await engine.replay(run_id, [fixable_other_args])
    message = str(diverged.value)
    assert run_id in message and "'work'" in message
    assert '-    "step"' in message and '+    "STEP"' in message, message
    assert calls["work:2"] == 1


async def test_replay_reports_recorded_steps_the_code_never_reaches(engine: stead.Engine) -> None:
    run_id = await _finished(engine, 3)
    with pytest.raises(stead.NonDeterminismError):
        await engine.replay(run_id, [fixable_stops_early])


async def test_replay_reports_another_step_by_name(engine: stead.Engine) -> None:
    run_id = await _finished(engine, 3)
    with pytest.raises(stead.NonDeterminismError) as diverged:
        await engine.replay(run_id, [fixable_other_step])
    assert "'work'" in str(diverged.value) and "'extra'" in str(diverged.value)


async def test_fork_takes_the_results_before_the_step_and_runs_the_rest_with_new_code(
    engine: stead.Engine,
) -> None:
    run_id = await _finished(engine)
    assert all(calls[f"work:{i}"] == 1 for i in range(1, 6))
    version["n"] = 2  # the fixed code
    fork = await engine.fork(run_id, "3")
    assert fork.run_id != run_id
    async with engine.worker([fixable_v1]):
        result = await fork.result(timeout=30)
    assert result == ["step1v1", "step2v1", "step3v2", "step4v2", "step5v2"]
    assert [calls[f"work:{i}"] for i in range(1, 6)] == [1, 1, 2, 2, 2]
    original = await engine.get(run_id)
    assert original.result == ["step1v1", "step2v1", "step3v1", "step4v1", "step5v1"]


async def test_fork_with_a_replaced_result_does_not_run_that_step(engine: stead.Engine) -> None:
    run_id = await _finished(engine)
    steps = await engine.steps(run_id)
    fork = await engine.fork(run_id, steps[2].position, run_id=f"{run_id}-edited", replace="edited")
    assert fork.run_id == f"{run_id}-edited"
    async with engine.worker([fixable_v1]):
        result = await fork.result(timeout=30)
    assert result[2] == "edited"
    assert [calls[f"work:{i}"] for i in range(1, 6)] == [1, 1, 1, 2, 2]


async def test_fork_names_a_step_that_does_not_exist(engine: stead.Engine) -> None:
    run_id = await _finished(engine, 2)
    with pytest.raises(stead.UsageError, match="no step '9'.*1 to 2"):
        await engine.fork(run_id, "9")


# -- the same checks when a worker resumes a run with changed code ------------------------------------------------

allowed = {"finish": False}


@stead.workflow(name="resumable")
async def resumable_v1(n: int) -> list[str]:
    out = [await work(i, "step") for i in range(1, n + 1)]
    if not allowed["finish"]:
        raise RuntimeError("stop before the end")
    return out


@stead.workflow(name="resumable")
async def resumable_other_args(n: int) -> list[str]:
    return [await work(i, "step" if i != 2 else "STEP") for i in range(1, n + 1)]


@stead.workflow(name="resumable")
async def resumable_stops_early(n: int) -> list[str]:
    return [await work(i, "step") for i in range(1, n)]


@pytest.mark.parametrize("changed", [resumable_other_args, resumable_stops_early], ids=["args", "unreached"])
async def test_a_resumed_run_whose_code_changed_fails_saying_how(
    engine: stead.Engine, changed: stead.Workflow[..., list[str]]
) -> None:
    if engine.url.startswith("temporal"):
        pytest.skip("on Temporal a worker checks with the code engine.replay runs, tested above")
    allowed["finish"] = False
    handle = await engine.start(resumable_v1, 3)
    async with engine.worker([resumable_v1]):
        with pytest.raises(stead.RunFailed, match="stop before the end"):
            await handle.result(timeout=30)
    await engine.reopen(handle.run_id)
    async with engine.worker([changed]):
        with pytest.raises(stead.RunFailed) as failed:
            await handle.result(timeout=30)
    assert failed.value.error_type == "NonDeterminismError"
    if changed is resumable_other_args:
        assert '-    "step"' in failed.value.message and '+    "STEP"' in failed.value.message
    else:
        assert "0:2" in failed.value.message and "returned before reaching it" in failed.value.message
    assert [calls[f"work:{i}"] for i in range(1, 4)] == [1, 1, 1]
