"""The embedded engine's options, parsed from its URL: ``sqlite:///path.db?synchronous=FULL&lease=5``."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any
from urllib.parse import parse_qs, urlsplit

from ..._exceptions import UsageError
from ..journal import JournalOptions

__all__ = ["SqliteOptions"]

_SYNCHRONOUS = ("NORMAL", "FULL", "EXTRA")


@dataclass(frozen=True, kw_only=True)
class SqliteOptions(JournalOptions):
    """``lease`` and ``suspend`` as every journal engine has them, and what is SQLite's own."""

    path: str
    """The database file (created with its directories if missing)."""

    synchronous: str = "NORMAL"
    """SQLite's durability: NORMAL survives a crash of any process; FULL (or EXTRA) also a power loss, at a
    higher cost per step."""

    poll: float = 0.02
    """Seconds between two looks at the file for changes made by other processes."""

    busy_timeout: float = 30.0
    """Seconds a write waits for another process's lock before the worker logs it and keeps retrying."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.synchronous not in _SYNCHRONOUS:
            raise UsageError(f"synchronous={self.synchronous}: use NORMAL, FULL or EXTRA")
        if not (math.isfinite(self.poll) and self.poll > 0):
            raise UsageError(f"poll={self.poll:g}: use a positive number of seconds (the default is 0.02)")
        if not (math.isfinite(self.busy_timeout) and self.busy_timeout >= 0):
            raise UsageError(
                f"busy_timeout={self.busy_timeout:g}: use a number of seconds >= 0 (the default is 30)"
            )

    @classmethod
    def accepted(cls) -> list[str]:
        """The option names a URL may give."""
        return [f.name for f in fields(cls) if f.name != "path"]

    @classmethod
    def from_url(cls, url: str, **defaults: Any) -> SqliteOptions:
        """Parse ``url``; ``defaults`` (lease=…, poll=…) apply where the URL gives no value."""
        parts = urlsplit(url)
        if parts.scheme != "sqlite" or parts.netloc not in ("", "localhost"):
            raise UsageError(
                f"not a SQLite engine URL: {url!r}; expected sqlite:///relative/path.db or "
                "sqlite:////absolute/path.db"
            )
        path = parts.path[1:] if parts.path.startswith("/") else parts.path
        if not path:
            raise UsageError(f"the engine URL {url!r} names no file; expected sqlite:///path/to/stead.db")
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        accepted = cls.accepted()
        unknown = sorted(set(query) - set(accepted))
        if unknown:
            raise UsageError(
                f"unknown option(s) {', '.join(unknown)} in {url!r}; the options are: "
                + ", ".join(accepted)
                + " (for example sqlite:///stead.db?synchronous=FULL&lease=5&suspend=1)"
            )
        values: dict[str, Any] = {k: v for k, v in defaults.items() if v is not None}
        for name, text in query.items():
            if name == "synchronous":
                values[name] = text.upper()
                continue
            try:
                values[name] = float(text)
            except ValueError:
                raise UsageError(f"{name}={text!r} in {url!r}: use a number of seconds") from None
        try:
            return cls(path=path, **values)
        except UsageError as exc:
            raise UsageError(f"{exc} (in {url!r})") from None
