"""Shared fixtures. Every test runs with warnings as errors, and no test may reach a real model provider."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from stead.testing import FakeOpenAIServer

from .procs import reap_all

# The fixtures stead ships for testing stead programs (stead_engine, fake_openai, no_model_calls); pytester runs
# a suite of a user's in tests/test_testing_plugin.py.
pytest_plugins = ["stead.testing.pytest", "pytester"]

# No real model call may leave a test: point the SDK at nowhere and strip real credentials (for what reads the
# environment before the first test; each test runs under the no_model_calls guard below).
os.environ.pop("OPENAI_API_KEY", None)
os.environ["OPENAI_BASE_URL"] = "http://127.0.0.1:9/v1"
os.environ.setdefault("OPENAI_AGENTS_DISABLE_TRACING", "1")
# CLI output in tests must not depend on the terminal of whoever runs them (pytest-xdist's workers set 80x24).
os.environ.pop("COLUMNS", None)
os.environ.pop("LINES", None)


@pytest.fixture(autouse=True)
def _no_model_calls(no_model_calls: FakeOpenAIServer) -> None:
    """Every test fails if it calls a model other than its own fake ones, or reaches a host but this one."""


@pytest.fixture(autouse=True)
def _reap_processes() -> Iterator[None]:
    """Every process a test started through tests/procs.py is killed and reaped when the test ends, passed or
    failed: a crash test that fails must not leave workers behind."""
    yield
    reap_all()
