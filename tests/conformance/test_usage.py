"""Token usage, cost and budgets of agent runs: read from the journal, the same live, on replay and on any engine."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from agents import Agent, Runner, function_tool
from click.testing import CliRunner

import stead
from stead._usage import DEFAULT_PRICES
from stead.cli import cli
from stead.testing import FakeRequest, Reply, Text, ToolCall, Usage
from stead.testing.pytest import FakeModels

tool_calls: Counter[str] = Counter()
gates: dict[str, bool] = {}
limits: dict[str, Any] = {}


@pytest.fixture(autouse=True)
def _reset() -> Iterator[None]:
    tool_calls.clear()
    gates.clear()
    limits.clear()
    table = stead.prices
    saved = (dict(table._entries), set(table._from_code), table._env_loaded)
    yield
    table._entries, table._from_code, table._env_loaded = saved


@function_tool
def lookup(city: str) -> str:
    """The weather in a city."""
    tool_calls[city] += 1
    return f"snow in {city}"


# -- usage per run and per agent ------------------------------------------------------------------------------


@stead.workflow
async def triage(question: str) -> dict[str, Any]:
    specialist = Agent(
        name="Specialist", instructions="You are the weather specialist.", tools=[lookup], model="gpt-4o-mini"
    )
    front = Agent(name="Triage", instructions="Route the question.", handoffs=[specialist], model="gpt-4.1")
    result = await Runner.run(front, question)
    outcome = {
        "final": result.final_output,
        "inside": stead.usage().to_json(),  # the usage so far, as the workflow sees it
        "sdk_total": result.context_wrapper.usage.total_tokens,
    }
    if not gates.get("pass", True):
        raise RuntimeError("fail once at the end")
    return outcome


def triage_script(request: FakeRequest) -> Reply:
    if "Route the question" in request.instructions:
        return Reply(ToolCall("transfer_to_specialist", {}), usage=Usage(50, 5))
    if not request.last_tool_outputs or request.last_tool_outputs[-1].name != "lookup":
        return Reply(ToolCall("lookup", {"city": "Oslo"}), usage=Usage(80, 10))
    return Reply(Text("Snow in Oslo."), usage=Usage(120, 3))


async def test_usage_per_run_and_agent_from_the_journal(
    engine: stead.Engine, fake_openai: FakeModels
) -> None:
    server = fake_openai(triage_script)
    gates["pass"] = False
    handle = await engine.start(triage, "Oslo weather?")
    async with engine.worker([triage]):
        with pytest.raises(stead.RunFailed, match="fail once"):
            await handle.result(timeout=30)
    first = stead.usage(await engine.steps(handle.run_id))

    assert list(first.agents) == ["Triage", "Specialist"]
    front, specialist = first.agents["Triage"], first.agents["Specialist"]
    assert (front.calls, front.tokens.requests, front.models) == (1, 1, ("gpt-4.1",))
    assert (front.tokens.input_tokens, front.tokens.output_tokens, front.tokens.total_tokens) == (50, 5, 55)
    assert (specialist.calls, specialist.tokens.requests, specialist.models) == (2, 2, ("gpt-4o-mini",))
    assert (specialist.tokens.input_tokens, specialist.tokens.output_tokens) == (200, 13)
    assert specialist.tokens.total_tokens == 213
    assert (first.calls, first.input_tokens, first.output_tokens, first.total_tokens) == (3, 250, 18, 268)
    # gpt-4.1: $2 in / $8 out per 1M; gpt-4o-mini: $0.15 / $0.60.
    assert front.cost_usd == pytest.approx((50 * 2.0 + 5 * 8.0) / 1e6)
    assert specialist.cost_usd == pytest.approx((200 * 0.15 + 13 * 0.60) / 1e6)
    assert first.cost_usd == pytest.approx(front.cost_usd + specialist.cost_usd)
    assert first.unpriced == ()

    # Replayed from the journal: the same usage inside the workflow, without calling the model again.
    gates["pass"] = True
    await engine.reopen(handle.run_id)
    async with engine.worker([triage]):
        result = await handle.result(timeout=30)
    assert len(server.requests) == 3 and tool_calls == Counter({"Oslo": 1})
    assert result["final"] == "Snow in Oslo."
    assert result["inside"] == first.to_json() == stead.usage(await engine.steps(handle.run_id)).to_json()
    assert result["sdk_total"] == 268


@stead.workflow
async def ask(model: str) -> str:
    agent = Agent(name="Asker", instructions="Answer.", model=model)
    return str((await Runner.run(agent, "hi")).final_output)


async def test_cost_from_a_custom_price_and_unpriced_models(
    engine: stead.Engine, fake_openai: FakeModels
) -> None:
    fake_openai(lambda request: Reply(Text("hello"), usage=Usage(1000, 250)))
    stead.prices.update({"house-llm": {"input": 1.0, "cached_input": 0.5, "output": 4.0}})
    priced = await engine.start(ask, "house-llm")
    unpriced = await engine.start(ask, "mystery-llm")
    async with engine.worker([ask]):
        assert await priced.result(timeout=30) == "hello"
        assert await unpriced.result(timeout=30) == "hello"
    usage = stead.usage(await engine.steps(priced.run_id))
    assert usage.cost_usd == pytest.approx((1000 * 1.0 + 250 * 4.0) / 1e6)
    assert usage.unpriced == ()
    mystery = stead.usage(await engine.steps(unpriced.run_id))
    assert (mystery.cost_usd, mystery.unpriced, mystery.total_tokens) == (0.0, ("mystery-llm",), 1250)
    assert mystery.agents["Asker"].unpriced == ("mystery-llm",)


def test_price_table_names_cached_tokens_and_the_stead_prices_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    table = stead.PriceTable(DEFAULT_PRICES)
    assert table.lookup("openai/gpt-4o-mini-2024-07-18") == table.lookup("gpt-4o-mini") is not None
    assert table.lookup("nobody-knows") is None
    tokens = stead.TokenUsage.from_json(
        {
            "input_tokens": 1000,
            "input_tokens_details": {"cached_tokens": 400},
            "output_tokens": 100,
            "output_tokens_details": {"reasoning_tokens": 60},
            "total_tokens": 1100,
        }
    )
    assert tokens == stead.TokenUsage(1, 1000, 400, 100, 60, 1100)
    assert stead.Price(2.0, 8.0, cached_input=0.5).cost(tokens) == pytest.approx(
        (600 * 2.0 + 400 * 0.5 + 100 * 8.0) / 1e6
    )
    chat = stead.TokenUsage.from_json({"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10})
    assert chat == stead.TokenUsage(1, 7, 0, 3, 0, 10)

    prices_file = tmp_path / "prices.json"
    prices_file.write_text(json.dumps({"nobody-knows": {"input": 3, "output": 6}, "gpt-4o": [1, 2]}))
    monkeypatch.setenv("STEAD_PRICES", str(prices_file))
    table = stead.PriceTable(DEFAULT_PRICES)
    table["gpt-4o"] = stead.Price(9.0, 9.0)  # set in code: wins over the file
    assert table.lookup("nobody-knows") == stead.Price(3.0, 6.0)
    assert table.lookup("gpt-4o") == stead.Price(9.0, 9.0)
    with pytest.raises(stead.UsageError, match="input"):
        table.update({"bad": {"output": 1}})  # no input price


# -- budgets --------------------------------------------------------------------------------------------------


@function_tool
def get_weather(city: str) -> str:
    """The weather in a city."""
    tool_calls[city] += 1
    return f"sunny in {city}"


def weather_script(request: FakeRequest) -> Reply:
    if request.last_tool_outputs:
        return Reply(Text("Sunny in Paris."), usage=Usage(130, 2))
    return Reply(ToolCall("get_weather", {"city": "Paris"}), usage=Usage(100, 7))


def refusal(exc: stead.BudgetExceeded) -> dict[str, Any]:
    return {
        "message": str(exc),
        "limit": exc.limit,
        "spent": exc.spent,
        "maximum": exc.maximum,
        "next_call": exc.next_call,
        "agent": exc.agent,
        "calls": exc.calls,
    }


@stead.workflow
async def frugal(question: str) -> dict[str, Any]:
    stead.budget(**limits)
    agent = Agent(name="Weather", instructions="Answer.", tools=[get_weather], model=limits_model())
    try:
        result = await Runner.run(agent, question)
        outcome: dict[str, Any] = {"final": result.final_output}
    except stead.BudgetExceeded as exc:
        outcome = {"refused": refusal(exc)}
    outcome["tokens"] = stead.usage().total_tokens
    if gates.get("wait"):
        await stead.wait_for("go")
    if not gates.get("pass", True):
        raise RuntimeError("fail once at the end")
    return outcome


def limits_model() -> str:
    return "pricey-llm" if "max_cost_usd" in limits else "gpt-4o-mini"


@stead.workflow
async def spender(question: str) -> str:
    stead.budget(max_cost_usd=limits["max_cost_usd"])
    agent = Agent(name="Weather", instructions="Answer.", tools=[get_weather], model="pricey-llm")
    return str((await Runner.run(agent, question)).final_output)


async def test_a_token_budget_stops_the_run_before_the_call_that_would_exceed_it(
    engine: stead.Engine, fake_openai: FakeModels
) -> None:
    server = fake_openai(weather_script)
    limits["max_tokens"] = (
        150  # the first call uses 107; the second sends at least its 100 input tokens again
    )
    gates["pass"] = False
    handle = await engine.start(frugal, "Paris?")
    async with engine.worker([frugal]):
        with pytest.raises(stead.RunFailed, match="fail once"):
            await handle.result(timeout=30)
    assert len(server.requests) == 1 and tool_calls == Counter({"Paris": 1})
    steps = await engine.steps(handle.run_id)
    refused = [s for s in steps if s.kind == "model" and s.status == "failed"]
    assert len(refused) == 1 and refused[0].error is not None and refused[0].error.type == "BudgetExceeded"
    # Journaled as data, which a replay rebuilds the exception from (its message is never parsed).
    assert refused[0].error.data == {
        "limit": "tokens",
        "spent": 107,
        "maximum": 150,
        "next_call": 100,
        "agent": "Weather",
        "calls": 1,
    }

    gates["pass"] = True
    await engine.reopen(handle.run_id)
    async with engine.worker([frugal]):
        outcome = await handle.result(timeout=30)
    assert len(server.requests) == 1, "the replay called the model"
    assert outcome == {
        "refused": {
            "message": "token budget exceeded: the run has used 107 tokens in 1 model call, and its next call "
            "sends at least 100 tokens; the limit is 150 tokens. The model call of agent 'Weather' was not made.",
            "limit": "tokens",
            "spent": 107,
            "maximum": 150,
            "next_call": 100,
            "agent": "Weather",
            "calls": 1,
        },
        "tokens": 107,
    }


async def test_the_refusal_is_journaled_and_replays_whatever_the_budget_says_then(
    engine: stead.Engine, new_engine: Callable[[], stead.Engine], fake_openai: FakeModels
) -> None:
    server = fake_openai(weather_script)
    limits["max_tokens"] = 150
    gates["wait"] = True
    handle = await engine.start(frugal, "Paris?")
    async with engine.worker([frugal]):
        if (await engine.wait(handle.run_id, 30, until="waiting")).waiting_for != ["go"]:
            raise AssertionError("the run never waited for 'go'")
    # The worker stopped while the run waited. Another one resumes it by replay, with a budget that would now
    # allow the call: the journal decides, as it did the first time.
    limits["max_tokens"] = 100_000
    other = new_engine()
    try:
        async with other.worker([frugal]):
            await other.send(handle.run_id, "go")
            outcome = await other.handle(handle.run_id, frugal).result(timeout=30)
    finally:
        await other.close()
    assert len(server.requests) == 1
    assert outcome["refused"]["maximum"] == 150 and outcome["refused"]["spent"] == 107
    assert outcome["tokens"] == 107


async def test_an_uncaught_cost_budget_fails_the_run_with_the_reason(
    engine: stead.Engine, fake_openai: FakeModels
) -> None:
    fake_openai(weather_script)
    stead.prices["pricey-llm"] = stead.Price(input=100.0, output=1000.0)
    limits["max_cost_usd"] = 0.01  # the first call costs $0.017: the second is refused
    handle = await engine.start(spender, "Paris?")
    async with engine.worker([spender]):
        with pytest.raises(stead.RunFailed) as failed:
            await handle.result(timeout=30)
    assert failed.value.error_type == "BudgetExceeded"
    assert failed.value.message == (
        "cost budget exceeded: the run has used $0.017000 in 1 model call; the limit is $0.010000. "
        "The model call of agent 'Weather' was not made."
    )
    assert stead.usage(await engine.steps(handle.run_id)).cost_usd == pytest.approx(0.017)


@stead.workflow
async def bad_budget() -> str:
    for bad in ({"max_tokens": 0}, {"max_tokens": 1.5}, {"max_cost_usd": -1}):
        try:
            stead.budget(**bad)
        except stead.UsageError:
            continue
        return f"accepted {bad}"
    return "ok"


async def test_budget_checks_its_arguments(engine: stead.Engine) -> None:
    handle = await engine.start(bad_budget)
    async with engine.worker([bad_budget]):
        assert await handle.result(timeout=30) == "ok"
    with pytest.raises(stead.UsageError, match="inside a @stead.workflow"):
        stead.budget(max_tokens=10)


# -- the CLI --------------------------------------------------------------------------------------------------


async def test_show_and_ls_print_usage(
    engine: stead.Engine, engine_url: str, fake_openai: FakeModels
) -> None:
    fake_openai(triage_script)
    handle = await engine.start(triage, "Oslo weather?")
    async with engine.worker([triage]):
        await handle.result(timeout=30)

    def invoke(*args: str) -> str:
        result = CliRunner().invoke(cli, ["--engine", engine_url, *args], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.output

    shown = await asyncio.to_thread(invoke, "show", handle.run_id)
    assert "usage (3 model calls · 268 tokens · $0.000178)" in shown
    lines = {
        line.split()[0]: line.split() for line in shown.splitlines() if line.startswith(("Triage", "Spec"))
    }
    assert lines["Triage"][1:] == ["gpt-4.1", "1", "1", "50", "0", "5", "0", "55", "$0.000140"]
    assert lines["Specialist"][1:] == ["gpt-4o-mini", "2", "2", "200", "0", "13", "0", "213", "$0.000038"]
    data = json.loads(await asyncio.to_thread(invoke, "show", handle.run_id, "--json"))
    assert data["usage"]["total_tokens"] == 268 and len(data["usage"]["agents"]) == 2

    listed = await asyncio.to_thread(invoke, "ls")
    [row] = [line for line in listed.splitlines() if handle.run_id in line]
    assert "268" in row.split()
    assert "tokens" in listed.splitlines()[0]
    as_json = json.loads(await asyncio.to_thread(invoke, "ls", "--json"))
    assert [r["usage"]["total_tokens"] for r in as_json if r["run_id"] == handle.run_id] == [268]
