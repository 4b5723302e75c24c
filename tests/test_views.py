"""The view layer the CLI and a dashboard both render: core only, and its derived facts."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta

from stead import RunInfo, RunStatus, StepInfo
from stead._usage import RunUsage, TokenUsage
from stead._views import (
    age_text,
    budget_text,
    budget_view,
    duration_text,
    redacted,
    result_text,
    run_status_label,
    run_view,
    step_request,
    workerless,
)


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


def test_a_budget_with_what_is_used_and_left() -> None:
    now = datetime.now(UTC)
    info = RunInfo("r-1", "wf", RunStatus.COMPLETED, now, now, state={"stead.budget": {"max_tokens": 100}})
    used = RunUsage.of([("a", "gpt-4o-mini", TokenUsage(1, 90, 0, 30, 0, 120))])
    assert budget_view(info, used) == {"tokens": {"limit": 100, "used": 120, "left": 0}}
    assert budget_text(budget_view(info, used)) == "100 tokens: 120 used, 0 left"
    assert run_view(info)["budget"] == {"tokens": {"limit": 100, "used": None, "left": None}}
    assert budget_text(budget_view(info)) == "100 tokens"
    assert run_view(_run(RunStatus.RUNNING, True))["budget"] is None
    odd = RunInfo("r-2", "wf", RunStatus.COMPLETED, now, now, state={"stead.budget": "lots"})
    assert budget_view(odd) is None


def test_secrets_are_redacted_from_requests() -> None:
    value = {
        "extra_headers": {"Authorization": "Bearer abc", "X-Api-Key": "k", "Accept": "json"},
        "max_tokens": 30,
        "api_key": None,
        "items": [{"text": "sk-abcdefghijklmnop"}, {"text": "sk is fine"}],
        "access_token": "t",
    }
    assert redacted(value) == {
        "extra_headers": {"Authorization": "[redacted]", "X-Api-Key": "[redacted]", "Accept": "json"},
        "max_tokens": 30,
        "api_key": None,
        "items": [{"text": "[redacted]"}, {"text": "sk is fine"}],
        "access_token": "[redacted]",
    }
    now = datetime.now(UTC)
    tool = StepInfo("0:0/c1", "tool:f", "tool", "done", 1, now, args_json=json.dumps(["f", '{"x": 1}']))
    assert step_request(tool) == {"tool": "f", "arguments": {"x": 1}}
    settings = {"temperature": 0.1, "top_p": None, "extra_headers": {"api-key": "sk-secretsecret"}}
    model = StepInfo(
        "0:0/model:1", "model:A", "model", "done", 1, now, args_json=json.dumps({"settings": settings})
    )
    assert step_request(model) == {
        "settings": {"temperature": 0.1, "extra_headers": {"api-key": "[redacted]"}}
    }
    assert step_request(StepInfo("0:1", "s", "step", "done", 1, now)) is None
