"""The Temporal engine: ``temporal://host:port?namespace=default&task_queue=stead``.

The same stead program runs here as on the embedded engine; how its parts map onto Temporal:

* **Runs.** A run is a workflow execution whose workflow id is the run id (used once: ``REJECT_DUPLICATE``) and
  whose type is the stead workflow's name. Its arguments are the input; what it publishes and the messages it
  waits for are in its memo (readable with no worker running) and behind the query ``stead.state``. The runs of
  an engine are the workflows of its task queue.
* **Steps.** Each step is one activity (type ``stead.step``) whose summary tells the story in Temporal's UI
  ("model · Triage · gpt-4o-mini", "tool · get_weather"). A ``@stead.step`` is found by name on the worker; model
  and tool calls travel in a serialized form (``stead.agents._remote``); a closure that cannot travel runs on
  the worker that made it, through that worker's own task queue. Steps heartbeat while they run (``heartbeat``,
  default 4 s), so a step lost with its worker is retried within seconds. stead's retry policy decides retries in
  the activity (jitter, Retry-After as ``next_retry_delay``, errors not worth retrying as ``non_retryable``).
* **Identity.** Positions come from the task tree as on the embedded engine; each recorded result echoes its
  step's name, position and argument fingerprint, so that code which asks for another step than the history
  holds raises NonDeterminismError naming both.
* **Timers, messages, values.** ``sleep`` is a timer; ``send`` a signal that the run buffers until
  ``wait_for`` takes it (``wait_condition``, with a timer for the timeout); ``now``, ``uuid4``, ``random`` are
  Temporal's deterministic values; ``patched`` is Temporal's patch marker.
* **Reopen.** A failed run is reset to the workflow task that scheduled its first failed step (or its last one):
  recorded steps before it replay, the rest runs again.

Workflow code runs unsandboxed, on Temporal's deterministic event loop. Needs the ``temporal`` extra:
``pip install 'stead[temporal]'``.
"""

from __future__ import annotations

try:
    import temporalio  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised in a subprocess by the tests
    from ..._exceptions import ExtraMissing

    raise ExtraMissing(
        "the Temporal engine needs the temporalio package: pip install 'stead[temporal]'"
    ) from exc

from ._config import TemporalOptions
from ._dev import DevServer, free_port, listening, start_dev_server, temporal_binary
from ._engine import TemporalEngine
from ._worker import TemporalWorker

__all__ = [
    "DevServer",
    "TemporalEngine",
    "TemporalOptions",
    "TemporalWorker",
    "free_port",
    "listening",
    "start_dev_server",
    "temporal_binary",
]
