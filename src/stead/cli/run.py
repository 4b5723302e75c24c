"""``stead run``, ``stead resume`` and ``stead worker``: execute runs in this process."""

from __future__ import annotations

import asyncio
import contextlib
import difflib
import inspect
import json
import re
import shlex
import sys
import time
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn

import click

from .. import Engine, RunInfo, RunNotFound, RunStatus, SteadError, UsageError, Workflow, WorkflowNotFound
from .._loader import load_target, load_workflows
from .._views import age_text, duration_text, outcome_view, result_text
from ._common import (
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_RUN_FAILED,
    CliExit,
    Settings,
    add_signal_handlers,
    connected,
    engine_option,
    offline_mode,
    offline_option,
    print_events,
    print_failed_attempt,
    recorded_source,
    run_async,
    split_source,
    workflows_of,
)
from .render import LineProgress, LiveProgress, Progress, out_console, stdout_is_terminal

__all__ = [
    "Output",
    "build_arguments",
    "execute",
    "load_for",
    "parse_value",
    "report",
    "resume",
    "resume_hint",
    "run",
    "worker",
]


# -- arguments from the command line --------------------------------------------------------------------------


def parse_value(text: str, *, strict: str | None = None) -> Any:
    """JSON if the text parses as JSON (``1``, ``true``, ``{"x": 1}``), else the text itself.

    With ``strict`` (how to pass a string instead), text that looks like JSON (an object, array or quoted string)
    but does not parse is an error rather than a string.
    """
    try:
        return json.loads(text, parse_constant=_reject)
    except ValueError as exc:
        if strict is not None and text.lstrip()[:1] in ("{", "[", '"'):
            raise UsageError(f"{text!r} is not valid JSON ({exc}); fix it, or {strict}") from None
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


_NUMBER = re.compile(r"-(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")


class WorkflowCommand(click.Command):
    """A command whose trailing arguments are the workflow's: ``-1`` is an argument, ``--ofline`` an error.

    Unknown options are let through (so that negative numbers reach the workflow), then any word before ``--``
    that looks like an option but is none of this command's is refused, naming it.
    """

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        takes_value: dict[str, bool] = {}
        for param in self.get_params(ctx):
            if isinstance(param, click.Option):
                for name in (*param.opts, *param.secondary_opts):
                    takes_value[name] = not (param.is_flag or param.count)
        words = iter(args)
        for word in words:
            if word == "--":
                break
            if not word.startswith("-") or word == "-" or _NUMBER.fullmatch(word):
                continue
            name = word.partition("=")[0] if word.startswith("--") else word[:2]
            if name not in takes_value:
                self._refuse(ctx, word if word.startswith("--") else name, takes_value)
            if word.startswith("--"):
                if takes_value[name] and "=" not in word:
                    next(words, None)
                continue
            for n, char in enumerate(word[1:], 1):  # a cluster of short options: -qs, -kNAME=VALUE
                short = f"-{char}"
                if short not in takes_value:
                    self._refuse(ctx, short, takes_value)
                if takes_value[short]:
                    if n == len(word) - 1:
                        next(words, None)
                    break
        return super().parse_args(ctx, args)

    @staticmethod
    def _refuse(ctx: click.Context, name: str, known: dict[str, bool]) -> NoReturn:
        close = difflib.get_close_matches(name, [k for k in known if k.startswith("--")], n=1)
        raise click.NoSuchOption(
            name,
            message=f"No such option: {name}; a workflow argument that starts with '-' goes after '--' "
            f"(stead run FILE.py:WORKFLOW -- {name}).",
            possibilities=close,
            ctx=ctx,
        )


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
    if output.stream:
        await engine.watch(run_id)  # before the worker takes the run: its first model call streams too
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
    handled = add_signal_handlers(loop, interrupt)
    streamer = None
    if output.stream:
        streamer = asyncio.create_task(print_events(engine, run_id))
    elif not output.as_json:  # a retried attempt shows at once, not after minutes as the step's outcome
        streamer = asyncio.create_task(print_events(engine, run_id, printer=print_failed_attempt))
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
                # The last events, written as the run ended; an interrupted run does not end.
                await asyncio.wait_for(streamer, 0 if interrupts else 2.0)
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


def resume_hint(ctx: click.Context, run_id: str) -> str:
    """The command that continues the run, with the engine option if one was given on the command line."""
    settings = ctx.find_object(Settings)
    engine = f" --engine {shlex.quote(settings.engine)}" if settings is not None and settings.engine else ""
    return f"stead resume {run_id}{engine}"


async def kept_resumable(engine: Engine, info: RunInfo | None, resume_with: str) -> RunInfo | None:
    """A run that failed because no model is configured here is reopened: it fails for this process' settings,
    not for its own sake, and stays resumable (the CLI then says what to configure)."""
    if info is None or info.status is not RunStatus.FAILED or info.error is None:
        return info
    if info.error.type != "ModelNotConfigured":
        return info
    from ..agents import ModelNotConfigured

    await engine.reopen(info.run_id)
    raise ModelNotConfigured(
        f"{info.error.message} Run {info.run_id} stays resumable: configure a model, then {resume_with}"
    )


async def _check_models_configured(engine: Engine, info: RunInfo) -> None:
    """Refuse, before anything runs, to resume a run that calls models in a process where none is configured."""
    if not any(step.kind == "model" for step in await engine.steps(info.run_id)):
        return  # it may make no model call at all; a first one fails as kept_resumable says
    from ..agents import ModelNotConfigured, env_provider

    try:
        env_provider().get_model(None)
    except ModelNotConfigured as exc:
        raise ModelNotConfigured(
            f"run {info.run_id} calls models, and {exc} Nothing ran: the run stays resumable (stead resume "
            f"{info.run_id} once configured; --offline answers from the program's offline script)"
        ) from None


def report(
    info: RunInfo | None, elapsed: float | None, output: Output, run_id: str, resume_with: str
) -> NoReturn:
    """Print the outcome of a run executed (or found finished) by run/resume, and exit with its code."""
    if info is None:
        raise CliExit(f"interrupted; continue with: {resume_with}", EXIT_INTERRUPTED, prefix="")
    code = EXIT_OK if info.status is RunStatus.COMPLETED else EXIT_RUN_FAILED
    if output.as_json:
        click.echo(json.dumps(outcome_view(info), ensure_ascii=False))
        raise click.exceptions.Exit(code)
    took = f" in {duration_text(elapsed)}" if elapsed is not None else ""
    if info.status is RunStatus.COMPLETED:
        click.echo(result_text(info.result))
        if not output.quiet:
            click.echo(f"run {info.run_id} completed{took} — stead show {info.run_id}")
        raise click.exceptions.Exit(code)
    if info.status is RunStatus.CANCELLED:
        raise CliExit(f"run {info.run_id} was cancelled{took}", code)
    error = str(info.error) if info.error is not None else "unknown error"
    raise CliExit(
        f"run {info.run_id} failed{took}: {error} — details: stead show {info.run_id} -v; after a fix: "
        f"{resume_with}",
        code,
    )


def _notice_finished(info: RunInfo, then: str) -> None:
    """Say (on stderr) that what follows is the recorded outcome of an earlier run, not of a new one."""
    when = age_text(info.finished_at or info.updated_at)
    click.echo(
        f"run {info.run_id} already {info.status} ({when}); its recorded outcome follows ({then})", err=True
    )


def _finished_elapsed(info: RunInfo) -> float | None:
    return None if info.finished_at is None else (info.finished_at - info.created_at).total_seconds()


def _with(workflows: list[Workflow[..., Any]], wf: Workflow[..., Any]) -> list[Workflow[..., Any]]:
    return workflows if any(w is wf for w in workflows) else [wf, *workflows]


# -- commands -------------------------------------------------------------------------------------------------


@click.command(cls=WorkflowCommand, context_settings={"ignore_unknown_options": True})
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
@offline_option
@engine_option
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
        async with connected(ctx) as engine:
            with offline_mode(offline, [source]):
                return await start_and_execute(engine)

    async def start_and_execute(engine: Engine) -> tuple[RunInfo | None, float | None, str]:
        existed = False
        if run_id is not None:
            with contextlib.suppress(RunNotFound):
                await engine.get(run_id)
                existed = True
        handle = await engine.start(
            wf, *call_args, run_id=run_id, source=recorded_source(source, offline), **call_kwargs
        )
        info = await engine.get(handle.run_id)
        if info.status.finished:
            if existed and not (as_json or quiet):
                _notice_finished(info, "to run it again, leave out --run-id or pass a new one")
            return info, _finished_elapsed(info), handle.run_id
        if existed and not (as_json or quiet):
            click.echo(f"run {handle.run_id} exists ({info.status}); continuing it", err=True)
        result, elapsed = await execute(engine, info, _with(workflows, wf), output)
        return await kept_resumable(engine, result, resume_hint(ctx, handle.run_id)), elapsed, handle.run_id

    info, elapsed, started_id = run_async(main)
    report(info, elapsed, output, started_id, resume_hint(ctx, started_id))


@click.command()
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
@offline_option
@engine_option
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
        async with connected(ctx) as engine:
            info = await engine.get(run_id)
            if info.status is RunStatus.COMPLETED:
                if not (as_json or quiet):
                    _notice_finished(info, "a completed run does not run again")
                return info, _finished_elapsed(info)
            if info.status is RunStatus.CANCELLED:
                raise CliExit(
                    f"run {run_id} was cancelled; a cancelled run does not resume (start a new run)",
                    EXIT_RUN_FAILED,
                )
            workflows = load_for(info, app)
            source, started_offline = split_source(info.source)
            offline_now = offline or started_offline
            if not offline_now:
                await _check_models_configured(engine, info)
            if info.status is RunStatus.FAILED:
                info = await engine.reopen(run_id)
            with offline_mode(offline_now, [app or source or ""]):
                result, elapsed = await execute(engine, info, workflows, output)
                return await kept_resumable(engine, result, resume_hint(ctx, run_id)), elapsed

    info, elapsed = run_async(main)
    report(info, elapsed, output, run_id, resume_hint(ctx, run_id))


def load_for(info: RunInfo, app: str | None) -> list[Workflow[..., Any]]:
    """The workflows of the run's code: from ``--app``, else from the source recorded when it started."""
    source = app or split_source(info.source)[0]
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


@click.command()
@click.argument("sources", nargs=-1, metavar="[FILE.py | package.module]...")
@click.option(
    "-c",
    "--concurrency",
    default=100,
    show_default=True,
    type=click.IntRange(min=1),
    help="Runs executed at once.",
)
@offline_option
@engine_option
@click.pass_context
def worker(ctx: click.Context, sources: tuple[str, ...], concurrency: int, offline: bool) -> None:
    """Serve workflows: execute their runs until stopped.

    Executes the runs of every workflow defined in SOURCES (files or modules) until Ctrl-C or SIGTERM, and
    takes over the unfinished runs of workers that died.
    """
    if not sources:
        raise UsageError("pass the program file(s) whose workflows to serve: stead worker app.py")
    workflows = workflows_of(sources)

    async def main() -> None:
        async with connected(ctx) as engine:
            with offline_mode(offline, sources, engine):
                await serve(engine)

    async def serve(engine: Engine) -> None:
        runner = engine.worker(workflows, concurrency=concurrency)
        loop = asyncio.get_running_loop()
        handled = add_signal_handlers(loop, runner.stop)
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

    run_async(main)


async def _report_finished(engine: Engine, run_id: str, status: str) -> None:
    try:
        info = await engine.get(run_id)
    except SteadError:
        click.echo(f"{status:<9} {run_id}")
        return
    line = f"{status:<9} {run_id} ({info.workflow}, {duration_text(_finished_elapsed(info))})"
    if info.error is not None:
        line += f": {info.error}"
    click.echo(line)
    sys.stdout.flush()
