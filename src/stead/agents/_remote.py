"""Model and tool calls in a form that travels to another worker (``StepCall.remote``), and the handlers there.

Engines that run steps where the workflow code is (the embedded engine) call the step's closure; engines whose
steps run on other workers (Temporal) send this form instead, and the worker that runs the step calls the
handler named in it. Both handlers are engine-agnostic.

**Models resolve by name on the worker**, through the provider stead configures from the environment
(``OPENAI_API_KEY`` / ``OPENAI_BASE_URL`` / ``STEAD_OPENAI_API``, see ``stead.agents.env_provider``): a call
travels when its model came from that provider (``Agent(model="gpt-4o-mini")``). Tools travel as their JSON
schemas, handoffs as theirs, the output type as its JSON schema.

**A model call carries only what is new** (history grows O(new items), not O(conversation) per call): each call
of an agent run names the previous call of the same run as its base, keeps the base's first ``keep`` input items
and appends the rest. The worker rebuilds the full input from the base, which it remembers or reads from the
run's history through the engine (``RemoteContext.earlier``); a fingerprint of the base checks the rebuild.

**Function tools resolve by module and name**: a ``FunctionTool`` defined at module level in the program the
worker loaded. Anything else (a ``Model`` object built in workflow code, MCP tools, tools made inside the
workflow, hosted tools) has no travelling form: engines run such calls on the workflow's own worker.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import sys
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from agents import FunctionTool, Model, ModelSettings, ModelTracing
from agents.agent_output import AgentOutputSchema, AgentOutputSchemaBase
from agents.exceptions import ModelBehaviorError
from agents.handoffs import Handoff
from agents.tool import Tool
from agents.tool_context import ToolContext
from agents.tracing import (
    CustomSpanData,
    Span,
    Trace,
    get_current_span,
    get_current_trace,
    get_trace_provider,
)
from agents.tracing.scope import Scope as TracingScope
from pydantic import TypeAdapter

from .. import _serde
from .._exceptions import SerializationError, UsageError
from .._retry import RetryPolicy
from .._workflow import RemoteContext, remote_handler
from ._identity import AgentRun
from ._limits import limited
from ._provider import env_provider, is_env_client
from ._request import ModelRequest, call_model, model_name_of, normalize_tool_output
from ._toolcall import (
    TOOL_RETRY,
    OnBug,
    context_type_name,
    implementation_of,
    resolve_context_type,
    run_attempt,
)

__all__ = ["MODEL_HANDLER", "TOOL_HANDLER", "model_remote", "tool_remote"]

MODEL_HANDLER = "stead.agents._remote:model"
TOOL_HANDLER = "stead.agents._remote:tool"

#: Send each model call's whole input instead of the difference from the previous call (benchmarks compare).
send_full_conversation = False

_SETTINGS = TypeAdapter(ModelSettings)


# -- the travelling form, built in workflow code ---------------------------------------------------------------


@dataclass
class _Sent:
    """The previous model call of an agent run: the base of its next call."""

    position: str
    input: list[Any]
    model: Model
    request: ModelRequest


_previous: weakref.WeakKeyDictionary[AgentRun, _Sent] = weakref.WeakKeyDictionary()


def _digest(items: list[Any]) -> str:
    text = json.dumps(items, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


def _env_model_name(model: Model) -> str | None:
    """The name the worker's environment provider resolves to this same model, if it came from there."""
    client = getattr(model, "_client", None)
    name = getattr(model, "model", None)
    if client is None or not isinstance(name, str):
        return None
    return name if is_env_client(client) else None


def _tool_form(tool: Tool) -> dict[str, Any] | None:
    if not isinstance(tool, FunctionTool):
        return None
    form: dict[str, Any] = {
        "name": tool.name,
        "description": tool.description,
        "parameters": tool.params_json_schema,
        "strict": tool.strict_json_schema,
    }
    if tool.defer_loading:
        form["defer_loading"] = True
    return form


def _trace_context(tracing: ModelTracing) -> dict[str, Any] | None:
    """Where the model call sits in the SDK's trace, so that the worker's generation span joins that trace."""
    if tracing is ModelTracing.DISABLED:
        return None
    trace, span = get_current_trace(), get_current_span()
    if trace is None or not trace.trace_id or trace.trace_id == "no-op":
        return None
    return {
        "mode": tracing.value,
        "name": trace.name,
        "trace_id": trace.trace_id,
        "group_id": getattr(trace, "group_id", None),
        "parent_id": span.span_id if span is not None and span.span_id != "no-op" else None,
    }


_stand_ins: OrderedDict[tuple[str, str], tuple[Trace, Span[Any] | None]] = OrderedDict()


@contextmanager
def _in_trace(form: dict[str, Any] | None) -> Iterator[ModelTracing]:
    """On the worker: make the workflow's trace (and the model call's parent span) current, without starting
    them again, so that the model's own spans join the run's trace."""
    if not form:
        yield ModelTracing.DISABLED
        return
    provider = get_trace_provider()
    key = (str(form["trace_id"]), str(form.get("parent_id")))
    stand_ins = _stand_ins.get(key)
    if stand_ins is None:
        # One pair per parent, kept a while: the spans made under it count as its children, so that ids derived
        # from their parent and rank stay unique from call to call.
        trace = provider.create_trace(form["name"], trace_id=form["trace_id"], group_id=form.get("group_id"))
        parent = None
        if form.get("parent_id"):
            parent = provider.create_span(
                CustomSpanData(name="stead", data={}), span_id=form["parent_id"], parent=trace
            )
        stand_ins = _stand_ins[key] = (trace, parent)
        while len(_stand_ins) > _MAX_REMEMBERED:
            _stand_ins.popitem(last=False)
    _stand_ins.move_to_end(key)
    trace, parent = stand_ins
    trace_token = TracingScope.set_current_trace(trace)
    span_token = TracingScope.set_current_span(parent) if parent is not None else None
    try:
        yield ModelTracing(form["mode"])
    finally:
        if span_token is not None:
            TracingScope.reset_current_span(span_token)
        TracingScope.reset_current_trace(trace_token)


def _fields(model: Model, request: ModelRequest) -> dict[str, Any] | None:
    """Everything a model call sends except its input, as JSON; None if some of it cannot travel."""
    name = _env_model_name(model)
    if name is None:
        return None
    tools = [_tool_form(t) for t in request.tools]
    if any(t is None for t in tools):
        return None
    output = request.output_schema
    try:
        form: dict[str, Any] = _serde.to_json_value(
            {
                "model": name,
                "instructions": request.system_instructions,
                "settings": request.model_settings.to_json_dict(),
                "tools": tools,
                "handoffs": [
                    {
                        "tool_name": h.tool_name,
                        "tool_description": h.tool_description,
                        "input_json_schema": h.input_json_schema,
                        "agent_name": h.agent_name,
                        "strict_json_schema": h.strict_json_schema,
                    }
                    for h in request.handoffs
                ],
                "output": None
                if output is None
                else {
                    "name": output.name(),
                    "plain": output.is_plain_text(),
                    "schema": None if output.is_plain_text() else output.json_schema(),
                    "strict": output.is_strict_json_schema(),
                    "type": _type_location(output),
                },
                "previous_response_id": request.previous_response_id,
                "conversation_id": request.conversation_id,
                "prompt": request.prompt,
                "stream": request.stream,
                "trace": _trace_context(request.tracing),
            },
            "a model request",
        )
    except SerializationError:
        return None
    return form


def _type_location(output: AgentOutputSchemaBase) -> str | None:
    """Where the output type is defined ("module:Qualname"), so that the worker validates answers with it."""
    kind = getattr(output, "output_type", None)
    module, qualname = getattr(kind, "__module__", None), getattr(kind, "__qualname__", None)
    if not isinstance(module, str) or not isinstance(qualname, str) or "<" in qualname:
        return None
    return f"{module}:{qualname}"


def model_remote(
    model: Model, run: AgentRun | None, position: str | None, request: ModelRequest
) -> Callable[[], tuple[str, Any] | None]:
    """The travelling form of a model call at ``position`` of agent run ``run``, built only when asked for.

    Records the call as the base of the run's next one (in replays too, so that a live call after a replay has
    its base). Everything else waits until an engine asks: on engines that run the closure it costs nothing.
    """
    base = _previous.pop(run, None) if run is not None else None
    items = list(request.input) if isinstance(request.input, list) else None
    if run is not None and position is not None and items is not None:
        _previous[run] = _Sent(position, items, model, request)

    def build() -> tuple[str, Any] | None:
        fields = _fields(model, request)
        if fields is None:
            return None
        data: dict[str, Any] = {"position": position}
        if items is None:
            data["input"] = request.input
            data["fields"] = fields
            return MODEL_HANDLER, data
        current = _serde.to_json_value(items, "a model call's input")
        base_fields = None if base is None or send_full_conversation else _fields(base.model, base.request)
        if base is None or base_fields is None:
            data["input"] = current
            data["fields"] = fields
            return MODEL_HANDLER, data
        before = _serde.to_json_value(base.input, "a model call's input")
        keep = 0
        for old, new in zip(before, current, strict=False):
            if old != new:
                break
            keep += 1
        data["base"] = {"position": base.position, "digest": _digest(before)}
        data["keep"] = keep
        data["append"] = current[keep:]
        # Fields the base sent already (instructions, tool schemas) are inherited, not sent again.
        data["fields"] = {k: v for k, v in fields.items() if base_fields.get(k, _MISSING) != v}
        return MODEL_HANDLER, data

    return build


_MISSING = object()


# -- tools -----------------------------------------------------------------------------------------------------

_located: dict[int, tuple[str, str]] = {}


def _locate(tool: FunctionTool) -> tuple[str, str] | None:
    """The module and attribute where ``tool`` is defined at module level, if anywhere."""
    cached = _located.get(id(tool))
    if cached is not None and getattr(sys.modules.get(cached[0]), cached[1], None) is tool:
        return cached
    for module_name, module in list(sys.modules.items()):
        if module is None or module_name == "__main__":
            continue
        namespace = getattr(module, "__dict__", None)
        if not namespace:
            continue
        for attr, value in list(namespace.items()):
            if value is tool:
                _located[id(tool)] = (module_name, attr)
                return module_name, attr
    return None


def tool_remote(
    tool: FunctionTool, ctx: ToolContext[Any], arguments: str, retry: RetryPolicy, on_bug: OnBug
) -> Callable[[], tuple[str, Any] | None]:
    """The travelling form of a function tool call (None from the builder unless defined at module level)."""
    call_id = getattr(ctx, "tool_call_id", None)

    def build() -> tuple[str, Any] | None:
        where = _locate(tool)
        if where is None:
            return None
        try:
            context = _serde.to_json_value(ctx.context, "a run context")
            json.dumps(context)
        except (SerializationError, TypeError, ValueError):
            context = None
        data: dict[str, Any] = {
            "tool": tool.name,
            "module": where[0],
            "arguments": arguments,
            "call_id": call_id,
            "on_bug": on_bug,
            "max_attempts": retry.max_attempts,
        }
        excluded = [e if isinstance(e, str) else e.__qualname__ for e in retry.non_retryable]
        if excluded:
            data["non_retryable"] = excluded
        if where[1] != tool.name:
            data["attr"] = where[1]
        if context is not None:
            data["context"] = context
            context_type = context_type_name(ctx.context)
            if context_type is not None:
                data["context_type"] = context_type
        return TOOL_HANDLER, data

    return build


# -- the handlers, on the worker that runs the step -----------------------------------------------------------

_MAX_REMEMBERED = 512
# Rebuilt inputs and fields of model calls, by (run id, position): the base of the next call is usually here.
_rebuilt: OrderedDict[tuple[str, str], tuple[list[Any], dict[str, Any], str]] = OrderedDict()


async def _rebuild(data: dict[str, Any], ctx: RemoteContext) -> tuple[str | list[Any], dict[str, Any]]:
    if "base" not in data:
        return data["input"], data["fields"]
    base = data["base"]
    key = (ctx.run_id, str(base["position"]))
    remembered = _rebuilt.get(key)
    if remembered is None or remembered[2] != base["digest"]:
        record = await ctx.earlier(str(base["position"]))
        if record is None:
            raise RuntimeError(
                f"the model call at {base['position']} that this one builds on is not in the run's history"
            )
        base_input, base_fields = await _rebuild(record[0], ctx)
        if not isinstance(base_input, list) or _digest(base_input) != base["digest"]:
            raise RuntimeError(
                f"the model call at {base['position']} differs from the one this call builds on"
            )
        remembered = (base_input, base_fields, base["digest"])
        _remember(key, remembered)
    items = remembered[0][: int(data["keep"])] + list(data["append"])
    return items, {**remembered[1], **data["fields"]}


def _remember(key: tuple[str, str], value: tuple[list[Any], dict[str, Any], str]) -> None:
    _rebuilt[key] = value
    _rebuilt.move_to_end(key)
    while len(_rebuilt) > _MAX_REMEMBERED:
        _rebuilt.popitem(last=False)


async def _never(ctx: Any, arguments: str) -> Any:  # pragma: no cover - stand-ins only describe tools
    raise RuntimeError("a tool's stand-in on a model worker is never invoked")


class _OutputStandIn(AgentOutputSchemaBase):
    def __init__(self, form: dict[str, Any]) -> None:
        self.form = form

    def is_plain_text(self) -> bool:
        return bool(self.form["plain"])

    def name(self) -> str:
        return str(self.form["name"])

    def json_schema(self) -> dict[str, Any]:
        schema: dict[str, Any] = self.form["schema"] or {}
        return schema

    def is_strict_json_schema(self) -> bool:
        return bool(self.form["strict"])

    def validate_json(self, json_str: str) -> Any:
        """Check an answer as the workflow's schema will: with the output type when this worker has it."""
        schema = self._located()
        if schema is not None:
            return schema.validate_json(json_str)
        try:
            return json.loads(json_str)
        except ValueError as error:
            raise ModelBehaviorError(
                f"Invalid JSON when parsing {json_str} for {self.name()}: {error}"
            ) from None

    def _located(self) -> AgentOutputSchemaBase | None:
        where = self.form.get("type")
        if not isinstance(where, str):
            return None
        module_name, _, qualname = where.partition(":")
        module = sys.modules.get(module_name)
        if module is None and not module_name.startswith("_stead_app_"):
            try:
                module = importlib.import_module(module_name)
            except ImportError:
                return None
        found: Any = module
        for part in qualname.split("."):
            found = getattr(found, part, None)
        if not isinstance(found, type):
            return None
        return AgentOutputSchema(found, strict_json_schema=self.is_strict_json_schema())


@remote_handler(MODEL_HANDLER)
async def model(data: Any, ctx: RemoteContext) -> Any:
    """Call the model a request names, through the worker's environment provider; return the response JSON."""
    items, fields = await _rebuild(data, ctx)
    if isinstance(items, list) and data.get("position") is not None:
        _remember((ctx.run_id, str(data["position"])), (items, fields, _digest(items)))
    model = env_provider().get_model(fields["model"])
    tools: list[Tool] = [
        FunctionTool(
            name=t["name"],
            description=t["description"],
            params_json_schema=t["parameters"],
            on_invoke_tool=_never,
            strict_json_schema=t["strict"],
            defer_loading=bool(t.get("defer_loading", False)),
        )
        for t in fields["tools"]
    ]
    handoffs: list[Handoff] = [
        Handoff(
            tool_name=h["tool_name"],
            tool_description=h["tool_description"],
            input_json_schema=h["input_json_schema"],
            on_invoke_handoff=_never,
            agent_name=h["agent_name"],
            strict_json_schema=h["strict_json_schema"],
        )
        for h in fields["handoffs"]
    ]
    output = None if fields["output"] is None else _OutputStandIn(fields["output"])
    with _in_trace(fields.get("trace")) as tracing:
        request = ModelRequest(
            fields["instructions"],
            items,
            _SETTINGS.validate_python(fields["settings"]),
            tools,
            output,
            handoffs,
            fields["previous_response_id"],
            fields["conversation_id"],
            fields["prompt"],
            stream=bool(fields.get("stream")),
            tracing=tracing,
        )
        return await limited(model_name_of(model), request, lambda: call_model(model, request))


def _find_tool(name: str, module_name: str, attr: str) -> FunctionTool:
    module = sys.modules.get(module_name)
    if module is None and not module_name.startswith("_stead_app_"):
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            module = None
    candidate = getattr(module, attr, None) if module is not None else None
    if isinstance(candidate, FunctionTool) and candidate.name == name:
        return candidate
    # The program may be loaded under another module name on this worker: look for it by name.
    found = {
        id(value): value
        for loaded in list(sys.modules.values())
        if loaded is not None
        for value in [getattr(loaded, attr, None)]
        if isinstance(value, FunctionTool) and value.name == name
    }
    if len(found) == 1:
        return next(iter(found.values()))
    raise UsageError(
        f"this worker has no function tool {name!r} ({module_name}.{attr}); start it with the program that "
        "defines the tool at module level"
        if not found
        else f"several function tools are named {name!r} in this worker; give them distinct names"
    )


def _typed_context(data: dict[str, Any]) -> Any:
    """The run context as the workflow's type (a dataclass, a pydantic model), else as its JSON."""
    context = data.get("context")
    name = data.get("context_type")
    cls = resolve_context_type(str(name)) if name else None
    if cls is None:
        return context
    try:
        return _serde.decode(context, cls, "the run context")
    except SerializationError:
        return context


@remote_handler(TOOL_HANDLER)
async def tool(data: Any, ctx: RemoteContext) -> Any:
    """Run one attempt of a module-level function tool with the model's arguments (``_toolcall.run_attempt``)."""
    found = _find_tool(str(data["tool"]), str(data["module"]), str(data.get("attr") or data["tool"]))
    context: ToolContext[Any] = ToolContext(
        context=_typed_context(data),
        tool_name=found.name,
        tool_call_id=str(data.get("call_id") or ""),
        tool_arguments=str(data["arguments"]),
    )
    impl = implementation_of(found)
    if impl is None:  # pragma: no cover - only tools with the SDK's invoker travel
        return normalize_tool_output(await found.on_invoke_tool(context, str(data["arguments"])))
    retry = RetryPolicy(
        max_attempts=int(data.get("max_attempts", TOOL_RETRY.max_attempts)),
        non_retryable=tuple(str(n) for n in data.get("non_retryable", ())),
    )
    on_bug: OnBug = "model" if data.get("on_bug") == "model" else "stop"
    return await run_attempt(found, impl, context, str(data["arguments"]), retry, on_bug)
