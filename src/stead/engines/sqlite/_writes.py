"""A worker's writes wait out a locked or full database file instead of failing the run or the worker."""

from __future__ import annotations

import functools
import logging
import sqlite3
import time
from collections.abc import Callable
from typing import ParamSpec, Protocol, TypeVar, cast

__all__ = ["Writable", "retrying"]


class Writable(Protocol):
    """What :func:`retrying` needs of the store whose method it wraps."""

    path: str
    _conn: sqlite3.Connection


logger = logging.getLogger("stead")

_P = ParamSpec("_P")
_T = TypeVar("_T")


def _write_trouble(exc: sqlite3.OperationalError) -> str | None:
    """What a write error says about the file, if it is one a worker should wait out rather than fail for."""
    text = str(exc).lower()
    if "locked" in text or "busy" in text:
        return "locked by another process"
    if "full" in text:
        return "disk full"
    if "disk i/o error" in text:
        return "disk I/O error"
    return None


def retrying(method: Callable[_P, _T]) -> Callable[_P, _T]:
    """Retry a worker's write until the file takes it: a lock held beyond the busy timeout, or a full disk, must
    not fail a healthy run nor kill the worker. Each method is one transaction, rolled back before a retry."""

    @functools.wraps(method)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _T:
        store = cast(Writable, args[0])
        delay, trouble = 0.05, None
        while True:
            try:
                result = method(*args, **kwargs)
            except sqlite3.OperationalError as exc:
                why = _write_trouble(exc)
                if why is None:
                    raise
                if store._conn.in_transaction:
                    store._conn.execute("ROLLBACK")
                if why != trouble:
                    logger.warning(
                        "stead: cannot write %s (%s: %s); retrying until it can", store.path, why, exc
                    )
                    trouble = why
                time.sleep(delay)  # the worker can do nothing useful without its journal: it waits in place
                delay = min(delay * 2, 2.0)
                continue
            if trouble is not None:
                logger.warning("stead: %s is writable again", store.path)
            return result

    return wrapper
