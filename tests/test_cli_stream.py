"""`stead run --stream` and `stead tail`: tokens as they come, failed attempts marked."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from .procs import ROOT, env, stead_cmd

STORY = "Once upon a time a small robot learned to paint the sea at dawn."

APP = """
from agents import Agent, Runner
import stead

@stead.workflow
async def story(prompt: str) -> str:
    agent = Agent(name="Storyteller", instructions="Tell a story.", model="gpt-4o-mini")
    result = Runner.run_streamed(agent, prompt)
    async for _ in result.stream_events():
        pass
    return str(result.final_output)
"""


def test_run_stream_then_tail_all(tmp_path: Path) -> None:
    (tmp_path / "story.py").write_text(APP)
    (tmp_path / "story.offline.json").write_text(
        json.dumps([{"text": STORY, "drop_after_chunks": 8}, {"text": STORY}])
    )
    engine = f"sqlite:///{tmp_path}/s.db"
    cmd = stead_cmd(
        engine, "run", "--offline", "--stream", f"{tmp_path}/story.py:story", "a robot", "--run-id", "s1"
    )
    done = subprocess.run(cmd, capture_output=True, text=True, env=env(), cwd=ROOT, timeout=60)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "── model · Storyteller · gpt-4o-mini"
    assert any("attempt 1 failed" in line and "ignore its text above" in line for line in lines)
    assert "── model · Storyteller · gpt-4o-mini (attempt 2)" in lines
    assert STORY in lines
    tail = subprocess.run(
        stead_cmd(engine, "tail", "s1", "--all"),
        capture_output=True,
        text=True,
        env=env(),
        cwd=ROOT,
        timeout=60,
    )
    assert tail.returncode == 0, tail.stderr
    assert tail.stdout.splitlines()[-1] == "run s1 completed"
    assert STORY in tail.stdout
