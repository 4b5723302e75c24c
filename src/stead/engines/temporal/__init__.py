"""The Temporal engine: ``temporal://host:port?namespace=default&task_queue=stead``.

Each stead workflow is a Temporal workflow type of the same name; each step an activity whose summary tells the
story in Temporal's UI. Needs the ``temporal`` extra: ``pip install 'stead[temporal]'``.
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
from ._engine import TemporalEngine
from ._worker import TemporalWorker

__all__ = ["TemporalEngine", "TemporalOptions", "TemporalWorker"]
