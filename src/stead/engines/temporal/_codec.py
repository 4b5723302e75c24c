"""What crosses Temporal for stead: activity names, memo keys, and the JSON envelopes of steps.

A step's activity input names the step, its position in the run, the fingerprint of its arguments, its retry
policy and how a worker runs it: a ``@stead.step`` found by name, a remote handler (``StepCall.remote``), or a
closure held by the worker whose workflow code made it. Its result and failures echo the name, position
and fingerprint, so that a replay with changed code is caught as a NonDeterminismError naming both versions.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from temporalio.api.common.v1 import Payload
from temporalio.common import RetryPolicy as TemporalRetryPolicy
from temporalio.converter import (
    CompositePayloadConverter,
    DataConverter,
    DefaultPayloadConverter,
    JSONPlainPayloadConverter,
)

from ..._engine import ErrorInfo
from ..._retry import RetryPolicy

__all__ = [
    "ACTIVITY_STEP",
    "DATA_CONVERTER",
    "FORK_SEED",
    "MEMO_ARGS",
    "MEMO_CLOCK",
    "MEMO_SOURCE",
    "MEMO_STATE",
    "MEMO_WAITING",
    "MEMO_WATCHED",
    "QUERY_STATE",
    "error_dict",
    "json_size",
    "policy_of",
    "temporal_policy",
]

FORK_SEED = "stead_fork"
"""The key of a fork's workflow input that carries the results it takes over (``TemporalEngine.fork``)."""

ACTIVITY_STEP = "stead.step"
"""The one activity type of every step: its summary and input say which step it is."""

MEMO_SOURCE = "stead.source"
MEMO_ARGS = "stead.args"
"""The fingerprint of the run's arguments: starting the same run id again must pass the same ones."""
MEMO_STATE = "stead.state"
MEMO_WAITING = "stead.waiting"
MEMO_WATCHED = "stead.watched"
"""Set once somebody followed the run's events (``TemporalEngine.watch``): its model calls stream their tokens."""
MEMO_CLOCK = "stead.clock"
"""The ``stead.now()`` readings since the last update, so that timelines show them as the embedded engine does."""
QUERY_STATE = "stead.state"


class _OrderedJSON(JSONPlainPayloadConverter):
    """Temporal's JSON converter, keeping the order of dict keys (Temporal's own sorts them).

    Journaled values are the program's data: a tool output or a session item read back from a history must
    print, and reach the model, exactly as it was made.
    """

    def to_payload(self, value: Any) -> Payload | None:
        data = json.dumps(value, cls=self._encoder, separators=(",", ":"))
        return Payload(metadata={"encoding": self.encoding.encode()}, data=data.encode())


class _PayloadConverter(CompositePayloadConverter):
    def __init__(self) -> None:
        super().__init__(
            *(
                _OrderedJSON() if isinstance(c, JSONPlainPayloadConverter) else c
                for c in DefaultPayloadConverter.default_encoding_payload_converters
            )
        )


DATA_CONVERTER = DataConverter(payload_converter_class=_PayloadConverter)
"""The data converter of stead's Temporal clients: Temporal's default, with dict key order kept."""


def json_size(value: Any) -> int:
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())


def error_dict(error: ErrorInfo) -> dict[str, Any]:
    return {"type": error.type, "message": error.message}


def policy_of(temporal: TemporalRetryPolicy | None, data: dict[str, Any]) -> RetryPolicy:
    """A step's stead policy, read back on the worker from the Temporal policy it was scheduled with and the
    step's input (``jitter`` when it is not the default; ``retry``: the attempt bounds, when Temporal's maximum
    is the sum of both, see ``temporal_policy``)."""
    if temporal is None:
        return RetryPolicy()
    initial = temporal.initial_interval.total_seconds()
    jitter = data.get("jitter")
    bounds = data.get("retry")
    max_attempts, max_lost = (
        (int(bounds[0]), int(bounds[1]))
        if isinstance(bounds, list) and len(bounds) == 2
        else (temporal.maximum_attempts, RetryPolicy.max_lost_attempts)
    )
    return RetryPolicy(
        max_attempts=max_attempts,
        initial_interval=initial,
        backoff=temporal.backoff_coefficient,
        max_interval=temporal.maximum_interval.total_seconds()
        if temporal.maximum_interval
        else 100 * initial,
        jitter=RetryPolicy.jitter if jitter is None else jitter,
        non_retryable=tuple(temporal.non_retryable_error_types or ()),
        max_lost_attempts=max_lost,
    )


def temporal_policy(policy: RetryPolicy) -> TemporalRetryPolicy:
    """Temporal's retry policy for a stead one.

    It applies when an attempt ends without the step's own verdict (its worker died, a timeout): stead's
    activity decides retries itself otherwise, with jitter and Retry-After (``next_retry_delay``).
    """
    initial = max(policy.initial_interval, 0.001)
    return TemporalRetryPolicy(
        initial_interval=timedelta(seconds=initial),
        backoff_coefficient=max(policy.backoff, 1.0),
        maximum_interval=timedelta(seconds=max(policy.max_interval, initial)),
        # Attempts that raised and attempts lost with their worker each have their own bound in stead; Temporal
        # counts both in one.
        maximum_attempts=policy.max_attempts + policy.max_lost_attempts
        if policy.max_attempts and policy.max_lost_attempts
        else 0
        if policy.max_lost_attempts == 0
        else policy.max_attempts,
        non_retryable_error_types=[e if isinstance(e, str) else e.__name__ for e in policy.non_retryable],
    )
