"""Events a run streams to consumers outside its worker while steps run: tokens, attempts, progress.

A step emits with :func:`emit` (the agents integration emits the model's text deltas); the engine stores each
event with the step's position and attempt number, and ``engine.events(run_id)`` (``stead tail``) yields them.
Events belong to one attempt: when an attempt fails, an ``attempt_failed`` event follows, and a consumer drops
what that attempt emitted. Steps replayed from the journal emit nothing, so a replay streams nothing again.

An attempt may also keep **progress** for the attempts after it (:func:`save_progress`, :func:`saved_progress`):
JSON data that a retry, or the attempt a resumed run makes after its worker died, reads to continue the work
instead of starting it again (the agents integration keeps the id of a background model response there). It
lives as long as the step is in flight: once the step is recorded, its progress is gone.

Whether anybody **watches** (:func:`watched`) lets a step skip work done only for watchers: a plain model call
streams its tokens from the provider only then. A run is watched once somebody followed its events
(``Engine.watch``); engines that cannot tell say yes always.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

__all__ = [
    "Attempt",
    "ProgressKeeper",
    "RunEvent",
    "attempt_scope",
    "current_attempt",
    "emit",
    "save_progress",
    "saved_progress",
    "watched",
]


@dataclass(frozen=True)
class RunEvent:
    """One event of a run, as consumers see it."""

    id: int
    """Increases with every event of the run: resume a stream with ``engine.events(run_id, after=id)``."""
    position: str
    """The step that emitted it."""
    attempt: int
    """The attempt of that step; drop what an attempt emitted when its ``attempt_failed`` event arrives."""
    kind: str
    """"attempt_started", "text" (a token delta), "attempt_failed", "step_done", or a step's own kind."""
    data: Any
    at: datetime


class ProgressKeeper(Protocol):
    """Where an engine keeps the progress of one in-flight step (embedded: a table; Temporal: heartbeats)."""

    def saved(self) -> Any:
        """What an attempt of the step saved last (JSON data), or None."""

    async def save(self, data: Any) -> None:
        """Keep ``data`` (JSON data; None forgets) for later attempts; durable when this returns."""


@dataclass(frozen=True)
class Attempt:
    """The step attempt running in this context, and where its events go."""

    run_id: str
    position: str
    attempt: int
    sink: Callable[[str, str, int, Any], None]
    """``sink(kind, position, attempt, data)``, provided by the engine."""
    progress: ProgressKeeper | None = None
    """Where the step's progress is kept for its later attempts (None: the engine keeps none)."""
    raised: int = 0
    """Earlier attempts of the step that raised. The others before this one were lost with their worker: they do
    not count against ``RetryPolicy.max_attempts`` (``counted`` is this attempt's number in that budget)."""
    watched: bool = True
    """Whether somebody outside follows the run's events (engines that cannot tell, or keep every event, say so)."""

    @property
    def counted(self) -> int:
        """This attempt's number among the attempts the retry policy counts (1-based)."""
        return self.raised + 1


_current: contextvars.ContextVar[Attempt | None] = contextvars.ContextVar("stead_attempt", default=None)


def current_attempt() -> Attempt | None:
    return _current.get()


@contextmanager
def attempt_scope(attempt: Attempt) -> Iterator[Attempt]:
    token = _current.set(attempt)
    try:
        yield attempt
    finally:
        _current.reset(token)


def emit(kind: str, data: Any = None) -> None:
    """Stream an event from inside a step to the run's consumers. Outside a step attempt it does nothing."""
    attempt = _current.get()
    if attempt is None:
        return
    from ._serde import to_json_value

    attempt.sink(kind, attempt.position, attempt.attempt, to_json_value(data, f"the data of event {kind!r}"))


def watched() -> bool:
    """Whether somebody follows the running step's events (``stead tail``, the dashboard); True outside a step."""
    attempt = _current.get()
    return attempt is None or attempt.watched


def saved_progress() -> Any:
    """What an earlier attempt of the running step kept with :func:`save_progress` (JSON data), else None."""
    attempt = _current.get()
    if attempt is None or attempt.progress is None:
        return None
    return attempt.progress.saved()


async def save_progress(data: Any) -> bool:
    """Keep ``data`` (JSON data; None forgets) for the later attempts of the running step: a retry, or the
    attempt of a worker that resumes the run after this one died. Durable when it returns. False when called
    outside a step attempt or on an engine that keeps no progress (nothing is kept then)."""
    attempt = _current.get()
    if attempt is None or attempt.progress is None:
        return False
    from ._serde import to_json_value

    await attempt.progress.save(None if data is None else to_json_value(data, "a step's progress"))
    return True
