"""Every SQL statement the embedded engine runs on its journal file (its schema and opening: ``_schema``).

``SqliteStore`` is the embedded engine's ``stead.engines.journal.JournalStore``.

One connection per engine, used from the event loop's thread only, in autocommit mode: single statements are
their own transactions; multi-statement writes use BEGIN IMMEDIATE so that two processes never interleave them.
Every write made on behalf of a run is fenced by its lease token: a worker that lost the run writes nothing.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

from ..._exceptions import LeaseLost
from ..._limits import LimitState
from ..journal import Event, RunRow, StepRow, StoredEvent
from ._schema import SCHEMA_VERSION, open_database
from ._writes import retrying as _retrying

__all__ = ["SCHEMA_VERSION", "RunRow", "SqliteStore", "StepRow", "Store"]

T = TypeVar("T")

#: Seconds between two checkpoints of a store's thread.
CHECKPOINT_INTERVAL = 0.1
_AUTOCHECKPOINT_DEFAULT = 1000  # pages: SQLite's own default
_AUTOCHECKPOINT_WITH_THREAD = 20000  # pages (80 MB of log at 4 KB pages): a safety net, not the rule


RUN_COLUMNS = (
    "run_id, workflow, args_json, source, status, result_json, error_json, state_json, cancel_requested, owner, "
    "lease_until, lease_token, suspended, wake_at, created_at, updated_at, finished_at"
)


STEP_COLUMNS = (
    "position, name, kind, fp, status, result_json, error_json, attempts, summary, started_at, finished_at, due_at, "
    "attributes_json, delivered, args_json, burst"
)


# One placeholder for the run id and one for each step column: derived, so that a new column cannot be missed.
_STEP_VALUES = ", ".join("?" * (1 + len(STEP_COLUMNS.split(","))))
_INSERT_STEP = (
    f"INSERT INTO steps (run_id, {STEP_COLUMNS}) SELECT {_STEP_VALUES} "
    "WHERE EXISTS (SELECT 1 FROM runs WHERE run_id = ? AND lease_token = ? AND status = 'running')"
)
# Keeps the row's id, so a step that was shown while running keeps its place in the timeline.
_UPSERT_STEP = _INSERT_STEP + (
    " ON CONFLICT (run_id, position) DO UPDATE SET name = excluded.name, kind = excluded.kind, fp = excluded.fp, "
    "status = excluded.status, result_json = excluded.result_json, error_json = excluded.error_json, "
    "attempts = excluded.attempts, summary = excluded.summary, started_at = excluded.started_at, "
    "finished_at = excluded.finished_at, due_at = excluded.due_at, attributes_json = excluded.attributes_json, "
    "delivered = excluded.delivered, args_json = excluded.args_json, burst = excluded.burst"
)


# A suspended run wakes up when cancelled, when its earliest timer is due, or when a message it waits for arrives.
# Each branch is served by an index (see _CLAIM_INDEXES), so the cost does not grow with the parked runs.
_WOKEN = (
    "SELECT run_id FROM runs WHERE suspended = 1 AND cancel_requested = 1 "
    "UNION SELECT run_id FROM runs WHERE suspended = 1 AND wake_at <= ? "
    "UNION SELECT m.run_id FROM messages m WHERE m.consumed_by IS NULL AND EXISTS (SELECT 1 FROM steps s "
    "WHERE s.run_id = m.run_id AND s.kind = 'wait' AND s.status = 'pending' AND s.name = m.name)"
)
_RUN_COLUMNS_OF_RUNS = ", ".join(f"runs.{c}" for c in RUN_COLUMNS.split(", "))


class SqliteStore:
    """A journal store in one SQLite file (WAL mode), shared by every process that opens it."""

    def __init__(self, path: str, *, synchronous: str = "NORMAL", busy_timeout: float = 30.0) -> None:
        self.path = path
        self._conn = open_database(path, synchronous=synchronous, busy_timeout=busy_timeout)
        self._limits_ready = False
        self._progress_ready = False
        self._watchers_ready = False
        self._checkpointer: _Checkpointer | None = None

    def close(self) -> None:
        self.stop_checkpointer()
        self._conn.close()

    def start_checkpointer(self, interval: float = CHECKPOINT_INTERVAL) -> None:
        """Copy the write-ahead log into the database file from a thread of this store's own, every
        ``interval`` seconds, instead of inside whichever commit crosses SQLite's threshold.

        That copy ends with an fsync of the log and of the file (15-20 ms on this machine's disk, where a commit
        takes 0.03 ms): done by a commit, the run that made it waited for it. The connection's own automatic
        checkpoint stays on, at a threshold only a burst of writes faster than the thread reaches."""
        if self._checkpointer is not None or self.path == ":memory:":
            return
        self._checkpointer = _Checkpointer(self.path, interval)
        self._conn.execute(f"PRAGMA wal_autocheckpoint={_AUTOCHECKPOINT_WITH_THREAD}")

    def stop_checkpointer(self) -> None:
        """Stop the thread (after its checkpoint in progress, if any); commits checkpoint as SQLite's default."""
        checkpointer, self._checkpointer = self._checkpointer, None
        if checkpointer is None:
            return
        checkpointer.stop()
        self._conn.execute(f"PRAGMA wal_autocheckpoint={_AUTOCHECKPOINT_DEFAULT}")

    def wait_checkpointed(self, timeout: float) -> bool:
        """Block until the thread has copied the whole log, as written before this call, into the file; False
        when it has not within ``timeout`` seconds, or no thread runs."""
        checkpointer = self._checkpointer
        return checkpointer is not None and checkpointer.wait_complete(timeout)

    # -- plumbing ----------------------------------------------------------------------------------------------

    def data_version(self) -> int:
        row = self._conn.execute("PRAGMA data_version").fetchone()
        return int(row[0])

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def _fence(self, conn: sqlite3.Connection, run_id: str, token: int, state_json: str | None) -> None:
        """Inside a transaction: fail with LeaseLost unless this worker still holds the run."""
        if state_json is None:
            cur = conn.execute(
                "SELECT 1 FROM runs WHERE run_id = ? AND lease_token = ? AND status = 'running'",
                (run_id, token),
            )
            ok = cur.fetchone() is not None
        else:
            cur = conn.execute(
                "UPDATE runs SET state_json = ?, updated_at = ? WHERE run_id = ? AND lease_token = ? "
                "AND status = 'running'",
                (state_json, time.time(), run_id, token),
            )
            ok = cur.rowcount == 1
        if not ok:
            raise LeaseLost(run_id)

    # -- runs ----------------------------------------------------------------------------------------------------

    def insert_run(
        self, run_id: str, workflow: str, args_json: str, source: str | None
    ) -> tuple[bool, RunRow]:
        """Insert a pending run; if the id exists, return (False, the existing row)."""
        now = time.time()
        with self.transaction() as conn:
            existing = _run(conn, run_id)
            if existing is not None:
                return False, existing
            conn.execute(
                "INSERT INTO runs (run_id, workflow, args_json, source, status, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, 'pending', ?, ?)",
                (run_id, workflow, args_json, source, now, now),
            )
            row = _run(conn, run_id)
        assert row is not None
        return True, row

    def insert_fork(
        self, run_id: str, workflow: str, args_json: str, source: str | None, steps: Sequence[StepRow]
    ) -> bool:
        """Insert a pending run whose journal starts with ``steps``; False if the id exists."""
        now = time.time()
        with self.transaction() as conn:
            if _run(conn, run_id) is not None:
                return False
            conn.execute(
                "INSERT INTO runs (run_id, workflow, args_json, source, status, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, 'pending', ?, ?)",
                (run_id, workflow, args_json, source, now, now),
            )
            conn.executemany(
                f"INSERT INTO steps (run_id, {STEP_COLUMNS}) VALUES ({_STEP_VALUES})",
                [
                    (
                        run_id,
                        r.position,
                        r.name,
                        r.kind,
                        r.fp,
                        r.status,
                        r.result_json,
                        r.error_json,
                        r.attempts,
                        r.summary,
                        r.started_at,
                        r.finished_at,
                        r.due_at,
                        r.attributes_json,
                        r.delivered,  # the order in which the forked run's code received them
                        r.args_json,
                        r.burst,
                    )
                    for r in steps
                ],
            )
        return True

    def get_run(self, run_id: str) -> RunRow | None:
        return _run(self._conn, run_id)

    def list_runs(self, statuses: Sequence[str] | None, workflow: str | None, limit: int) -> list[RunRow]:
        sql = f"SELECT {RUN_COLUMNS} FROM runs"
        where: list[str] = []
        params: list[Any] = []
        if statuses:
            where.append(f"status IN ({','.join('?' * len(statuses))})")
            params.extend(statuses)
        if workflow:
            where.append("workflow = ?")
            params.append(workflow)
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY created_at DESC, rowid DESC LIMIT ?"
        params.append(limit)
        return [RunRow(*r) for r in self._conn.execute(sql, params)]

    def step_counts(self, run_ids: Sequence[str]) -> dict[str, int]:
        if not run_ids:
            return {}
        rows = self._conn.execute(
            f"SELECT run_id, COUNT(*) FROM steps WHERE run_id IN ({','.join('?' * len(run_ids))}) "
            "AND kind NOT IN ('now', 'patch') GROUP BY run_id",
            list(run_ids),
        )
        return {r[0]: r[1] for r in rows}

    def waiting_for(self, run_id: str) -> list[str]:
        rows = self._conn.execute(
            "SELECT name FROM steps WHERE run_id = ? AND kind = 'wait' AND status = 'pending' ORDER BY id",
            (run_id,),
        )
        return [r[0] for r in rows]

    def lease_owners(self, host_prefix: str, now: float) -> list[str]:
        rows = self._conn.execute(
            "SELECT DISTINCT owner FROM runs WHERE status = 'running' AND suspended = 0 AND owner LIKE ? "
            "AND lease_until >= ?",
            (host_prefix + "%", now),
        )
        return [str(r[0]) for r in rows]

    def candidates(
        self,
        workflows: Sequence[str],
        run_ids: Sequence[str] | None,
        now: float,
        dead_owners: list[str],
        limit: int,
    ) -> list[RunRow]:
        in_workflows = f"workflow IN ({','.join('?' * len(workflows))})"
        only = "" if run_ids is None else f" AND run_id IN ({','.join('?' * len(run_ids))})"
        only_params = list(run_ids or ())
        dead = f" OR owner IN ({','.join('?' * len(dead_owners))})" if dead_owners else ""
        awake = (
            f"SELECT {RUN_COLUMNS} FROM runs WHERE status IN ('pending', 'running') AND suspended = 0 "
            f"AND {in_workflows} AND (owner IS NULL OR lease_until < ?{dead}){only} "
            "ORDER BY created_at LIMIT ?"
        )
        rows = [
            RunRow(*r)
            for r in self._conn.execute(awake, [*workflows, now, *dead_owners, *only_params, limit])
        ]
        # Parked runs are found through what wakes them (indexed), never by looking at each of them.
        woken = (
            f"SELECT {_RUN_COLUMNS_OF_RUNS} FROM ({_WOKEN}) AS woken CROSS JOIN runs ON runs.run_id = woken.run_id "
            f"WHERE suspended = 1 AND status IN ('pending', 'running') AND {in_workflows}"
            f"{only.replace('run_id', 'runs.run_id')} ORDER BY created_at LIMIT ?"
        )
        rows += [RunRow(*r) for r in self._conn.execute(woken, [now, *workflows, *only_params, limit])]
        rows.sort(key=lambda row: row.created_at)
        return rows[:limit]

    @_retrying
    def claim(self, run_id: str, expected_token: int, owner: str, lease_until: float) -> RunRow | None:
        """Take the run if nobody took it since we looked (compare-and-set on the lease token)."""
        with self.transaction() as conn:
            cur = conn.execute(
                "UPDATE runs SET owner = ?, lease_until = ?, lease_token = lease_token + 1, status = 'running', "
                "suspended = 0, wake_at = NULL, updated_at = ? WHERE run_id = ? AND lease_token = ? "
                "AND status IN ('pending', 'running')",
                (owner, lease_until, time.time(), run_id, expected_token),
            )
            if cur.rowcount != 1:
                return None
            return _run(conn, run_id)

    @_retrying
    def renew(self, owner: str, lease_until: float) -> set[str]:
        """Extend every lease this worker holds; return the runs it still holds."""
        with self.transaction() as conn:
            conn.execute(
                "UPDATE runs SET lease_until = ? WHERE owner = ? AND status = 'running'", (lease_until, owner)
            )
            rows = conn.execute("SELECT run_id FROM runs WHERE owner = ? AND status = 'running'", (owner,))
            return {r[0] for r in rows}

    @_retrying
    def suspend(self, run_id: str, token: int, wake_at: float | None, state_json: str | None) -> None:
        """Give the run up while it only waits: no worker holds it until its wake condition (see _WOKEN)."""
        with self.transaction() as conn:
            self._fence(conn, run_id, token, state_json)
            conn.execute(
                "UPDATE runs SET suspended = 1, wake_at = ?, owner = NULL, lease_until = NULL WHERE run_id = ?",
                (wake_at, run_id),
            )

    def suspended_runs(self) -> list[str]:
        return [r[0] for r in self._conn.execute("SELECT run_id FROM runs WHERE suspended = 1")]

    @_retrying
    def release(self, run_id: str, token: int) -> None:
        self._conn.execute(
            "UPDATE runs SET owner = NULL, lease_until = NULL WHERE run_id = ? AND lease_token = ?",
            (run_id, token),
        )

    def cancel_requested(self, run_ids: Sequence[str]) -> list[str]:
        if not run_ids:
            return []
        rows = self._conn.execute(
            f"SELECT run_id FROM runs WHERE cancel_requested = 1 AND run_id IN ({','.join('?' * len(run_ids))})",
            list(run_ids),
        )
        return [r[0] for r in rows]

    @_retrying
    def finish_run(
        self,
        run_id: str,
        token: int,
        status: str,
        result_json: str | None,
        error_json: str | None,
        state_json: str | None,
    ) -> None:
        now = time.time()
        with self.transaction() as conn:
            self._fence(conn, run_id, token, state_json)
            conn.execute(
                "UPDATE runs SET status = ?, result_json = ?, error_json = ?, owner = NULL, lease_until = NULL, "
                "updated_at = ?, finished_at = ? WHERE run_id = ?",
                (status, result_json, error_json, now, now, run_id),
            )

    def request_cancel(self, run_id: str, now: float) -> str | None:
        """Cancel an idle run at once, or flag a running one. Returns the status before the call."""
        with self.transaction() as conn:
            row = _run(conn, run_id)
            if row is None:
                return None
            if row.status not in ("pending", "running"):
                return row.status
            idle = row.owner is None or (row.lease_until or 0) < now
            if idle:
                conn.execute(
                    "UPDATE runs SET status = 'cancelled', cancel_requested = 1, owner = NULL, lease_until = NULL, "
                    "updated_at = ?, finished_at = ? WHERE run_id = ?",
                    (now, now, run_id),
                )
            else:
                conn.execute(
                    "UPDATE runs SET cancel_requested = 1, updated_at = ? WHERE run_id = ?", (now, run_id)
                )
            return row.status

    def reopen(self, run_id: str) -> None:
        """A failed run becomes runnable again; its failed steps move to the attempts history and will rerun."""
        now = time.time()
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO attempts (run_id, position, attempt, error_json, started_at, finished_at) "
                "SELECT run_id, position, attempts, error_json, started_at, COALESCE(finished_at, started_at) "
                "FROM steps WHERE run_id = ? AND status = 'failed' AND kind != 'wait'",
                (run_id,),
            )
            conn.execute(
                "DELETE FROM steps WHERE run_id = ? AND status = 'failed' AND kind != 'wait'", (run_id,)
            )
            conn.execute(
                "UPDATE runs SET status = 'pending', error_json = NULL, finished_at = NULL, owner = NULL, "
                "lease_until = NULL, updated_at = ? WHERE run_id = ?",
                (now, run_id),
            )

    # -- steps ---------------------------------------------------------------------------------------------------

    def journal(self, run_id: str) -> dict[str, StepRow]:
        rows = self._conn.execute(f"SELECT {STEP_COLUMNS} FROM steps WHERE run_id = ?", (run_id,))
        return {r[0]: StepRow(*r) for r in rows}

    def steps(self, run_id: str) -> list[StepRow]:
        rows = self._conn.execute(
            f"SELECT {STEP_COLUMNS} FROM steps WHERE run_id = ? ORDER BY started_at, id", (run_id,)
        )
        return [StepRow(*r) for r in rows]

    def attempt_errors(self, run_id: str) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        rows = self._conn.execute(
            "SELECT position, error_json FROM attempts WHERE run_id = ? ORDER BY id", (run_id,)
        )
        for position, error_json in rows:
            out.setdefault(position, []).append(error_json)
        return out

    def failed_attempts(self, run_id: str, position: str, since: float) -> int:
        row = self._conn.execute(
            "SELECT COUNT(*) FROM attempts WHERE run_id = ? AND position = ? AND started_at >= ?",
            (run_id, position, since),
        ).fetchone()
        return int(row[0])

    @_retrying
    def record_step(
        self, run_id: str, token: int, row: StepRow, state_json: str | None, *, upsert: bool = False
    ) -> None:
        """Write a step's row; the run's lease must still be ours. ``upsert`` replaces a row at that position."""
        values = (
            run_id,
            row.position,
            row.name,
            row.kind,
            row.fp,
            row.status,
            row.result_json,
            row.error_json,
            row.attempts,
            row.summary,
            row.started_at,
            row.finished_at,
            row.due_at,
            row.attributes_json,
            row.delivered,
            row.args_json,
            row.burst,
        )
        sql = _UPSERT_STEP if upsert else _INSERT_STEP
        if state_json is None:
            # One statement, one implicit transaction: the cheapest durable write.
            cur = self._conn.execute(sql, (*values, run_id, token))
            if cur.rowcount != 1:
                raise LeaseLost(run_id)
            return
        with self.transaction() as conn:
            self._fence(conn, run_id, token, state_json)
            conn.execute(sql, (*values, run_id, token))

    @_retrying
    def record_delivered(
        self, run_id: str, token: int, position: str, delivered: int, burst: int | None
    ) -> None:
        """Number the delivery of a step's result written before its turn came."""
        cur = self._conn.execute(
            "UPDATE steps SET delivered = ?, burst = ? WHERE run_id = ? AND position = ? AND EXISTS (SELECT 1 "
            "FROM runs WHERE run_id = ? AND lease_token = ? AND status = 'running')",
            (delivered, burst, run_id, position, run_id, token),
        )
        if cur.rowcount != 1:
            raise LeaseLost(run_id)

    @_retrying
    def record_attempt(
        self,
        run_id: str,
        token: int,
        position: str,
        attempt: int,
        error_json: str,
        started_at: float,
        retry_in: float | None,
    ) -> None:
        with self.transaction() as conn:
            self._fence(conn, run_id, token, None)
            conn.execute(
                "INSERT INTO attempts (run_id, position, attempt, error_json, started_at, finished_at, retry_in) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (run_id, position, attempt, error_json, started_at, time.time(), retry_in),
            )

    # -- progress of steps in flight (stead._events.save_progress) ------------------------------------------------

    def load_progress(self, run_id: str, position: str) -> str | None:
        try:
            row = self._conn.execute(
                "SELECT data_json FROM progress WHERE run_id = ? AND position = ?", (run_id, position)
            ).fetchone()
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                return None  # no step of this file ever kept progress
            raise
        return None if row is None else str(row[0])

    @_retrying
    def save_progress(self, run_id: str, token: int, position: str, data_json: str | None) -> None:
        if not self._progress_ready:
            # Its own table, made on first use: a database whose steps never keep progress stays as it was.
            self._conn.execute(
                "CREATE TABLE IF NOT EXISTS progress (run_id TEXT NOT NULL, position TEXT NOT NULL, "
                "data_json TEXT NOT NULL, at REAL NOT NULL, PRIMARY KEY (run_id, position))"
            )
            self._progress_ready = True
        with self.transaction() as conn:
            self._fence(conn, run_id, token, None)
            if data_json is None:
                conn.execute("DELETE FROM progress WHERE run_id = ? AND position = ?", (run_id, position))
            else:
                conn.execute(
                    "INSERT INTO progress (run_id, position, data_json, at) VALUES (?, ?, ?, ?) ON CONFLICT "
                    "(run_id, position) DO UPDATE SET data_json = excluded.data_json, at = excluded.at",
                    (run_id, position, data_json, time.time()),
                )

    # -- runs somebody follows (Engine.watch) ---------------------------------------------------------------------

    @_retrying
    def watch(self, run_id: str) -> None:
        if not self._watchers_ready:
            # Its own table, made on first use: a database nobody followed a run of stays as it was.
            self._conn.execute(
                "CREATE TABLE IF NOT EXISTS watchers (run_id TEXT PRIMARY KEY, at REAL NOT NULL)"
            )
            self._watchers_ready = True
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO watchers (run_id, at) VALUES (?, ?) ON CONFLICT (run_id) DO NOTHING",
                (run_id, time.time()),
            )

    def watched(self, run_id: str) -> bool:
        try:
            row = self._conn.execute("SELECT 1 FROM watchers WHERE run_id = ?", (run_id,)).fetchone()
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                return False  # nobody ever followed a run of this file
            raise
        return row is not None

    # -- events --------------------------------------------------------------------------------------------------

    @_retrying
    def append_events(self, run_id: str, token: int, events: list[Event]) -> None:
        """Append (position, attempt, kind, data_json, at) events of a run this worker holds."""
        with self.transaction() as conn:
            self._fence(conn, run_id, token, None)
            conn.executemany(
                "INSERT INTO events (run_id, position, attempt, kind, data_json, at) VALUES (?, ?, ?, ?, ?, ?)",
                [(run_id, *event) for event in events],
            )

    def events(self, run_id: str, after: int, limit: int = 1000) -> list[StoredEvent]:
        rows = self._conn.execute(
            "SELECT id, position, attempt, kind, data_json, at FROM events WHERE run_id = ? AND id > ? "
            "ORDER BY id LIMIT ?",
            (run_id, after, limit),
        )
        return list(rows)

    # -- messages ------------------------------------------------------------------------------------------------

    def insert_message(self, run_id: str, name: str, payload_json: str) -> str | None:
        """Queue a message for a run. Returns None when sent, else the run's status (finished or missing)."""
        with self.transaction() as conn:
            row = conn.execute("SELECT status FROM runs WHERE run_id = ?", (run_id,)).fetchone()
            if row is None:
                return "missing"
            if row[0] not in ("pending", "running"):
                return str(row[0])
            conn.execute(
                "INSERT INTO messages (run_id, name, payload_json, sent_at) VALUES (?, ?, ?, ?)",
                (run_id, name, payload_json, time.time()),
            )
        return None

    @_retrying
    def consume_message(
        self, run_id: str, token: int, name: str, step: StepRow, state_json: str | None
    ) -> str | None:
        """Take the oldest unread message ``name`` for the wait at ``step``; record the wait as done with it."""
        with self.transaction() as conn:
            self._fence(conn, run_id, token, state_json)
            found = conn.execute(
                "SELECT seq, payload_json FROM messages WHERE run_id = ? AND name = ? AND consumed_by IS NULL "
                "ORDER BY seq LIMIT 1",
                (run_id, name),
            ).fetchone()
            if found is None:
                return None
            seq, payload_json = found
            conn.execute("UPDATE messages SET consumed_by = ? WHERE seq = ?", (step.position, seq))
            conn.execute(
                "UPDATE steps SET status = 'done', result_json = ?, finished_at = ?, delivered = ?, burst = ? "
                "WHERE run_id = ? AND position = ?",
                (payload_json, time.time(), step.delivered, step.burst, run_id, step.position),
            )
            return str(payload_json)

    def last_message(self) -> int:
        row = self._conn.execute("SELECT MAX(seq) FROM messages").fetchone()
        return int(row[0] or 0)

    def pending_messages(self, run_id: str) -> int:
        row = self._conn.execute(
            "SELECT COUNT(*) FROM messages WHERE run_id = ? AND consumed_by IS NULL", (run_id,)
        ).fetchone()
        return int(row[0])

    # -- rate limits (stead._limits) ----------------------------------------------------------------------------

    def update_limit(self, key: str, change: Callable[[LimitState], tuple[LimitState, T]]) -> T:
        """Apply ``change`` to the limiter record of ``key`` in one transaction, for every process alike."""
        if not self._limits_ready:
            # Its own table, made on first use: a database that never limits keeps its schema as it was.
            self._conn.execute(
                "CREATE TABLE IF NOT EXISTS limits (key TEXT PRIMARY KEY, state TEXT NOT NULL)"
            )
            self._limits_ready = True
        with self.transaction() as conn:
            row = conn.execute("SELECT state FROM limits WHERE key = ?", (key,)).fetchone()
            state, value = change(LimitState.from_json(row[0] if row is not None else None))
            conn.execute(
                "INSERT INTO limits (key, state) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET state = excluded.state",
                (key, state.to_json()),
            )
        return value


Store = SqliteStore  # the name it had before the journal runtime moved out


def _run(conn: sqlite3.Connection, run_id: str) -> RunRow | None:
    row = conn.execute(f"SELECT {RUN_COLUMNS} FROM runs WHERE run_id = ?", (run_id,)).fetchone()
    return RunRow(*row) if row is not None else None


class _Checkpointer:
    """A thread with its own connection that runs ``PRAGMA wal_checkpoint(PASSIVE)`` every ``interval`` seconds.

    PASSIVE never waits for a lock nor blocks a writer or reader: what a reader still needs stays in the log until
    the next round. The connection is opened, used and closed by the thread alone."""

    def __init__(self, path: str, interval: float) -> None:
        self.path = path
        self.interval = interval
        self._rounds = 0  # checkpoints that copied the whole log
        self._round = threading.Condition()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"stead checkpoint {path}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join()

    def wait_complete(self, timeout: float) -> bool:
        with self._round:
            seen = self._rounds
            # the next whole round after one that may have started before the call
            return self._round.wait_for(lambda: self._rounds >= seen + 2, timeout)

    def _run(self) -> None:
        try:
            conn = sqlite3.connect(self.path, isolation_level=None, timeout=0)
        except sqlite3.Error:
            return  # the file went away: nothing to checkpoint; commits checkpoint as before
        try:
            while not self._stopping.wait(self.interval):
                try:
                    busy, log, checkpointed = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                except sqlite3.Error:
                    continue  # another process checkpoints, or the disk is full: the next round tries again
                if not busy and log == checkpointed:
                    with self._round:
                        self._rounds += 1
                        self._round.notify_all()
        finally:
            conn.close()
