"""The store-agnostic embedded runtime: replay, retries, leases, claims, suspension and events over a journal.

A concrete engine provides a ``JournalStore`` (storage only) and a change notification, and subclasses
``JournalEngine``; ``stead.engines.sqlite`` is one. This package imports only stead's core.
"""

from ._engine import JournalEngine, JournalOptions
from ._run import JournalRun
from ._store import Event, JournalStore, RunRow, StepRow, StoredEvent
from ._worker import JournalWorker

__all__ = [
    "Event",
    "JournalEngine",
    "JournalOptions",
    "JournalRun",
    "JournalStore",
    "JournalWorker",
    "RunRow",
    "StepRow",
    "StoredEvent",
]
