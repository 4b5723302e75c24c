"""The embedded engine waits out its own write errors: a file locked by another process beyond the busy timeout,
a full disk. A healthy run completes; the worker says once what is wrong, with the path."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
from pathlib import Path

import pytest

import stead

_step_running = threading.Event()
_resume_step = threading.Event()


@stead.step
async def first() -> str:
    _step_running.set()
    await asyncio.to_thread(_resume_step.wait)
    return "x" * 200_000  # a result that needs new pages in the file


@stead.step
async def second(n: int) -> int:
    return n + 1


@stead.workflow
async def two_steps() -> int:
    big = await first()
    return await second(len(big))


@stead.workflow
async def one_step() -> int:
    return await second(1)


class _Watch(logging.Handler):
    """Calls `react` on the first warning that names `what`."""

    def __init__(self, what: str, react: object) -> None:
        super().__init__(logging.WARNING)
        self.what, self.react, self.lines = what, react, list[str]()

    def emit(self, record: logging.LogRecord) -> None:
        line = record.getMessage()
        self.lines.append(line)
        if self.what in line and len(self.lines) == 1:
            self.react()  # type: ignore[operator]


@pytest.fixture
def stead_log() -> object:
    handlers: list[logging.Handler] = []
    logger = logging.getLogger("stead")

    def add(handler: logging.Handler) -> None:
        handlers.append(handler)
        logger.addHandler(handler)

    yield add
    for handler in handlers:
        logger.removeHandler(handler)


async def test_a_lock_held_beyond_the_busy_timeout_is_waited_out(tmp_path: Path, stead_log: object) -> None:
    _step_running.clear()
    _resume_step.clear()
    path = tmp_path / "stead.db"
    released = threading.Event()
    engine = stead.connect(f"sqlite:///{path}?busy_timeout=0.2")

    def hold_lock() -> None:
        # Another process's writer (here another connection, in a thread: the worker blocks its own thread).
        conn = sqlite3.connect(path, isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")
        _resume_step.set()
        released.wait(60)
        conn.execute("COMMIT")
        conn.close()

    watch = _Watch("locked by another process", released.set)
    stead_log(watch)  # type: ignore[operator]
    holder = threading.Thread(target=hold_lock)
    try:
        handle = await engine.start(two_steps)
        async with engine.worker([two_steps]):
            await asyncio.to_thread(_step_running.wait, 30)
            holder.start()
            result = await handle.result(timeout=60)
    finally:
        released.set()
        holder.join(10)
        await engine.close()
    assert result == 200_001
    assert watch.lines[0].startswith(f"stead: cannot write {path} (locked by another process")
    assert watch.lines[-1] == f"stead: {path} is writable again"


async def test_a_full_disk_is_waited_out(tmp_path: Path, stead_log: object) -> None:
    _step_running.clear()
    _resume_step.clear()
    path = tmp_path / "stead.db"
    engine = stead.connect(f"sqlite:///{path}")
    conn: sqlite3.Connection = engine.store._conn  # type: ignore[attr-defined]

    def fill() -> None:
        # SQLite's page limit makes the real file answer "database or disk is full" until it is lifted.
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        conn.execute(f"PRAGMA max_page_count = {pages}")

    watch = _Watch("disk full", lambda: conn.execute("PRAGMA max_page_count = 1073741823"))
    stead_log(watch)  # type: ignore[operator]
    try:
        handle = await engine.start(two_steps)
        async with engine.worker([two_steps]):
            await asyncio.to_thread(_step_running.wait, 30)
            fill()
            _resume_step.set()
            result = await handle.result(timeout=60)
    finally:
        await engine.close()
    assert result == 200_001
    assert watch.lines[0].startswith(f"stead: cannot write {path} (disk full: database or disk is full)")
    assert watch.lines[-1] == f"stead: {path} is writable again"


async def test_a_worker_opens_a_journal_while_another_process_holds_its_write_lock(tmp_path: Path) -> None:
    path = tmp_path / "stead.db"
    async with stead.connect(f"sqlite:///{path}") as engine:
        done = await engine.start(one_step)
        async with engine.worker([one_step]):
            await done.result(timeout=30)
    writer = sqlite3.connect(path, isolation_level=None)  # another process's long write transaction
    writer.execute("BEGIN IMMEDIATE")
    try:
        # Opening a file that has this stead's schema reads it and writes nothing: no wait for the lock.
        async with stead.connect(f"sqlite:///{path}?busy_timeout=0.1") as engine:
            assert (await engine.get(done.run_id)).result == 2
    finally:
        writer.execute("ROLLBACK")
        writer.close()
