"""A program for the crash tests: steps log what they do to a side-effect file and can hang on request.

STEAD_TEST_LOG: the side-effect log (one line per event, appended atomically).
CRASH_AT=k: step k of `sequential` prints CRASH-POINT and hangs, waiting for the kill.
CRASH_AFTER=m: in `fan`, the step that starts after m steps finished prints CRASH-POINT and hangs.
"""

from __future__ import annotations

import asyncio
import os
import random

import stead

_finished = 0


def log(line: str) -> None:
    fd = os.open(os.environ["STEAD_TEST_LOG"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, f"{os.getpid()} {line}\n".encode())
    finally:
        os.close(fd)


async def hang(where: str) -> None:
    print(f"CRASH-POINT {where}", flush=True)
    await asyncio.Event().wait()


@stead.step
async def work(tag: str, i: int) -> int:
    log(f"start {tag}:{i}")
    if os.environ.get("CRASH_AT") == str(i):
        await hang(f"{tag}:{i}")
    await asyncio.sleep(random.random() / 500)  # long enough for two workers to interleave
    log(f"done {tag}:{i}")
    return i * i + len(tag)


@stead.workflow
async def sequential(n: int, tag: str = "seq") -> list[int]:
    return [await work(tag, i) for i in range(n)]


@stead.step
async def branch_step(b: int, i: int) -> str:
    global _finished
    log(f"start {b}.{i}")
    crash_after = os.environ.get("CRASH_AFTER")
    if crash_after is not None and _finished >= int(crash_after):
        await hang(f"{b}.{i}")
    await asyncio.sleep(random.random() / 50)  # branches finish in random order
    _finished += 1
    log(f"done {b}.{i}")
    return f"{b}.{i}"


@stead.workflow
async def fan(branches: int, n: int) -> list[list[str]]:
    async def branch(b: int) -> list[str]:
        return [await branch_step(b, i) for i in range(n)]

    return list(await asyncio.gather(*(branch(b) for b in range(branches))))
