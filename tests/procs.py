"""Helpers for tests that drive real `stead` processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
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


def start(engine: str, *args: str, **extra_env: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
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
