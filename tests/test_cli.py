"""The `stead` command line: run, worker, resume, ls, show, send, cancel, and its errors and exit codes."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

import stead
from stead._loader import load_target, load_workflows, module_name_for
from stead.cli import cli

from . import procs

APP = Path(__file__).parent / "apps" / "cli_app.py"


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/s.db"


def invoke(url: str, *args: str) -> Result:
    """`stead --engine URL ARGS...` in this process."""
    return CliRunner().invoke(cli, ["--engine", url, *args], catch_exceptions=False)


def spawn(url: str, *args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """`python -m stead.cli --engine URL ARGS...` in a child process, its stdout a pipe (not a terminal)."""
    return subprocess.run(
        [sys.executable, "-m", "stead.cli", "--engine", url, *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=_env(),
        **kwargs,
    )


def popen(url: str, *args: str) -> subprocess.Popen[str]:
    return procs.popen(
        [sys.executable, "-m", "stead.cli", "--engine", url, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
    )


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("STEAD_ENGINE", None)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def lines_until(stream: Any, marker: str) -> Iterator[str]:
    """The lines read from ``stream`` up to the first containing ``marker`` (fails at end of stream)."""
    for line in stream:
        yield line
        if marker in line:
            return
    raise AssertionError(f"stream ended before a line containing {marker!r}")


def read_until(stream: Any, marker: str) -> list[str]:
    return list(lines_until(stream, marker))


def api(url: str, coro_fn: Any) -> Any:
    """Run ``coro_fn(engine)`` against the engine, through the Python API."""

    async def main() -> Any:
        engine = stead.connect(url)
        try:
            return await coro_fn(engine)
        finally:
            await engine.close()

    return asyncio.run(main())


def error_line(result: Result | subprocess.CompletedProcess[str]) -> str:
    stderr = result.stderr.strip()
    assert stderr.startswith("error: "), stderr
    return stderr


# -- run ------------------------------------------------------------------------------------------------------


def test_run_positional_and_keyword_args_json(url: str) -> None:
    result = invoke(url, "run", f"{APP}:add", "1", "2", "-k", "scale=3", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["status"] == "completed"
    assert data["result"] == 9
    assert data["error"] is None
    assert data["run_id"].startswith("add-")
    info = api(url, lambda e: e.get(data["run_id"]))
    assert info.args == {"args": [1, 2, 3], "kwargs": {}}  # bound to the signature
    assert info.source == str(APP.resolve())


def test_run_string_argument_and_negative_number(url: str) -> None:
    result = invoke(url, "run", f"{APP}:haiku", "hello world", "--json")
    assert json.loads(result.stdout)["result"] == {"topic": "hello world", "lines": 3}
    # A parameter annotated `str` takes the text as is, even when it would parse as JSON.
    result = invoke(url, "run", f"{APP}:haiku", "123", "--json")
    assert json.loads(result.stdout)["result"]["topic"] == "123"
    result = invoke(url, "run", f"{APP}:add", "-1", "-2", "--quiet")
    assert result.exit_code == 0
    assert result.stdout.strip() == "-3"


def test_run_off_a_terminal_prints_a_line_per_step_and_the_run_id(url: str) -> None:
    proc = spawn(url, "run", f"{APP}:add", "2", "3", "--run-id", "plain-1")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("step 0:0 add_step: done in ")
    assert lines[0].endswith("-> 5")
    assert lines[1].startswith("step 0:1 double: done in ")
    assert lines[2] == "5"
    assert lines[3].startswith("run plain-1 completed in ")
    assert lines[3].endswith("stead show plain-1")
    assert "\x1b[" not in proc.stdout  # no live view, no colours


def test_same_run_id_same_args_returns_the_same_run(url: str) -> None:
    first = invoke(url, "run", f"{APP}:add", "1", "2", "--run-id", "dup", "--json")
    second = invoke(url, "run", f"{APP}:add", "1", "2", "--run-id", "dup", "--json")
    assert first.exit_code == second.exit_code == 0
    assert (
        json.loads(first.stdout)
        == json.loads(second.stdout)
        == {
            "run_id": "dup",
            "status": "completed",
            "result": 3,
            "error": None,
        }
    )
    assert [r.run_id for r in api(url, lambda e: e.list())] == ["dup"]


def test_same_run_id_other_args_is_a_conflict(url: str) -> None:
    assert invoke(url, "run", f"{APP}:add", "1", "2", "--run-id", "dup").exit_code == 0
    result = invoke(url, "run", f"{APP}:add", "1", "5", "--run-id", "dup")
    assert result.exit_code == 2
    assert "'dup' already exists with other arguments" in error_line(result)
    assert "Traceback" not in result.output


def test_unknown_file(url: str, tmp_path: Path) -> None:
    result = invoke(url, "run", f"{tmp_path}/missing.py:main")
    assert result.exit_code == 2
    assert error_line(result) == f"error: no file {tmp_path}/missing.py (it does not exist)"


def test_unknown_workflow_lists_the_defined_ones(url: str) -> None:
    result = invoke(url, "run", f"{APP}:nope")
    assert result.exit_code == 2
    message = error_line(result)
    assert "has no workflow 'nope'" in message
    assert "it defines: add, haiku, bad, approval, slow, retrying" in message


def test_target_that_is_not_a_workflow(url: str) -> None:
    result = invoke(url, "run", f"{APP}:not_a_workflow")
    assert result.exit_code == 2
    assert "is a @stead.step, not a @stead.workflow" in error_line(result)


def test_target_without_workflow_name(url: str) -> None:
    result = invoke(url, "run", str(APP))
    assert result.exit_code == 2
    message = error_line(result)
    assert "expected FILE.py:WORKFLOW" in message
    assert "it defines: add, haiku" in message


def test_file_that_raises_on_import(url: str, tmp_path: Path) -> None:
    app = tmp_path / "broken.py"
    app.write_text("import stead\n\nraise RuntimeError('no API key configured')\n")
    result = invoke(url, "run", f"{app}:main")
    assert result.exit_code == 2
    assert error_line(result) == (
        f"error: importing {app} failed: RuntimeError: no API key configured (broken.py, line 3)"
    )


def test_args_that_do_not_fit_the_signature(url: str) -> None:
    result = invoke(url, "run", f"{APP}:add", "1")
    assert result.exit_code == 2
    assert "add(a: int, b: int, scale: int = 1) -> int" in error_line(result)
    assert "missing a required argument: 'b'" in result.stderr
    result = invoke(url, "run", f"{APP}:add", "1", "2", "-k", "nope=1")
    assert result.exit_code == 2
    result = invoke(url, "run", f"{APP}:add", "one", "2")
    assert result.exit_code == 2
    assert "argument 'a' of workflow 'add'" in error_line(result)
    assert api(url, lambda e: e.list()) == []  # nothing was started


def test_non_serializable_result_fails_the_run(url: str) -> None:
    result = invoke(url, "run", f"{APP}:bad")
    assert result.exit_code == 1
    message = error_line(result)
    assert "failed" in message
    assert "SerializationError: the result of workflow 'bad' is not JSON-serializable" in message
    result = invoke(url, "run", f"{APP}:bad", "--json")
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert data["status"] == "failed"
    assert data["error"]["type"] == "SerializationError"


def test_exit_in_workflow_code_fails_the_run(url: str, tmp_path: Path) -> None:
    app = tmp_path / "quits.py"
    app.write_text(
        "import sys\n\nimport stead\n\n\n@stead.workflow\nasync def main() -> None:\n    sys.exit(3)\n"
    )
    result = spawn(url, "run", f"{app}:main")
    assert result.returncode == 1, result.stderr
    assert "WorkflowExited: workflow code called exit(3) (SystemExit, exit code 3)" in error_line(result)
    (run,) = api(url, lambda e: e.list())
    assert run.status is stead.RunStatus.FAILED
    result = spawn(url, "resume", run.run_id)
    assert result.returncode == 1, result.stderr
    assert "exit(3)" in result.stderr


def test_bad_engine_url(tmp_path: Path) -> None:
    result = invoke("mysql://x", "ls")
    assert result.exit_code == 2
    assert "unknown engine URL" in error_line(result)


def test_garbage_database_is_an_engine_error_and_stays_untouched(tmp_path: Path) -> None:
    db = tmp_path / "garbage.db"
    db.write_bytes(b"not a db")
    for args in (["ls"], ["run", f"{APP}:add", "1", "2"], ["show", "x"]):
        result = invoke(f"sqlite:///{db}", *args)
        assert result.exit_code == 3, args
        assert "is not a SQLite database" in error_line(result)
        assert len(result.stderr.strip().splitlines()) == 1
    assert db.read_bytes() == b"not a db"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["garbage.db"]


def test_help_documents_exit_codes() -> None:
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    for line in (
        "0    success",
        "1    the run failed",
        "2    bad input",
        "3    engine error",
        "130  interrupted",
    ):
        assert line in result.stdout


# -- ls, show, send, cancel -----------------------------------------------------------------------------------


def test_ls_and_show(url: str) -> None:
    assert invoke(url, "run", f"{APP}:add", "4", "5", "--run-id", "sum-1").exit_code == 0
    assert invoke(url, "run", f"{APP}:retrying", "t", "--run-id", "retry-1").exit_code == 0
    assert invoke(url, "run", f"{APP}:haiku", "sea", "--run-id", "haiku-1").exit_code == 0

    listing = invoke(url, "ls")
    assert listing.exit_code == 0
    rows = listing.stdout.splitlines()
    assert rows[0].split()[:4] == ["run", "id", "workflow", "status"]
    assert [r.split()[:3] for r in rows[1:]] == [
        ["haiku-1", "haiku", "completed"],
        ["retry-1", "retrying", "completed"],
        ["sum-1", "add", "completed"],
    ]
    assert [r["run_id"] for r in json.loads(invoke(url, "ls", "--json", "-w", "add").stdout)] == ["sum-1"]
    assert invoke(url, "ls", "--status", "failed").stdout.strip() == "no runs match"

    shown = invoke(url, "show", "sum-1")
    assert shown.exit_code == 0
    for text in ("add_step", "double", "completed", "add(4, 5)", str(APP.resolve()), "result\n9\n"):
        assert text in shown.stdout
    retried = invoke(url, "show", "retry-1").stdout
    assert "flaky_once" in retried
    assert "attempt 1: ConnectionError: transient failure for t" in retried
    assert "topic" in invoke(url, "show", "haiku-1").stdout  # published state

    data = json.loads(invoke(url, "show", "sum-1", "--json").stdout)
    assert data["run"]["result"] == 9
    assert [s["name"] for s in data["steps"]] == ["add_step", "double"]

    missing = invoke(url, "show", "nope")
    assert missing.exit_code == 2
    assert "no run 'nope'" in error_line(missing)


def test_show_failed_run_with_traceback(url: str) -> None:
    assert invoke(url, "run", f"{APP}:bad", "--run-id", "bad-1").exit_code == 1
    shown = invoke(url, "show", "bad-1")
    assert "SerializationError" in shown.stdout
    assert "Traceback" not in shown.stdout
    assert "Traceback" in invoke(url, "show", "bad-1", "-v").stdout


def test_send_to_a_finished_run(url: str) -> None:
    assert invoke(url, "run", f"{APP}:add", "1", "1", "--run-id", "done-1").exit_code == 0
    result = invoke(url, "send", "done-1", "go", '{"x": 1}')
    assert result.exit_code == 2
    assert "already completed" in error_line(result)
    assert invoke(url, "send", "nope", "go").exit_code == 2


def test_cancel_a_pending_run(url: str) -> None:
    wf, source = load_target(f"{APP}:approval")

    async def start(engine: stead.Engine) -> str:
        handle = await engine.start(wf, "o-1", run_id="pending-1", source=source)
        return handle.run_id

    assert api(url, start) == "pending-1"
    assert json.loads(invoke(url, "ls", "--json").stdout)[0]["status"] == "pending"
    result = invoke(url, "cancel", "pending-1")
    assert result.exit_code == 0
    assert result.stdout.strip() == "cancelled run pending-1"
    assert json.loads(invoke(url, "ls", "--json").stdout)[0]["status"] == "cancelled"
    assert "cancelled" in invoke(url, "ls").stdout
    assert invoke(url, "cancel", "pending-1").exit_code == 0  # cancelling again changes nothing
    resumed = invoke(url, "resume", "pending-1")
    assert resumed.exit_code == 1
    assert "was cancelled" in error_line(resumed)


# -- resume ---------------------------------------------------------------------------------------------------

PIPELINE = """
import pathlib

import stead

COUNT = pathlib.Path(__file__).with_name("count.txt")


@stead.step
def fetch() -> int:
    with COUNT.open("a") as f:
        f.write("fetch\\n")
    return 20


@stead.step(retry=stead.RetryPolicy(max_attempts=1))
def transform(x: int) -> int:
    {transform}


@stead.step
def store(x: int) -> int:
    return x * 2


@stead.workflow
async def pipeline() -> int:
    x = await fetch()
    y = await transform(x)
    return await store(y)
"""


def test_resume_a_failed_run_after_fixing_the_code(url: str, tmp_path: Path) -> None:
    app = tmp_path / "pipeline.py"
    app.write_text(PIPELINE.format(transform="raise RuntimeError('bug: transform is broken')"))
    failed = spawn(url, "run", f"{app}:pipeline", "--run-id", "pipe-1")
    assert failed.returncode == 1
    assert "RuntimeError: bug: transform is broken" in error_line(failed)
    assert "stead resume pipe-1" in failed.stderr
    assert (tmp_path / "count.txt").read_text() == "fetch\n"

    app.write_text(PIPELINE.format(transform="return x + 1"))
    resumed = spawn(url, "resume", "pipe-1", cwd=str(tmp_path.parent))  # the recorded source is absolute
    assert resumed.returncode == 0, resumed.stderr
    lines = resumed.stdout.splitlines()
    assert lines[0] == "step 0:0 fetch: done (recorded earlier)"
    assert lines[1].startswith("step 0:1 transform: done")
    assert lines[2].startswith("step 0:2 store: done")
    assert lines[3] == "42"
    assert (tmp_path / "count.txt").read_text() == "fetch\n"  # the first step ran exactly once

    shown = invoke(url, "show", "pipe-1").stdout
    assert "attempt 1: RuntimeError: bug: transform is broken" in shown
    again = invoke(url, "resume", "pipe-1", "--json")
    assert json.loads(again.stdout)["result"] == 42


def test_resume_errors(url: str, tmp_path: Path) -> None:
    assert invoke(url, "resume", "nope").exit_code == 2
    wf, _ = load_target(f"{APP}:approval")

    async def start(engine: stead.Engine) -> None:
        await engine.start(wf, "o", run_id="nosource")

    api(url, start)
    result = invoke(url, "resume", "nosource")
    assert result.exit_code == 2
    assert "pass --app" in error_line(result)
    other = tmp_path / "other.py"
    other.write_text("import stead\n\n@stead.workflow\nasync def unrelated() -> None:\n    pass\n")
    result = invoke(url, "resume", "nosource", "--app", str(other))
    assert result.exit_code == 2
    assert "has no workflow 'approval' (it defines: unrelated)" in error_line(result)


def test_interrupted_run_resumes(url: str) -> None:
    proc = popen(url, "run", f"{APP}:approval", "o-7", "--run-id", "int-1")
    assert proc.stdout is not None
    lines = read_until(proc.stdout, "waiting")
    assert lines[0].startswith("step 0:0 add_step: done")
    assert lines[-1] == "wait 0:1 for 'go': waiting (stead send int-1 go JSON)\n"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130
    assert err.strip() == f"interrupted; continue with: stead resume int-1 --engine {url}"
    info = api(url, lambda e: e.get("int-1"))
    assert info.status is stead.RunStatus.RUNNING
    assert info.waiting_for == ["go"]

    assert invoke(url, "send", "int-1", "go", "true").exit_code == 0
    resumed = spawn(url, "resume", "int-1", "--json")
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout)["result"] == {"order": "o-7", "decision": True}


# -- worker ---------------------------------------------------------------------------------------------------


def test_worker_executes_runs_and_stops_on_sigterm(url: str) -> None:
    worker = popen(url, "worker", str(APP), "--concurrency", "4")
    assert worker.stdout is not None
    try:
        start = worker.stdout.readline()
        assert start.startswith(f"stead worker on {url}: serving add, haiku, bad, approval, slow, retrying")
        assert "(concurrency 4)" in start
        wf, source = load_target(f"{APP}:approval")
        api(url, lambda e: e.start(wf, "o-9", run_id="w-1", source=source))
        result = spawn(url, "send", "w-1", "go", '{"x":1}')
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == "sent go to run w-1"
        info = api(url, lambda e: e.wait("w-1", timeout=30))
        assert info.status is stead.RunStatus.COMPLETED
        assert info.result == {"order": "o-9", "decision": {"x": 1}}
        finished = worker.stdout.readline()
        assert finished.startswith("completed w-1 (approval, ")
    finally:
        worker.send_signal(signal.SIGTERM)
        out, err = worker.communicate(timeout=30)
    assert worker.returncode == 0, err
    assert out.strip().endswith("stead worker stopped")


def test_request_prints_the_reply(url: str, tmp_path: Path) -> None:
    app = tmp_path / "answers.py"
    app.write_text(
        textwrap.dedent(
            """
            import stead


            @stead.workflow
            async def answers() -> str:
                request = await stead.receive("ask", timeout=60)
                await request.reply({"echo": request.payload, "run": stead.run_id()})
                return "done"
            """
        )
    )
    worker = popen(url, "worker", str(app))
    try:
        wf, source = load_target(f"{app}:answers")
        api(url, lambda e: e.start(wf, run_id="ask-1", source=source))
        result = invoke(url, "request", "ask-1", "ask", '{"q": 1}')
        assert result.exit_code == 0, result.stderr
        assert json.loads(result.stdout) == {"echo": {"q": 1}, "run": "ask-1"}
        assert api(url, lambda e: e.wait("ask-1", timeout=30)).result == "done"
        result = invoke(url, "request", "ask-1", "ask", "1")
        assert result.exit_code == 2
        assert "has already completed; it takes no more messages" in error_line(result)
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.communicate(timeout=30)


def test_worker_needs_sources(url: str) -> None:
    result = invoke(url, "worker")
    assert result.exit_code == 2
    assert "stead worker app.py" in error_line(result)


# -- loader ---------------------------------------------------------------------------------------------------


def test_loader_imports_a_file_once_under_a_stable_name(tmp_path: Path) -> None:
    wf, source = load_target(f"{APP}:add")
    again, source_again = load_target(f"{APP.parent}/../apps/cli_app.py:add")
    assert wf is again
    assert source == source_again == str(APP.resolve())
    name = module_name_for(APP)
    assert sys.modules[name].add is wf
    assert name == module_name_for(Path(os.path.relpath(APP)))
    assert [w.name for w in load_workflows(source)] == ["add", "haiku", "bad", "approval", "slow", "retrying"]
    assert str(APP.parent.resolve()) == sys.path[0]


def test_loader_imports_modules(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    package = tmp_path / "mypkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "flows.py").write_text(
        textwrap.dedent("""
        import stead

        @stead.workflow(name="greeting")
        async def greet(name: str) -> str:
            return "hi " + name
    """)
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tmp_path))])
    for module in ("mypkg", "mypkg.flows"):
        monkeypatch.delitem(sys.modules, module, raising=False)
    wf, source = load_target("mypkg.flows:greet")
    assert (wf.name, source) == ("greeting", "mypkg.flows")
    assert load_target("mypkg.flows:greeting")[0] is wf
    assert load_workflows("mypkg.flows") == [wf]
    with pytest.raises(stead.WorkflowNotFound, match="no module 'mypkg.nope'"):
        load_workflows("mypkg.nope")
    for module in ("mypkg", "mypkg.flows"):
        sys.modules.pop(module, None)


def test_commands_that_run_no_program_start_without_importing_the_agents_sdk(tmp_path: Path) -> None:
    # The SDK takes seconds to import (openai, mcp, ...): `stead ls`, `show`, `send`, `approve`, `--help` need
    # none of it.
    code = (
        "import sys\n"
        "from stead.cli import main\n"
        f"engine = 'sqlite:///{tmp_path}/s.db'\n"
        "for argv, ok in ((['ls'], True), (['approve', 'no-such-run', 'call_1'], False)):\n"
        "    sys.argv = ['stead', *argv, '--engine', engine]\n"
        "    try:\n"
        "        main()\n"
        "    except SystemExit as exit:\n"
        "        assert (not exit.code) == ok, (argv, exit.code)\n"
        "loaded = sorted(m for m in ('agents', 'openai', 'mcp') if m in sys.modules)\n"
        "assert not loaded, f'imported {loaded}'\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
