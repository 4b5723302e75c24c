"""The agents integration under threads: Temporal runs each workflow execution in a thread of its own."""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from agents import Model

from stead.agents import env_provider
from stead.agents._remote import _env_model_name


@contextmanager
def fast_thread_switches() -> Iterator[None]:
    # Switching threads every 10 µs instead of every 5 ms makes a race show at once.
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    try:
        yield
    finally:
        sys.setswitchinterval(before)


async def _provider_and_model() -> tuple[Any, Model]:
    provider = env_provider()  # one per event loop, as for each Temporal workflow execution
    return provider, provider.get_model("gpt-4o-mini")


def test_model_names_resolve_while_other_threads_add_providers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    kept = [asyncio.run(_provider_and_model()) for _ in range(10)]  # kept alive: they stay in the registry
    model = kept[0][1]
    errors: list[BaseException] = []
    stop = threading.Event()

    def resolve() -> None:
        try:
            while not stop.is_set():
                assert _env_model_name(model) == "gpt-4o-mini"
        except BaseException as exc:
            errors.append(exc)
            stop.set()

    def add() -> None:
        try:
            # New workflow executions, each with its own loop and provider. Before the fix one or two sufficed.
            for _ in range(10):
                if stop.is_set():
                    return
                kept.append(asyncio.run(_provider_and_model()))
        finally:
            stop.set()

    threads = [threading.Thread(target=resolve) for _ in range(2)] + [threading.Thread(target=add)]
    with fast_thread_switches():
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert not errors, f"resolving a model name failed while providers were added: {errors[0]!r}"
    assert len(kept) == 20
