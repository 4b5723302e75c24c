"""Serving the app with uvicorn: the address and token rules, in the foreground or inside a running loop."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import secrets
import socket
from collections.abc import Callable
from types import TracebackType

import uvicorn

from .._engine import Engine, connect
from .._exceptions import UsageError
from ._app import LOOPBACK_HOSTS, create_app

__all__ = ["Server", "is_loopback", "serve"]


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class Server:
    """The dashboard and API on ``host:port`` inside the running event loop (``port=0``: a free port).

    ``async with Server(engine) as server: ... server.url``. Binding an address other than loopback needs a
    token; without one, a random token is made (``server.token``), and ``server.login_url`` carries it.
    """

    def __init__(
        self, engine: Engine, *, host: str = "127.0.0.1", port: int = 8765, token: str | None = None
    ) -> None:
        if not isinstance(port, int) or not 0 <= port <= 65535:
            raise UsageError(f"port must be a number from 0 to 65535, got {port!r}")
        if token is not None and (len(token) < 16 or not token.isprintable() or " " in token):
            raise UsageError("a token must be at least 16 printable characters without spaces")
        self.engine = engine
        self.host = host
        self.loopback = is_loopback(host)
        self.token = token if token is not None or self.loopback else secrets.token_urlsafe(24)
        app = create_app(engine, token=self.token, allowed_hosts=LOOPBACK_HOSTS if self.loopback else None)
        config = uvicorn.Config(
            app, host=host, port=port, log_level="warning", lifespan="off", access_log=False
        )
        self._server = uvicorn.Server(config)
        self._task: asyncio.Task[None] | None = None
        self.port = port

    @property
    def url(self) -> str:
        host = self.host
        if host in ("0.0.0.0", "::", ""):
            host = socket.gethostname()  # every address: name one that others can reach
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.port}"

    @property
    def login_url(self) -> str:
        """The URL to open: with the token, when the server has one (the page keeps it in a cookie)."""
        return f"{self.url}/?token={self.token}" if self.token else f"{self.url}/"

    async def start(self) -> None:
        self._task = asyncio.create_task(self._server.serve())
        while not self._server.started:
            if self._task.done():
                self._task.result()
                raise UsageError(f"the dashboard could not listen on {self.host}:{self.port}")
            await asyncio.sleep(0.01)
        sockets = [s for server in self._server.servers for s in server.sockets]
        if sockets:
            self.port = sockets[0].getsockname()[1]

    async def stop(self) -> None:
        self._server.should_exit = True
        if self._task is not None:
            await self._task
            self._task = None

    async def wait(self) -> None:
        """Serve until the process is interrupted (uvicorn handles SIGINT / SIGTERM)."""
        if self._task is not None:
            await self._task

    async def __aenter__(self) -> Server:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()


def serve(
    engine_url: str | None = None,
    host: str = "127.0.0.1",
    port: int = 8765,
    token: str | None = None,
    *,
    echo: Callable[[str], object] = print,
) -> None:
    """Serve the dashboard and API for the engine at ``engine_url`` until interrupted (``stead ui``).

    Prints the URL to open once; off loopback it carries the token (made up when none is given).
    """

    async def main() -> None:
        engine = connect(engine_url)
        try:
            server = Server(engine, host=host, port=port, token=token)
            await server.start()
            echo(f"stead ui: {server.login_url}  (engine {engine.url.split('://', 1)[0]}; Ctrl-C stops)")
            await server.wait()
        finally:
            await engine.close()

    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C: uvicorn has shut down cleanly, then re-raises it
        asyncio.run(main())
