"""The ``stead`` command: run workflows durably, serve them with workers, and inspect, message or cancel runs.

One module per command group: ``run`` (run, resume, worker), ``inspect`` (ls, show, tail), ``messages`` (send,
approve, reject, cancel), ``dev``; ``render`` draws for a terminal what :mod:`stead._views` describes as data.
"""

from .main import cli, main

__all__ = ["cli", "main"]
