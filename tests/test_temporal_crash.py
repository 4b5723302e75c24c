"""kill -9 of a `stead worker --engine temporal://…` process in the middle of a step; a new worker finishes the run.

The killed worker's step stops heartbeating; Temporal gives it to the new worker within seconds (the heartbeat
timeout), and the run's next workflow task leaves the dead worker's queue after the sticky timeout.
"""

from __future__ import annotations

import asyncio
import signal
import time
import uuid
from pathlib import Path

import pytest

import stead

from .apps.crash_app import sequential
from .procs import APPS, close, kill9, log_counts, read_until, start
from .temporal_server import fresh_namespace, temporal_server  # noqa: F401 - a fixture

pytestmark = pytest.mark.slow

APP = str(APPS / "crash_app.py")


@pytest.mark.parametrize("k", [0, 2])
async def test_kill_a_worker_mid_step_then_a_new_worker_finishes_within_seconds(
    temporal_server: str,  # noqa: F811 - the fixture
    tmp_path: Path,
    k: int,
) -> None:
    url = (
        f"temporal://{temporal_server}?namespace={fresh_namespace()}&task_queue=crash-{uuid.uuid4().hex[:8]}"
    )
    log = tmp_path / "effects.log"
    n = 4
    engine = stead.connect(url)
    try:
        first = start(url, "worker", APP, CRASH_AT=str(k), STEAD_TEST_LOG=str(log))
        await asyncio.to_thread(read_until, first, "stead worker on")
        handle = await engine.start(sequential, n, run_id="crashy")
        await asyncio.to_thread(read_until, first, "CRASH-POINT")
        kill9(first)
        assert first.returncode == -signal.SIGKILL

        started = time.monotonic()
        second = start(url, "worker", APP, STEAD_TEST_LOG=str(log))
        try:
            result = await handle.result(timeout=30)
            took = time.monotonic() - started
        finally:
            second.send_signal(signal.SIGTERM)
            await asyncio.to_thread(second.wait, 30)
            close(second)
        assert second.returncode == 0
    finally:
        await engine.close()

    assert result == [i * i + len("seq") for i in range(n)]
    # What bounds it: the heartbeat timeout (4 s) that shows the killed attempt lost, the sticky queue's timeout and a
    # worker's start, seconds each on a busy machine; waiting for a step's timeout instead would take minutes.
    assert took < 20, f"the new worker took {took:.1f}s to finish the run"
    counts = log_counts(log)
    for i in range(k):
        assert counts[f"start seq:{i}"] == 1, f"step {i} ran again after the crash"
    assert counts[f"start seq:{k}"] == 2  # interrupted once, then run to the end
    assert counts[f"done seq:{k}"] == 1
    for i in range(k + 1, n):
        assert counts[f"start seq:{i}"] == 1
