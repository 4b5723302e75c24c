"""examples/buggy_tool.py as a person runs it: the bug stops the run, the fix and `stead resume` continue it."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from .procs import ROOT, env, stead_cmd

EXAMPLE = str(ROOT / "examples" / "buggy_tool.py")


def stead(engine: str, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    environment = env(**extra)
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "STEAD_OPENAI_API", "BUGGY_TOOL_FIXED"):
        if name not in extra:
            environment.pop(name, None)
    return subprocess.run(
        stead_cmd(engine, *args), capture_output=True, text=True, env=environment, cwd=ROOT, timeout=120
    )


def test_the_bug_stops_the_run_and_resume_continues_with_the_fix(tmp_path: Path) -> None:
    engine = f"sqlite:///{tmp_path / 'stead.db'}"
    failed = stead(
        engine, "run", "--offline", f"{EXAMPLE}:split", "Split 120 EUR among 0 people", "--run-id", "bill"
    )
    assert failed.returncode == 1, failed.stderr
    assert "ZeroDivisionError: float division by zero" in failed.stderr
    assert "stead resume bill" in failed.stderr

    shown = json.loads(stead(engine, "show", "bill", "--json").stdout)
    steps = {s["summary"]: s for s in shown["steps"]}
    assert shown["run"]["status"] == "failed"
    assert steps["tool · split_bill"]["status"] == "failed"
    assert "Traceback" in json.dumps(shown["run"]["error"]), "the traceback is not shown"

    resumed = stead(engine, "resume", "bill", "--offline", BUGGY_TOOL_FIXED="1")
    assert resumed.returncode == 0, resumed.stderr
    assert "Nobody to split it with" in resumed.stdout
    assert "model · Splitter · gpt-4o-mini: done (recorded earlier)" in resumed.stdout + resumed.stderr

    shown = json.loads(stead(engine, "show", "bill", "--json").stdout)
    assert shown["run"]["status"] == "completed"
    assert [(s["summary"], s["status"], s["attempts"]) for s in shown["steps"]] == [
        ("model · Splitter · gpt-4o-mini", "done", 1),
        ("tool · split_bill", "done", 1),
        ("model · Splitter · gpt-4o-mini", "done", 1),
    ]
