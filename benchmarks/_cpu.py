"""CPU seconds used by a benchmark's side and by the server it talks to: under a machine's varying load (other
jobs on the same cores), the CPU a side costs tells more than the seconds it takes."""

from __future__ import annotations

import os


def cpu_seconds(pid: int) -> float | None:
    """User and system CPU seconds of process ``pid`` and its waited-for children, from /proc (None where there is
    none)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")


class Meter:
    """The CPU this process and the server (``server_pid``) use from its creation to ``used()``."""

    def __init__(self, server_pid: int | None) -> None:
        self.server_pid = server_pid
        self.start = self._now()

    def _now(self) -> tuple[float | None, float | None]:
        return cpu_seconds(os.getpid()), cpu_seconds(self.server_pid) if self.server_pid else None

    def used(self) -> dict[str, float | None]:
        now = self._now()
        ours, server = (
            None if a is None or b is None else b - a for a, b in zip(self.start, now, strict=True)
        )
        return {"cpu": ours, "server_cpu": server}
