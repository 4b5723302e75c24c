"""The conformance suite: every test here runs against each engine."""

from __future__ import annotations

from collections.abc import Callable

import pytest

import stead

from ..temporal_server import fresh_namespace, temporal_server  # noqa: F401 - a fixture

#: Semantics the Temporal engine cannot keep, by test: each test below must fail on Temporal (strict xfail).
TEMPORAL_CANNOT: dict[str, str] = {}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        callspec = getattr(item, "callspec", None)
        reason = TEMPORAL_CANNOT.get(getattr(item, "originalname", ""))
        if reason and callspec is not None and callspec.params.get("stead_engine_url") == "temporal":
            item.add_marker(pytest.mark.xfail(strict=True, reason=reason))


@pytest.fixture(scope="session")
def stead_temporal_address(temporal_server: str) -> str:  # noqa: F811 - the fixture
    """The plugin's Temporal server: the session's dev server."""
    return temporal_server


@pytest.fixture
def stead_temporal_namespace() -> str:
    """A namespace of its own for each test: tests reuse run ids."""
    return fresh_namespace()


# The suite's names for the plugin's fixtures (stead.testing.pytest, engines from `stead_engines` in pyproject).
@pytest.fixture
def engine_url(stead_engine_url: str) -> str:
    return stead_engine_url


@pytest.fixture
def engine(stead_engine: stead.Engine) -> stead.Engine:
    return stead_engine


@pytest.fixture
def new_engine(engine_url: str) -> Callable[[], stead.Engine]:
    """Another client of the same engine (for the SQLite engine: another connection to the same file)."""
    return lambda: stead.connect(engine_url)
