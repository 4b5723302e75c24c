"""Background mode of the Responses API: ``background: true`` answers at once; the response is read later.

A background create answers with the response ``queued`` (or, streamed, with its first events), and the response
completes on its own, without a connection: after the reply's ``Slow`` delay and once its ``Gated`` gates are
set (a ``DropMidStream`` drops the create's stream, not the response). ``GET /v1/responses/{id}`` returns it (``in_progress`` until then); with ``?stream=true`` it streams its
events, from the one after ``starting_after`` when given.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import parse_qs

from ._faults import Plan, error_body
from ._rendered import Rendered
from ._requests import FakeRequest
from ._responses import responses_events, responses_final, responses_pending
from ._sse import http_chunk, sse_event

__all__ = ["BackgroundResponses"]


class _Handler(Protocol):
    """What this module needs of the server's request handler."""

    def send_json(
        self, status: int, body: Mapping[str, Any], headers: Mapping[str, str] | None = None
    ) -> None: ...
    def start_response(self, status: int, headers: Mapping[str, str]) -> None: ...
    def write(self, data: bytes) -> None: ...
    def abort(self) -> None: ...
    def peer_closed(self) -> bool: ...


_SSE_HEADERS = {
    "Content-Type": "text/event-stream; charset=utf-8",
    "Cache-Control": "no-cache",
    "Transfer-Encoding": "chunked",
}
_STARTED = 2
"""Events a background stream sends before the response is done: ``response.created``, ``.in_progress``."""


@dataclass
class _Stored:
    request: FakeRequest
    rendered: Rendered
    done_at: float
    gates: tuple[threading.Event, ...]
    events: list[tuple[str, dict[str, Any]]]

    def done(self) -> bool:
        return time.monotonic() >= self.done_at and all(gate.is_set() for gate in self.gates)


class BackgroundResponses:
    """The background responses of one server, and how often each was retrieved."""

    def __init__(self, stopping: threading.Event) -> None:
        self._stopping = stopping
        self._lock = threading.Lock()
        self._stored: dict[str, _Stored] = {}
        self._retrievals: dict[str, int] = {}

    @property
    def requests(self) -> dict[str, FakeRequest]:
        """The create request of each background response, by response id."""
        with self._lock:
            return {response_id: stored.request for response_id, stored in self._stored.items()}

    @property
    def retrievals(self) -> dict[str, int]:
        """``GET /v1/responses/{id}`` requests per response id (polls and resumed streams)."""
        with self._lock:
            return dict(self._retrievals)

    def create(
        self, handler: _Handler, request: FakeRequest, plan: Plan, rendered: Rendered, headers: dict[str, str]
    ) -> str:
        if request.body.get("store") is False:
            handler.send_json(400, error_body(400, "background mode requires store=true (fake)"))
            return "fault"
        stored = _Stored(
            request,
            rendered,
            time.monotonic() + plan.delay,
            plan.gates,
            responses_events(request, rendered),
        )
        with self._lock:
            self._stored[rendered.response_id] = stored
            self._retrievals[rendered.response_id] = 0
        if request.stream:
            return self._stream(handler, stored, -1, headers, plan.drop_after)
        handler.send_json(200, responses_pending(request, rendered, "queued"), headers)
        return "ok"

    def retrieve(self, handler: _Handler, response_id: str, query: str) -> None:
        with self._lock:
            stored = self._stored.get(response_id)
            if stored is not None:
                self._retrievals[response_id] += 1
        if stored is None:
            message = f"No response with id '{response_id}' found (fake)."
            handler.send_json(404, error_body(404, message, code="not_found"))
            return
        params = parse_qs(query)
        if params.get("stream", ["false"])[0] == "true":
            after = int(params.get("starting_after", ["-1"])[0])
            self._stream(handler, stored, after, {})
            return
        body = (
            responses_final(stored.request, stored.rendered)
            if stored.done()
            else responses_pending(stored.request, stored.rendered, "in_progress")
        )
        handler.send_json(200, body)

    def _stream(
        self,
        handler: _Handler,
        stored: _Stored,
        after: int,
        headers: dict[str, str],
        drop_after: int | None = None,
    ) -> str:
        handler.start_response(200, {**_SSE_HEADERS, **headers})
        for sent, (kind, data) in enumerate(stored.events):
            if data["sequence_number"] <= after:
                continue
            if drop_after is not None and sent >= drop_after:
                handler.abort()  # the connection drops; the response goes on at the provider
                return "drop_mid_stream"
            if data["sequence_number"] >= _STARTED and not self._wait(handler, stored):
                handler.abort()  # the client left (or the server stops); the response goes on without it
                return "client_gone"
            handler.write(http_chunk(sse_event(data, kind)))
        handler.write(b"0\r\n\r\n")
        return "ok"

    def _wait(self, handler: _Handler, stored: _Stored) -> bool:
        while not stored.done():
            if self._stopping.wait(0.02) or handler.peer_closed():
                return False
        return True
