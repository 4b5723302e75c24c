"""Attempts cut short by their worker stopping (here the tool kills its own worker with SIGKILL) do not count
against a step's retry budget; a step that keeps killing its workers fails with StepLost once its own allowance
(``RetryPolicy.max_lost_attempts``) is used up, and ``stead resume`` gives it a fresh one."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

import stead

from ..procs import APPS, ROOT, env, stead_cmd

pytestmark = pytest.mark.slow

APP = f"{APPS / 'lost_app.py'}:read"


def _url(engine_url: str) -> str:
    # A killed Temporal worker's attempt is retried once its heartbeat is missed: a short heartbeat timeout.
    return f"{engine_url}&heartbeat=1" if engine_url.startswith("temporal") else engine_url


def _stead(url: str, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        stead_cmd(url, *args, "--offline", "--json"),
        capture_output=True,
        text=True,
        env=env(**extra),
        cwd=ROOT,
        timeout=120,
    )


def _until_not_killed(url: str, first: subprocess.CompletedProcess[str], **extra: str) -> tuple[int, Any]:
    """Resume the run after each worker the tool killed; the number of kills and the last command's JSON."""
    done, kills = first, 0
    while done.returncode == -9:
        kills += 1
        assert kills <= 10, "the tool went on killing its workers"
        done = _stead(url, "resume", "lost", **extra)
    assert done.stdout, f"exit {done.returncode}\nstderr: {done.stderr}"
    return kills, json.loads(done.stdout)


async def test_killed_attempts_do_not_use_up_the_retry_budget(engine_url: str, tmp_path: Path) -> None:
    url = _url(engine_url)
    # Three kills, then a transient error: the tool's policy allows 2 attempts that raise, so the error is retried.
    extra = {"LOST_COUNTER": str(tmp_path / "calls"), "LOST_KILLS": "3", "LOST_RAISE": "1"}
    first = _stead(url, "run", APP, "Read meter A7", "--run-id", "lost", **extra)
    kills, data = _until_not_killed(url, first, **extra)
    assert kills == 3
    assert data["status"] == "completed", data
    assert data["result"] == "The meter reads 42 kWh."
    assert (tmp_path / "calls").read_text() == "5"  # 3 killed, 1 raised, 1 returned
    engine = stead.connect(url)
    try:
        tool = next(s for s in await engine.steps("lost") if s.kind == "tool")
    finally:
        await engine.close()
    assert tool.status == "done" and tool.attempts == 5


async def test_a_step_that_keeps_killing_its_workers_fails_with_step_lost(
    engine_url: str, tmp_path: Path
) -> None:
    url = _url(engine_url)
    extra = {"LOST_COUNTER": str(tmp_path / "calls"), "LOST_KILLS": "99", "LOST_MAX": "2"}
    first = _stead(url, "run", APP, "Read meter A7", "--run-id", "lost", **extra)
    kills, data = _until_not_killed(url, first, **extra)
    assert kills == 2
    assert data["status"] == "failed", data
    assert "StepLost" in json.dumps(data) and "cut short by their worker stopping" in json.dumps(data)
    assert (tmp_path / "calls").read_text() == "2"  # the third attempt never ran the tool

    # The cause fixed (here: no more kills), `stead resume` runs the step again with a fresh allowance.
    fixed = {**extra, "LOST_KILLS": "0"}
    resumed = _stead(url, "resume", "lost", **fixed)
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout)["result"] == "The meter reads 42 kWh."
