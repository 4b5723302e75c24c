"""``stead ls``, ``stead show`` and ``stead tail``: look at runs."""

from __future__ import annotations

import asyncio
import json

import click
from rich.text import Text

from .. import Engine, RunInfo, RunStatus, RunUsage, StepInfo, usage
from .._views import run_detail_view, run_list_view, workerless
from ._common import connected, engine_option, print_events, run_async
from .render import how_to_resume, out_console, runs_table, show_run

__all__ = ["ls", "show", "tail"]


WAITING = "waiting"


async def _list(engine: Engine, statuses: tuple[str, ...], workflow: str | None, limit: int) -> list[RunInfo]:
    """Runs with the statuses asked for, where ``waiting`` means running and waiting for a message."""
    if WAITING not in statuses:
        wanted = [RunStatus(s) for s in statuses] or None
        return await engine.list(status=wanted, workflow=workflow, limit=limit)
    wanted = [RunStatus(s) for s in statuses if s != WAITING]
    # Engines filter by status only: read the unfinished runs generously, keep the waiting ones.
    runs = await engine.list(
        status=[*wanted, RunStatus.RUNNING, RunStatus.PENDING], workflow=workflow, limit=max(limit, 1000)
    )
    return [r for r in runs if r.status in wanted or r.waiting_for][:limit]


@click.command(name="ls")
@click.option(
    "-s",
    "--status",
    "statuses",
    multiple=True,
    type=click.Choice([*(s.value for s in RunStatus), WAITING]),
    help="Only runs with this status (repeatable); waiting: runs waiting for a message or an approval.",
)
@click.option("-w", "--workflow", default=None, help="Only runs of this workflow.")
@click.option("-n", "--limit", default=50, show_default=True, type=click.IntRange(min=1))
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
@engine_option
@click.pass_context
def ls(
    ctx: click.Context, statuses: tuple[str, ...], workflow: str | None, limit: int, as_json: bool
) -> None:
    """List runs, newest first."""

    async def main() -> tuple[list[RunInfo], list[RunUsage]]:
        async with connected(ctx) as engine:
            runs = await _list(engine, statuses, workflow, limit)
            # Usage is read from each run's journal (its model steps), the same on every engine.
            journals = await asyncio.gather(*(engine.steps(r.run_id) for r in runs))
            return runs, [usage(steps) for steps in journals]

    runs, usages = run_async(main)
    if as_json:
        click.echo(json.dumps(run_list_view(runs, usages), ensure_ascii=False, indent=2))
    elif not runs:
        click.echo("no runs" + (" match" if statuses or workflow else " yet: stead run FILE.py:WORKFLOW"))
    else:
        tokens = {r.run_id: u.total_tokens for r, u in zip(runs, usages, strict=True)}
        console = out_console()
        console.print(runs_table(runs, tokens))
        for info in filter(workerless, runs):
            console.print(Text(f"no worker holds run {info.run_id}: {how_to_resume(info)}", style="yellow"))


@click.command()
@click.argument("run_id")
@click.option("--json", "as_json", is_flag=True, help="Print the run and its steps as JSON.")
@click.option("-v", "--verbose", is_flag=True, help="Show tracebacks and bookkeeping entries.")
@engine_option
@click.pass_context
def show(ctx: click.Context, run_id: str, as_json: bool, verbose: bool) -> None:
    """Show a run: its steps, state, and result.

    The header (workflow, status, arguments, source), what the run published, the timeline of its steps with
    retried attempts, and its result or error (-v adds tracebacks)."""

    async def main() -> tuple[RunInfo, list[StepInfo]]:
        async with connected(ctx) as engine:
            return await engine.get(run_id), await engine.steps(run_id)

    info, steps = run_async(main)
    if as_json:
        click.echo(json.dumps(run_detail_view(info, steps), ensure_ascii=False, indent=2))
        return
    console = out_console()
    for part in show_run(info, steps, verbose=verbose):
        console.print(part)


@click.command()
@click.argument("run_id")
@click.option("--all", "from_start", is_flag=True, help="Replay the run's earlier events first.")
@engine_option
@click.pass_context
def tail(ctx: click.Context, run_id: str, from_start: bool) -> None:
    """Follow a run's stream: each model and tool attempt, and the models' tokens as they come.

    Ends when the run finishes. A failed (or cut off) attempt is marked: ignore the text it streamed.
    """

    async def main() -> RunInfo:
        async with connected(ctx) as engine:
            await print_events(engine, run_id, after=0 if from_start else None)
            return await engine.get(run_id)

    info = run_async(main)
    click.echo(f"run {run_id} {info.status}")
