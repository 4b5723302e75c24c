"""The README's Temporal walkthrough offline: `stead dev --offline APP.py`, then `stead run --offline` against it."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("temporalio")

from stead.engines.temporal import free_port  # noqa: E402

from .procs import ROOT, close, read_until, stead_cmd  # noqa: E402
from .test_cli_offline import no_model_env  # noqa: E402

HAIKU = "Functions call themselves,\nsmaller mirrors, one by one—\nthe base case answers."


def test_stead_dev_offline_then_run_offline_needs_no_model(tmp_path: Path) -> None:
    port = free_port()
    dev = subprocess.Popen(
        [sys.executable, "-m", "stead.cli", "dev", "--offline", "examples/haiku.py", "--port", str(port)]
        + ["--ui-port", str(free_port()), "--db", str(tmp_path / "temporal.db")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=no_model_env(),
        cwd=ROOT,
    )
    try:
        lines = read_until(dev, "worker serving")
        assert "stead run --offline examples/haiku.py:WORKFLOW" in "".join(lines)
        assert "offline" in lines[-1]
        url = f"temporal://127.0.0.1:{port}?namespace=default&task_queue=stead"
        done = subprocess.run(
            stead_cmd(url, "run", "--offline", "examples/haiku.py:haiku", "Tell me about recursion", "-q"),
            capture_output=True,
            text=True,
            env=no_model_env(),
            cwd=ROOT,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == HAIKU
    finally:
        dev.send_signal(signal.SIGINT)
        _, err = dev.communicate(timeout=60)
        close(dev)
    assert "skipping trace export" not in err
