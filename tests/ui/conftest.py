"""Fixtures for the dashboard tests: a SQLite engine, the dashboard on a free port, an HTTP client, the examples."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest

import stead
from stead.testing import offline_script_for
from stead.ui import Server

from ..procs import ROOT

EXAMPLES = ROOT / "examples"
if str(EXAMPLES) not in sys.path:
    sys.path.insert(0, str(EXAMPLES))


@dataclass
class Dashboard:
    engine: stead.Engine
    server: Server
    client: httpx.AsyncClient

    async def until(
        self, run_id: str, predicate: Callable[[dict[str, Any]], bool], timeout: float = 30
    ) -> dict[str, Any]:
        """Poll the API until the run satisfies ``predicate`` (nothing announces a wait starting)."""
        async with asyncio.timeout(timeout):
            while True:
                response = await self.client.get(f"/api/runs/{run_id}")
                run: dict[str, Any] = response.json()
                if predicate(run):
                    return run
                assert run["status"] not in ("completed", "failed", "cancelled"), f"the run ended: {run}"
                await asyncio.sleep(0.02)


@pytest.fixture
async def dashboard(tmp_path: Path) -> AsyncIterator[Dashboard]:
    async with (
        stead.connect(f"sqlite:///{tmp_path}/stead.db") as engine,
        Server(engine, port=0) as server,
        httpx.AsyncClient(base_url=server.url, timeout=30) as client,
    ):
        yield Dashboard(engine, server, client)


def script_of(source: str) -> Path:
    """The offline script an example ships (each example the dashboard tests run has one)."""
    script = offline_script_for(source)
    assert script is not None, f"{source} ships no offline script"
    return script
