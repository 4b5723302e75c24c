"""The ``stead`` command group: the global options, and stead's errors mapped to one line and an exit code."""

from __future__ import annotations

import sqlite3
from typing import Any

import click

from .. import EngineError, SteadError, UsageError, __version__
from ._common import (
    ENGINE_HELP,
    EXIT_ENGINE,
    EXIT_INTERRUPTED,
    EXIT_RUN_FAILED,
    EXIT_USAGE,
    CliExit,
    Settings,
)
from .dev import dev
from .fix import export, fork, replay
from .inspect import ls, show, tail
from .messages import approve, cancel, reject, request, send
from .run import resume, run, worker
from .ui import serve, ui

__all__ = ["cli", "exit_code_for", "main"]

EPILOG = """\b
Exit codes:
  0    success
  1    the run failed or was cancelled (run, resume, fork); no reply in time
       (request); a run diverges from the current code (replay)
  2    bad input: unknown file, workflow or run, arguments that do not
       fit, a run id taken by other arguments, a run already finished
  3    engine error: unreadable or corrupt database, schema too new
  130  interrupted (Ctrl-C); the run stays resumable: stead resume ID
"""


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
        except sqlite3.DatabaseError as exc:  # damage found after the open-time check (or on a huge file)
            raise CliExit(
                f"the database is damaged: {exc}. stead stopped; restore the file from a backup "
                "(`sqlite3 FILE .recover` salvages what is readable), or point --engine / STEAD_ENGINE at "
                "another file.",
                EXIT_ENGINE,
            ) from None


@click.group(cls=SteadGroup, epilog=EPILOG, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-e", "--engine", metavar="URL", default=None, help=ENGINE_HELP)
@click.version_option(__version__, prog_name="stead")
@click.pass_context
def cli(ctx: click.Context, engine: str | None) -> None:
    """Crash-proof AI agents: run workflows durably and inspect their runs."""
    ctx.obj = Settings(engine)


for command in (run, resume, worker, ls, show, tail, send, request, approve, reject, cancel, dev, ui, serve):
    cli.add_command(command)
for command in (replay, fork, export):
    cli.add_command(command)


def main() -> None:
    cli(prog_name="stead")
