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

from temporalio.common import RetryPolicy as TemporalRetryPolicy

from ..._engine import ErrorInfo
from ..._retry import RetryPolicy

__all__ = [
    "ACTIVITY_STEP",
    "MEMO_ARGS",
    "MEMO_CLOCK",
    "MEMO_SOURCE",
    "MEMO_STATE",
    "MEMO_WAITING",
    "QUERY_STATE",
    "error_dict",
    "json_size",
    "policy_from_json",
    "policy_to_json",
    "temporal_policy",
]

ACTIVITY_STEP = "stead.step"
"""The one activity type of every step: its summary and input say which step it is."""

MEMO_SOURCE = "stead.source"
MEMO_ARGS = "stead.args"
"""The fingerprint of the run's arguments: starting the same run id again must pass the same ones."""
MEMO_STATE = "stead.state"
MEMO_WAITING = "stead.waiting"
MEMO_CLOCK = "stead.clock"
"""The ``stead.now()`` readings since the last update, so that timelines show them as the embedded engine does."""
QUERY_STATE = "stead.state"


def json_size(value: Any) -> int:
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())


def error_dict(error: ErrorInfo) -> dict[str, Any]:
    return {"type": error.type, "message": error.message}


def policy_to_json(policy: RetryPolicy) -> dict[str, Any]:
    return {
        "max_attempts": policy.max_attempts,
        "initial_interval": policy.initial_interval,
        "backoff": policy.backoff,
        "max_interval": policy.max_interval,
        "jitter": policy.jitter,
        "non_retryable": [e if isinstance(e, str) else e.__name__ for e in policy.non_retryable],
    }


def policy_from_json(data: dict[str, Any]) -> RetryPolicy:
    return RetryPolicy(
        max_attempts=int(data["max_attempts"]),
        initial_interval=float(data["initial_interval"]),
        backoff=float(data["backoff"]),
        max_interval=float(data["max_interval"]),
        jitter=float(data["jitter"]),
        non_retryable=tuple(str(n) for n in data.get("non_retryable", ())),
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
        maximum_attempts=policy.max_attempts,
        non_retryable_error_types=[e if isinstance(e, str) else e.__name__ for e in policy.non_retryable],
    )
