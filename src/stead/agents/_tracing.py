"""The SDK's tracing inside workflows: deterministic ids, and nothing emitted twice on replay.

stead installs :class:`SteadTraceProvider` as the SDK's trace provider. It wraps the provider that was there
(the SDK's default, with its processors) and changes two things for traces and spans of workflow runs, nothing
outside them:

* **Ids are deterministic.** ``Runner.run`` in a workflow gets a trace id derived from the run and the agent run's
  place in it; other traces started in workflow code derive theirs from the run and the task; a span's id derives
  from its trace, its parent span, its kind and name, and how many such siblings came before it. A run that
  resumes after a crash rebuilds the same trace with the same ids.
* **Replayed parts emit nothing.** While the engine replays what an earlier execution already did
  (``stead._observe.replaying``), the processors are not told of traces and spans starting or ending: the
  earlier execution told them. A span that started before a crash and ends after it reports its end from the
  new execution, with the same id. Model calls answered from the journal do not call the model, so the SDK's
  generation/response spans exist only for live calls: stead synthesizes none for replayed steps.

Processors registered with ``agents.add_trace_processor`` / ``set_trace_processors`` keep working: they are the
wrapped provider's. A provider installed later with ``agents.set_trace_provider`` replaces this one.
"""

from __future__ import annotations

import hashlib
import weakref
from collections import Counter
from typing import Any

from agents.tracing import Span, Trace, TracingProcessor, get_trace_provider, set_trace_provider
from agents.tracing.config import TracingConfig
from agents.tracing.provider import TraceProvider
from agents.tracing.scope import Scope as TracingScope
from agents.tracing.spans import TSpanData

from .._context import RunRuntime, current_scope
from .._observe import replaying

__all__ = ["SteadTraceProvider", "install_trace_provider"]


def _digest(text: str, size: int) -> str:
    return hashlib.blake2b(text.encode(), digest_size=size).hexdigest()


class _ReplayGate(TracingProcessor):
    """Forwards the events of one workflow trace or span unless its run is replaying."""

    __slots__ = ("inner", "runtime")

    def __init__(self, inner: TracingProcessor, runtime: RunRuntime) -> None:
        self.inner = inner
        self.runtime = runtime

    def on_trace_start(self, trace: Trace) -> None:
        if not replaying(self.runtime):
            self.inner.on_trace_start(trace)

    def on_trace_end(self, trace: Trace) -> None:
        if not replaying(self.runtime):
            self.inner.on_trace_end(trace)

    def on_span_start(self, span: Span[Any]) -> None:
        if not replaying(self.runtime):
            self.inner.on_span_start(span)

    def on_span_end(self, span: Span[Any]) -> None:
        if not replaying(self.runtime):
            self.inner.on_span_end(span)

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self) -> None:
        self.inner.force_flush()


def _gate(obj: Trace | Span[Any], runtime: RunRuntime) -> None:
    processor = getattr(obj, "_processor", None)
    if isinstance(processor, TracingProcessor) and not isinstance(processor, _ReplayGate):
        obj._processor = _ReplayGate(processor, runtime)  # type: ignore[union-attr]


def _span_key(span_data: Any) -> str:
    kind = getattr(span_data, "type", type(span_data).__name__)
    name = getattr(span_data, "name", None)
    if name is None and kind == "handoff":
        name = f"{getattr(span_data, 'from_agent', '')}>{getattr(span_data, 'to_agent', '')}"
    return f"{kind}:{name or ''}"


class SteadTraceProvider(TraceProvider):
    """The SDK trace provider with deterministic ids and replay-aware emission inside workflow runs."""

    def __init__(self, inner: TraceProvider) -> None:
        self.inner = inner
        # Traces made inside workflow runs, by id; counters of the spans made under each parent (span or trace).
        self._traces: weakref.WeakValueDictionary[str, Trace] = weakref.WeakValueDictionary()
        self._children: weakref.WeakKeyDictionary[object, Counter[str]] = weakref.WeakKeyDictionary()
        self._task_traces: weakref.WeakKeyDictionary[Any, Counter[str]] = weakref.WeakKeyDictionary()

    # -- delegated ------------------------------------------------------------------------------------------------

    def register_processor(self, processor: TracingProcessor) -> None:
        self.inner.register_processor(processor)

    def set_processors(self, processors: list[TracingProcessor]) -> None:
        self.inner.set_processors(processors)

    def get_current_trace(self) -> Trace | None:
        return self.inner.get_current_trace()

    def get_current_span(self) -> Span[Any] | None:
        return self.inner.get_current_span()

    def set_disabled(self, disabled: bool) -> None:
        self.inner.set_disabled(disabled)

    def time_iso(self) -> str:
        return self.inner.time_iso()

    def gen_trace_id(self) -> str:
        scope = current_scope()
        if scope is None:
            return self.inner.gen_trace_id()
        counter = self._task_traces.setdefault(scope.runtime, Counter())
        counter[scope.path] += 1
        return f"trace_{_digest(f'{scope.runtime.run_id}|{scope.path}|{counter[scope.path]}', 16)}"

    def gen_span_id(self) -> str:
        return self.inner.gen_span_id()

    def gen_group_id(self) -> str:
        scope = current_scope()
        if scope is None:
            return self.inner.gen_group_id()
        return f"group_{_digest(scope.runtime.run_id, 12)}"

    def force_flush(self) -> None:
        self.inner.force_flush()

    def shutdown(self) -> None:
        self.inner.shutdown()

    # -- traces and spans -----------------------------------------------------------------------------------------

    def create_trace(
        self,
        name: str,
        trace_id: str | None = None,
        group_id: str | None = None,
        metadata: dict[str, Any] | None = None,
        disabled: bool = False,
        tracing: TracingConfig | None = None,
    ) -> Trace:
        scope = current_scope()
        if scope is None:
            return self.inner.create_trace(name, trace_id, group_id, metadata, disabled, tracing)
        trace = self.inner.create_trace(
            name, trace_id or self.gen_trace_id(), group_id, metadata, disabled, tracing
        )
        if trace.trace_id != "no-op":
            self._traces[trace.trace_id] = trace
            _gate(trace, scope.runtime)
        return trace

    def create_span(
        self,
        span_data: TSpanData,
        span_id: str | None = None,
        parent: Trace | Span[Any] | None = None,
        disabled: bool = False,
    ) -> Span[TSpanData]:
        if span_id is None and not disabled:
            span_id = self._derived_span_id(span_data, parent)
        span = self.inner.create_span(span_data, span_id, parent, disabled)
        scope = current_scope()
        if scope is not None:
            _gate(span, scope.runtime)
        return span

    def _derived_span_id(self, span_data: Any, parent: Trace | Span[Any] | None) -> str | None:
        """A deterministic id for a span of a workflow run's trace (also inside a step), else None."""
        owner: Trace | Span[Any] | None = parent
        if owner is None:
            owner = TracingScope.get_current_span() or TracingScope.get_current_trace()
        if owner is None:
            return None
        trace_id = owner.trace_id
        if trace_id == "no-op" or (trace_id not in self._traces and current_scope() is None):
            return None  # not a trace of a workflow run (spans inside a live step belong to one)
        parent_id = owner.span_id if isinstance(owner, Span) else ""
        key = _span_key(span_data)
        try:
            counter = self._children.get(owner)
            if counter is None:
                counter = self._children[owner] = Counter()
        except TypeError:  # a parent that cannot be weakly referenced: let the SDK choose the id
            return None
        counter[key] += 1
        return f"span_{_digest(f'{trace_id}|{parent_id}|{key}|{counter[key]}', 12)}"


def install_trace_provider() -> None:
    """Put :class:`SteadTraceProvider` around the SDK's current provider (idempotent)."""
    current = get_trace_provider()
    if not isinstance(current, SteadTraceProvider):
        set_trace_provider(SteadTraceProvider(current))
