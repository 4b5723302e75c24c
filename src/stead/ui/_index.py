"""What the dashboard knows about every run that never changes: its id, workflow, start and arguments.

The engine lists runs newest first with a limit; reading 5,000 of them to show the page after them, or to search
them all, costs seconds on a large journal. The index reads the list once, then only the runs started since, and
answers "the page after this cursor" and "the runs whose arguments mention X" from memory; the current state of
the runs on the page comes from ``engine.get``.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from datetime import datetime

from .._engine import Engine, RunInfo
from .._exceptions import RunNotFound

__all__ = ["RunIndex"]

#: How many of the newest runs one refresh reads; when all of them are new, the index is read again in full.
REFRESH = 200
FULL = 10_000_000


@dataclass(frozen=True)
class Entry:
    run_id: str
    workflow: str
    created_at: datetime
    text: str
    """What a search looks in, lower case."""


def _entry(info: RunInfo) -> Entry:
    args = json.dumps(info.args, ensure_ascii=False, default=str)
    return Entry(info.run_id, info.workflow, info.created_at, f"{info.run_id} {info.workflow} {args}".lower())


class RunIndex:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.entries: list[Entry] = []  # newest first, as the engine lists them
        self.ids: set[str] = set()
        self.lock = asyncio.Lock()

    async def refresh(self) -> None:
        async with self.lock:
            newest = await self.engine.list(limit=REFRESH)
            fresh = [i for i in newest if i.run_id not in self.ids]
            if len(fresh) == len(newest) and len(newest) == REFRESH:
                everything = await self.engine.list(limit=FULL)
                self.entries = [_entry(i) for i in everything]
                self.ids = {e.run_id for e in self.entries}
                return
            if fresh:
                self.entries[:0] = [_entry(i) for i in fresh]
                self.ids.update(i.run_id for i in fresh)

    def position_after(self, run_id: str, created_at: datetime) -> int:
        """Where the entries after a cursor begin."""
        for n, entry in enumerate(self.entries):
            if entry.run_id == run_id:
                return n + 1
            if entry.created_at < created_at:
                return n
        return len(self.entries)

    async def page(
        self, *, after: tuple[datetime, str] | None, workflow: str | None, query: str, limit: int
    ) -> tuple[list[RunInfo], bool]:
        """Up to ``limit`` runs after the cursor that match; and whether more match after them."""
        await self.refresh()
        start = self.position_after(after[1], after[0]) if after else 0
        picked: list[Entry] = []
        more = False
        for entry in self.entries[start:]:
            if (workflow and entry.workflow != workflow) or (query and query not in entry.text):
                continue
            if len(picked) == limit:
                more = True
                break
            picked.append(entry)
        infos: list[RunInfo] = []
        for entry in picked:
            try:
                infos.append(await self.engine.get(entry.run_id))
            except RunNotFound:
                continue
        return infos, more
