"""The view layer the CLI and a dashboard both render: core only, and its derived facts."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta

from stead import RunInfo, RunStatus
from stead._views import age_text, duration_text, result_text, run_status_label, run_view, workerless


def test_views_import_nothing_terminal_specific() -> None:
    code = "import sys, stead._views; print(sorted({'click', 'rich', 'stead.cli'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def _run(status: RunStatus, worker_alive: bool | None) -> RunInfo:
    now = datetime.now(UTC)
    return RunInfo("r-1", "wf", status, now, now, worker_alive=worker_alive)


def test_a_running_run_without_a_live_worker() -> None:
    assert run_status_label(_run(RunStatus.RUNNING, True)) == "running"
    assert run_status_label(_run(RunStatus.RUNNING, None)) == "running"  # the engine cannot tell
    dead = _run(RunStatus.RUNNING, False)
    assert workerless(dead) and run_status_label(dead) == "running (no worker)"
    assert run_view(dead)["status"] == "running" and run_view(dead)["worker_alive"] is False
    assert not workerless(_run(RunStatus.COMPLETED, False))


def test_texts() -> None:
    assert result_text("two\nlines") == "two\nlines"
    assert result_text({"a": [1]}) == '{\n  "a": [\n    1\n  ]\n}'
    assert [duration_text(s) for s in (None, 0.5, 185, 7800, 3 * 86400 + 4 * 3600)] == [
        "-",
        "0.50s",
        "3m05s",
        "2h10m",
        "3d04h",
    ]
    now = datetime.now(UTC)
    assert age_text(now - timedelta(minutes=5), now) == "5m ago"
