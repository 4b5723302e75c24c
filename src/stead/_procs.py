"""Processes of this machine named in shared records: run leases and rate-limiter slots say ``host/pid/...``,
so that what a process of this machine held is free at once when it no longer exists (``kill -9``)."""

from __future__ import annotations

import os
import socket

__all__ = ["HOST", "gone_process"]

HOST = socket.gethostname()


def gone_process(holder: str, host: str = HOST) -> bool:
    """Whether ``holder`` (``host/pid/...``) names a process of this machine that no longer exists.

    Holders of other machines, or in another form, are never gone here: their records expire instead.
    """
    holder_host, _, rest = holder.partition("/")
    pid_text = rest.partition("/")[0]
    return holder_host == host and pid_text.isdigit() and not _alive(int(pid_text))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, under another user
    return True
