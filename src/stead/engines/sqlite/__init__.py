"""The embedded engine: ``sqlite:///path/to/stead.db``."""

from ._engine import SqliteEngine, SqliteWorker

__all__ = ["SqliteEngine", "SqliteWorker"]
