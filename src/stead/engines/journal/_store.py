"""What the journal runtime needs from storage: the rows it reads and the operations it calls.

A store keeps runs, their steps (the journal), retried attempts, the progress of steps in flight, messages and
events. Every write made on behalf
of a run is fenced by the run's lease token: when the token is no longer the run's (another worker took it over),
the write changes nothing and raises ``stead.LeaseLost``. Multi-row writes are atomic. A store adds only storage
(SQL); claims, replay, retries and suspension are the runtime's (``stead.engines.journal``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from ..._procs import gone_process

__all__ = ["Event", "JournalStore", "RunRow", "StepRow", "StoredEvent", "dead_owners", "lease_held"]


@dataclass(frozen=True)
class RunRow:
    run_id: str
    workflow: str
    args_json: str
    source: str | None
    status: str
    """"pending", "running", "completed", "failed" or "cancelled"."""
    result_json: str | None
    error_json: str | None
    state_json: str | None
    cancel_requested: int
    owner: str | None
    """The worker that holds the run: "<host>/<pid>/<nonce>"."""
    lease_until: float | None
    lease_token: int
    """Incremented by every claim: the fence of every write made for the run."""
    suspended: int
    """1 while no worker holds the run because it only waits (until ``wake_at``, a message, or a cancel)."""
    wake_at: float | None
    created_at: float
    updated_at: float
    finished_at: float | None


@dataclass
class StepRow:
    position: str
    name: str
    kind: str
    fp: str | None
    status: str
    result_json: str | None
    error_json: str | None
    attempts: int
    summary: str | None
    started_at: float
    finished_at: float | None
    due_at: float | None
    attributes_json: str | None = None
    delivered: int | None = None
    """The place of the result among the results the run's code received (``stead.engines.journal._order``)."""
    args_json: str | None = None
    """The step's arguments as JSON when they fit ``ARGS_LIMIT`` (else only ``fp`` is kept)."""
    burst: int | None = None
    """For a result delivered in the same loop turn as an earlier one, the ``delivered`` number of the turn's
    first (replay hands them out together)."""


Event = tuple[str, int, str, str, float]
"""An event to append: (position, attempt, kind, data_json, at)."""

StoredEvent = tuple[int, str, int, str, str, float]
"""An event read back: (id, position, attempt, kind, data_json, at)."""


class JournalStore(Protocol):
    """The storage of a journal engine (the embedded SQLite file; a Postgres database would be another)."""

    def close(self) -> None: ...

    # -- runs ----------------------------------------------------------------------------------------------------

    def insert_run(
        self, run_id: str, workflow: str, args_json: str, source: str | None
    ) -> tuple[bool, RunRow]:
        """Insert a pending run; if the id exists, return (False, the existing row)."""

    def insert_fork(
        self, run_id: str, workflow: str, args_json: str, source: str | None, steps: Sequence[StepRow]
    ) -> bool:
        """Insert a pending run whose journal starts with ``steps`` (a fork); False if the id exists."""

    def get_run(self, run_id: str) -> RunRow | None: ...

    def list_runs(self, statuses: Sequence[str] | None, workflow: str | None, limit: int) -> list[RunRow]:
        """Runs, newest first."""

    def step_counts(self, run_ids: Sequence[str]) -> dict[str, int]:
        """Steps per run, without clock readings and patch markers."""

    def waiting_for(self, run_id: str) -> list[str]:
        """Names of the messages the run's pending waits are for, oldest wait first."""

    def lease_owners(self, host_prefix: str, now: float) -> list[str]:
        """The owners of this host (``host_prefix``) holding a live lease on a run that is awake."""

    def candidates(
        self,
        workflows: Sequence[str],
        run_ids: Sequence[str] | None,
        now: float,
        dead_owners: list[str],
        limit: int,
    ) -> list[RunRow]:
        """Runs a worker may claim, oldest first: unowned, leased by an expired lease, or by one of
        ``dead_owners`` (processes of this host that no longer exist); suspended runs only when they should wake
        (cancelled, due, or a message they wait for arrived). Runs held by live workers are never listed, so
        that however many there are they cannot hide a claimable one."""

    def claim(self, run_id: str, expected_token: int, owner: str, lease_until: float) -> RunRow | None:
        """Take the run if its lease token is still ``expected_token``; the row with the new token, else None."""

    def renew(self, owner: str, lease_until: float) -> set[str]:
        """Extend every lease ``owner`` holds; return the runs it still holds."""

    def suspend(self, run_id: str, token: int, wake_at: float | None, state_json: str | None) -> None:
        """Give the run up while it only waits: no worker holds it until it should wake."""

    def release(self, run_id: str, token: int) -> None:
        """Give the run up so that any worker may claim it at once."""

    def cancel_requested(self, run_ids: Sequence[str]) -> list[str]: ...

    def finish_run(
        self,
        run_id: str,
        token: int,
        status: str,
        result_json: str | None,
        error_json: str | None,
        state_json: str | None,
    ) -> None: ...

    def request_cancel(self, run_id: str, now: float) -> str | None:
        """Cancel an idle run at once, or flag a held one. The status before the call; None: no such run."""

    def reopen(self, run_id: str) -> None:
        """A failed run becomes pending again; its failed steps move to the attempts and will rerun."""

    # -- steps ---------------------------------------------------------------------------------------------------

    def journal(self, run_id: str) -> dict[str, StepRow]:
        """The run's steps by position."""

    def steps(self, run_id: str) -> list[StepRow]:
        """The run's steps in the order they started."""

    def attempt_errors(self, run_id: str) -> dict[str, list[str]]:
        """The error JSON of retried attempts, by position, oldest first."""

    def failed_attempts(self, run_id: str, position: str, since: float) -> int:
        """How many attempts of the step at ``position`` raised and were retried, among those started at or after
        ``since`` (the step's first start: a reopened run's earlier attempts do not count)."""

    def record_step(
        self, run_id: str, token: int, row: StepRow, state_json: str | None, *, upsert: bool = False
    ) -> None:
        """Write a step (and the published state, if given); ``upsert`` replaces the row at its position."""

    def record_delivered(
        self, run_id: str, token: int, position: str, delivered: int, burst: int | None
    ) -> None:
        """Set the delivery number (and burst) of a step written before its result's turn came."""

    def record_attempt(
        self,
        run_id: str,
        token: int,
        position: str,
        attempt: int,
        error_json: str,
        started_at: float,
        retry_in: float | None,
    ) -> None: ...

    def load_progress(self, run_id: str, position: str) -> str | None:
        """What an attempt of the in-flight step at ``position`` kept for later attempts (JSON), if anything."""

    def save_progress(self, run_id: str, token: int, position: str, data_json: str | None) -> None:
        """Keep (None: forget) the progress of the in-flight step at ``position``, in a transaction of its own."""

    def watch(self, run_id: str) -> None:
        """Remember that somebody follows the run's events (``Engine.watch``), for every process of the engine."""

    def watched(self, run_id: str) -> bool:
        """Whether somebody followed the run's events: its model calls then stream their tokens."""

    # -- events and messages -------------------------------------------------------------------------------------

    def append_events(self, run_id: str, token: int, events: list[Event]) -> None: ...

    def events(self, run_id: str, after: int, limit: int = 1000) -> list[StoredEvent]: ...

    def insert_message(self, run_id: str, name: str, payload_json: str) -> str | None:
        """Queue a message. None when queued, else the run's status (finished) or "missing"."""

    def consume_message(
        self, run_id: str, token: int, name: str, step: StepRow, state_json: str | None
    ) -> str | None:
        """Take the oldest unread message ``name`` for the wait at ``step`` and mark the wait done with it."""

    def last_message(self) -> int:
        """A number that changes whenever a message is sent (the newest message's sequence number): waits look
        for their message only when it moved, not at every write of every run."""


def dead_owners(owners: Sequence[str], host: str) -> list[str]:
    """Those of ``owners`` (``host/pid/…``) that were processes of this host and no longer exist."""
    return [owner for owner in owners if gone_process(owner, host)]


def lease_held(row: RunRow, host: str, now: float) -> bool:
    """Whether a live worker holds the run's lease: not expired, and not held by a dead process of this host."""
    if row.owner is None or (row.lease_until or 0) < now:
        return False
    return not gone_process(row.owner, host)
