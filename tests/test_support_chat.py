"""The support-chat example, offline: a long-lived run that takes messages in and publishes its state.

The fake model server plays ``examples/support_chat.offline.json`` in this process; the run executes on a fresh
SQLite engine through the Python API (and, once, through the documented CLI commands).
"""

from __future__ import annotations

import ast
import asyncio
import json
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Literal

import pytest

import stead
from stead.testing import FakeOpenAIServer
from stead.testing._offline import offline_models

from . import procs
from .procs import ROOT, close, env, stead_cmd

EXAMPLE = ROOT / "examples" / "support_chat.py"
SCRIPT = ROOT / "examples" / "support_chat.offline.json"

if str(EXAMPLE.parent) not in sys.path:
    sys.path.insert(0, str(EXAMPLE.parent))

import support_chat  # noqa: E402

Api = Literal["chat", "responses"]


@pytest.fixture(autouse=True)
def _no_refunds_yet() -> None:
    support_chat.REFUNDS.clear()


@asynccontextmanager
async def offline(
    tmp_path: Path, api: Api | None = None
) -> AsyncIterator[tuple[stead.Engine, FakeOpenAIServer]]:
    with offline_models(SCRIPT, api=api) as server:
        async with stead.connect(f"sqlite:///{tmp_path}/s.db") as engine:
            yield engine, server
        assert server.errors == [], f"requests no rule of {SCRIPT.name} answered: {server.errors}"


def user_messages(body: dict[str, Any]) -> list[str]:
    entries = body.get("messages") or body.get("input") or []
    return [str(e["content"]) for e in entries if isinstance(e, dict) and e.get("role") == "user"]


@pytest.mark.parametrize("api", ["chat", "responses"])
async def test_a_conversation_through_the_python_api(tmp_path: Path, api: Api) -> None:
    async with offline(tmp_path, api) as (engine, server):
        handle = await engine.start(support_chat.support_chat, "ada", run_id="chat-ada")
        async with engine.worker([support_chat.support_chat]):
            first = await support_chat.ask(engine, "chat-ada", "Where is my order 123?")
            second = await support_chat.ask(engine, "chat-ada", "It arrived damaged, can I get a refund?")
            state = (await engine.get("chat-ada")).state
            third = await support_chat.ask(engine, "chat-ada", "Thanks, bye!")
            result = await handle.result(timeout=30)
        steps = await engine.steps("chat-ada")
        info = await engine.get("chat-ada")

    assert (
        first
        == "Your order 123 (trail running shoes, $89.90) was delivered on Monday. Is everything all right with it?"
    )
    assert second.startswith("Done: I've refunded $89.90 for order 123 (refund R-123).")
    assert third == "You're welcome! Have a great day. Goodbye!"
    # State out: while the run waited for the third message, outsiders could read the conversation so far.
    assert state["status"] == "waiting" and state["turn"] == 2 and state["reply"] == second
    assert [m["role"] for m in state["transcript"]] == ["user", "assistant", "user", "assistant"]
    assert result["ended"] == "goodbye" and result["turns"] == 3 and result["customer"] == "ada"
    assert result["transcript"] == info.state["transcript"]
    assert [m["text"] for m in result["transcript"][::2]] == [
        "Where is my order 123?",
        "It arrived damaged, can I get a refund?",
        "Thanks, bye!",
    ]
    assert info.state["status"] == "closed"
    # The memory reached the model: the refund turn's request carried the first exchange.
    assert len(server.requests) == 5
    assert user_messages(server.requests[2].body) == [
        "Where is my order 123?",
        "It arrived damaged, can I get a refund?",
    ]
    assert support_chat.REFUNDS == {"123": "R-123"}
    assert [(s.kind, s.summary or s.name) for s in steps] == [
        ("wait", "wait for 'user'"),
        ("model", "model · Support · gpt-4o-mini"),
        ("tool", "tool · lookup_order"),
        ("model", "model · Support · gpt-4o-mini"),
        ("wait", "wait for 'user'"),
        ("model", "model · Support · gpt-4o-mini"),
        ("tool", "tool · refund_order"),
        ("model", "model · Support · gpt-4o-mini"),
        ("wait", "wait for 'user'"),
        ("model", "model · Support · gpt-4o-mini"),
    ]


async def test_between_messages_the_run_is_suspended_and_its_memory_comes_back(tmp_path: Path) -> None:
    """The embedded engine drops a run that only waits; the next message replays it, RunSession included."""
    with offline_models(SCRIPT) as server:
        async with stead.connect(f"sqlite:///{tmp_path}/s.db?suspend=0.05") as engine:
            store: Any = engine.store  # type: ignore[attr-defined]
            handle = await engine.start(support_chat.support_chat, run_id="chat-1")
            async with engine.worker([support_chat.support_chat]):
                replies = []
                for message in ("Where is my order 123?", "It arrived damaged, can I get a refund?", "Bye"):
                    await engine.wait("chat-1", 30, until="suspended")
                    assert "chat-1" in store.suspended_runs()
                    replies.append(await support_chat.ask(engine, "chat-1", message))
                result = await handle.result(timeout=30)
    assert replies[1].startswith("Done: I've refunded $89.90 for order 123")
    assert [m["text"] for m in result["transcript"]] == [
        text
        for message, reply in zip(
            ("Where is my order 123?", "It arrived damaged, can I get a refund?", "Bye"), replies, strict=True
        )
        for text in (message, reply)
    ]
    # Each wake-up replayed the turns before it from the journal: the model was asked 2 + 2 + 1 times in all.
    assert len(server.requests) == 5 and server.errors == []
    assert user_messages(server.requests[4].body) == [
        "Where is my order 123?",
        "It arrived damaged, can I get a refund?",
        "Bye",
    ]


async def test_a_silent_customer_closes_the_conversation(tmp_path: Path) -> None:
    async with offline(tmp_path) as (engine, server):
        handle = await engine.start(support_chat.support_chat, idle_timeout=0.2)
        async with engine.worker([support_chat.support_chat]):
            result = await handle.result(timeout=30)
        state = (await engine.get(handle.run_id)).state
    assert result == {"customer": "guest", "ended": "idle", "turns": 0, "transcript": []}
    assert state == {"status": "closed", "turn": 0, "reply": None, "transcript": []}
    assert server.requests == []


def test_the_example_documents_its_commands() -> None:
    doc = ast.get_docstring(ast.parse(EXAMPLE.read_text(encoding="utf-8"))) or ""
    target = "examples/support_chat.py:support_chat"
    assert f"stead run --offline {target} --run-id chat-1" in doc
    assert f"OPENAI_API_KEY=sk-... stead run {target} --run-id chat-1" in doc
    assert "stead send chat-1 user '\"Where is my order 123?\"'" in doc
    assert "stead show chat-1" in doc


async def until_waiting(engine_url: str, run_id: str, timeout: float = 60) -> None:
    """Until the run exists and waits for a message."""
    async with stead.connect(engine_url) as engine, asyncio.timeout(timeout):
        while True:
            try:
                info = await engine.wait(run_id, until="waiting")
                break
            except stead.RunNotFound:
                await asyncio.sleep(0.05)  # the CLI has not started it yet: no run to wait on
        assert info.waiting_for == ["user"]


@pytest.mark.slow
def test_the_documented_cli_session(tmp_path: Path) -> None:
    """`stead run --offline` in one process, `stead send` / `stead show` from others, as the docstring says."""
    engine = f"sqlite:///{tmp_path}/s.db"
    run = procs.popen(
        stead_cmd(
            engine,
            "run",
            "--offline",
            "examples/support_chat.py:support_chat",
            "--run-id",
            "chat-1",
            "--json",
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env(),
        cwd=ROOT,
    )
    try:
        asyncio.run(until_waiting(engine, "chat-1"))
        for message in ("Where is my order 456?", "Thanks, bye!"):
            sent = subprocess.run(
                stead_cmd(engine, "send", "chat-1", "user", json.dumps(message)),
                capture_output=True,
                text=True,
                env=env(),
                cwd=ROOT,
                timeout=60,
            )
            assert sent.returncode == 0, sent.stderr
        out, err = run.communicate(timeout=60)
    finally:
        if run.returncode is None:
            run.kill()
            run.wait()
        close(run)
    assert run.returncode == 0, err
    result = json.loads(out)["result"]
    assert result["ended"] == "goodbye"
    assert [m["text"] for m in result["transcript"]] == [
        "Where is my order 456?",
        "Your rain jacket (order 456) shipped with UPS and should arrive on Friday.",
        "Thanks, bye!",
        "You're welcome! Have a great day. Goodbye!",
    ]
    shown = subprocess.run(
        stead_cmd(engine, "show", "chat-1", "--json"),
        capture_output=True,
        text=True,
        env=env(),
        cwd=ROOT,
        timeout=60,
    )
    assert json.loads(shown.stdout)["run"]["state"]["status"] == "closed"
