"""Helpers for tests that drive real `stead` processes.

Every process a test starts goes through :func:`popen` (or :func:`track`, for an asyncio one): the autouse fixture
``_reap_processes`` in tests/conftest.py kills (with its process group) and reaps each at the test's teardown,
whatever the outcome, so a failed crash test leaves no worker behind.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
APPS = Path(__file__).resolve().parent / "apps"


def stead_cmd(engine: str, *args: str) -> list[str]:
    return [sys.executable, "-m", "stead.cli", "--engine", engine, *args]


def env(**extra: str) -> dict[str, str]:
    out = {k: v for k, v in os.environ.items() if k not in ("CRASH_AT", "CRASH_AFTER")}
    out["PYTHONUNBUFFERED"] = "1"
    out.update(extra)
    return out


_started: list[subprocess.Popen[Any]] = []
_tracked: list[asyncio.subprocess.Process] = []


def popen(cmd: list[str], **kwargs: Any) -> subprocess.Popen[Any]:
    """``subprocess.Popen`` in a session of its own, killed and reaped at the test's teardown."""
    proc = subprocess.Popen(cmd, start_new_session=True, **kwargs)
    _started.append(proc)
    return proc


def track(proc: asyncio.subprocess.Process) -> asyncio.subprocess.Process:
    """An asyncio subprocess (started with ``start_new_session=True``), killed at the test's teardown."""
    _tracked.append(proc)
    return proc


def _kill_group(pid: int) -> None:
    for kill in (os.killpg, os.kill):  # the group takes children along (a dev server under `stead dev`)
        try:
            kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def reap_all() -> list[int]:
    """Kill and reap every process the test started; returns the pids that were still running."""
    left = []
    while _started:
        proc = _started.pop()
        if proc.poll() is None:
            left.append(proc.pid)
        _kill_group(proc.pid)
        proc.wait()
        close(proc)
    while _tracked:
        aproc = _tracked.pop()
        if aproc.returncode is None:
            left.append(aproc.pid)
            _kill_group(aproc.pid)
            # asyncio's child watcher reaps it (in a thread): wait until it did, not for a fixed time.
            deadline = time.monotonic() + 30
            while Path(f"/proc/{aproc.pid}").exists() and time.monotonic() < deadline:
                time.sleep(0.01)
    return left


def start(engine: str, *args: str, **extra_env: str) -> subprocess.Popen[str]:
    return popen(
        stead_cmd(engine, *args),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env(**extra_env),
        cwd=ROOT,
    )


def read_until(proc: subprocess.Popen[str], marker: str) -> list[str]:
    """Read the process' stdout line by line until a line contains ``marker`` (an event, not a timer)."""
    assert proc.stdout is not None
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if marker in line:
            return lines
    raise AssertionError(
        f"process ended before printing {marker!r}; stdout: {''.join(lines)}; "
        f"stderr: {proc.stderr.read() if proc.stderr else ''}"
    )


def run_json(engine: str, *args: str, **extra_env: str) -> dict[str, Any]:
    done = subprocess.run(
        stead_cmd(engine, *args, "--json"),
        capture_output=True,
        text=True,
        env=env(**extra_env),
        cwd=ROOT,
        timeout=120,
    )
    assert done.returncode == 0, f"exit {done.returncode}\nstdout: {done.stdout}\nstderr: {done.stderr}"
    data: dict[str, Any] = json.loads(done.stdout)
    return data


def log_counts(log: Path) -> Counter[str]:
    """How often each event ("start seq:2") happened, whatever process did it."""
    if not log.exists():
        return Counter()
    return Counter(line.split(" ", 1)[1] for line in log.read_text().splitlines())


def kill9(proc: subprocess.Popen[str]) -> None:
    """SIGKILL, as a crash would: no cleanup runs in the process."""
    os.kill(proc.pid, 9)
    proc.wait()
    close(proc)


def close(proc: subprocess.Popen[str]) -> None:
    for stream in (proc.stdout, proc.stderr, proc.stdin):
        if stream is not None:
            stream.close()
