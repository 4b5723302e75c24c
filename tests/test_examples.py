"""The examples run durably against their offline scripts, journal what they should, and replay without calls.

Each test serves the example's offline script with ``stead.testing._offline.offline_models`` (the fake OpenAI
server, in this process, on 127.0.0.1) and runs the workflow through the Python API on a fresh SQLite engine.
"""

from __future__ import annotations

import os
import sys
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Literal

import pytest

import stead
from stead.testing import FakeOpenAIServer, load_script
from stead.testing._offline import OfflineScriptError, offline_models, offline_script_for

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"

if str(EXAMPLES) not in sys.path:
    sys.path.insert(0, str(EXAMPLES))

import haiku  # noqa: E402
import triage  # noqa: E402
from deep_research import research_tools  # noqa: E402
from deep_research import workflow as research  # noqa: E402

Api = Literal["chat", "responses"]
APIS: list[Api] = ["chat", "responses"]
MODEL = "gpt-4o-mini"

# -- helpers ----------------------------------------------------------------------------------------------------


def offline_json(module: ModuleType) -> Path:
    script = offline_script_for(str(module.__file__))
    assert script is not None, f"{module.__file__} ships no offline script"
    return script


@dataclass
class Env:
    engine: stead.Engine
    server: FakeOpenAIServer


@asynccontextmanager
async def offline_engine(tmp_path: Path, script: Path, api: Api | None = None) -> AsyncIterator[Env]:
    """A fresh SQLite engine, and the fake model server playing ``script``."""
    with offline_models(script, api=api) as server:
        async with stead.connect(f"sqlite:///{tmp_path}/s.db") as engine:
            yield Env(engine, server)
        assert server.errors == [], f"requests no rule of {script.name} answered: {server.errors}"


async def run_to_end(env: Env, wf: stead.Workflow[..., Any], *args: Any, **kwargs: Any) -> tuple[Any, str]:
    handle = await env.engine.start(wf, *args, **kwargs)
    async with env.engine.worker([wf]):
        result = await handle.result(timeout=60)
    return result, handle.run_id


async def journal(engine: stead.Engine, run_id: str) -> list[tuple[str, str | None]]:
    """The run's steps as (kind, summary), in the order they started; every one of them finished."""
    steps = await engine.steps(run_id)
    assert all(s.status == "done" for s in steps), [(s.summary, s.status) for s in steps]
    return [(s.kind, s.summary) for s in steps]


def model_step(agent: str) -> tuple[str, str]:
    return ("model", f"model · {agent} · {MODEL}")


def tool_step(tool: str) -> tuple[str, str]:
    return ("tool", f"tool · {tool}")


async def until_waiting(engine: stead.Engine, run_id: str, name: str, timeout: float = 30) -> stead.RunInfo:
    """Wait until the run waits for the message ``name``."""
    info = await engine.wait(run_id, timeout, until="waiting")
    assert not info.status.finished, f"the run ended ({info.status}) instead of waiting: {info.error}"
    assert info.waiting_for == [name]
    return info


# -- offline mode -----------------------------------------------------------------------------------------------


def test_offline_script_for_examples() -> None:
    assert offline_script_for(str(EXAMPLES / "haiku.py")) == EXAMPLES / "haiku.offline.json"
    assert offline_script_for(f"{EXAMPLES / 'triage.py'}:triage") == EXAMPLES / "triage.offline.json"
    package_script = EXAMPLES / "deep_research" / "offline.json"
    for module in ("workflow.py", "research_agents.py", "__init__.py"):
        assert offline_script_for(str(EXAMPLES / "deep_research" / module)) == package_script
        assert offline_script_for(f"{EXAMPLES / 'deep_research' / module}:deep_research") == package_script


def test_offline_script_for_lookup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "app.py").write_text("")
    assert offline_script_for(str(tmp_path / "app.py")) is None
    assert offline_script_for(str(tmp_path / "missing.py")) is None
    assert offline_script_for("") is None
    (tmp_path / "app.offline.json").write_text("[]")
    assert offline_script_for(str(tmp_path / "app.py")) == tmp_path / "app.offline.json"
    assert offline_script_for(str(tmp_path / "app.py") + ":main") == tmp_path / "app.offline.json"

    # A plain directory is no package: its offline.json belongs to nobody in particular.
    (tmp_path / "offline.json").write_text("[]")
    assert offline_script_for(str(tmp_path / "app.py")) == tmp_path / "app.offline.json"
    (tmp_path / "other.py").write_text("")
    assert offline_script_for(str(tmp_path / "other.py")) is None

    # Packages: the module's own script first, then offline.json up the enclosing packages, innermost first.
    inner = tmp_path / "outer" / "inner"
    inner.mkdir(parents=True)
    for directory in (tmp_path / "outer", inner):
        (directory / "__init__.py").write_text("")
    (inner / "mod.py").write_text("")
    assert offline_script_for(str(inner / "mod.py")) is None
    (tmp_path / "outer" / "offline.json").write_text("[]")
    assert offline_script_for(str(inner / "mod.py")) == tmp_path / "outer" / "offline.json"
    (inner / "offline.json").write_text("[]")
    assert offline_script_for(str(inner / "mod.py")) == inner / "offline.json"
    (inner / "mod.offline.json").write_text("[]")
    assert offline_script_for(str(inner / "mod.py")) == inner / "mod.offline.json"

    # A dotted module, found from the current directory as `stead run package.module:NAME` finds it.
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tmp_path))])
    assert offline_script_for("outer.inner.mod") == inner / "mod.offline.json"
    assert offline_script_for("outer.inner.mod:main") == inner / "mod.offline.json"
    assert offline_script_for("outer.inner") == inner / "offline.json"
    assert offline_script_for("outer.nothing") is None
    assert str(tmp_path) not in sys.path
    for name in ("outer.inner", "outer"):
        sys.modules.pop(name, None)


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-real")
    monkeypatch.setenv("STEAD_OPENAI_API", "responses")
    monkeypatch.delenv("OPENAI_AGENTS_DISABLE_TRACING", raising=False)
    yield


@pytest.mark.usefixtures("clean_env")
def test_offline_models_sets_and_restores_the_environment() -> None:
    with offline_models(EXAMPLES / "haiku.offline.json") as server:
        assert os.environ["OPENAI_BASE_URL"] == server.base_url
        assert server.base_url.startswith("http://127.0.0.1:")
        assert os.environ["OPENAI_API_KEY"] == "offline"
        assert "STEAD_OPENAI_API" not in os.environ  # Chat Completions, the default with a base URL
        assert os.environ["OPENAI_AGENTS_DISABLE_TRACING"] == "1"
    assert os.environ["OPENAI_BASE_URL"] == "http://127.0.0.1:9/v1"
    assert os.environ["OPENAI_API_KEY"] == "sk-real"
    assert os.environ["STEAD_OPENAI_API"] == "responses"
    assert "OPENAI_AGENTS_DISABLE_TRACING" not in os.environ

    with (
        pytest.raises(RuntimeError, match="boom"),
        offline_models(EXAMPLES / "haiku.offline.json", api="responses"),
    ):
        assert os.environ["STEAD_OPENAI_API"] == "responses"
        raise RuntimeError("boom")
    assert os.environ["OPENAI_API_KEY"] == "sk-real"
    assert os.environ["STEAD_OPENAI_API"] == "responses"


@pytest.mark.usefixtures("clean_env")
def test_offline_models_rejects_bad_scripts(tmp_path: Path) -> None:
    bad = {
        "missing": None,
        "bad.json": "{not json",
        "wrong.json": '{"rules": [{"match": {"colour": "red"}}]}',
    }
    for name, text in bad.items():
        if text is not None:
            (tmp_path / name).write_text(text)
        with pytest.raises(OfflineScriptError, match=name), offline_models(tmp_path / name):
            pass
        assert issubclass(OfflineScriptError, stead.UsageError)
        assert os.environ["OPENAI_API_KEY"] == "sk-real"


@pytest.mark.parametrize("script", sorted(EXAMPLES.rglob("*offline.json")), ids=lambda p: p.name)
def test_offline_scripts_are_rule_scripts(script: Path) -> None:
    import json

    raw = json.loads(script.read_text(encoding="utf-8"))
    assert "rules" in raw  # answers by request, not by arrival order
    load_script(raw)


@pytest.mark.parametrize(
    ("path", "target"),
    [
        ("haiku.py", "examples/haiku.py:haiku"),
        ("triage.py", "examples/triage.py:triage"),
        ("deep_research/workflow.py", "examples/deep_research/workflow.py:deep_research"),
    ],
)
def test_examples_document_their_commands(path: str, target: str) -> None:
    import ast

    doc = ast.get_docstring(ast.parse((EXAMPLES / path).read_text(encoding="utf-8"))) or ""
    assert f"stead run --offline {target}" in doc
    assert f"OPENAI_API_KEY=sk-... stead run {target}" in doc


# -- haiku ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("api", APIS)
async def test_haiku(tmp_path: Path, api: Api) -> None:
    async with offline_engine(tmp_path, offline_json(haiku), api) as env:
        result, run_id = await run_to_end(env, haiku.haiku, "Tell me about recursion")
        assert result == "Functions call themselves,\nsmaller mirrors, one by one—\nthe base case answers."
        assert await journal(env.engine, run_id) == [model_step("Assistant")]
        [request] = env.server.requests
        assert (request.api, request.model) == (api, MODEL)
        assert request.instructions == "You only respond in haikus."
        assert request.input_text == "Tell me about recursion"


# -- triage -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("api", APIS)
async def test_triage_hands_weather_questions_to_the_weather_agent(tmp_path: Path, api: Api) -> None:
    before = dict(triage.tool_calls)
    async with offline_engine(tmp_path, offline_json(triage), api) as env:
        result, run_id = await run_to_end(env, triage.triage, "What's the weather in Tokyo?")
        assert result.startswith("Tokyo is sunny and humid today at 24°C.")
        assert await journal(env.engine, run_id) == [
            model_step("Triage Agent"),
            model_step("Weather Agent"),
            tool_step("get_weather"),
            model_step("Weather Agent"),
        ]
        assert len(env.server.requests) == 3
        last = env.server.requests[-1]
        assert [o.name for o in last.last_tool_outputs] == ["transfer_to_weather_agent", "get_weather"]
        assert "24°C, humid and sunny" in last.last_tool_outputs[-1].output
    assert Counter(triage.tool_calls) - Counter(before) == Counter({"get_weather": 1})


async def test_triage_answers_how_late_costco_is_open(tmp_path: Path) -> None:
    before = dict(triage.tool_calls)
    async with offline_engine(tmp_path, offline_json(triage)) as env:
        result, run_id = await run_to_end(env, triage.triage, "How late is Costco open in Seattle?")
        assert result.startswith("The Costco in Seattle (4401 4th Ave S) is open until 8:30 pm on weekdays")
        assert await journal(env.engine, run_id) == [
            model_step("Triage Agent"),
            model_step("Local Business Agent"),
            tool_step("find_businesses"),
            model_step("Local Business Agent"),
            tool_step("opening_hours"),
            model_step("Local Business Agent"),
        ]
        steps = await env.engine.steps(run_id)
        assert (
            steps[4].result
            == "Opening hours of Costco Seattle: Mon-Fri 10:00-20:30, Sat 9:30-18:00, Sun 10:00-18:00"
        )
    assert Counter(triage.tool_calls) - Counter(before) == Counter({"find_businesses": 1, "opening_hours": 1})


@pytest.mark.parametrize("api", APIS)
async def test_triage_hands_business_questions_to_the_local_business_agent(tmp_path: Path, api: Api) -> None:
    before = dict(triage.tool_calls)
    async with offline_engine(tmp_path, offline_json(triage), api) as env:
        result, run_id = await run_to_end(env, triage.triage, "Where can I get coffee in Paris?")
        assert result.startswith("Try Cafe Lumiere at 12 Rue des Martyrs")
        assert await journal(env.engine, run_id) == [
            model_step("Triage Agent"),
            model_step("Local Business Agent"),
            tool_step("find_businesses"),
            model_step("Local Business Agent"),
            tool_step("opening_hours"),
            model_step("Local Business Agent"),
        ]
        steps = await env.engine.steps(run_id)
        assert steps[2].result.startswith("Places for coffee in Paris:")
        assert steps[4].result == "Opening hours of Cafe Lumiere: Mon-Fri 7:30-18:00, Sat-Sun 9:00-17:00"
    assert Counter(triage.tool_calls) - Counter(before) == Counter({"find_businesses": 1, "opening_hours": 1})


# -- deep research ----------------------------------------------------------------------------------------------

QUERY = "History of the printing press"
ANSWERS = ["Gutenberg and Europe", "A general reader", "Both, with the social effects"]
QUESTIONS = [
    "Which period and region should the research focus on: early East Asian printing, Gutenberg, or the spread "
    "across Europe?",
    "Who is the report for: a general reader, a class, or a specialist?",
    "Should it cover mainly the technology, or also the social effects (religion, science, literacy)?",
]
SEARCHES = [
    "movable type before gutenberg",
    "gutenberg printing press invention",
    "spread of printing in europe 15th century",
    "printing press impact on reformation and science",
]
RESEARCH_MODEL_CALLS = Counter(
    {
        model_step("Triage Agent"): 1,
        model_step("Clarifying Agent"): 1,
        model_step("Instruction Agent"): 1,
        model_step("Planner Agent"): 1,
        model_step("Search Agent"): 2 * len(SEARCHES),  # a web_search call, then the summary
        model_step("Writer Agent"): 1,
    }
)


RESEARCH_REQUESTS = sum(RESEARCH_MODEL_CALLS.values())


def research_script() -> Path:
    return offline_json(research)


def check_report(report: str) -> None:
    assert report.startswith("# A short history of the printing press\n")
    assert "## Gutenberg's invention" in report


async def check_research_journal(engine: stead.Engine, run_id: str, *, waited: bool) -> None:
    steps = await engine.steps(run_id)
    assert all(s.status == "done" for s in steps), [(s.summary, s.status) for s in steps]
    kinds = Counter(s.kind for s in steps)
    assert kinds == Counter(
        {"model": RESEARCH_REQUESTS, "tool": len(SEARCHES), **({"wait": 1} if waited else {})}
    )
    assert Counter((s.kind, s.summary) for s in steps if s.kind == "model") == RESEARCH_MODEL_CALLS
    searches = [s for s in steps if s.kind == "tool"]
    assert {s.summary for s in searches} == {"tool · web_search"}
    assert sorted(s.result.splitlines()[0] for s in searches) == sorted(
        f"Results for {q!r}:" for q in SEARCHES
    )
    # The parallel searches are three tasks of the workflow, each with its own model, tool, model steps.
    search_tasks = Counter(
        s.position.split(":")[0] for s in steps if s.summary == model_step("Search Agent")[1]
    )
    assert len(search_tasks) == len(SEARCHES) and set(search_tasks.values()) == {2}
    if waited:
        [wait] = [s for s in steps if s.kind == "wait"]
        assert (wait.name, wait.result) == ("answers", ANSWERS)


def instruction_request_input(server: FakeOpenAIServer) -> str:
    [request] = [r for r in server.requests if "You turn a research request" in r.instructions]
    return request.input_text


@pytest.mark.parametrize("api", APIS)
async def test_deep_research_with_answers_up_front(tmp_path: Path, api: Api) -> None:
    executed = len(research_tools.executed)
    async with offline_engine(tmp_path, research_script(), api) as env:
        report, run_id = await run_to_end(env, research.deep_research, QUERY, answers=ANSWERS)
        check_report(report)
        await check_research_journal(env.engine, run_id, waited=False)
        assert len(env.server.requests) == RESEARCH_REQUESTS
        assert {r.api for r in env.server.requests} == {api}
        assert sorted(research_tools.executed[executed:]) == sorted(SEARCHES)

        brief = instruction_request_input(env.server)
        assert brief.startswith(f"Research request: {QUERY}\n")
        assert f"Q: {QUESTIONS[1]}\nA: {ANSWERS[1]}" in brief

        state = (await env.engine.get(run_id)).state
        assert state["stage"] == "done"
        assert state["answers"] == ANSWERS
        assert state["searches"] == SEARCHES
        assert state["questions"] == QUESTIONS
        assert state["summary"].startswith("Movable type began in East Asia around 1040")


async def test_deep_research_leaves_out_a_search_that_failed(tmp_path: Path) -> None:
    import json

    script = json.loads(research_script().read_text(encoding="utf-8"))
    failing = {"instructions_contains": "You are a research assistant", "input_contains": SEARCHES[2]}
    script["rules"].insert(0, {"match": failing, "reply": {"fault": 400, "message": "no such model (fake)"}})
    (tmp_path / "offline.json").write_text(json.dumps(script), encoding="utf-8")
    async with offline_engine(tmp_path, tmp_path / "offline.json") as env:
        report, run_id = await run_to_end(env, research.deep_research, QUERY, answers=ANSWERS)
        check_report(report)
        steps = await env.engine.steps(run_id)
        [failed] = [s for s in steps if s.status == "failed"]
        assert failed.summary == model_step("Search Agent")[1]
        assert failed.attempts == 1  # a 400 is not retried
        assert failed.error is not None and "no such model (fake)" in failed.error.message
        assert sum(s.summary == "tool · web_search" for s in steps) == len(SEARCHES) - 1
        [writer] = [r for r in env.server.requests if "You are a senior researcher" in r.instructions]
        assert f"## {SEARCHES[2]}\n(this search failed)" in writer.input_text
        assert f"## {SEARCHES[1]}\nJohannes Gutenberg built his press" in writer.input_text


async def test_deep_research_waits_for_the_answers(tmp_path: Path) -> None:
    async with offline_engine(tmp_path, research_script()) as env:
        engine = env.engine
        handle = await engine.start(research.deep_research, QUERY)
        async with engine.worker([research.deep_research]):
            info = await until_waiting(engine, handle.run_id, "answers")
            assert info.state["stage"] == "waiting for answers"
            assert info.state["questions"] == QUESTIONS
            assert len(env.server.requests) == 2  # triage and clarifying, nothing more before the answers
            await engine.send(handle.run_id, "answers", ANSWERS)
            report = await handle.result(timeout=60)
        check_report(report)
        await check_research_journal(engine, handle.run_id, waited=True)
        assert f"Q: {QUESTIONS[2]}\nA: {ANSWERS[2]}" in instruction_request_input(env.server)
        assert (await engine.get(handle.run_id)).waiting_for == []


# A test-only workflow: the deep research, then a crash after the report, once.
crash_after_report = {"armed": False}
reports: list[str] = []


@stead.workflow
async def research_then_crash(query: str, answers: list[str] | None = None) -> str:
    report = await research.deep_research(query, answers)
    reports.append(report)
    if crash_after_report["armed"]:
        crash_after_report["armed"] = False
        raise RuntimeError("crashed after the report")
    return report


@pytest.mark.parametrize("answers_by", ["argument", "message"])
async def test_deep_research_replay_makes_no_calls(
    tmp_path: Path, answers_by: Literal["argument", "message"]
) -> None:
    crash_after_report["armed"] = True
    reports.clear()
    executed = len(research_tools.executed)
    async with offline_engine(tmp_path, research_script()) as env:
        engine = env.engine
        if answers_by == "argument":
            handle = await engine.start(research_then_crash, QUERY, ANSWERS)
        else:
            handle = await engine.start(research_then_crash, QUERY)
        async with engine.worker([research_then_crash]):
            if answers_by == "message":
                await until_waiting(engine, handle.run_id, "answers")
                await engine.send(handle.run_id, "answers", ANSWERS)
            with pytest.raises(stead.RunFailed, match="crashed after the report"):
                await handle.result(timeout=60)
        requests = len(env.server.requests)
        assert requests == RESEARCH_REQUESTS
        assert len(research_tools.executed) - executed == len(SEARCHES)
        first_steps = await engine.steps(handle.run_id)
        [first_report] = reports

        info = await engine.reopen(handle.run_id)
        assert not info.status.finished
        async with engine.worker([research_then_crash]):
            report = await handle.result(timeout=60)

        assert report == first_report and reports == [first_report, first_report]
        check_report(report)
        assert len(env.server.requests) == requests, "the replay asked the model again"
        assert len(research_tools.executed) - executed == len(SEARCHES), "the replay ran web_search again"
        replayed_steps = await engine.steps(handle.run_id)
        assert [(s.position, s.kind, s.name, s.result) for s in replayed_steps] == [
            (s.position, s.kind, s.name, s.result) for s in first_steps
        ]
        await check_research_journal(engine, handle.run_id, waited=answers_by == "message")
        assert (await engine.get(handle.run_id)).state["stage"] == "done"


async def test_deep_research_runs_as_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """As `stead run --offline examples/deep_research/workflow.py:deep_research` loads and runs it."""
    from stead._loader import load_target

    monkeypatch.setattr(sys, "path", list(sys.path))  # the loader puts the file's directory first
    added = {"research_agents", "research_tools"} - set(sys.modules)
    try:
        wf, source = load_target(str(EXAMPLES / "deep_research" / "workflow.py") + ":deep_research")
        assert wf is not research.deep_research and wf.name == "deep_research"
        assert "site-packages" in str(sys.modules["agents"].__file__)  # the SDK, not a module of the example
        script = offline_script_for(source)
        assert script == EXAMPLES / "deep_research" / "offline.json"
        tools = sys.modules["research_tools"]
        async with offline_engine(tmp_path, script) as env:
            report, run_id = await run_to_end(env, wf, QUERY, answers=ANSWERS)
            check_report(report)
            await check_research_journal(env.engine, run_id, waited=False)
        assert sorted(tools.executed) == sorted(SEARCHES)
    finally:
        for name in added:
            sys.modules.pop(name, None)
