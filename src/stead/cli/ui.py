"""``stead ui`` and ``stead serve``: the dashboard and the HTTP API of an engine's runs."""

from __future__ import annotations

import click

from ._common import Settings, engine_option

__all__ = ["serve", "ui"]


def _options(fn: click.decorators.FC) -> click.decorators.FC:
    fn = click.option(
        "--host",
        default="127.0.0.1",
        show_default=True,
        help="Address to bind; any other than loopback needs a token.",
    )(fn)
    fn = click.option("--port", default=8765, show_default=True, type=click.IntRange(0, 65535))(fn)
    fn = click.option(
        "--token",
        default=None,
        envvar="STEAD_UI_TOKEN",
        help="Token for requests (made up off loopback if not given).",
    )(fn)
    return engine_option(fn)


def _serve(ctx: click.Context, host: str, port: int, token: str | None) -> None:
    from ..ui import serve as serve_app  # needs the ui extra: says how to install it

    settings = ctx.find_object(Settings)
    serve_app(
        settings.engine if settings is not None else None, host=host, port=port, token=token, echo=click.echo
    )


@click.command("ui")
@_options
@click.pass_context
def ui(ctx: click.Context, host: str, port: int, token: str | None) -> None:
    """Serve the dashboard (runs, timelines, conversations, live tokens, approvals) and its HTTP API."""
    _serve(ctx, host, port, token)


@click.command("serve")
@_options
@click.pass_context
def serve(ctx: click.Context, host: str, port: int, token: str | None) -> None:
    """Serve the HTTP API (and the dashboard) headless, for your own front end: /api, /api/openapi.json."""
    _serve(ctx, host, port, token)
