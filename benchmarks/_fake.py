"""The fake OpenAI server in a process of its own, for benchmarks whose both sides talk to it over HTTP."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def fake_server_process(script: dict[str, Any]) -> tuple[subprocess.Popen[str], str]:
    """Start ``python -m stead.testing.fake_openai`` answering from ``script``; the process and its base URL."""
    process = subprocess.Popen(
        [sys.executable, "-m", "stead.testing.fake_openai", "--script-json", json.dumps(script)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line.startswith("READY "):
        process.kill()
        raise RuntimeError(f"the fake OpenAI server did not start: {line!r}")
    return process, line.split()[1]
