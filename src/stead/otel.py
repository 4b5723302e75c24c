"""OpenTelemetry spans for stead runs: one per run, one per model call, tool call and step attempt.

::

    from opentelemetry.sdk.trace import TracerProvider
    import stead.otel

    stead.otel.instrument(provider)     # or instrument() to use the global tracer provider

Each run is one trace whose id derives from the run id (:func:`trace_id_of`), so every worker that executes a
part of the run — before and after a crash, on any machine — adds its spans to the same trace:

* ``run <workflow>``: the root, emitted when an execution of the run ends with a result or an error, from the
  run's creation to that moment;
* ``model · <agent> · <model>``, ``tool · <tool>``, and a span for every other step: one per live attempt, a
  child of the run's span, with the step's position and attempt, the model's token usage and cost, and the
  error of a failed attempt. Steps answered from the journal on replay are not attempted, so their spans are
  never emitted twice.

Needs the ``otel`` extra (``pip install 'stead[otel]'``): ``opentelemetry-api`` and ``opentelemetry-sdk``.
"""

from __future__ import annotations

import contextvars
import hashlib
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from ._exceptions import ExtraMissing, UsageError

try:
    from opentelemetry import trace as _api
    from opentelemetry.context import Context
    from opentelemetry.sdk.trace import Tracer as _SdkTracer
    from opentelemetry.sdk.trace.id_generator import IdGenerator
    from opentelemetry.trace import Status, StatusCode
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ExtraMissing(
        f"stead.otel needs OpenTelemetry ({exc.name} is missing): pip install 'stead[otel]'"
    ) from None

from . import _observe
from ._events import current_attempt
from ._usage import prices, tokens_of_result

if TYPE_CHECKING:
    from ._context import StepCall

__all__ = ["instrument", "run_span_id_of", "trace_id_of", "uninstrument"]

_TRACER_NAME = "stead"

logger = logging.getLogger("stead")


def _derive(text: str, size: int) -> int:
    value = int.from_bytes(hashlib.blake2b(text.encode(), digest_size=size).digest(), "big")
    return value or 1  # zero is the invalid id


def trace_id_of(run_id: str) -> int:
    """The OpenTelemetry trace id of a run (128 bits, derived from the run id)."""
    return _derive(f"stead/run/{run_id}", 16)


def run_span_id_of(run_id: str) -> int:
    """The span id of a run's root span (64 bits, derived from the run id)."""
    return _derive(f"stead/run-span/{run_id}", 8)


_forced: contextvars.ContextVar[tuple[int, int] | None] = contextvars.ContextVar(
    "stead_otel_ids", default=None
)


class _DerivedIds(IdGenerator):
    """The tracer's id generator, except for the ids stead derives from a run id."""

    def __init__(self, inner: IdGenerator) -> None:
        self.inner = inner

    def generate_span_id(self) -> int:
        forced = _forced.get()
        return forced[1] if forced is not None else self.inner.generate_span_id()

    def generate_trace_id(self) -> int:
        forced = _forced.get()
        return forced[0] if forced is not None else self.inner.generate_trace_id()

    def is_trace_id_random(self) -> bool:
        return False


def _run_context(run_id: str) -> Any:
    parent = _api.SpanContext(
        trace_id_of(run_id),
        run_span_id_of(run_id),
        is_remote=True,
        trace_flags=_api.TraceFlags(_api.TraceFlags.SAMPLED),
    )
    return _api.set_span_in_context(_api.NonRecordingSpan(parent))


def _error_status(error: BaseException) -> Status:
    return Status(StatusCode.ERROR, f"{type(error).__name__}: {error}")


class _Exporter:
    """The observer (``stead._observe``) that turns executions and attempts into spans."""

    def __init__(self, tracer: _SdkTracer) -> None:
        self.tracer = tracer

    @contextmanager
    def execution(self, execution: _observe.Execution) -> Iterator[None]:
        # The run's span comes from the execution that ends it with a result or an error. Cancellations and
        # interrupts (the worker stops, another one took over, the run was suspended) end an execution, not the
        # run; an execution that ends while still replaying (nothing new happened) reports nothing new.
        started = time.time_ns()
        try:
            yield
        except Exception as error:
            if not execution.replaying:
                self._run_span(execution, started, error)
            raise
        else:
            if not execution.replaying:
                self._run_span(execution, started, None)

    def _run_span(self, execution: _observe.Execution, started: int, error: BaseException | None) -> None:
        try:
            self._emit_run_span(execution, started, error)
        except Exception:  # telemetry never fails a run
            logger.exception("stead.otel: could not export the span of run %s", execution.run_id)

    def _emit_run_span(
        self, execution: _observe.Execution, started: int, error: BaseException | None
    ) -> None:
        start = int(execution.created_at * 1e9) if execution.created_at is not None else started
        attributes: dict[str, Any] = {
            "stead.run_id": execution.run_id,
            "stead.workflow": execution.workflow,
            "stead.resumed": execution.resumed,
        }
        token = _forced.set((trace_id_of(execution.run_id), run_span_id_of(execution.run_id)))
        try:
            span = self.tracer.start_span(
                f"run {execution.workflow}",
                context=Context(),  # a root: not a child of whatever span is current
                attributes=attributes,
                start_time=min(start, time.time_ns()),
            )
        finally:
            _forced.reset(token)
        if error is not None:
            span.record_exception(error)
            span.set_status(_error_status(error))
        span.end()

    @contextmanager
    def attempt(
        self, execution: _observe.Execution | None, call: StepCall, outcome: _observe.AttemptOutcome
    ) -> Iterator[None]:
        attributes: dict[str, Any] = {"stead.step.name": call.name, "stead.step.kind": call.kind}
        context = None
        if execution is not None:
            attributes["stead.run_id"] = execution.run_id
            attributes["stead.workflow"] = execution.workflow
            context = _run_context(execution.run_id)
        current = current_attempt()
        if current is not None:
            attributes["stead.step.position"] = current.position
            attributes["stead.step.attempt"] = current.attempt
            if context is None:
                attributes["stead.run_id"] = current.run_id
                context = _run_context(current.run_id)
        elif call.position is not None:
            attributes["stead.step.position"] = call.position
        step = call.attributes
        model = step.model if call.kind == "model" else None
        if model is not None:
            attributes["gen_ai.operation.name"] = "chat"
            attributes["gen_ai.request.model"] = model
            if step.agent is not None:
                attributes["gen_ai.agent.name"] = step.agent
        elif step.tool is not None:
            attributes["gen_ai.operation.name"] = "execute_tool"
            attributes["gen_ai.tool.name"] = step.tool
            if step.call_id is not None:
                attributes["gen_ai.tool.call.id"] = step.call_id
        kind = _api.SpanKind.CLIENT if call.kind == "model" else _api.SpanKind.INTERNAL
        with self.tracer.start_as_current_span(
            call.summary or call.name,
            context=context,
            kind=kind,
            attributes=attributes,
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            try:
                yield
            except BaseException as error:
                span.record_exception(error)
                span.set_status(_error_status(error))
                raise
            if model is not None and outcome.returned:
                tokens = tokens_of_result(outcome.result)
                if tokens is not None:
                    span.set_attribute("gen_ai.usage.input_tokens", tokens.input_tokens)
                    span.set_attribute("gen_ai.usage.output_tokens", tokens.output_tokens)
                    span.set_attribute("stead.usage.cached_input_tokens", tokens.cached_input_tokens)
                    span.set_attribute("stead.usage.total_tokens", tokens.total_tokens)
                    price = prices.lookup(model)
                    if price is not None:
                        span.set_attribute("stead.cost_usd", price.cost(tokens))


_exporter: _Exporter | None = None


def instrument(tracer_provider: Any = None) -> None:
    """Export spans of the runs this process executes to ``tracer_provider`` (default: the global one).

    The provider must be the OpenTelemetry SDK's ``TracerProvider``: stead derives the trace and root span ids
    of each run from its id. Calling it again replaces the previous provider.
    """
    global _exporter
    provider = tracer_provider if tracer_provider is not None else _api.get_tracer_provider()
    tracer = provider.get_tracer(_TRACER_NAME)
    if not isinstance(tracer, _SdkTracer):
        raise UsageError(
            "stead.otel.instrument() needs an OpenTelemetry SDK TracerProvider "
            "(opentelemetry.sdk.trace.TracerProvider): pass one, or set it with trace.set_tracer_provider(...)"
        )
    tracer.id_generator = _DerivedIds(tracer.id_generator)
    uninstrument()
    _exporter = _Exporter(tracer)
    _observe.add_observer(_exporter)


def uninstrument() -> None:
    """Stop exporting spans."""
    global _exporter
    if _exporter is not None:
        _observe.remove_observer(_exporter)
        _exporter = None
