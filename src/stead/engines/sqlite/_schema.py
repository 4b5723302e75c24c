"""The journal file's schema and how it is opened: checks before anything is written, migrations."""

from __future__ import annotations

import json
import os
import sqlite3
import time
from pathlib import Path
from typing import Any

from ..._exceptions import DatabaseError, SchemaTooNew

__all__ = ["DAMAGED_HELP", "SCHEMA_VERSION", "open_database"]

SCHEMA_VERSION = 4
"""1: the first journal; 2: steps carry their attributes (``attributes_json``); 3: steps carry the order in
which their results reached workflow code (``delivered``) and their arguments (``args_json``), for readable
replay divergences; 4: results delivered in one loop turn say so (``burst``)."""

_SCHEMA = """
CREATE TABLE stead_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE runs (
    run_id TEXT PRIMARY KEY,
    workflow TEXT NOT NULL,
    args_json TEXT NOT NULL,
    source TEXT,
    status TEXT NOT NULL,
    result_json TEXT,
    error_json TEXT,
    state_json TEXT,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    owner TEXT,
    lease_until REAL,
    lease_token INTEGER NOT NULL DEFAULT 0,
    suspended INTEGER NOT NULL DEFAULT 0,
    wake_at REAL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    finished_at REAL
);
CREATE INDEX runs_by_status ON runs (status, created_at);
CREATE TABLE steps (
    id INTEGER PRIMARY KEY,
    run_id TEXT NOT NULL,
    position TEXT NOT NULL,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    fp TEXT,
    status TEXT NOT NULL,
    result_json TEXT,
    error_json TEXT,
    attempts INTEGER NOT NULL DEFAULT 1,
    summary TEXT,
    started_at REAL NOT NULL,
    finished_at REAL,
    due_at REAL,
    attributes_json TEXT,
    delivered INTEGER,
    args_json TEXT,
    burst INTEGER,
    UNIQUE (run_id, position)
);
CREATE TABLE attempts (
    id INTEGER PRIMARY KEY,
    run_id TEXT NOT NULL,
    position TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    error_json TEXT NOT NULL,
    started_at REAL NOT NULL,
    finished_at REAL NOT NULL,
    retry_in REAL
);
CREATE INDEX attempts_by_run ON attempts (run_id, position);
CREATE TABLE messages (
    seq INTEGER PRIMARY KEY,
    run_id TEXT NOT NULL,
    name TEXT NOT NULL,
    payload_json TEXT NOT NULL,
    sent_at REAL NOT NULL,
    consumed_by TEXT
);
CREATE INDEX messages_pending ON messages (run_id, name, consumed_by);
CREATE TABLE events (
    id INTEGER PRIMARY KEY,
    run_id TEXT NOT NULL,
    position TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    kind TEXT NOT NULL,
    data_json TEXT,
    at REAL NOT NULL
);
CREATE INDEX events_by_run ON events (run_id, id);
"""

_HEADER = b"SQLite format 3\x00"

_CLAIM_INDEXES = (
    "CREATE INDEX IF NOT EXISTS runs_parked_cancel ON runs (cancel_requested) WHERE suspended = 1",
    "CREATE INDEX IF NOT EXISTS runs_parked_timer ON runs (wake_at) WHERE suspended = 1",
    "CREATE INDEX IF NOT EXISTS runs_awake ON runs (status, created_at) WHERE suspended = 0",
    "CREATE INDEX IF NOT EXISTS messages_unconsumed ON messages (run_id) WHERE consumed_by IS NULL",
)


def open_database(path: str, *, synchronous: str, busy_timeout: float) -> sqlite3.Connection:
    file = Path(path)
    if path != ":memory:":
        if file.is_dir():
            raise DatabaseError(
                f"{path} is a directory; give the path of a database file (sqlite:///{path}/stead.db)"
            )
        if file.exists() and file.stat().st_size > 0:
            with file.open("rb") as f:
                header = f.read(len(_HEADER))
            if header != _HEADER:
                raise DatabaseError(
                    f"{path} is not a SQLite database (corrupt, or another kind of file). Nothing was changed; "
                    "point --engine / STEAD_ENGINE at another file, or move this one away."
                )
        else:
            try:
                file.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise DatabaseError(f"cannot create the directory for {path}: {exc}") from None
    try:
        conn = sqlite3.connect(path, isolation_level=None, timeout=busy_timeout)
        _check_foreign(conn, path)  # before anything writes to the file, even the journal mode
        mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        conn.execute(f"PRAGMA synchronous={synchronous}")
        _ensure_schema(conn, path)
    except sqlite3.DatabaseError as exc:
        damaged = "malformed" in str(exc) or "not a database" in str(exc)
        raise DatabaseError(
            f"{path} is damaged: {exc}. {DAMAGED_HELP}"
            if damaged
            else f"cannot use {path} as a stead database: {exc}. Nothing was changed; if the file is damaged, "
            "restore it from a backup or point --engine / STEAD_ENGINE at another file."
        ) from None
    if path != ":memory:" and str(mode).lower() != "wal":
        conn.close()
        raise DatabaseError(
            f"{path}: SQLite refused WAL journal mode ({mode}); is the file on a network filesystem?"
        )
    return conn


#: Files up to this size are checked for damage when opened (``PRAGMA quick_check`` reads the whole file:
#: ~0.05-0.2 s per 50 MB); a damaged page of a larger file shows as an error when it is read.
_QUICK_CHECK_MAX_BYTES = 256 * 1024 * 1024


def _check_foreign(conn: sqlite3.Connection, path: str) -> None:
    """Refuse a database stead did not create, or a damaged one, before anything writes to it."""
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if tables and "stead_meta" not in tables:
        conn.close()
        raise DatabaseError(
            f"{path} is a SQLite database that stead did not create (it has tables: "
            f"{', '.join(sorted(tables)[:5])}). Nothing was changed; use another file for stead."
        )
    if not tables or path == ":memory:" or Path(path).stat().st_size > _QUICK_CHECK_MAX_BYTES:
        return
    problems = [str(r[0]) for r in conn.execute("PRAGMA quick_check(3)")]  # raises on some damage
    if problems != ["ok"]:
        conn.close()
        found = "; ".join(line for p in problems for line in p.splitlines() if not line.startswith("***"))
        raise DatabaseError(f"{path} is damaged (SQLite's quick_check: {found}). {DAMAGED_HELP}")


DAMAGED_HELP = (
    "Nothing was changed; restore the file from a backup (`sqlite3 FILE .recover` salvages what is readable), "
    "or point --engine / STEAD_ENGINE at another file."
)


def _migrate_to_2(conn: sqlite3.Connection) -> None:
    """Steps get their attributes. Those of rows written before are derived, once, from the names and summaries
    that stead wrote then (``model:<agent>`` / ``model · <agent> · <model>``, ``tool:<tool>``)."""
    conn.execute("ALTER TABLE steps ADD COLUMN attributes_json TEXT")
    updates: list[tuple[str, int]] = []
    rows = conn.execute(
        "SELECT id, position, name, kind, summary FROM steps WHERE kind IN ('model', 'tool', 'agent')"
    )
    for step_id, position, name, kind, summary in rows:
        attributes: dict[str, Any] = {"show_while_running": True}
        if kind == "model" and name.startswith("model:"):
            attributes["agent"] = name[len("model:") :]
            if summary and " · " in summary:
                attributes["model"] = summary.rsplit(" · ", 1)[1]
        elif kind == "tool" and name.startswith("tool:"):
            attributes["tool"] = name[len("tool:") :]
            if "/" in position:
                attributes["call_id"] = position.rsplit("/", 1)[1]
        updates.append((json.dumps(attributes, separators=(",", ":")), step_id))
    conn.executemany("UPDATE steps SET attributes_json = ? WHERE id = ?", updates)
    conn.execute("UPDATE stead_meta SET value = '2' WHERE key = 'schema'")


def _migrate_to_3(conn: sqlite3.Connection) -> None:
    """Steps get their delivery number and keep their arguments; rows written before have neither (they replay
    in creation order, and replay compares their fingerprints only), as then."""
    conn.execute("ALTER TABLE steps ADD COLUMN delivered INTEGER")
    conn.execute("ALTER TABLE steps ADD COLUMN args_json TEXT")
    conn.execute("UPDATE stead_meta SET value = '3' WHERE key = 'schema'")


def _migrate_to_4(conn: sqlite3.Connection) -> None:
    """Steps delivered in one loop turn with an earlier one record it; rows written before replay one by one."""
    conn.execute("ALTER TABLE steps ADD COLUMN burst INTEGER")
    conn.execute("UPDATE stead_meta SET value = '4' WHERE key = 'schema'")


def _schema_current(conn: sqlite3.Connection) -> bool:
    """Whether the file already has this stead's schema and indexes: then opening it writes nothing, and a worker
    can start while another process holds the write lock."""
    names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'index')")}
    if "stead_meta" not in names or not all(_index_name(i) in names for i in _CLAIM_INDEXES):
        return False
    row = conn.execute("SELECT value FROM stead_meta WHERE key = 'schema'").fetchone()
    return row is not None and row[0] == str(SCHEMA_VERSION)


def _index_name(statement: str) -> str:
    return statement.split("EXISTS", 1)[1].split()[0]


def _ensure_schema(conn: sqlite3.Connection, path: str) -> None:
    if _schema_current(conn):
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if not tables:
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute(
                "INSERT INTO stead_meta (key, value) VALUES ('schema', ?), ('created_by', ?)",
                (str(SCHEMA_VERSION), json.dumps({"pid": os.getpid(), "at": time.time()})),
            )
        elif "stead_meta" not in tables:
            raise DatabaseError(
                f"{path} is a SQLite database that stead did not create (it has tables: "
                f"{', '.join(sorted(tables)[:5])}). Nothing was changed; use another file for stead."
            )
        else:
            row = conn.execute("SELECT value FROM stead_meta WHERE key = 'schema'").fetchone()
            version = int(row[0]) if row is not None else 0
            if version > SCHEMA_VERSION:
                raise SchemaTooNew(
                    f"{path} was written by a newer stead (journal schema {version}; this stead reads up to "
                    f"{SCHEMA_VERSION}). Nothing was changed; upgrade stead: pip install -U stead"
                )
            if version < 1:
                raise DatabaseError(f"{path} has no valid stead schema version; use another file for stead.")
            if version < 2:
                _migrate_to_2(conn)
            if version < 3:
                _migrate_to_3(conn)
            if version < 4:
                _migrate_to_4(conn)
        for statement in _CLAIM_INDEXES:  # added to files of any schema version: older stead ignores them
            conn.execute(statement)
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
