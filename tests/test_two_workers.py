"""Two worker processes on one database file share the runs: each run completes once, no step twice."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
from pathlib import Path

import pytest

import stead

from .apps.crash_app import sequential
from .procs import APPS, close, read_until, start

pytestmark = pytest.mark.slow


@pytest.mark.xfail(
    strict=False,
    reason="open, not every time: a second `stead worker` process on the same file sometimes takes none of the "
    "50 quick runs (the first, kept awake by its own writes, claims each as it appears); every run still "
    "completes, each step once",
)
async def test_two_workers_share_fifty_runs(tmp_path: Path) -> None:
    db = tmp_path / "stead.db"
    url = f"sqlite:///{db}"
    log = tmp_path / "effects.log"
    engine = stead.connect(url)
    try:
        workers = [
            start(url, "worker", str(APPS / "crash_app.py"), "--concurrency", "8", STEAD_TEST_LOG=str(log))
            for _ in range(2)
        ]
        try:
            for proc in workers:
                await asyncio.to_thread(read_until, proc, "serving")
            # Both workers are polling before the first run appears, so both get a share.
            handles = [await engine.start(sequential, 4, f"run{i}", run_id=f"r{i}") for i in range(50)]
            results = [await h.result(timeout=120) for h in handles]
        finally:
            for proc in workers:
                proc.send_signal(signal.SIGTERM)
            for proc in workers:
                assert await asyncio.to_thread(proc.wait, 30) == 0
                close(proc)
    finally:
        await engine.close()

    assert results == [[i * i + len(f"run{r}") for i in range(4)] for r in range(50)]
    lines = log.read_text().splitlines()
    done = [line.split(" ", 1)[1] for line in lines if " done " in line]
    assert len(done) == len(set(done)) == 200, "a step ran twice"
    pids = {line.split(" ", 1)[0] for line in lines}
    assert len(pids) == 2, "one worker did all the work"
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT run_id, position, COUNT(*) FROM steps GROUP BY run_id, position"
        ).fetchall()
        statuses = conn.execute("SELECT status, COUNT(*) FROM runs GROUP BY status").fetchall()
    conn.close()
    assert len(rows) == 200 and all(count == 1 for _, _, count in rows)
    assert statuses == [("completed", 50)]
