"""MCP servers opened in workflow code, with their connection held by the worker.

``async with MCPServerStdio(...) as server:`` in a workflow does not connect from workflow code: the workflow
code of some engines (Temporal) runs on an event loop with no subprocesses or sockets, and a replay must not
start the server again. Entering the server is a step that opens the connection on the worker; the requests
workflow code makes (the SDK's ``list_tools`` each turn, prompts, resources) are steps too, answered on replay
from the journal; the tool calls run inside their own tool steps. The connection belongs to one run and one
server, is opened again lazily by a worker that takes the run over, and is closed when the workflow code leaves
the server (``cleanup``), or when the worker stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import copy
import json
from contextlib import AsyncExitStack
from typing import Any

import mcp.types
from agents.mcp.server import _MCPServerWithClientSession

from .. import _serde
from .._context import StepCall, current_scope
from .._retry import RetryPolicy

__all__ = ["MCP_RETRY", "close_connections", "install_mcp"]

MCP_RETRY = RetryPolicy(max_attempts=3, initial_interval=0.5)
"""Retries of a request to an MCP server made from workflow code (connecting, listing tools)."""

_ORIGINAL: dict[str, Any] = {}


class _Connection:
    """A connection to an MCP server, owned by one task of the worker's event loop (the MCP client's cancel
    scopes must be left by the task that entered them)."""

    def __init__(self, server: _MCPServerWithClientSession) -> None:
        twin = copy.copy(server)  # the workflow's object keeps no connection: it may live on another loop
        twin.session = None
        twin.exit_stack = AsyncExitStack()
        twin._cleanup_lock = asyncio.Lock()
        twin._request_lock = asyncio.Lock()
        self.server = twin
        self.loop = asyncio.get_running_loop()
        self.ready: asyncio.Future[None] = self.loop.create_future()
        self.closing = asyncio.Event()
        self.task = self.loop.create_task(self._hold(), context=contextvars.Context())

    async def _hold(self) -> None:
        try:
            await _ORIGINAL["connect"](self.server)
        except BaseException as exc:
            self.ready.set_exception(exc)
            with contextlib.suppress(Exception):
                await _ORIGINAL["cleanup"](self.server)
            return
        self.ready.set_result(None)
        try:
            await self.closing.wait()
        finally:
            try:
                await _ORIGINAL["cleanup"](self.server)
            finally:
                _closing.discard(self)

    async def request(self, op: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        await asyncio.shield(self.ready)
        if op == "connect":
            return None
        session = self.server.session
        if session is None:
            raise RuntimeError(f"the connection to MCP server {self.server.name!r} is closed")
        return await getattr(session, op)(*args, **kwargs)

    def close_soon(self) -> None:
        if not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self.closing.set)


#: The open connections of this worker, by (run id, server): a key the run's replays reproduce.
_connections: dict[str, _Connection] = {}
#: Connections asked to close whose task has not ended yet.
_closing: set[_Connection] = set()


async def _on_worker(
    key: str, server: _MCPServerWithClientSession, op: str, *args: Any, **kwargs: Any
) -> Any:
    """Run ``op`` on the worker's connection ``key``, opening it first if this worker holds none."""
    connection = _connections.get(key)
    if connection is None or connection.task.done():
        connection = _connections[key] = _Connection(server)
    if asyncio.get_running_loop() is connection.loop:
        return await connection.request(op, args, kwargs)
    # A Temporal activity may run on another loop than the connection's (a worker of its own).
    there = asyncio.run_coroutine_threadsafe(connection.request(op, args, kwargs), connection.loop)
    return await asyncio.wrap_future(there)


def _encode(value: Any) -> Any:
    if value is None:
        return None
    if not isinstance(value, mcp.types.Result):
        raise TypeError(f"an MCP request returned {type(value).__name__}, not an MCP result")
    return {"type": type(value).__name__, "data": value.model_dump(mode="json", by_alias=True)}


def _decode(data: Any) -> Any:
    if data is None:
        return None
    return getattr(mcp.types, data["type"]).model_validate(data["data"])


class _WorkerSession:
    """What the workflow's server object holds instead of an MCP client session: each request goes to the
    connection of this worker, as a step when workflow code makes it, directly from inside a step."""

    def __init__(self, key: str, server: _MCPServerWithClientSession) -> None:
        self.key = key
        self.server = server

    def __getattr__(self, op: str) -> Any:
        if op.startswith("_") or not callable(getattr(mcp.ClientSession, op, None)):
            raise AttributeError(op)

        async def request(*args: Any, **kwargs: Any) -> Any:
            return await _request(self.key, self.server, op, args, kwargs)

        return request


async def _request(
    key: str, server: _MCPServerWithClientSession, op: str, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    scope = current_scope()
    if scope is None:  # a tool call, in its own step
        return await _on_worker(key, server, op, *args, **kwargs)

    async def run() -> Any:
        return _encode(await _on_worker(key, server, op, *args, **kwargs))

    inputs = json.dumps(
        _serde.to_json_value({"args": list(args), "kwargs": kwargs}, f"the arguments of MCP request {op}"),
        separators=(",", ":"),
    )
    call = StepCall(
        name=f"mcp:{op}",
        fn=run,
        args_json=inputs,
        retry=MCP_RETRY,
        kind="mcp",
        summary=f"mcp · {op} · {server.name}",
    )
    return _decode(await scope.runtime.execute_step(scope, call))


async def _connect(self: _MCPServerWithClientSession) -> None:
    scope = current_scope()
    if scope is None:
        await _ORIGINAL["connect"](self)
        return
    key = f"{scope.runtime.run_id}/{scope.runtime.uuid4(scope)}"

    async def run() -> Any:
        await _on_worker(key, self, "connect")
        return _encode(_connections[key].server.server_initialize_result)

    call = StepCall(
        name="mcp:connect",
        fn=run,
        args_json=json.dumps(self.name),
        retry=MCP_RETRY,
        kind="mcp",
        summary=f"mcp · connect · {self.name}",
    )
    self.server_initialize_result = _decode(await scope.runtime.execute_step(scope, call))
    self.session = _WorkerSession(key, self)  # type: ignore[assignment]


async def _cleanup(self: _MCPServerWithClientSession) -> None:
    session = self.session
    if not isinstance(session, _WorkerSession):
        await _ORIGINAL["cleanup"](self)
        return
    # No step, and nothing awaited before the close is asked for: this also runs when an engine drops the
    # workflow code (a Temporal eviction).
    self.session = None
    connection = _connections.pop(session.key, None)
    if connection is None:
        return
    _closing.add(connection)
    connection.close_soon()
    if connection.loop is asyncio.get_running_loop():
        await asyncio.shield(connection.task)  # as the SDK's own cleanup: the server has ended on return


async def close_connections() -> None:
    """Close every MCP connection this worker holds (when its last worker stops)."""
    held = [*_connections.values(), *_closing]
    _connections.clear()
    for connection in held:
        connection.close_soon()
    mine = [c.task for c in held if c.loop is asyncio.get_running_loop()]
    if mine:
        await asyncio.gather(*mine, return_exceptions=True)


def install_mcp() -> None:
    """Make MCP servers entered in workflow code connect on the worker (idempotent)."""
    if _ORIGINAL:
        return
    cls: Any = _MCPServerWithClientSession
    _ORIGINAL["connect"], _ORIGINAL["cleanup"] = cls.connect, cls.cleanup
    for name, fn in (("connect", _connect), ("cleanup", _cleanup)):
        original = getattr(cls, name)
        fn.__name__, fn.__qualname__, fn.__doc__ = original.__name__, original.__qualname__, original.__doc__
        setattr(cls, name, fn)
