"""pytest fixtures for testing stead programs: an engine, fake models, a guard against real model calls.

Enable them in the ``conftest.py`` at the top of your tests (or run ``pytest -p stead.testing.pytest``)::

    pytest_plugins = ["stead.testing.pytest"]

The plugin is opt-in rather than registered for every pytest run of every project that installs stead. The
async fixture needs pytest-asyncio (``pip install pytest-asyncio``).

* ``stead_engine``: a connected :class:`stead.Engine`, closed after the test; the embedded SQLite engine on a
  fresh file in ``tmp_path``. ``stead_engine_url`` is its URL (for workers in subprocesses, or more clients).
* With ``--stead-temporal HOST:PORT`` (a ``temporal server start-dev``), every test using them runs once per
  engine, ``[sqlite]`` and ``[temporal]``; each Temporal test gets a task queue of its own in the namespace
  ``--stead-temporal-namespace`` (default ``default``). The ini option ``stead_engines`` (``sqlite``,
  ``temporal``) fixes the engines instead; override the ``stead_temporal_address`` fixture to start a server.
* ``fake_openai``: a :class:`FakeModels` factory: ``fake_openai(responder)`` starts a
  :class:`~stead.testing.FakeOpenAIServer` that ``Agent(model="gpt-4o-mini")`` inside workflows talks to (through
  ``OPENAI_BASE_URL``), stopped and the environment restored after the test. Start it before the worker.
* ``no_model_calls``: the test fails if a model is called: the environment points agents at a local server that
  refuses and records every request, and connections to hosts other than this one raise.
"""

from __future__ import annotations

import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any, Literal

import pytest

import stead

from ._offline import fake_models
from .fake_openai import FakeOpenAIServer, FakeRequest, Fault, Responder

try:
    import pytest_asyncio
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "stead.testing.pytest needs pytest-asyncio for its async fixtures: pip install pytest-asyncio"
    ) from exc

__all__ = [
    "ENGINES",
    "FakeModels",
    "fake_openai",
    "no_model_calls",
    "pytest_addoption",
    "pytest_configure",
    "pytest_generate_tests",
    "stead_engine",
    "stead_engine_url",
    "stead_temporal_address",
    "stead_temporal_namespace",
]

ENGINES = ("sqlite", "temporal")
"""The engines ``stead_engine`` can be parametrized over."""


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("stead")
    group.addoption(
        "--stead-temporal",
        metavar="HOST:PORT",
        default=None,
        help="also run the tests using stead_engine on the Temporal server at this address",
    )
    group.addoption(
        "--stead-temporal-namespace",
        metavar="NAME",
        default="default",
        help="the Temporal namespace of those tests (default: default)",
    )
    parser.addini(
        "stead_engines", type="args", default=[], help="engines stead_engine runs on: sqlite temporal"
    )


def _engines(config: pytest.Config) -> list[str]:
    configured = [str(name) for name in config.getini("stead_engines")]
    if not configured:
        return ["sqlite", "temporal"] if config.getoption("stead_temporal") else ["sqlite"]
    unknown = [name for name in configured if name not in ENGINES]
    if unknown:
        raise pytest.UsageError(f"stead_engines: unknown engine(s) {unknown}; use {' and '.join(ENGINES)}")
    return configured


def pytest_configure(config: pytest.Config) -> None:
    _engines(config)  # a bad stead_engines is a usage error before collection


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "stead_engine_url" not in metafunc.fixturenames:
        return
    for marker in metafunc.definition.iter_markers("parametrize"):
        names = marker.args[0] if marker.args else ""
        if "stead_engine_url" in (names.split(",") if isinstance(names, str) else names):
            return  # the test chose its engines itself
    engines = _engines(metafunc.config)
    metafunc.parametrize("stead_engine_url", engines, indirect=True, ids=engines)


@pytest.fixture(scope="session")
def stead_temporal_address(pytestconfig: pytest.Config) -> str:
    """The Temporal server tests run on: ``--stead-temporal``; override this fixture to start one."""
    address = pytestconfig.getoption("stead_temporal")
    if not address:
        pytest.skip(
            "no Temporal server: pass --stead-temporal HOST:PORT (e.g. of `temporal server start-dev`)"
        )
    return str(address)


@pytest.fixture
def stead_temporal_namespace(pytestconfig: pytest.Config) -> str:
    """The namespace of a Temporal test. Run ids are unique per namespace: override to give each test its own."""
    return str(pytestconfig.getoption("stead_temporal_namespace"))


@pytest.fixture
def stead_engine_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of the engine this test runs on (a fresh SQLite file, or a task queue of its own on Temporal)."""
    kind = getattr(request, "param", "sqlite")
    if kind == "sqlite":
        return f"sqlite:///{tmp_path}/stead.db"
    if kind == "temporal":
        pytest.importorskip("temporalio", reason="the Temporal engine needs: pip install 'stead[temporal]'")
        address = request.getfixturevalue("stead_temporal_address")
        namespace = request.getfixturevalue("stead_temporal_namespace")
        return f"temporal://{address}?namespace={namespace}&task_queue=test-{uuid.uuid4().hex[:8]}"
    raise pytest.UsageError(f"stead_engine_url: unknown engine {kind!r}; use {' or '.join(ENGINES)}")


@pytest_asyncio.fixture
async def stead_engine(stead_engine_url: str) -> AsyncIterator[stead.Engine]:
    """A connected engine (see ``stead_engine_url``), closed after the test."""
    engine = stead.connect(stead_engine_url)
    try:
        yield engine
    finally:
        await engine.close()


class FakeModels:
    """The ``fake_openai`` fixture: starts fake model servers that agents in workflows talk to."""

    def __init__(self, stack: ExitStack) -> None:
        self._stack = stack
        self.servers: list[FakeOpenAIServer] = []
        """Every server started in this test, oldest first; the newest is the one agents talk to."""

    def __call__(
        self,
        responder: Responder,
        *,
        api: Literal["chat", "responses"] | None = None,
        tracing: bool = False,
    ) -> FakeOpenAIServer:
        """Start a server answering with ``responder`` and point agent runs at it until the test ends.

        ``api`` picks the API agents use (``STEAD_OPENAI_API``; Chat Completions by default). Tracing is switched
        off unless ``tracing`` is true (for tests of tracing that install their own trace processors).
        """
        server = self._stack.enter_context(fake_models(responder, api=api, tracing=tracing))
        self.servers.append(server)
        return server

    @property
    def server(self) -> FakeOpenAIServer:
        """The newest server started."""
        if not self.servers:
            raise RuntimeError("no fake model server started yet: call fake_openai(responder) first")
        return self.servers[-1]


@pytest.fixture
def fake_openai() -> Iterator[FakeModels]:
    """Start fake model servers with ``fake_openai(responder)``; see :class:`FakeModels`."""
    with ExitStack() as stack:
        yield FakeModels(stack)


def _refuse(request: FakeRequest) -> Fault:
    return Fault(400, message="no_model_calls: this test may not call a model")


@pytest.fixture(scope="session")
def _stead_refusing_server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(_refuse) as server:
        yield server


_real_connect = socket.socket.connect


def _local_only_connect(self: socket.socket, address: Any) -> None:
    host = address[0] if isinstance(address, tuple) else address
    local = not isinstance(host, str) or host in ("localhost", "::1") or host.startswith("127.")
    if not local and self.family in (socket.AF_INET, socket.AF_INET6):
        raise AssertionError(f"a test tried to reach {address!r}: tests talk only to local fake servers")
    _real_connect(self, address)


@pytest.fixture
def no_model_calls(
    _stead_refusing_server: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[FakeOpenAIServer]:
    """Fail the test if it calls a model; yields the refusing server (its ``requests`` are the calls made)."""
    server = _stead_refusing_server
    before = len(server.requests)
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "no-model-calls")
    monkeypatch.setattr(socket.socket, "connect", _local_only_connect)
    yield server
    made = server.requests[before:]
    if made:
        models = ", ".join(sorted({r.model or "?" for r in made}))
        pytest.fail(f"no_model_calls: the test called a model {len(made)} time(s) ({models})", pytrace=False)
