"""What the CLI prints where it matters: text results as text, argument and payload errors, waiting and dead runs."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest

from .test_cli import api, error_line, invoke, popen, read_until

APP = Path(__file__).parent / "apps" / "cli_output_app.py"
ARGS_APP = Path(__file__).parent / "apps" / "cli_app.py"


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/s.db"


def test_a_text_result_prints_as_text(url: str) -> None:
    quiet = invoke(url, "run", f"{APP}:poem", "the sea", "-q")
    assert (quiet.exit_code, quiet.stdout) == (0, "a poem on the sea\nin two lines\n")
    plain = invoke(url, "run", f"{APP}:poem", "rain", "--run-id", "poem-1")
    assert plain.stdout.startswith("a poem on rain\nin two lines\nrun poem-1 completed")
    assert "result\na poem on rain\nin two lines\n" in invoke(url, "show", "poem-1").stdout
    # --json stays JSON.
    data = json.loads(invoke(url, "run", f"{APP}:poem", "fog", "--json").stdout)
    assert data["result"] == "a poem on fog\nin two lines"


def test_argument_errors_are_one_clear_line(url: str) -> None:
    result = invoke(url, "run", f"{ARGS_APP}:add", "x", "2")
    assert result.exit_code == 2
    message = error_line(result)
    assert "argument 'a' of workflow 'add'" in message
    assert "valid integer" in message and "(got 'x')" in message
    assert "errors.pydantic.dev" not in result.stderr
    assert "For further information" not in result.stderr


def test_send_refuses_broken_json_and_sends_text_with_text(url: str) -> None:
    proc = popen(url, "run", f"{APP}:waiter", "o-1", "--run-id", "wait-1")
    try:
        assert "waiting (stead send wait-1 go JSON)" in read_until(proc.stdout, "waiting")[-1]
        for broken in ('{"approved": true', "[1, 2", '"unclosed'):
            result = invoke(url, "send", "wait-1", "go", broken)
            assert result.exit_code == 2, broken
            message = error_line(result)
            assert "is not valid JSON" in message
            assert "stead send --text wait-1 go" in message
        assert api(url, lambda e: e.get("wait-1")).waiting_for == ["go"]  # nothing was delivered

        sent = invoke(url, "send", "--text", "wait-1", "go", '{"approved": true')
        assert sent.exit_code == 0, sent.output
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    info = api(url, lambda e: e.get("wait-1"))
    assert info.result == {"order": "o-1", "decision": '{"approved": true'}


def test_ls_status_waiting(url: str) -> None:
    assert invoke(url, "run", f"{APP}:poem", "sun", "--run-id", "done-1").exit_code == 0
    proc = popen(url, "run", f"{APP}:waiter", "o-2", "--run-id", "wait-2")
    try:
        read_until(proc.stdout, "waiting")
        listed = invoke(url, "ls", "--status", "waiting", "--json")
        assert listed.exit_code == 0, listed.output
        assert [(r["run_id"], r["waiting_for"]) for r in json.loads(listed.stdout)] == [("wait-2", ["go"])]
        both = invoke(url, "ls", "-s", "waiting", "-s", "completed", "--json")
        assert [r["run_id"] for r in json.loads(both.stdout)] == ["wait-2", "done-1"]
        assert invoke(url, "ls", "-s", "waiting", "-w", "poem").stdout.strip() == "no runs match"
        assert invoke(url, "send", "wait-2", "go", "true").exit_code == 0
        proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0
    assert invoke(url, "ls", "--status", "waiting").stdout.strip() == "no runs match"


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT], ids=["kill-9", "ctrl-c"])
def test_a_running_run_that_no_worker_holds_says_how_to_resume(url: str, sig: signal.Signals) -> None:
    proc = popen(url, "run", f"{ARGS_APP}:slow", "100000", "--run-id", "slow-1")
    try:
        read_until(proc.stdout, "add_step")
        alive = json.loads(invoke(url, "ls", "--json").stdout)[0]
        assert (alive["status"], alive["worker_alive"]) == ("running", True)
        assert "no worker" not in invoke(url, "ls").stdout
        proc.send_signal(sig)
        proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    listing = invoke(url, "ls")
    assert listing.stdout.splitlines()[1].split()[:4] == ["slow-1", "slow", "running", "(no"]
    assert "no worker holds run slow-1: continue it with: stead resume slow-1" in listing.stdout
    dead = json.loads(invoke(url, "ls", "--json").stdout)[0]
    assert (dead["status"], dead["worker_alive"]) == ("running", False)
    shown = invoke(url, "show", "slow-1").stdout
    assert "running (no worker)" in shown
    assert "none holds this run: continue it with: stead resume slow-1" in shown


def test_rerunning_a_finished_run_id_says_the_result_is_recorded(url: str) -> None:
    first = invoke(url, "run", f"{APP}:poem", "moss", "--run-id", "p-1")
    assert first.exit_code == 0
    assert "already" not in first.stderr
    again = invoke(url, "run", f"{APP}:poem", "moss", "--run-id", "p-1")
    assert again.exit_code == 0
    assert again.stdout.startswith("a poem on moss\nin two lines\n")
    assert "run p-1 already completed (" in again.stderr
    assert (
        "its recorded outcome follows (to run it again, leave out --run-id or pass a new one)" in again.stderr
    )
    assert invoke(url, "run", f"{APP}:poem", "moss", "--run-id", "p-1", "-q").stderr == ""
    resumed = invoke(url, "resume", "p-1")
    assert "run p-1 already completed (" in resumed.stderr
