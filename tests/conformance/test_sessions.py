"""Agent memory in durable runs: SDK sessions are journaled, RunSession is kept by the run itself.

A replay must give the model the inputs the first execution gave it and must leave the memory as one execution
leaves it. The fake model server runs in the test process and counts every request, replays included.
"""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from pathlib import Path
from typing import Any, cast

import pytest
from agents import Agent, RunConfig, Runner, function_tool
from agents.memory import OpenAIConversationsSession, OpenAIResponsesCompactionSession, SQLiteSession
from openai import AsyncOpenAI

import stead
import stead.agents
from stead.agents import JournaledSession, RunSession, journaled_session
from stead.testing import FakeOpenAIServer, FakeRequest, HangingResponder, Reply, Text, ToolCall
from stead.testing._offline import load_offline_script
from stead.testing.pytest import FakeModels

from ..procs import APPS, ROOT, kill9, log_counts, read_until, run_json, start

sys.path.insert(0, str(ROOT / "examples"))

import support_chat  # noqa: E402

gates: dict[str, bool] = {}
notes: list[str] = []


@pytest.fixture(autouse=True)
def _reset() -> None:
    gates.clear()
    notes.clear()


@pytest.fixture
def model_server(fake_openai: FakeModels) -> FakeOpenAIServer:
    return fake_openai(respond)


def respond(request: FakeRequest) -> Reply:
    if request.last_tool_outputs:
        return Reply(Text(f"ok, {request.last_tool_outputs[-1].output}"))
    if request.input_text.startswith("remember"):
        return Reply(ToolCall("note", {"fact": request.input_text.removeprefix("remember ")}))
    return Reply(Text(f"you said {request.input_text!r} after {len(user_texts(request)) - 1} messages"))


def user_texts(request: FakeRequest) -> list[str]:
    """The user messages a request carried, oldest first (the history the model saw)."""
    entries = request.body.get("messages") or request.body.get("input") or []
    return [str(e["content"]) for e in entries if isinstance(e, dict) and e.get("role") == "user"]


@function_tool
def note(fact: str) -> str:
    """Write a fact down."""
    notes.append(fact)
    return f"noted {fact}"


memo_agent = Agent(name="Memo", instructions="Remember what you are told.", tools=[note], model="gpt-4o-mini")


def fail_once() -> None:
    """Fail the run once, after everything it did was journaled: reopening it replays all of it."""
    if gates.pop("fail", False):
        raise RuntimeError("fail once at the end")


async def fail_then_replay(engine: stead.Engine, workflow: stead.Workflow[..., Any], run_id: str) -> Any:
    handle = engine.handle(run_id, workflow)
    async with engine.worker([workflow]):
        with pytest.raises(stead.RunFailed, match="fail once"):
            await handle.result(timeout=30)
    await engine.reopen(run_id)
    async with engine.worker([workflow]):
        return await handle.result(timeout=30)


# -- SDK sessions: reads and writes are steps ------------------------------------------------------------------


@stead.workflow
async def remember(db: str, messages: list[str]) -> list[str]:
    session = SQLiteSession("conversation-1", db)
    try:
        answers = [str((await Runner.run(memo_agent, m, session=session)).final_output) for m in messages]
    finally:
        session.close()
    fail_once()
    return answers


async def sqlite_items(db: Path) -> list[Any]:
    session = SQLiteSession("conversation-1", str(db))
    try:
        return await session.get_items()
    finally:
        session.close()


async def test_a_replayed_run_reads_the_history_it_read_and_writes_nothing_again(
    engine: stead.Engine, model_server: FakeOpenAIServer, tmp_path: Path
) -> None:
    db = tmp_path / "memory.db"
    earlier = SQLiteSession("conversation-1", str(db))
    await earlier.add_items([{"role": "user", "content": "hello"}, {"role": "assistant", "content": "hi!"}])
    earlier.close()

    gates["fail"] = True
    handle = await engine.start(remember, str(db), ["remember the milk", "what did I say?"])
    answers = await fail_then_replay(engine, remember, handle.run_id)

    assert answers == ["ok, noted the milk", "you said 'what did I say?' after 2 messages"]
    # The first execution made three model calls; the replay none, though the store had grown since it read it.
    assert len(model_server.requests) == 3
    assert [user_texts(r) for r in model_server.requests] == [
        ["hello", "remember the milk"],
        ["hello", "remember the milk"],
        ["hello", "remember the milk", "what did I say?"],
    ]
    assert notes == ["the milk"]
    # Exactly the items of one execution: the earlier two, then each run's input and new items, once.
    items = await sqlite_items(db)
    assert [(i.get("role"), i.get("type")) for i in items] == [
        ("user", None),
        ("assistant", None),
        ("user", None),
        (None, "function_call"),
        (None, "function_call_output"),
        ("assistant", "message"),
        ("user", None),
        ("assistant", "message"),
    ]
    summaries = [s.summary for s in await engine.steps(handle.run_id) if s.kind == "session"]
    assert summaries == [
        "session · get_items · conversation-1",
        "session · add_items · conversation-1 · 1 item",
        "session · add_items · conversation-1 · 2 items",
        "session · add_items · conversation-1 · 1 item",
        "session · get_items · conversation-1",
        "session · add_items · conversation-1 · 1 item",
        "session · add_items · conversation-1 · 1 item",
    ]


@stead.workflow
async def remember_streamed(db: str, message: str) -> str:
    session = SQLiteSession("conversation-1", db)
    try:
        result = Runner.run_streamed(memo_agent, message, session=session)
        async for _ in result.stream_events():
            pass
    finally:
        session.close()
    fail_once()
    return str(result.final_output)


async def test_streamed_runs_journal_their_session_too(
    engine: stead.Engine, model_server: FakeOpenAIServer, tmp_path: Path
) -> None:
    db = tmp_path / "memory.db"
    gates["fail"] = True
    handle = await engine.start(remember_streamed, str(db), "remember the milk")
    assert await fail_then_replay(engine, remember_streamed, handle.run_id) == "ok, noted the milk"
    assert len(model_server.requests) == 2
    items = await sqlite_items(db)
    assert [i.get("type", "message") for i in items] == [
        "message",
        "function_call",
        "function_call_output",
        "message",
    ]


@function_tool(needs_approval=True)
def forget(fact: str) -> str:
    """Forget a fact; a person approves."""
    notes.append(f"forgot {fact}")
    return f"forgot {fact}"


@stead.workflow
async def forget_with_approval(db: str, message: str) -> str:
    session = SQLiteSession("conversation-1", db)
    agent = Agent(name="Memo", instructions="Forget when asked.", tools=[forget], model="gpt-4o-mini")
    try:
        result = await Runner.run(agent, message, session=session)
    finally:
        session.close()
    fail_once()
    return str(result.final_output)


async def test_a_run_paused_for_approval_keeps_one_copy_of_each_item(
    engine: stead.Engine, fake_openai: FakeModels, tmp_path: Path
) -> None:
    def answer(request: FakeRequest) -> Reply:
        if request.last_tool_outputs:
            return Reply(Text(f"ok, {request.last_tool_outputs[-1].output}"))
        return Reply(ToolCall("forget", {"fact": "the milk"}, call_id="call_forget"))

    server = fake_openai(answer)
    db = tmp_path / "memory.db"
    gates["fail"] = True
    handle = await engine.start(forget_with_approval, str(db), "forget the milk")
    await stead.agents.approve(engine, handle.run_id, "call_forget")  # kept until the run asks
    assert await fail_then_replay(engine, forget_with_approval, handle.run_id) == "ok, forgot the milk"
    assert notes == ["forgot the milk"] and len(server.requests) == 2
    items = await sqlite_items(db)
    assert [i.get("type", "message") for i in items] == [
        "message",
        "function_call",
        "function_call_output",
        "message",
    ]


@stead.workflow
async def edit_memory(db: str) -> list[Any]:
    store = SQLiteSession("conversation-1", db)
    session = journaled_session(store)
    seen: list[Any] = []
    try:
        await session.add_items([{"role": "user", "content": c} for c in ("a", "b", "c")])
        seen.append(await session.pop_item())
        seen.append(await session.get_items())
        await session.clear_session()
        await session.add_items([{"role": "user", "content": "fresh start"}])
        seen.append(await session.get_items())
    finally:
        store.close()
    fail_once()
    return seen


async def test_pop_and_clear_in_workflow_code_are_steps_too(engine: stead.Engine, tmp_path: Path) -> None:
    db = tmp_path / "memory.db"
    gates["fail"] = True
    handle = await engine.start(edit_memory, str(db))
    seen = await fail_then_replay(engine, edit_memory, handle.run_id)
    assert seen == [
        {"role": "user", "content": "c"},
        [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}],
        [{"role": "user", "content": "fresh start"}],
    ]
    # Replaying the pop, the clear and the writes changed nothing in the store.
    assert await sqlite_items(db) == [{"role": "user", "content": "fresh start"}]
    assert [s.name for s in await engine.steps(handle.run_id)] == [
        "session:add_items",
        "session:pop_item",
        "session:get_items",
        "session:clear_session",
        "session:add_items",
        "session:get_items",
    ]


compaction_checks: list[int] = []


@stead.workflow
async def compacting(db: str, base_url: str) -> str:
    def never(context: dict[str, Any]) -> bool:
        compaction_checks.append(len(context["session_items"]))
        return False

    client = AsyncOpenAI(api_key="k", base_url=base_url, max_retries=0)
    store = SQLiteSession("conversation-1", db)
    session = OpenAIResponsesCompactionSession(
        "conversation-1", store, client=client, should_trigger_compaction=never
    )
    try:
        for message in ("hi", "what did I say?"):
            result = await Runner.run(memo_agent, message, session=session)
    finally:
        store.close()
        await client.close()
    return str(result.final_output)


async def test_compaction_of_a_compacting_session_is_a_step(
    engine: stead.Engine, model_server: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("STEAD_OPENAI_API", "responses")  # compaction follows Responses API responses
    compaction_checks.clear()
    handle = await engine.start(compacting, str(tmp_path / "memory.db"), model_server.base_url)
    async with engine.worker([compacting]):
        assert await handle.result(timeout=30) == "you said 'what did I say?' after 1 messages"
    names = [s.name for s in await engine.steps(handle.run_id) if s.kind == "session"]
    assert names.count("session:run_compaction") == 2
    assert compaction_checks == [2, 4]


async def test_outside_a_workflow_a_journaled_session_is_the_session_itself(tmp_path: Path) -> None:
    inner = SQLiteSession("s", str(tmp_path / "m.db"))
    session = journaled_session(inner)
    assert isinstance(session, JournaledSession) and session.session is inner
    await session.add_items([{"role": "user", "content": "x"}])
    assert await inner.get_items() == [{"role": "user", "content": "x"}]
    assert await session.pop_item() == {"role": "user", "content": "x"}
    assert await inner.get_items() == []
    inner.close()
    assert cast(JournaledSession, journaled_session(session)).session is inner  # never wrapped twice


def test_a_journaled_conversations_session_still_passes_for_one() -> None:
    # The SDK shapes the items it stores by the session's class; the wrapper must not change that.
    client = AsyncOpenAI(api_key="k", base_url="http://127.0.0.1:9/v1")
    session = journaled_session(OpenAIConversationsSession(conversation_id="conv_1", openai_client=client))
    assert isinstance(session, OpenAIConversationsSession) and isinstance(session, JournaledSession)
    assert session.session_id == "conv_1"
    assert session._ignore_ids_for_matching


# -- RunSession: memory kept by the run itself -----------------------------------------------------------------


@stead.workflow
async def chat(turns: int) -> list[str]:
    session = RunSession(publish="conversation")
    replies = []
    for _ in range(turns):
        message = await stead.wait_for("user")
        replies.append(str((await Runner.run(memo_agent, message, session=session)).final_output))
    stead.publish("messages", session.messages())
    fail_once()
    return replies


async def test_a_multi_turn_conversation_with_the_runs_own_memory(
    engine: stead.Engine, model_server: FakeOpenAIServer
) -> None:
    gates["fail"] = True
    handle = await engine.start(chat, 3)
    for message in ("hi", "remember the milk", "what did I say?"):
        await engine.send(handle.run_id, "user", message)
    replies = await fail_then_replay(engine, chat, handle.run_id)

    assert replies == [
        "you said 'hi' after 0 messages",
        "ok, noted the milk",
        "you said 'what did I say?' after 2 messages",
    ]
    assert len(model_server.requests) == 4, "the replay called the model"
    assert user_texts(model_server.requests[-1]) == ["hi", "remember the milk", "what did I say?"]
    assert notes == ["the milk"]
    state = (await engine.get(handle.run_id)).state
    assert state["messages"] == [
        {"role": "user", "text": "hi"},
        {"role": "assistant", "text": "you said 'hi' after 0 messages"},
        {"role": "user", "text": "remember the milk"},
        {"role": "assistant", "text": "ok, noted the milk"},
        {"role": "user", "text": "what did I say?"},
        {"role": "assistant", "text": "you said 'what did I say?' after 2 messages"},
    ]
    assert len(state["conversation"]) == 8  # the items: six messages, a tool call and its output
    # The memory costs the journal nothing: it is rebuilt from the messages and the model and tool results.
    assert {s.kind for s in await engine.steps(handle.run_id)} == {"wait", "model", "tool"}


async def test_run_session_outside_a_workflow_is_an_in_memory_session() -> None:
    session = RunSession("s1", items=[{"role": "user", "content": "a"}])
    await session.add_items([{"role": "assistant", "content": "b"}, {"role": "user", "content": "c"}])
    assert await session.get_items(limit=2) == [
        {"role": "assistant", "content": "b"},
        {"role": "user", "content": "c"},
    ]
    assert await session.pop_item() == {"role": "user", "content": "c"}
    assert session.messages() == [{"role": "user", "text": "a"}, {"role": "assistant", "text": "b"}]
    carried = RunSession(items=session.items)
    assert await carried.get_items() == await session.get_items()
    await session.clear_session()
    assert await session.get_items() == [] and len(carried.items) == 2


# -- kill -9 in the middle of a conversation -------------------------------------------------------------------

SUPPORT = f"{APPS / 'support_app.py'}:support_chat"
CONVERSATION = [
    ("Where is my order 123?", "Your order 123 (trail running shoes, $89.90) was delivered on Monday."),
    ("It arrived damaged, can I get a refund?", "Done: I've refunded $89.90 for order 123 (refund R-123)."),
    ("Thanks, bye!", "You're welcome! Have a great day. Goodbye!"),
]


async def until_state(engine: stead.Engine, run_id: str, key: str, value: Any, timeout: float = 60) -> None:
    """Poll the run's published state (the engine API has no event for it) until ``key`` holds ``value``."""
    async with asyncio.timeout(timeout):
        while True:
            try:
                if (await engine.get(run_id)).state.get(key) == value:
                    return
            except stead.RunNotFound:
                pass
            await asyncio.sleep(0.05)


@pytest.mark.slow
@pytest.mark.parametrize("where", ["model:3", "model:4", "tool:refund_order"])
async def test_kill_mid_conversation_then_resume(
    engine_url: str, fake_openai: FakeModels, tmp_path: Path, where: str
) -> None:
    kind, _, at = where.partition(":")
    run_id = f"chat-{uuid.uuid4().hex[:8]}"  # engines may outlive the test (a shared Temporal server)
    models = HangingResponder(
        load_offline_script(ROOT / "examples" / "support_chat.offline.json"),
        int(at) if kind == "model" else None,
    )
    server = fake_openai(models)
    log = tmp_path / "effects.log"
    env = {"OPENAI_BASE_URL": server.base_url, "OPENAI_API_KEY": "test", "STEAD_TEST_LOG": str(log)}
    engine = stead.connect(engine_url)
    proc = start(
        engine_url, "run", SUPPORT, "--run-id", run_id, **env, CRASH_TOOL=at if kind == "tool" else ""
    )
    try:
        await until_state(engine, run_id, "status", "waiting")
        first_reply = await support_chat.ask(engine, run_id, CONVERSATION[0][0])
        assert first_reply.startswith(CONVERSATION[0][1])
        # The refund turn: model call 3 asks for the refund, the tool runs, model call 4 confirms it.
        await engine.send(run_id, "user", CONVERSATION[1][0])
        if kind == "model":
            assert await asyncio.to_thread(models.reached.wait, 60), "the worker never made that model call"
        else:
            await asyncio.to_thread(read_until, proc, "CRASH-POINT")
        kill9(proc)
        at_kill = models.count
        recorded = [s for s in await engine.steps(run_id) if s.status == "done"]
        models.release()
        # The customer keeps writing while no worker runs: the message waits for the run.
        await engine.send(run_id, "user", CONVERSATION[2][0])
        resumed = await asyncio.to_thread(run_json, engine_url, "resume", run_id, **env)
    finally:
        if proc.returncode is None:
            kill9(proc)
        models.release()
        await engine.close()

    assert resumed["status"] == "completed"
    result = resumed["result"]
    assert result["ended"] == "goodbye" and result["turns"] == 3
    transcript = result["transcript"]
    assert [m["role"] for m in transcript] == ["user", "assistant"] * 3, json.dumps(transcript, indent=1)
    for (said, answer), user, agent in zip(CONVERSATION, transcript[::2], transcript[1::2], strict=True):
        assert user["text"] == said and agent["text"].startswith(answer)

    # No model call the journal held was made again: 5 calls in all (2 + 2 + 1), plus the one that hung.
    recorded_models = sum(1 for s in recorded if s.kind == "model")
    assert models.count - at_kill == 5 - recorded_models
    assert models.count == 5 + (1 if kind == "model" else 0)
    effects = log_counts(log)
    refunds = [k for k in effects if k.startswith("tool done refund_order")]
    assert len(refunds) == 1 and effects[refunds[0]] == 1, "the refund was made twice, or never"
    started = sum(v for k, v in effects.items() if k.startswith("tool start refund_order"))
    # A refund interrupted by the kill runs again (a step runs at least once); a finished one never does.
    assert started == (2 if kind == "tool" else 1)


# -- the SDK's default store: an in-memory SQLiteSession is memory of the run ----------------------------------

MEMORY_TURNS = ["hi", "remember the milk", "what did I say?"]


async def converse_in_memory() -> list[Any]:
    session = SQLiteSession("conversation-1")  # in memory, as the SDK's docs write it
    config = RunConfig(model_provider=stead.agents.env_provider())  # the provider stead gives workflows
    try:
        for message in MEMORY_TURNS:
            await Runner.run(memo_agent, message, session=session, run_config=config)
        last = await session.pop_item()
        await session.add_items([{"role": "user", "content": "one more", "type": "message"}])
        return [last, await session.get_items()]
    finally:
        session.close()


def as_printed(value: Any) -> str:
    """``value`` as JSON text, key order kept, without the ids the fake server numbers across runs."""

    def strip(v: Any) -> Any:
        if isinstance(v, dict):
            return {k: strip(x) for k, x in v.items() if k not in ("id", "response_id", "call_id")}
        return [strip(x) for x in v] if isinstance(v, list) else v

    return json.dumps(strip(value))


@stead.workflow
async def converse(fail: bool) -> list[Any]:
    seen = await converse_in_memory()
    if fail:
        fail_once()
    return seen


async def test_an_in_memory_sqlite_session_holds_after_a_replay_what_the_plain_sdk_holds(
    engine: stead.Engine, model_server: FakeOpenAIServer
) -> None:
    oracle = await converse_in_memory()  # the plain SDK, outside any workflow
    assert len(oracle[1]) == 8 and len(model_server.requests) == 4
    handle = await engine.start(converse, False)
    async with engine.worker([converse]):
        uncrashed = await handle.result(timeout=60)
    gates["fail"] = True
    crashed = await engine.start(converse, True)
    replayed = await fail_then_replay(engine, converse, crashed.run_id)
    # Compared as JSON text: the key order of every item too (what printing them shows).
    assert as_printed(uncrashed) == as_printed(oracle)
    assert as_printed(replayed) == as_printed(oracle)
    assert list(oracle[0]) == ["id", "content", "role", "status", "type", "provider_data"]  # not sorted
    assert len(model_server.requests) == 12, "the replay called the model"
    assert [user_texts(r) for r in model_server.requests[-4:]] == [
        user_texts(r) for r in model_server.requests[:4]
    ]
    # No journal entry of its own: the memory is rebuilt from the model and tool results.
    assert {s.kind for s in await engine.steps(handle.run_id)} == {"model", "tool"}


@stead.workflow
async def edit_a_file_session(db: str) -> list[Any]:
    session = SQLiteSession("conversation-1", db)  # used directly, as outside a workflow
    try:
        await session.add_items([{"role": "user", "content": c} for c in ("a", "b")])
        popped = await session.pop_item()
        items = await session.get_items()
    finally:
        session.close()
    fail_once()
    return [popped, items]


async def test_a_file_session_called_directly_in_workflow_code_is_journaled(
    engine: stead.Engine, tmp_path: Path
) -> None:
    db = tmp_path / "memory.db"
    gates["fail"] = True
    handle = await engine.start(edit_a_file_session, str(db))
    seen = await fail_then_replay(engine, edit_a_file_session, handle.run_id)
    assert seen == [{"role": "user", "content": "b"}, [{"role": "user", "content": "a"}]]
    assert await sqlite_items(db) == [{"role": "user", "content": "a"}]  # the replay wrote nothing again
    assert [s.name for s in await engine.steps(handle.run_id)] == [
        "session:add_items",
        "session:pop_item",
        "session:get_items",
    ]
