"""What the commands share: exit codes, the one-line error, the engine connection, signals, offline mode."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import typing
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.text import Text

from .. import Engine, RunEvent, UsageError, Workflow, WorkflowNotFound, connect
from .._loader import load_workflows
from .render import EventPrinter, err_console

__all__ = [
    "ENGINE_HELP",
    "EXIT_ENGINE",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_RUN_FAILED",
    "EXIT_USAGE",
    "CliExit",
    "Settings",
    "add_signal_handlers",
    "connected",
    "engine_option",
    "offline_mode",
    "offline_option",
    "print_events",
    "print_failed_attempt",
    "recorded_source",
    "run_async",
    "script_of",
    "split_source",
    "workflows_of",
]

T = TypeVar("T")

EXIT_OK, EXIT_RUN_FAILED, EXIT_USAGE, EXIT_ENGINE, EXIT_INTERRUPTED = 0, 1, 2, 3, 130


class CliExit(click.ClickException):
    """Ends the command with ``exit_code``, printing ``message`` (if any) as one line on stderr."""

    def __init__(self, message: str, exit_code: int, *, prefix: str = "error: ") -> None:
        super().__init__(message)
        self.exit_code = exit_code  # type: ignore[misc]  # click declares it a ClassVar; per-instance here
        self.prefix = prefix

    def show(self, file: typing.IO[Any] | None = None) -> None:
        if self.message:
            err_console().print(Text.assemble((self.prefix, "bold red"), self.message))


@dataclass
class Settings:
    engine: str | None


ENGINE_HELP = (
    "Engine URL (else $STEAD_ENGINE, else sqlite:///.stead/stead.db); temporal://host:port for Temporal."
)


def _set_engine(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    if value is None:
        return
    settings = ctx.find_object(Settings)
    if settings is None:
        ctx.obj = Settings(value)
    else:
        settings.engine = value  # given after the command: it wins over one given before


#: ``--engine`` on each command too, so that it works before or after the command's name.
engine_option = click.option(
    "-e", "--engine", metavar="URL", default=None, expose_value=False, callback=_set_engine, help=ENGINE_HELP
)


def run_async(main: Callable[[], Coroutine[Any, Any, T]]) -> T:
    return asyncio.run(main())


@asynccontextmanager
async def connected(ctx: click.Context) -> AsyncIterator[Engine]:
    settings = ctx.find_object(Settings)
    engine = connect(
        settings.engine if settings is not None else None
    )  # None: $STEAD_ENGINE, else the default
    try:
        yield engine
    finally:
        await engine.close()


def add_signal_handlers(loop: asyncio.AbstractEventLoop, handler: Callable[[], None]) -> list[signal.Signals]:
    """Call ``handler`` on SIGINT and SIGTERM (where the platform allows); the signals handled."""
    handled = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, handler)
        except (NotImplementedError, RuntimeError, ValueError):  # not on this platform or thread
            continue
        handled.append(sig)
    return handled


def workflows_of(sources: Sequence[str]) -> list[Workflow[..., Any]]:
    """Every workflow the sources (files or modules) define, each once."""
    workflows: list[Workflow[..., Any]] = []
    for source in sources:
        for wf in load_workflows(source):
            if all(w is not wf for w in workflows):
                workflows.append(wf)
    if sources and not workflows:
        raise WorkflowNotFound(f"{', '.join(sources)} define(s) no @stead.workflow")
    return workflows


offline_option = click.option(
    "--offline",
    is_flag=True,
    help="Answer model calls from the program's offline script (FILE.offline.json beside it) through a local "
    "fake OpenAI-compatible server: no provider, no key, no network.",
)


OFFLINE_MARK = " --offline"
"""Ends the recorded source of a run started with ``--offline``: ``stead resume`` continues it offline."""


def recorded_source(source: str, offline: bool) -> str:
    """The source to record for a run: where its code is, and whether it runs offline."""
    return source + OFFLINE_MARK if offline else source


def split_source(recorded: str | None) -> tuple[str | None, bool]:
    """A run's recorded source without the offline mark, and whether it was started offline."""
    if recorded is not None and recorded.endswith(OFFLINE_MARK):
        return recorded[: -len(OFFLINE_MARK)], True
    return recorded, False


def script_of(source: str) -> Path:
    """The offline script a program ships; a UsageError saying where it was looked for if none."""
    from ..testing import offline_script_for

    script = offline_script_for(source)
    if script is None:
        raise UsageError(
            f"--offline: {source} ships no offline script (expected NAME.offline.json beside the file, or "
            "offline.json in its package); see docs/offline.md"
        )
    return script


def offline_mode(
    enabled: bool, sources: Sequence[str], engine: Engine | None = None
) -> contextlib.AbstractContextManager[Any]:
    """With --offline, agents in this process talk to a fake model server that replays each program's script.

    Each run is answered from the script of the source that defines its workflow (``engine`` finds a run's
    workflow); requests outside a run, or of a run no source defines, from the first source's script.
    """
    if not enabled:
        return contextlib.nullcontext()
    from ..testing import PerRunScripts, fake_models

    scripts = {source: script_of(source) for source in sources}
    by_workflow: dict[str, Path] = {}
    if engine is not None and len(set(scripts.values())) > 1:
        for source in sources:
            for wf in load_workflows(source):
                by_workflow.setdefault(wf.name, scripts[source])
    loop = asyncio.get_running_loop() if by_workflow else None

    def script_of_run(run_id: str) -> Path | None:  # called from a server thread, once per run
        if engine is None or loop is None:
            return None
        future = asyncio.run_coroutine_threadsafe(engine.get(run_id), loop)
        try:
            info = future.result(timeout=30)
        except Exception:  # an unknown run: the first source's script answers
            return None
        return by_workflow.get(info.workflow)

    return fake_models(PerRunScripts(scripts[sources[0]], script_of_run))


async def print_events(
    engine: Engine, run_id: str, after: int | None = None, printer: Callable[[RunEvent], None] | None = None
) -> None:
    """Print the run's events as they come, until it finishes; from the start (``after=0``) or from now."""
    shown = EventPrinter() if printer is None else None
    show = printer or shown
    assert show is not None
    if after is None:  # only what happens from now on
        async for event in engine.events(run_id, follow=False):
            after = event.id
    try:
        async for event in engine.events(run_id, after=after or 0):
            show(event)
    finally:
        if shown is not None:
            shown.close()


def model_server() -> str:
    """Where this process sends model calls: what a connection error is about."""
    return os.environ.get("OPENAI_BASE_URL") or "https://api.openai.com/v1 (OPENAI_BASE_URL unset)"


def failed_attempt_line(event: RunEvent) -> str:
    """One line for a failed attempt, as it happens: what failed, where it went, and when it is tried again."""
    data = event.data if isinstance(event.data, dict) else {}
    error = str(data.get("error"))
    if error.startswith(("APIConnectionError", "APITimeoutError", "ConnectError")):
        error += f" (model server {model_server()})"
    retry = data.get("retry_in")
    then = (
        f"; attempt {event.attempt + 1} in {retry:.1f}s"
        if isinstance(retry, int | float)
        else "; not retried"
    )
    return f"{event.position} attempt {event.attempt} failed: {error}{then}"


def print_failed_attempt(event: RunEvent) -> None:
    if event.kind == "attempt_failed":
        click.echo(failed_attempt_line(event), err=True)
        sys.stderr.flush()
