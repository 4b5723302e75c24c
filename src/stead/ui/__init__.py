"""The stead dashboard and HTTP API: ``stead ui`` / ``stead serve``.

An ASGI app over any engine's public API: a run list, run pages (timeline, conversation, live tokens, controls),
an approvals inbox, and a JSON API with Server-Sent Events and an OpenAPI description. Needs the ``ui`` extra:
``pip install 'stead[ui]'``.
"""

from __future__ import annotations

try:
    import sse_starlette  # noqa: F401
    import starlette  # noqa: F401
    import uvicorn  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised in a subprocess by the tests
    from .._exceptions import ExtraMissing

    raise ExtraMissing(
        f"the stead dashboard needs the {exc.name or 'starlette'} package: pip install 'stead[ui]'"
    ) from exc

from ._app import create_app
from ._server import Server, serve

__all__ = ["Server", "create_app", "serve"]
