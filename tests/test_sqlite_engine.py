"""What only the embedded engine has: its file, its URL, its leases."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

import stead
from stead.engines.sqlite._store import SCHEMA_VERSION

from .apps.crash_app import sequential


def test_garbage_file_is_refused_and_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_bytes(b"these are my notes, not a database\n" * 10)
    before = path.read_bytes()
    with pytest.raises(stead.DatabaseError, match="not a SQLite database"):
        stead.connect(f"sqlite:///{path}")
    assert path.read_bytes() == before


def test_foreign_sqlite_database_is_refused_and_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
        conn.execute("INSERT INTO customers (name) VALUES ('Ada')")
    conn.close()
    before = path.read_bytes()
    with pytest.raises(stead.DatabaseError, match="did not create.*customers"):
        stead.connect(f"sqlite:///{path}")
    assert path.read_bytes() == before


async def test_newer_schema_is_refused_and_runs_are_kept(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/stead.db"
    engine = stead.connect(url)
    await engine.start(sequential, 2, run_id="kept")
    await engine.close()
    with sqlite3.connect(tmp_path / "stead.db") as conn:
        conn.execute("UPDATE stead_meta SET value = ? WHERE key = 'schema'", (str(SCHEMA_VERSION + 1),))
    conn.close()
    with pytest.raises(stead.SchemaTooNew, match="upgrade stead"):
        stead.connect(url)
    with sqlite3.connect(tmp_path / "stead.db") as conn:
        assert conn.execute("SELECT run_id FROM runs").fetchall() == [("kept",)]
    conn.close()


async def test_a_journal_of_schema_1_is_migrated_and_its_steps_get_attributes(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/stead.db"
    engine = stead.connect(url)
    await engine.start(sequential, 2, run_id="old")
    await engine.close()
    usage = '{"usage": {"input_tokens": 10, "output_tokens": 2, "total_tokens": 12}}'
    with sqlite3.connect(tmp_path / "stead.db") as conn:
        # The file as stead wrote it with schema 1: steps had no attributes, only names and summaries.
        conn.execute("ALTER TABLE steps DROP COLUMN attributes_json")
        conn.execute("ALTER TABLE steps DROP COLUMN delivered")  # schema 3
        conn.execute("ALTER TABLE steps DROP COLUMN args_json")  # schema 3 too
        conn.execute("ALTER TABLE steps DROP COLUMN burst")  # schema 4
        conn.execute("UPDATE stead_meta SET value = '1' WHERE key = 'schema'")
        conn.executemany(
            "INSERT INTO steps (run_id, position, name, kind, status, result_json, attempts, summary, started_at) "
            "VALUES ('old', ?, ?, ?, 'done', ?, 1, ?, ?)",
            [
                ("0:0/model:1", "model:Triage", "model", usage, "model · Triage · gpt-4o-mini", 1.0),
                ("0:0/call_7", "tool:get_weather", "tool", '"sunny"', "tool · get_weather", 2.0),
                ("0:1", "fetch", "step", "1", None, 3.0),
            ],
        )
    conn.close()
    engine = stead.connect(url)
    try:
        model, tool, plain = await engine.steps("old")
        assert model.attributes == stead.StepAttributes(
            agent="Triage", model="gpt-4o-mini", show_while_running=True
        )
        assert tool.attributes == stead.StepAttributes(
            tool="get_weather", call_id="call_7", show_while_running=True
        )
        assert plain.attributes == stead.StepAttributes()
        assert stead.usage([model, tool, plain]).agents["Triage"].by_model["gpt-4o-mini"].total_tokens == 12
    finally:
        await engine.close()
    with sqlite3.connect(tmp_path / "stead.db") as conn:
        assert conn.execute("SELECT value FROM stead_meta WHERE key = 'schema'").fetchone() == (
            str(SCHEMA_VERSION),
        )
    conn.close()


def test_bad_urls(tmp_path: Path) -> None:
    with pytest.raises(stead.UsageError, match="unknown engine URL"):
        stead.connect("postgres://localhost/db")
    with pytest.raises(stead.UsageError, match="names no file"):
        stead.connect("sqlite:///")
    with pytest.raises(stead.UsageError, match="unknown option"):
        stead.connect(f"sqlite:///{tmp_path}/x.db?fast=yes")
    with pytest.raises(stead.DatabaseError, match="is a directory"):
        stead.connect(f"sqlite:///{tmp_path}")
    with pytest.raises(stead.UsageError, match="the options are: lease, suspend, synchronous, poll"):
        stead.connect(f"sqlite:///{tmp_path}/x.db?suspnd=1")
    with pytest.raises(stead.UsageError, match="lease=0: a lease must last a positive number of seconds"):
        stead.connect(f"sqlite:///{tmp_path}/x.db?lease=0")
    with pytest.raises(stead.UsageError, match="suspend='soon'.*use a number of seconds"):
        stead.connect(f"sqlite:///{tmp_path}/x.db?suspend=soon")
    with pytest.raises(stead.UsageError, match="synchronous=OFF: use NORMAL, FULL or EXTRA"):
        stead.connect(f"sqlite:///{tmp_path}/x.db?synchronous=off")


def test_options_are_parsed_from_the_url(tmp_path: Path) -> None:
    from stead.engines.sqlite import SqliteOptions

    options = SqliteOptions.from_url(f"sqlite:///{tmp_path}/x.db?suspend=0&lease=2.5&synchronous=full")
    assert options == SqliteOptions(path=f"{tmp_path}/x.db", lease=2.5, suspend=0.0, synchronous="FULL")


async def test_missing_directories_are_created(tmp_path: Path) -> None:
    engine = stead.connect(f"sqlite:///{tmp_path}/a/b/stead.db")
    await engine.close()
    assert (tmp_path / "a" / "b" / "stead.db").exists()


async def test_expired_lease_of_another_machine_is_taken_over(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STEAD_TEST_LOG", str(tmp_path / "effects.log"))
    url = f"sqlite:///{tmp_path}/stead.db?lease=1"
    engine = stead.connect(url)
    try:
        handle = await engine.start(sequential, 2, run_id="orphan")
        # A worker on another machine claimed the run, then vanished without a word.
        with sqlite3.connect(tmp_path / "stead.db") as conn:
            conn.execute(
                "UPDATE runs SET status = 'running', owner = 'elsewhere/4242/deadbeef', lease_until = ?, "
                "lease_token = lease_token + 1",
                (time.time() + 1.0,),
            )
        conn.close()
        started = time.monotonic()
        async with engine.worker([sequential]):
            result = await handle.result(timeout=20)
        waited = time.monotonic() - started
    finally:
        await engine.close()
    assert result == [len("seq"), 1 + len("seq")]
    assert 0.5 <= waited < 5, f"took over after {waited:.1f}s"


async def test_a_worker_that_lost_its_lease_writes_nothing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/stead.db"
    engine = stead.connect(url)
    try:
        await engine.start(sequential, 2, run_id="stolen")
        store = engine.store  # type: ignore[attr-defined]
        [row] = store.candidates(["sequential"], None, time.time(), [], 10)
        claimed = store.claim(row.run_id, row.lease_token, "me/1/a", time.time() + 60)
        assert claimed is not None
        # Someone else takes it over (as after an expired lease): our token is stale now.
        assert store.claim(row.run_id, claimed.lease_token, "other/2/b", time.time() + 60) is not None
        from stead.engines.sqlite._store import StepRow

        step = StepRow(
            "0:0", "work", "step", None, "done", "1", None, 1, None, time.time(), time.time(), None
        )
        with pytest.raises(stead.LeaseLost):
            store.record_step(row.run_id, claimed.lease_token, step, None)
        # The writes made in a transaction check the lease inside it (stead.engines.sqlite._store._fence).
        stale = claimed.lease_token
        fenced: dict[str, Callable[[], object]] = {
            "record_step with state": lambda: store.record_step(row.run_id, stale, step, '{"k": 1}'),
            "record_attempt": lambda: store.record_attempt(
                row.run_id, stale, "0:0", 1, "{}", time.time(), 1.0
            ),
            "append_events": lambda: store.append_events(row.run_id, stale, [("0:0", 1, "token", "{}", 0.0)]),
            "suspend": lambda: store.suspend(row.run_id, stale, None, '{"k": 1}'),
            "finish_run": lambda: store.finish_run(row.run_id, stale, "completed", "1", None, '{"k": 1}'),
            "consume_message": lambda: store.consume_message(row.run_id, stale, "go", step, '{"k": 1}'),
            "save_progress": lambda: store.save_progress(row.run_id, stale, "0:0", '{"response_id": "r"}'),
        }
        store.insert_message(row.run_id, "go", '"payload"')
        for name, write in fenced.items():
            with pytest.raises(stead.LeaseLost):
                write()
                pytest.fail(f"{name} wrote with a stale lease")
        assert await engine.steps("stolen") == []
        assert store.load_progress(row.run_id, "0:0") is None
        info = await engine.get("stolen")
        assert info.status is stead.RunStatus.RUNNING and info.state == {}
        assert [e async for e in engine.events("stolen", follow=False)] == []
    finally:
        await engine.close()


@stead.workflow
async def waits_then_sleeps(name: str) -> list[str]:
    got = await stead.wait_for(name)
    await stead.sleep(0.4)
    return [got, "slept"]


async def test_idle_runs_are_suspended_and_woken_by_messages_and_timers(tmp_path: Path) -> None:
    engine = stead.connect(f"sqlite:///{tmp_path}/stead.db?suspend=0.1")
    try:
        handles = [await engine.start(waits_then_sleeps, f"go{i}") for i in range(20)]
        worker = engine.worker([waits_then_sleeps])
        async with worker:
            for handle in handles:
                await engine.wait(handle.run_id, 20, until="suspended")
            assert len(engine.store.suspended_runs()) == 20  # type: ignore[attr-defined]
            assert worker.active == {}, "suspended runs still hold a coroutine"  # type: ignore[attr-defined]
            await engine.send(handles[3].run_id, "go3", "three")
            assert await handles[3].result(timeout=20) == ["three", "slept"]
            steps = await engine.steps(handles[3].run_id)
            assert [s.kind for s in steps] == ["wait", "timer"]
            assert all(s.status == "done" for s in steps)
        assert (await engine.get(handles[4].run_id)).waiting_for == ["go4"]
    finally:
        await engine.close()


async def test_a_run_of_a_dead_worker_is_taken_at_once_however_many_runs_live_workers_hold(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STEAD_TEST_LOG", str(tmp_path / "effects.log"))
    db = tmp_path / "stead.db"
    engine = stead.connect(f"sqlite:///{db}")
    gone = await asyncio.create_subprocess_exec(sys.executable, "-c", "pass")
    await gone.wait()  # its pid names no process any more
    try:
        for i in range(30):
            await engine.start(sequential, 2, run_id=f"busy-{i}")
        handle = await engine.start(sequential, 2, run_id="orphan")
        host = engine.host  # type: ignore[attr-defined]
        with sqlite3.connect(db) as conn:
            # Thirty older runs held by a live worker of this machine (this process), and the newest one by a
            # worker of this machine that was killed: both leases run for minutes yet.
            until = time.time() + 600
            conn.execute(
                "UPDATE runs SET status = 'running', owner = ?, lease_until = ?, lease_token = lease_token + 1 "
                "WHERE run_id LIKE 'busy-%'",
                (f"{host}/{os.getpid()}/alive", until),
            )
            conn.execute(
                "UPDATE runs SET status = 'running', owner = ?, lease_until = ?, lease_token = lease_token + 1 "
                "WHERE run_id = 'orphan'",
                (f"{host}/{gone.pid}/killed", until),
            )
        conn.close()
        async with engine.worker([sequential], concurrency=2):
            result = await handle.result(timeout=10)
        busy = await engine.get("busy-0")
    finally:
        await engine.close()
    assert result == [len("seq"), 1 + len("seq")]
    assert busy.status == "running"  # a live worker's run is left alone


@stead.step
async def echo(text: str) -> str:
    return text


@stead.workflow
async def echoes(text: str) -> str:
    return await echo(text)


async def test_a_watching_engine_checkpoints_the_log_in_a_thread_and_commits_do_not(tmp_path: Path) -> None:
    db = tmp_path / "stead.db"
    engine = stead.connect(f"sqlite:///{db}")
    store = engine.store  # type: ignore[attr-defined]
    try:
        worker = engine.worker([echoes])
        async with worker:
            before = db.stat().st_size
            # ~300 pages of log: below the connection's own threshold, so only the thread copies them.
            handles = [await engine.start(echoes, f"{i:04}" * 1000) for i in range(300)]
            for handle in handles:
                await handle.result(timeout=30)
            assert await asyncio.to_thread(store.wait_checkpointed, 10), "the thread did not copy the log"
            assert db.stat().st_size > before + 300 * 4000, "the log was not copied into the file"
            assert store._conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] > 1000
        await engine.close()
        assert not [t for t in threading.enumerate() if t.name.startswith("stead checkpoint")]
    finally:
        await engine.close()
