"""`stead replay`, `stead export` and `stead fork` from the command line (the engines' semantics are in
tests/conformance/test_fix.py)."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

from click.testing import CliRunner, Result

from stead.cli import cli

APP = """
import stead

@stead.step
async def add(a: int, b: int) -> int:
    return a + b

@stead.workflow
async def sums(n: int) -> list[int]:
    return [await add(i, 1 if i == 0 else {b}) for i in range(n)]
"""


def invoke(url: str, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--engine", url, *args], catch_exceptions=False)


def write_app(path: Path, b: int) -> str:
    path.write_text(textwrap.dedent(APP.format(b=b)))
    return str(path)


def test_replay_export_and_fork(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/s.db"
    app = write_app(tmp_path / "app.py", 1)
    assert json.loads(invoke(url, "run", f"{app}:sums", "3", "--run-id", "s1", "-q").output) == [1, 2, 3]
    assert invoke(url, "run", f"{app}:sums", "2", "--run-id", "s2", "-q").exit_code == 0

    same = invoke(url, "replay", "--workflow", "sums")
    assert same.exit_code == 0, same.output
    assert "ok       s1 (3 steps replayed, completed)" in same.output
    assert "2 run(s) replay with the current code" in same.output

    write_app(tmp_path / "app.py", 10)  # a change the recorded runs did not see
    changed = invoke(url, "replay", "s1")
    assert changed.exit_code == 1
    assert "DIVERGED s1" in changed.output and "at step 0:1" in changed.output
    assert "\n-    1\n+    10\n" in changed.output, changed.output
    assert invoke(url, "replay", "--since", "2999-01-01").exit_code == 2
    assert "give a RUN_ID" in invoke(url, "replay").output

    out = tmp_path / "s1.json"
    assert invoke(url, "export", "s1", "-o", str(out)).exit_code == 0
    data = json.loads(out.read_text())
    assert data["format"] == "stead-run/1" and data["steps"][1]["args"] == [[1, 1], {}]

    forked = invoke(url, "fork", "s1", "--at", "2", "--run-id", "s1-fixed", "-q")
    assert forked.exit_code == 0, forked.output
    assert json.loads(forked.output) == [1, 11, 12]  # step 1 taken from s1, steps 2-3 run with the new code
    edited = invoke(url, "fork", "s1-fixed", "--at", "0:2", "--set-result", "99", "--json")
    assert json.loads(edited.output)["result"] == [1, 11, 99]
    bad = invoke(url, "fork", "s1", "--at", "2", "--set-result", "not json")
    assert bad.exit_code == 2 and "--set-result: not JSON" in bad.output
