"""The conformance suite: every test here runs against each engine."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

import stead

ENGINES = ["sqlite"]


@pytest.fixture(params=ENGINES)
def engine_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/stead.db"
    raise NotImplementedError(request.param)


@pytest.fixture
async def engine(engine_url: str) -> AsyncIterator[stead.Engine]:
    eng = stead.connect(engine_url)
    try:
        yield eng
    finally:
        await eng.close()


@pytest.fixture
def new_engine(engine_url: str) -> Callable[[], stead.Engine]:
    """Another client of the same engine (for the SQLite engine: another connection to the same file)."""
    return lambda: stead.connect(engine_url)
