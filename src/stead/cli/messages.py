"""``stead send``, ``stead request``, ``stead approve``, ``stead reject`` and ``stead cancel``: talk to runs."""

from __future__ import annotations

import json
from typing import Any

import click

from .. import RunStatus
from ._common import connected, engine_option, run_async
from .run import parse_value

__all__ = ["approve", "cancel", "reject", "request", "send"]


@click.command()
@click.argument("run_id")
@click.argument("name")
@click.argument("payload", required=False, metavar="[JSON]")
@click.option("--text", "as_text", is_flag=True, help="Send PAYLOAD as a string, as is (not parsed as JSON).")
@engine_option
@click.pass_context
def send(ctx: click.Context, run_id: str, name: str, payload: str | None, as_text: bool) -> None:
    """Send a message to a run.

    The run receives it with `await stead.wait_for(NAME)`; messages sent before it waits are kept.

    The payload is parsed as JSON if it parses, else taken as a string (with --text, always a string); default
    null. A payload that looks like JSON ({...}, [...], "...") but does not parse is an error.
    """
    value = _payload(payload, as_text, f"stead send --text {run_id} {name} ...")

    async def main() -> None:
        async with connected(ctx) as engine:
            await engine.send(run_id, name, value)

    run_async(main)
    click.echo(f"sent {name} to run {run_id}")


def _payload(payload: str | None, as_text: bool, as_string: str) -> Any:
    if payload is None:
        return None
    if as_text:
        return payload
    return parse_value(payload, strict=f"send it as a string with: {as_string}")


@click.command()
@click.argument("run_id")
@click.argument("name")
@click.argument("payload", required=False, metavar="[JSON]")
@click.option("--text", "as_text", is_flag=True, help="Send PAYLOAD as a string, as is (not parsed as JSON).")
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=60.0,
    show_default=True,
    help="Seconds to wait for the reply.",
)
@engine_option
@click.pass_context
def request(
    ctx: click.Context, run_id: str, name: str, payload: str | None, as_text: bool, timeout: float
) -> None:
    """Send a request to a run and print its reply (JSON).

    The run answers with `request = await stead.receive(NAME)` ... `await request.reply(VALUE)`. The payload is
    read as by `stead send`. Without a reply within --timeout seconds the command fails (exit code 1); the
    request stays queued for the run.
    """
    value = _payload(payload, as_text, f"stead request --text {run_id} {name} ...")

    async def main() -> Any:
        async with connected(ctx) as engine:
            return await engine.request(run_id, name, value, timeout=timeout)

    click.echo(json.dumps(run_async(main), ensure_ascii=False))


@click.command()
@click.argument("run_id")
@engine_option
@click.pass_context
def cancel(ctx: click.Context, run_id: str) -> None:
    """Cancel a run: at once if idle, else at its next step."""

    async def main() -> RunStatus:
        async with connected(ctx) as engine:
            await engine.cancel(run_id)
            return (await engine.get(run_id)).status

    if run_async(main) is RunStatus.CANCELLED:
        click.echo(f"cancelled run {run_id}")
    else:
        click.echo(f"cancellation of run {run_id} requested; its worker stops it")


@click.command()
@click.argument("run_id")
@click.argument("call_id")
@click.option("--always", is_flag=True, help="Also approve later calls of this tool by the same agent.")
@engine_option
@click.pass_context
def approve(ctx: click.Context, run_id: str, call_id: str, always: bool) -> None:
    """Approve a tool call a run waits on (`stead show RUN_ID` lists them under approvals)."""
    from ..agents import approve as send_approval

    async def main() -> None:
        async with connected(ctx) as engine:
            await send_approval(engine, run_id, call_id, always=always)

    run_async(main)
    click.echo(f"approved {call_id} of run {run_id}")


@click.command()
@click.argument("run_id")
@click.argument("call_id")
@click.option("-m", "--message", default=None, help="What the model is told instead of the tool's output.")
@click.option("--always", is_flag=True, help="Also reject later calls of this tool by the same agent.")
@engine_option
@click.pass_context
def reject(ctx: click.Context, run_id: str, call_id: str, message: str | None, always: bool) -> None:
    """Reject a tool call a run waits on; the model hears why (--message) and goes on without it."""
    from ..agents import reject as send_rejection

    async def main() -> None:
        async with connected(ctx) as engine:
            await send_rejection(engine, run_id, call_id, message=message, always=always)

    run_async(main)
    click.echo(f"rejected {call_id} of run {run_id}")
