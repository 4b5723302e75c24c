"""Fixing code under recorded runs: ``stead replay`` (check), ``stead export`` (keep a run), ``stead fork``."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from .. import NonDeterminismError, RunInfo, SteadError, UsageError, Workflow
from .._replay import export_run
from ._common import (
    EXIT_RUN_FAILED,
    CliExit,
    connected,
    engine_option,
    offline_mode,
    offline_option,
    run_async,
    split_source,
)
from .run import Output, execute, load_for, report, resume_hint

__all__ = ["export", "fork", "replay"]

app_option = click.option(
    "--app",
    "app",
    metavar="SOURCE",
    default=None,
    help="Load the code from this file or module instead of the one each run was started from.",
)


def _since(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise UsageError(
            f"--since {value!r}: give a date or time, e.g. 2026-12-01 or 2026-12-01T09:30"
        ) from None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


@click.command()
@click.argument("run_id", required=False)
@click.option(
    "--workflow", "workflow", metavar="NAME", default=None, help="Replay every run of this workflow."
)
@click.option("--since", "since", metavar="DATE", default=None, help="Replay the runs started since DATE.")
@app_option
@engine_option
@click.pass_context
def replay(
    ctx: click.Context, run_id: str | None, workflow: str | None, since: str | None, app: str | None
) -> None:
    """Check the current code against recorded runs, executing no step.

    Each run's workflow runs against its journal: every step is answered from the record, and the first point
    where the code asks for another step, for the same step with other arguments, or ends before a recorded
    step is reported with both versions. Exits 1 if any run diverges.
    """
    if run_id is None and workflow is None and since is None:
        raise UsageError("stead replay: give a RUN_ID, --workflow NAME or --since DATE")
    after = _since(since)

    async def main() -> tuple[int, int]:
        from ..testing import no_models

        with no_models():
            return await replay_all()

    async def replay_all() -> tuple[int, int]:
        async with connected(ctx) as engine:
            if run_id is not None:
                runs = [await engine.get(run_id)]
            else:
                runs = await engine.list(workflow=workflow, limit=100_000)
                runs = sorted(runs, key=lambda r: r.created_at)
            if after is not None:
                runs = [r for r in runs if r.created_at >= after]
            if not runs:
                raise UsageError("no runs match: nothing to replay")
            loaded: dict[str, list[Workflow[..., Any]]] = {}
            diverged = 0
            for info in runs:
                try:
                    key = app or split_source(info.source)[0] or ""
                    if key not in loaded or not any(w.name == info.workflow for w in loaded[key]):
                        loaded[key] = load_for(info, app)
                    result = await engine.replay(info.run_id, loaded[key])
                except NonDeterminismError as exc:
                    diverged += 1
                    click.echo(f"DIVERGED {info.run_id}: {exc}")
                    continue
                except (SteadError, Exception) as exc:
                    # The code fails where the recorded run did not (or cannot be loaded): as good as diverged.
                    diverged += 1
                    click.echo(f"ERROR    {info.run_id}: {type(exc).__name__}: {exc}")
                    continue
                click.echo(f"ok       {info.run_id} ({_replayed(result, info)})")
            return len(runs), diverged

    total, diverged = run_async(main)
    if diverged:
        raise CliExit(f"{diverged} of {total} run(s) diverge from the current code", EXIT_RUN_FAILED)
    click.echo(f"{total} run(s) replay with the current code")


def _replayed(result: Any, info: RunInfo) -> str:
    steps = getattr(result, "steps", None)
    told = f"{steps} steps replayed" if isinstance(steps, int) else "replayed"
    complete = getattr(result, "complete", True)
    return f"{told}, {info.status}" + ("" if complete else ", up to where it is now")


@click.command()
@click.argument("run_id")
@click.option(
    "-o", "--output", "output", metavar="FILE", default=None, help="Write to FILE (default: standard output)."
)
@engine_option
@click.pass_context
def export(ctx: click.Context, run_id: str, output: str | None) -> None:
    """Write a run (its information and steps) as JSON, for replay tests (stead.testing.replay_file)."""

    async def main() -> dict[str, Any]:
        async with connected(ctx) as engine:
            return export_run(await engine.get(run_id), await engine.steps(run_id))

    text = json.dumps(run_async(main), ensure_ascii=False, indent=2) + "\n"
    if output is None:
        click.echo(text, nl=False)
    else:
        Path(output).write_text(text, encoding="utf-8")
        click.echo(f"wrote {output}", err=True)


@click.command()
@click.argument("run_id")
@click.option(
    "--at", "at", metavar="STEP", required=True, help="The step to run again from: its position or number."
)
@click.option(
    "--set-result",
    "set_result",
    metavar="JSON",
    default=None,
    help="Use this value (JSON) as the step's result (or the message it received) instead of running it.",
)
@click.option("--run-id", "new_id", metavar="ID", default=None, help="The new run's id (default: a new one).")
@app_option
@click.option(
    "--json", "as_json", is_flag=True, help="Print only a JSON object: run_id, status, result, error."
)
@click.option("-q", "--quiet", is_flag=True, help="Print only the result.")
@offline_option
@engine_option
@click.pass_context
def fork(
    ctx: click.Context,
    run_id: str,
    at: str,
    set_result: str | None,
    new_id: str | None,
    app: str | None,
    as_json: bool,
    quiet: bool,
    offline: bool,
) -> None:
    """Start a new run from a recorded one: its results before STEP are taken over, the rest runs here.

    Steps that started before STEP keep their recorded results (they do not run, and cost nothing again); STEP
    and everything after run with the current code. The original run is left as it was.
    """
    replace: Any = None
    if set_result is not None:
        try:
            replace = json.loads(set_result)
        except ValueError as exc:
            raise UsageError(
                f"--set-result: not JSON ({exc}); quote strings: --set-result '\"text\"'"
            ) from None
    output = Output(as_json, quiet)

    async def main() -> tuple[RunInfo | None, float | None, str]:
        async with connected(ctx) as engine:
            original = await engine.get(run_id)
            workflows = load_for(original, app)
            handle = await engine.fork(run_id, at, run_id=new_id, replace=replace)
            if not (as_json or quiet):
                click.echo(f"forked {run_id} at step {at} as {handle.run_id}", err=True)
            info = await engine.get(handle.run_id)
            source, started_offline = split_source(original.source)
            with offline_mode(offline or started_offline, [app or source or ""]):
                result, elapsed = await execute(engine, info, workflows, output)
            return result, elapsed, handle.run_id

    info, elapsed, forked = run_async(main)
    report(info, elapsed, output, forked, resume_hint(ctx, forked))
