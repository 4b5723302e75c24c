"""Replay tests over committed runs: an exported run of examples/triage.py replays with the code, and a change to
what the code asks of the model fails the test, saying where and how."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

import stead
from stead.testing import replay_file

REPO = Path(__file__).resolve().parent.parent
if str(REPO / "examples") not in sys.path:
    sys.path.insert(0, str(REPO / "examples"))

import triage  # noqa: E402

RUN = Path(__file__).parent / "replays" / "triage-costco.json"  # stead export triage-costco -o ...


async def test_a_committed_run_replays_with_the_current_code() -> None:
    before = dict(triage.tool_calls)
    result = await replay_file(RUN, [triage.triage])
    assert result.complete and result.steps == 6
    assert result.result.startswith("The Costco in Seattle")
    assert triage.tool_calls == before  # no tool ran


async def test_a_changed_prompt_fails_the_replay_with_a_diff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(triage.business_agent, "instructions", "Answer in one word.")
    with pytest.raises(stead.NonDeterminismError) as diverged:
        await replay_file(RUN, [triage.triage])
    message = str(diverged.value)
    assert "0:0/model:2" in message and "'model:Local Business Agent'" in message
    assert '+  "instructions": "Answer in one word.",' in message, message


async def test_a_file_that_is_no_export_says_so(tmp_path: Path) -> None:
    bad = tmp_path / "run.json"
    bad.write_text('{"run": {}}')
    with pytest.raises(stead.UsageError, match="not a stead run export.*stead export"):
        await replay_file(bad, [triage.triage])
    with pytest.raises(stead.UsageError, match="cannot read the run export"):
        await replay_file(tmp_path / "missing.json", [triage.triage])
