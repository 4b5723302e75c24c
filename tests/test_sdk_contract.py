"""The seams of openai-agents that stead relies on: each test fails naming the seam and the SDK version.

A new SDK release may move or change any of them; pyproject.toml bounds openai-agents to the releases these tests
passed on. Where a public seam exists stead uses it (``set_default_agent_runner``, ``RunConfig.model_provider``,
``set_trace_provider``). Two private ones remain, because no public seam does the same:

- ``run_loop.get_model``: the model of every turn passes here, from any source (``Agent(model=...)`` objects,
  names resolved by ``RunConfig.model_provider``, ``RunConfig.model``), together with the agent whose name the step
  carries. A wrapping ``ModelProvider`` would miss ``Model`` objects given to an agent, which bypass the provider.
- ``AgentBase.get_all_tools``: every tool inventory the SDK takes (each turn's, MCP tools included, and the one it
  takes to run tool calls approved after an interruption). Tools given to an ``Agent`` cannot be wrapped earlier:
  workflow code builds its agents itself.

- ``agent_tool_configuration._resolutions``: the registry of the runs in progress with each ``Agent`` object, which
  the SDK checks across all of them several times a turn; inside workflows stead keys it per workflow run
  (``stead.agents._shared``), so that one module-level agent shared by 1,000 runs does not cost each run 1,000
  comparisons a check. The SDK has no setting for it.

Private provider attributes (``_stored_api_key``...) tell an SDK default nobody configured from one a program
configured; ``model._client`` tells a model of stead's environment provider from others (it may travel).
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import inspect
import json
import typing
from collections.abc import Coroutine
from typing import Any, cast

import pytest
from agents import (
    Agent,
    FunctionTool,
    Model,
    ModelResponse,
    ModelSettings,
    ModelTracing,
    RunConfig,
    Runner,
    Usage,
    function_tool,
)
from agents.agent import AgentBase
from agents.run import AgentRunner, get_default_agent_runner, set_default_agent_runner
from agents.run_internal import run_loop, turn_preparation
from agents.run_state import RunState
from agents.tool_context import ToolContext
from agents.tracing.provider import TraceProvider
from agents.tracing.scope import Scope as TracingScope
from openai import AsyncOpenAI
from openai.types.responses import (
    Response,
    ResponseFunctionToolCall,
    ResponseOutputMessage,
    ResponseOutputText,
)

from stead.agents import SteadAgentRunner, response_from_json, response_to_json
from stead.agents._provider import is_default_provider
from stead.agents._request import ModelRequest

SDK = importlib.metadata.version("openai-agents")


def broken(seam: str, what: str) -> str:
    return (
        f"openai-agents {SDK} changed the seam {seam}: {what}. stead's agents integration relies on it; adapt "
        "src/stead/agents (and this test) before raising the upper bound in pyproject.toml."
    )


def parameters(fn: Any) -> list[str]:
    return list(inspect.signature(fn).parameters)


# -- the two private patches (stead.agents._runner.install) --------------------------------------------------------


def test_the_run_loop_resolves_each_turns_model_through_its_module_global_get_model() -> None:
    assert callable(getattr(run_loop, "get_model", None)), broken(
        "agents.run_internal.run_loop.get_model", "it is gone"
    )
    assert parameters(run_loop.get_model) == ["agent", "run_config"], broken(
        "agents.run_internal.run_loop.get_model", f"its parameters are {parameters(run_loop.get_model)}"
    )
    # stead replaces the module global: the turns must look it up by name at call time.
    callers = {
        name
        for name, fn in vars(run_loop).items()
        if inspect.isfunction(fn)
        and fn.__module__ == run_loop.__name__
        and "get_model" in fn.__code__.co_names
    }
    assert {"get_new_response", "run_single_turn_streamed"} <= callers, broken(
        "agents.run_internal.run_loop.get_model",
        f"the functions that call it by its global name are {sorted(callers)}, not the model call of a turn "
        "(get_new_response) and of a streamed turn (run_single_turn_streamed)",
    )


def test_get_model_returns_an_agents_model_object_as_it_is() -> None:
    # Why a provider cannot replace the patch: a Model object on the agent never meets the provider.
    class Fixed(Model):
        async def get_response(self, *args: Any, **kwargs: Any) -> Any:  # pragma: no cover - never called
            raise AssertionError

        def stream_response(self, *args: Any, **kwargs: Any) -> Any:  # pragma: no cover - never called
            raise AssertionError

    model = Fixed()
    assert turn_preparation.get_model(Agent(name="a", model=model), RunConfig()) is model, broken(
        "agents.run_internal.turn_preparation.get_model", "an agent's Model object is no longer used as it is"
    )


def test_every_tool_inventory_goes_through_agent_base_get_all_tools() -> None:
    sdk_own = inspect.unwrap(AgentBase.get_all_tools)  # stead's patch, once installed, wraps the SDK's own
    assert inspect.iscoroutinefunction(sdk_own), broken(
        "agents.agent.AgentBase.get_all_tools", "it is no longer a coroutine function"
    )
    assert parameters(sdk_own) == ["self", "run_context"], broken(
        "agents.agent.AgentBase.get_all_tools", f"its parameters are {parameters(sdk_own)}"
    )
    assert "get_all_tools" not in vars(Agent), broken(
        "agents.agent.AgentBase.get_all_tools", "Agent overrides it, so patching AgentBase misses agents"
    )
    source = inspect.getsource(turn_preparation.get_all_tools)
    assert "agent.get_all_tools(" in source, broken(
        "agents.run_internal.turn_preparation.get_all_tools", "it no longer asks the agent for its tools"
    )


def test_the_sdk_keeps_its_runs_per_agent_in_a_module_global_dict_it_reads_by_key() -> None:
    import re

    from agents.run_internal import agent_tool_configuration as config

    seam = "agents.run_internal.agent_tool_configuration._resolutions"
    assert isinstance(config._resolutions, dict), broken(seam, "it is gone or no longer a dict")
    assert hasattr(config._resolution_lock, "acquire"), broken(seam, "its lock _resolution_lock is gone")
    # stead replaces the global with a dict that keys per workflow run: the SDK must look it up at call time,
    # and only by key (an iteration over it would see every workflow run's entries).
    users = {
        name
        for name, fn in vars(config).items()
        if inspect.isfunction(fn)
        and fn.__module__ == config.__name__
        and "_resolutions" in inspect.unwrap(fn).__code__.co_names
    }
    assert {
        "agent_tool_configuration_run",
        "register_agent_tool_configuration",
        "snapshot_agent_tools",
    } <= users, broken(seam, f"the functions that use it by its global name are {sorted(users)}")
    uses = set(re.findall(r"_resolutions\b(\.\w+\(|\[|:| =)", inspect.getsource(config)))
    assert uses <= {".get(", ".setdefault(", "[", ":"}, broken(seam, f"it is used as {sorted(uses)}")


# -- the public seams ------------------------------------------------------------------------------------------


def test_runner_run_goes_through_the_default_agent_runner() -> None:
    calls: list[str] = []

    class Recording(AgentRunner):
        async def run(self, starting_agent: Agent[Any], input: Any, **kwargs: Any) -> Any:
            calls.append(str(input))
            return "recorded"

    before = get_default_agent_runner()
    set_default_agent_runner(Recording())
    try:
        result = asyncio.run(Runner.run(Agent(name="a"), "hello"))
    finally:
        set_default_agent_runner(before)
    assert calls == ["hello"] and cast(Any, result) == "recorded", broken(
        "agents.run.set_default_agent_runner", "Runner.run no longer calls the default agent runner"
    )
    assert issubclass(SteadAgentRunner, AgentRunner)


def test_the_runner_options_stead_sets_are_still_run_options() -> None:
    from agents.run_config import RunOptions

    options = typing.get_type_hints(RunOptions)
    for key in ("run_config", "session"):
        assert key in options, broken("agents.run_config.RunOptions", f"Runner.run takes no {key}= any more")
    for field in ("trace_id", "group_id", "model_provider"):
        assert hasattr(RunConfig(), field), broken("agents.RunConfig", f"it has no field {field}")


def test_model_calls_take_the_arguments_a_model_request_passes() -> None:
    request = ModelRequest(None, "hi", ModelSettings(), [], None, [], None, None, None)
    positional, keywords = request.arguments()
    for method in (Model.get_response, Model.stream_response):
        signature = inspect.signature(method)
        try:
            signature.bind(None, *positional, **keywords)
        except TypeError as exc:
            raise AssertionError(broken(f"agents.Model.{method.__name__}", f"{signature}: {exc}")) from None
        keyword_only = [p.name for p in signature.parameters.values() if p.kind is p.KEYWORD_ONLY]
        assert keyword_only == list(keywords), broken(
            f"agents.Model.{method.__name__}", f"its keyword-only parameters are {keyword_only}"
        )
    assert parameters(Model._cleanup_on_run_end) == ["self", "owner"], broken(
        "agents.Model._cleanup_on_run_end", "DurableModel passes it on to the model it wraps"
    )


# -- journaled values: a model's response, a tool's output -------------------------------------------------------


def test_a_model_response_round_trips_through_its_json() -> None:
    call = ResponseFunctionToolCall(
        type="function_call", call_id="call_1", name="refund", arguments='{"id": 1}', id=None, status=None
    )
    message = ResponseOutputMessage(
        id="msg_1",
        type="message",
        role="assistant",
        status="completed",
        content=[ResponseOutputText(type="output_text", text="ok", annotations=[])],
    )
    response = ModelResponse(
        output=[call, message],
        usage=Usage(requests=1, input_tokens=3, output_tokens=2, total_tokens=5),
        response_id="resp_1",
    )
    data = response_to_json(response)
    again = response_from_json(data)
    assert again == response and again.to_input_items() == response.to_input_items(), broken(
        "TypeAdapter(ModelResponse) dump_python(by_alias, exclude_unset) / validate_python",
        "the journaled response no longer reads back the same",
    )
    assert response_to_json(again) == data, broken("agents.ModelResponse", "its JSON changes on a round trip")
    streamed = Response.model_validate(
        {
            "id": "resp_1",
            "created_at": 0,
            "model": "m",
            "object": "response",
            "output": [call.model_dump(by_alias=True, exclude_unset=True)],
            "parallel_tool_calls": True,
            "tool_choice": "auto",
            "tools": [],
        }
    )
    dumped = streamed.model_dump(mode="json", by_alias=True, exclude_unset=True)
    assert Response.model_validate(dumped) == streamed, broken(
        "openai Response", "a streamed call's completed response no longer reads back the same"
    )


def test_a_function_tools_errors_reach_its_invoker_as_text() -> None:
    # TOOL_RETRY's promise: wrapping on_invoke_tool sees text for a failed tool unless failures pass through.
    @function_tool
    def fails() -> str:
        """Fail."""
        raise ValueError("boom")

    @function_tool(failure_error_function=None)
    def raises() -> str:
        """Fail loudly."""
        raise ValueError("boom")

    from agents import tool as tool_module

    invoker = getattr(tool_module, "_FailureHandlingFunctionToolInvoker", None)
    assert invoker is not None and isinstance(fails.on_invoke_tool, invoker), broken(
        "agents.tool._FailureHandlingFunctionToolInvoker", "function tools are no longer invoked through it"
    )

    def context(tool: FunctionTool) -> ToolContext[Any]:
        return ToolContext(context=None, tool_name=tool.name, tool_call_id="call_1", tool_arguments="{}")

    text = asyncio.run(fails.on_invoke_tool(context(fails), "{}"))
    assert isinstance(text, str), broken(
        "FunctionTool.on_invoke_tool", f"a failing tool returned {text!r} instead of the error as text"
    )
    with pytest.raises(ValueError, match="boom"):
        asyncio.run(cast(Coroutine[Any, Any, Any], raises.on_invoke_tool(context(raises), "{}")))


def test_an_agent_used_as_a_tool_is_marked() -> None:
    tool = Agent(name="helper").as_tool(tool_name="helper", tool_description="Helps.")
    assert isinstance(tool, FunctionTool) and getattr(tool, "_is_agent_tool", None) is True, broken(
        "FunctionTool._is_agent_tool",
        "an agent used as a tool is no longer marked (its nested run is durable)",
    )


# -- approvals, tracing, sessions --------------------------------------------------------------------------------


def test_run_state_takes_decisions_as_stead_applies_them() -> None:
    assert parameters(RunState.approve)[:3] == ["self", "approval_item", "always_approve"], broken(
        "agents.RunState.approve", f"its parameters are {parameters(RunState.approve)}"
    )
    reject = inspect.signature(RunState.reject).parameters
    assert {"always_reject", "rejection_message"} <= set(reject), broken(
        "agents.RunState.reject", f"its parameters are {list(reject)}"
    )


def test_the_trace_provider_and_scope_stead_wraps() -> None:
    for method, expected in (
        (
            TraceProvider.create_trace,
            ["self", "name", "trace_id", "group_id", "metadata", "disabled", "tracing"],
        ),
        (TraceProvider.create_span, ["self", "span_data", "span_id", "parent", "disabled"]),
    ):
        assert parameters(method) == expected, broken(
            f"agents.tracing.provider.TraceProvider.{method.__name__}",
            f"its parameters are {parameters(method)}",
        )
    for name in ("get_current_trace", "set_current_trace", "reset_current_trace", "get_current_span"):
        assert callable(getattr(TracingScope, name, None)), broken("agents.tracing.scope.Scope", f"no {name}")
    for name in ("set_current_span", "reset_current_span"):
        assert callable(getattr(TracingScope, name, None)), broken("agents.tracing.scope.Scope", f"no {name}")
    for mode in ModelTracing:  # a model call's trace context carries the mode by value, as JSON
        assert json.loads(json.dumps(mode.value)) == mode.value, broken("agents.ModelTracing", f"{mode!r}")


def test_the_session_limit_helper() -> None:
    from agents.memory.session_settings import resolve_session_limit

    assert parameters(resolve_session_limit) == ["explicit_limit", "settings"], broken(
        "agents.memory.session_settings.resolve_session_limit",
        f"its parameters are {parameters(resolve_session_limit)}",
    )


# -- the providers' private attributes (stead.agents._provider, _remote) -----------------------------------------


def test_an_unconfigured_default_provider_is_told_from_a_configured_one() -> None:
    from agents.models import _openai_shared
    from agents.models.multi_provider import MultiProvider

    assert callable(getattr(_openai_shared, "get_default_openai_client", None)), broken(
        "agents.models._openai_shared.get_default_openai_client", "it is gone"
    )
    openai_provider = MultiProvider().openai_provider
    for attr in ("_client", "_stored_api_key", "_stored_base_url", "_stored_organization", "_stored_project"):
        assert hasattr(openai_provider, attr), broken(f"OpenAIProvider.{attr}", "the attribute is gone")
    assert hasattr(MultiProvider(), "provider_map"), broken(
        "MultiProvider.provider_map", "the attribute is gone"
    )
    assert is_default_provider(MultiProvider()), broken(
        "MultiProvider()", "a bare one no longer reads as default"
    )
    client = AsyncOpenAI(api_key="k", base_url="http://localhost:1/v1")
    for configured in (
        MultiProvider(openai_api_key="k"),
        MultiProvider(openai_base_url="http://localhost:1/v1"),
        MultiProvider(openai_organization="org"),
        MultiProvider(openai_project="project"),
        MultiProvider(openai_client=client),
    ):
        assert not is_default_provider(configured), broken(
            "OpenAIProvider's stored settings", "a configured MultiProvider reads as the unconfigured default"
        )


@pytest.mark.parametrize("use_responses", [True, False])
def test_a_providers_models_show_their_client_and_name(use_responses: bool) -> None:
    from agents.models.multi_provider import MultiProvider

    client = AsyncOpenAI(api_key="k", base_url="http://localhost:1/v1")
    model = MultiProvider(openai_client=client, openai_use_responses=use_responses).get_model("gpt-4o-mini")
    assert getattr(model, "_client", None) is client, broken(
        f"{type(model).__name__}._client", "the model no longer keeps its client there"
    )
    assert getattr(model, "model", None) == "gpt-4o-mini", broken(
        f"{type(model).__name__}.model", "the model no longer keeps its name there"
    )


def test_scripted_models_exist_for_tests_and_benchmarks() -> None:
    from agents import testing

    assert hasattr(testing, "ScriptedModel"), broken("agents.testing.ScriptedModel", "it is gone")
    for name in ("assistant_message", "function_call"):
        assert callable(getattr(testing, name, None)), broken(f"agents.testing.{name}", "it is gone")
