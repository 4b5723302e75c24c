"""The embedded engine: ``sqlite:///path/to/stead.db``.

The journal runtime (``stead.engines.journal``) over a SQLite file: this package holds only the options, the SQL
store and the change notification.
"""

from ._engine import SqliteEngine, SqliteWorker
from ._options import SqliteOptions
from ._store import SqliteStore

__all__ = ["SqliteEngine", "SqliteOptions", "SqliteStore", "SqliteWorker"]
