"""The embedded engine: runs journaled in one SQLite file, executed by any number of worker processes."""

from __future__ import annotations

import asyncio

from ..journal import JournalEngine, JournalWorker
from ._options import SqliteOptions
from ._store import SqliteStore

__all__ = ["SqliteEngine", "SqliteWorker"]

SqliteWorker = JournalWorker
"""The embedded engine's worker (the journal runtime's; the name stays for callers that imported it)."""


class SqliteEngine(JournalEngine):
    """``sqlite:///path/to/file.db?synchronous=NORMAL&lease=5&suspend=1&poll=0.02``: the default engine.

    The journal runtime (``stead.engines.journal``) over one SQLite file; the options are ``SqliteOptions``'s.
    Other processes' writes are noticed by watching SQLite's ``data_version`` every ``poll`` seconds.
    """

    options: SqliteOptions
    store: SqliteStore

    def __init__(self, url: str, *, lease: float | None = None, poll_interval: float | None = None) -> None:
        options = SqliteOptions.from_url(url, lease=lease, poll=poll_interval)
        store = SqliteStore(options.path, synchronous=options.synchronous, busy_timeout=options.busy_timeout)
        super().__init__(url, store, options, options.path)
        self.path = options.path
        self.poll_interval = options.poll

    def __repr__(self) -> str:
        return f"<SqliteEngine {self.path}>"

    async def _watch(self) -> None:
        # Our own writes do not move data_version: the runtime notifies those itself.
        # While this engine watches (a worker, a follower), a thread copies the log into the file, so that no
        # step's commit waits for that copy's fsync.
        self.store.start_checkpointer()
        try:
            version = self.store.data_version()
            while not self._closed:
                await asyncio.sleep(self.poll_interval)
                current = self.store.data_version()
                if current != version:
                    version = current
                    self.notify_changed()
        finally:
            self.store.stop_checkpointer()
