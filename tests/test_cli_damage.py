"""A stead.db damaged in the middle: `stead ls`, `show` and `run` exit 3 saying so, and write nothing to it."""

from __future__ import annotations

import asyncio
import hashlib
import os
import subprocess
from pathlib import Path

import stead
from stead._loader import load_workflows

from .procs import ROOT, env, stead_cmd

APP = """
import stead
from stead._loader import load_workflows

@stead.workflow
async def echo(text: str) -> str:
    return text
"""


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else "-"


def test_damage_in_the_middle_of_the_database_is_exit_3_and_nothing_is_written(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(APP)
    db = tmp_path / "stead.db"
    url = f"sqlite:///{db}"

    async def fill() -> None:
        engine = stead.connect(url)
        try:
            (wf,) = load_workflows(str(tmp_path / "app.py"))
            for i in range(300):  # ~6 MB of runs, so that the middle of the file is the runs' pages
                await engine.start(wf, f"{i}" + "x" * 20_000, run_id=f"r{i}")
        finally:
            await engine.close()

    asyncio.run(fill())
    size = db.stat().st_size
    assert size > 4_000_000
    with db.open("r+b") as f:
        f.seek(size // 2 // 4096 * 4096)
        f.write(os.urandom(3 * 4096))
    files = [db, db.with_name("stead.db-wal"), db.with_name("stead.db-shm")]
    before = [digest(f) for f in files]

    for args in (["ls"], ["show", "r150"], ["run", f"{tmp_path}/app.py:echo", "hi"]):
        done = subprocess.run(
            stead_cmd(url, *args), capture_output=True, text=True, env=env(), cwd=ROOT, timeout=120
        )
        assert done.returncode == 3, (args, done.stdout, done.stderr)
        assert done.stderr.startswith(f"error: {db} is damaged"), done.stderr
        assert "Nothing was changed; restore the file from a backup" in done.stderr
        assert "Traceback" not in done.stderr
        assert [digest(f) for f in files] == before, args
