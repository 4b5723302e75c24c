"""kill -9 of a real process in the middle of a step, then `stead resume`."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from .procs import APPS, kill9, log_counts, read_until, run_json, start

pytestmark = pytest.mark.slow

APP = str(APPS / "crash_app.py")


@pytest.mark.parametrize("k", [0, 2, 4])
def test_kill_during_step_k_then_resume(tmp_path: Path, k: int) -> None:
    engine = f"sqlite:///{tmp_path}/stead.db"
    log = tmp_path / "effects.log"
    n = 5
    proc = start(
        engine,
        "run",
        f"{APP}:sequential",
        str(n),
        "--run-id",
        "crashy",
        CRASH_AT=str(k),
        STEAD_TEST_LOG=str(log),
    )
    read_until(proc, "CRASH-POINT")
    kill9(proc)
    assert proc.returncode == -signal.SIGKILL

    resumed = run_json(engine, "resume", "crashy", STEAD_TEST_LOG=str(log))
    uninterrupted = run_json(
        engine,
        "run",
        f"{APP}:sequential",
        str(n),
        "--run-id",
        "clean",
        STEAD_TEST_LOG=str(tmp_path / "clean.log"),
    )
    assert resumed["status"] == "completed"
    assert resumed["result"] == uninterrupted["result"]

    counts = log_counts(log)
    for i in range(k):
        assert counts[f"start seq:{i}"] == 1, f"step {i} ran again after the crash"
    assert counts[f"start seq:{k}"] == 2  # interrupted once, then run to the end
    assert counts[f"done seq:{k}"] == 1
    for i in range(k + 1, n):
        assert counts[f"start seq:{i}"] == 1


@pytest.mark.parametrize("crash_after", [3, 9])
def test_kill_with_gathered_branches_finishing_in_random_order(tmp_path: Path, crash_after: int) -> None:
    engine = f"sqlite:///{tmp_path}/stead.db"
    log = tmp_path / "effects.log"
    branches, n = 4, 4
    proc = start(
        engine,
        "run",
        f"{APP}:fan",
        str(branches),
        str(n),
        "--run-id",
        "fan",
        CRASH_AFTER=str(crash_after),
        STEAD_TEST_LOG=str(log),
    )
    read_until(proc, "CRASH-POINT")
    kill9(proc)

    resumed = run_json(engine, "resume", "fan", STEAD_TEST_LOG=str(log))
    assert resumed["status"] == "completed"
    # Every branch gets its own results, in its own order: no swapped results after the replay.
    assert resumed["result"] == [[f"{b}.{i}" for i in range(n)] for b in range(branches)]
    counts = log_counts(log)
    for b in range(branches):
        for i in range(n):
            assert 1 <= counts[f"start {b}.{i}"] <= 2
            assert counts[f"done {b}.{i}"] in (1, 2)
    finished_before_crash = sum(1 for line in log.read_text().splitlines() if " done " in line)
    assert finished_before_crash >= crash_after
