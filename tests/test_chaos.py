"""The chaos suite, short: a few runs of benchmarks/chaos.py's agent workflow on 3 workers killed at random, model
fault storms, a full disk and an outside write lock (SQLite). Every run completes with the plain-Runner result
and no journaled step runs again (the script checks both from the side-effect logs and the journal)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from . import procs

pytestmark = pytest.mark.slow

SCRIPT = procs.ROOT / "benchmarks" / "chaos.py"


@pytest.mark.timeout(150)
def test_runs_survive_kills_fault_storms_a_full_disk_and_a_lock(tmp_path: Path) -> None:
    proc = procs.popen(
        [sys.executable, str(SCRIPT), "--engine", "sqlite", "--runs", "4", "--seconds", "100"]
        + ["--seed", "7", "--dir", str(tmp_path), "--json", "--hold"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=procs.env(),
        cwd=procs.ROOT,
    )
    out, err = proc.communicate(timeout=140)
    assert proc.returncode == 0, f"{out}\n{err[-3000:]}"
    figures = json.loads(out.splitlines()[-1])
    assert figures["completed"] == figures["runs"] == 4, figures["wrong"]
    assert figures["repeated"] == []
    # The faults were there: kills, model faults, and on SQLite the full disk and the lock.
    assert figures["kills"] >= 1
    assert sum(figures["faults"].values()) >= 1
    assert figures["disk_full"] >= 1 and figures["locks"] >= 1
