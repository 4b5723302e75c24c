"""Offline runs as a person types them: resume offline without being told, one script per program, no hang."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import subprocess
from pathlib import Path

from stead import connect
from stead._loader import load_workflows
from stead.testing import FakeOpenAIServer, load_script

from . import procs
from .procs import ROOT, env, read_until, stead_cmd

STORY = """
from agents import Agent, Runner
import stead

poet = Agent(name="Poet", instructions="Write one line about the topic.", model="gpt-4o-mini")

@stead.workflow
async def story(topic: str) -> str:
    first = (await Runner.run(poet, topic)).final_output
    await stead.wait_for("go")
    second = (await Runner.run(poet, f"{topic}, again")).final_output
    return f"{first} / {second}"
"""

STORY_SCRIPT = {
    "rules": [
        {"match": {"input_contains": "again"}, "reply": {"text": "line two"}},
        {"match": {"instructions_contains": "Write one line"}, "reply": {"text": "line one"}},
    ]
}

LATER = """
from agents import Agent, Runner
import stead

clerk = Agent(name="Clerk", instructions="Confirm the order.", model="gpt-4o-mini")

@stead.workflow
async def later(order: str) -> str:
    await stead.wait_for("go")
    return str((await Runner.run(clerk, order)).final_output)
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def no_model_env() -> dict[str, str]:
    out = env()
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "STEAD_OPENAI_API"):
        out.pop(name, None)
    return out


def stead(engine: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        stead_cmd(engine, *args),
        capture_output=True,
        text=True,
        env=no_model_env(),
        cwd=ROOT,
        timeout=timeout,
    )


def popen(engine: str, *args: str) -> subprocess.Popen[str]:
    return procs.popen(
        stead_cmd(engine, *args),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=no_model_env(),
        cwd=ROOT,
    )


def interrupt_when_waiting(proc: subprocess.Popen[str]) -> str:
    read_until(proc, "waiting")
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    return err.strip()


def show(engine: str, run_id: str) -> dict[str, object]:
    done = stead(engine, "show", run_id, "--json")
    assert done.returncode == 0, done.stderr
    info: dict[str, object] = json.loads(done.stdout)["run"]
    return info


def test_a_run_started_offline_resumes_offline_as_the_hint_says(tmp_path: Path) -> None:
    (tmp_path / "story.py").write_text(STORY)
    (tmp_path / "story.offline.json").write_text(json.dumps(STORY_SCRIPT))
    engine = f"sqlite:///{tmp_path}/s.db"
    proc = popen(engine, "run", "--offline", f"{tmp_path}/story.py:story", "the sea", "--run-id", "r1")
    hint = interrupt_when_waiting(proc)
    assert hint == f"interrupted; continue with: stead resume r1 --engine {engine}"
    assert show(engine, "r1")["source"] == f"{tmp_path}/story.py --offline"

    assert stead(engine, "send", "r1", "go", "true").returncode == 0
    resumed = stead(engine, *hint.removeprefix("interrupted; continue with: stead ").split()[:2], "-q")
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stdout.strip() == "line one / line two"


def test_a_model_configuration_error_at_resume_leaves_the_run_resumable(tmp_path: Path) -> None:
    (tmp_path / "later.py").write_text(LATER)
    (tmp_path / "later.offline.json").write_text(json.dumps({"rules": [], "default": {"text": "confirmed"}}))
    engine = f"sqlite:///{tmp_path}/s.db"
    # Started without --offline and without a model: it waits before its first model call.
    proc = popen(engine, "run", f"{tmp_path}/later.py:later", "o-1", "--run-id", "l1")
    assert interrupt_when_waiting(proc) == f"interrupted; continue with: stead resume l1 --engine {engine}"
    assert stead(engine, "send", "l1", "go", "true").returncode == 0

    failed = stead(engine, "resume", "l1")
    assert failed.returncode == 2, failed.stderr
    assert "no model provider is configured" in failed.stderr
    assert (
        f"Run l1 stays resumable: configure a model, then stead resume l1 --engine {engine}" in failed.stderr
    )
    assert show(engine, "l1")["status"] in ("pending", "running")  # not failed: resumable

    resumed = stead(engine, "resume", "l1", "--offline", "-q")
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stdout.strip() == "confirmed"


def test_resuming_a_run_that_calls_models_without_one_configured_runs_nothing(tmp_path: Path) -> None:
    (tmp_path / "story.py").write_text(STORY)
    engine = f"sqlite:///{tmp_path}/s.db"
    with FakeOpenAIServer(load_script(STORY_SCRIPT)) as server:  # a model server for the first part only
        proc = procs.popen(
            stead_cmd(engine, "run", f"{tmp_path}/story.py:story", "the sea", "--run-id", "r2"),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**no_model_env(), "OPENAI_BASE_URL": server.base_url, "OPENAI_API_KEY": "k"},
            cwd=ROOT,
        )
        interrupt_when_waiting(proc)
    refused = stead(engine, "resume", "r2")
    assert refused.returncode == 2, refused.stderr
    assert "run r2 calls models, and no model provider is configured" in refused.stderr
    assert "Nothing ran: the run stays resumable" in refused.stderr
    assert show(engine, "r2")["status"] == "running"


def program(name: str) -> str:
    return f"""
from agents import Agent, Runner
import stead

@stead.workflow
async def {name}(text: str) -> str:
    agent = Agent(name="{name.title()}", instructions="Answer.", model="gpt-4o-mini")
    return str((await Runner.run(agent, text)).final_output)
"""


def test_an_offline_worker_answers_each_program_from_its_own_script(tmp_path: Path) -> None:
    for name in ("alpha", "beta"):
        (tmp_path / f"{name}.py").write_text(program(name))
        (tmp_path / f"{name}.offline.json").write_text(json.dumps({"rules": [], "default": f"from {name}"}))
    engine = f"sqlite:///{tmp_path}/s.db"

    async def start_both() -> None:
        api = connect(engine)
        try:
            for name in ("alpha", "beta"):
                (wf,) = load_workflows(str(tmp_path / f"{name}.py"))
                await api.start(wf, "hi", run_id=f"{name}-1")
        finally:
            await api.close()

    asyncio.run(start_both())
    worker = popen(engine, "worker", "--offline", f"{tmp_path}/alpha.py", f"{tmp_path}/beta.py")
    try:
        done = {line.split()[1] for line in read_until(worker, "completed") + read_until(worker, "completed")}
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.communicate(timeout=60)
    assert {"alpha-1", "beta-1"} <= done
    assert show(engine, "alpha-1")["result"] == "from alpha"
    assert show(engine, "beta-1")["result"] == "from beta"


def test_a_closed_model_port_shows_each_failed_attempt_with_the_address_at_once(tmp_path: Path) -> None:
    (tmp_path / "alpha.py").write_text(program("alpha"))
    closed = f"http://127.0.0.1:{free_port()}/v1"
    proc = procs.popen(
        stead_cmd(f"sqlite:///{tmp_path}/s.db", "run", f"{tmp_path}/alpha.py:alpha", "hi", "--run-id", "c1"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**no_model_env(), "OPENAI_BASE_URL": closed, "OPENAI_API_KEY": "k"},
        cwd=ROOT,
    )
    assert proc.stderr is not None
    try:
        first = proc.stderr.readline()
        second = proc.stderr.readline()
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=60)
    assert first.startswith("0:0/model:1 attempt 1 failed: APIConnectionError: Connection error."), first
    assert f"(model server {closed}); attempt 2 in " in first
    assert second.startswith("0:0/model:1 attempt 2 failed: APIConnectionError"), second


def test_an_offline_request_no_rule_matches_fails_the_run_at_once_naming_it(tmp_path: Path) -> None:
    (tmp_path / "alpha.py").write_text(program("alpha"))
    script = {"rules": [{"match": {"input_contains": "weather"}, "reply": "sunny"}]}
    (tmp_path / "alpha.offline.json").write_text(json.dumps(script))
    done = stead(
        f"sqlite:///{tmp_path}/s.db", "run", "--offline", f"{tmp_path}/alpha.py:alpha", "hello there"
    )
    assert done.returncode == 1, done.stderr
    assert "0:0/model:1 attempt 1 failed: BadRequestError" in done.stderr
    assert "; not retried" in done.stderr
    assert "no rule matches this request and the script has no default" in done.stderr
    assert "input 'hello there'" in done.stderr
