"""The HTTP server: routes, threads and connections, scripted answers, recording and the request log."""

from __future__ import annotations

import json
import math
import os
import select
import socket
import sys
import threading
import time
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Literal, Self, cast

from ._background import BackgroundResponses
from ._chat import chat_chunks, chat_final
from ._faults import REPLY_TYPES, Drop, Fault, Plan, ReplyLike, check_reply, error_body, plan_of
from ._limit import ProviderLimit, RateBuckets
from ._rendered import Rendered, render
from ._replies import Reply
from ._requests import FakeRequest, Responder
from ._responses import responses_events, responses_final
from ._sse import http_chunk, sse_event

__all__ = ["FakeOpenAIServer"]

_API_PATHS: tuple[tuple[str, Literal["responses", "chat"]], ...] = (
    ("/responses", "responses"),
    ("/chat/completions", "chat"),
)


def _readable(sock: socket.socket) -> bool:
    """Whether ``sock`` has something to read now (poll, not select: a busy server's descriptors pass 1,024)."""
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    return bool(poller.poll(0))


class _ClientGone(Exception):
    """The client closed the connection before the answer was (fully) written."""


class _HTTPServer(ThreadingHTTPServer):
    """ThreadingHTTPServer that keeps track of its handler threads and sockets.

    Handler threads are daemons (a forgotten server must not block interpreter
    exit) but ``FakeOpenAIServer.stop`` still joins them, after shutting down
    their sockets so that threads waiting on idle keep-alive connections return.
    """

    # socketserver's default listen queue is 5 connections: a burst of clients (a thousand concurrent agent runs)
    # overflowed it and got connection errors or a second's wait for a retried SYN, which a provider never gives.
    # The kernel caps it (net.core.somaxconn, 4096 on current Linux).
    request_queue_size = 4096

    def __init__(self, address: tuple[str, int], owner: FakeOpenAIServer) -> None:
        self.owner = owner
        self._tracking_lock = threading.Lock()
        self._handler_threads: set[threading.Thread] = set()
        self._connections: set[socket.socket] = set()
        self._closing = False
        # Accepted connections not yet shut down; with the listen queue, what tells that no request is in flight.
        self._open = 0
        self._idle = threading.Condition(self._tracking_lock)
        super().__init__(address, _Handler)

    def get_request(self) -> tuple[Any, Any]:
        # Under the lock, so that a connection is never between the listen queue and the count.
        with self._tracking_lock:
            request = super().get_request()
            self._open += 1
            return request

    def shutdown_request(self, request: Any) -> None:
        super().shutdown_request(request)
        with self._tracking_lock:
            self._open -= 1
            self._idle.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no connection is open and none waits to be accepted."""
        deadline = time.monotonic() + timeout
        with self._tracking_lock:
            while self._open or _readable(self.socket):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                # The listen queue is seen again once the server thread accepts (it then notifies on close).
                self._idle.wait(min(left, 0.05))
            return True

    def process_request(self, request: Any, client_address: Any) -> None:
        thread = threading.Thread(
            target=self._run_request, args=(request, client_address), name="fake-openai-request", daemon=True
        )
        with self._tracking_lock:
            self._handler_threads.add(thread)
        thread.start()

    def _run_request(self, request: Any, client_address: Any) -> None:
        try:
            self.process_request_thread(request, client_address)
        finally:
            with self._tracking_lock:
                self._handler_threads.discard(threading.current_thread())

    def track(self, connection: socket.socket) -> None:
        with self._tracking_lock:
            self._connections.add(connection)
            closing = self._closing
        if closing:
            _shutdown_socket(connection)

    def untrack(self, connection: socket.socket) -> None:
        with self._tracking_lock:
            self._connections.discard(connection)

    def close_connections_and_join(self, timeout: float) -> None:
        with self._tracking_lock:
            self._closing = True
            connections = list(self._connections)
            threads = list(self._handler_threads)
        for connection in connections:
            _shutdown_socket(connection)
        deadline = time.monotonic() + timeout
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients hanging up (timeouts, drops) are routine here; report anything else.
        exc = sys.exc_info()[1]
        if isinstance(exc, OSError):
            return
        super().handle_error(request, client_address)


def _shutdown_socket(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, and chunked bodies for SSE
    server_version = "FakeOpenAI/1.0"
    sys_version = ""

    @property
    def _owner(self) -> FakeOpenAIServer:
        return cast(_HTTPServer, self.server).owner

    def setup(self) -> None:
        super().setup()
        cast(_HTTPServer, self.server).track(self.connection)

    def finish(self) -> None:
        cast(_HTTPServer, self.server).untrack(self.connection)
        super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        if self._owner.verbose:
            super().log_message(format, *args)

    def do_GET(self) -> None:
        path, _, query = self.path.partition("?")
        self._owner._count_path(path)
        prefix, _, response_id = path.rpartition("/")
        if prefix.endswith("/responses") and response_id:
            try:
                self._owner.background.retrieve(self, response_id, query)
            except _ClientGone:
                self.close_connection = True
            return
        self.send_json(404, error_body(404, f"fake server: no route GET {self.path}", code="unknown_url"))

    def do_POST(self) -> None:
        self.status_sent: int | None = None
        try:
            self._owner._handle(self)
        except _ClientGone:
            self.close_connection = True

    # -- helpers used by FakeOpenAIServer._handle ------------------------------

    def read_body(self) -> bytes | None:
        length = self.headers.get("Content-Length")
        if length is None:
            return None
        return self.rfile.read(int(length))

    def peer_closed(self) -> bool:
        """True if the client has hung up (e.g. timed out while we were slow)."""
        try:
            return _readable(self.connection) and self.connection.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True

    def write(self, data: bytes) -> None:
        try:
            self.wfile.write(data)
        except OSError as exc:
            raise _ClientGone() from exc

    def start_response(self, status: int, headers: Mapping[str, str]) -> None:
        self.status_sent = status
        try:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
        except OSError as exc:
            raise _ClientGone() from exc

    def send_json(
        self, status: int, body: Mapping[str, Any], headers: Mapping[str, str] | None = None
    ) -> None:
        data = json.dumps(body).encode()
        self.send_bytes(status, data, "application/json", headers or {})

    def send_bytes(self, status: int, data: bytes, content_type: str, headers: Mapping[str, str]) -> None:
        self.start_response(
            status, {"Content-Type": content_type, "Content-Length": str(len(data)), **headers}
        )
        self.write(data)

    def abort(self) -> None:
        """Hang up without finishing the HTTP message."""
        self.close_connection = True
        _shutdown_socket(self.connection)


class FakeOpenAIServer:
    """A fake OpenAI-compatible HTTP server running in background threads.

    ``responder`` is a list of replies (one per request, in order) or a callable
    ``(FakeRequest) -> reply``. Use as a context manager or call ``start``/``stop``.
    With ``log_path`` every answered request is appended as one JSON line
    (index, path, api, model, stream, status, outcome). With ``limit`` (a ``ProviderLimit``) it answers 429
    with Retry-After beyond the provider's requests and tokens per period, as token buckets refilled continuously.
    """

    def __init__(
        self,
        responder: Responder,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        log_path: str | os.PathLike[str] | None = None,
        verbose: bool = False,
        limit: ProviderLimit | None = None,
    ) -> None:
        self._script: list[ReplyLike] | None
        self._callable: Callable[[FakeRequest], ReplyLike] | None
        if isinstance(responder, REPLY_TYPES):
            raise TypeError(
                "responder must be a list of replies or a callable; wrap a single reply in a list"
            )
        if callable(responder):
            self._script, self._callable = None, responder
        else:
            self._script = [check_reply(r, f"script[{i}]") for i, r in enumerate(responder)]
            self._callable = None
        self._host = host
        self._port = port
        self._log_path = log_path
        self.verbose = verbose
        self._buckets = RateBuckets(limit) if limit is not None else None
        self._rate_limited = 0

        self._lock = threading.Lock()
        self._next_reply = 0
        self._counters = {"response": 0, "item": 0, "call": 0}
        self._requests: list[FakeRequest] = []
        self._request_times: list[float] = []
        self._counts: dict[str, int] = {}
        self._completed = 0
        self._errors: list[str] = []

        self._stopping = threading.Event()
        self.background = BackgroundResponses(self._stopping)
        """Responses made in background mode (``background: true``), and their retrievals."""
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._bound_port: int | None = None

    # -- lifecycle -------------------------------------------------------------

    def start(self) -> Self:
        if self._httpd is not None:
            raise RuntimeError("FakeOpenAIServer already started")
        self._stopping.clear()
        self._httpd = _HTTPServer((self._host, self._port), self)
        self._bound_port = int(self._httpd.server_address[1])
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="fake-openai-server",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop serving, hang up on open connections and wait for handler threads."""
        httpd, thread = self._httpd, self._thread
        if httpd is None or thread is None:
            return
        self._stopping.set()  # cuts Slow waits short
        httpd.shutdown()
        httpd.close_connections_and_join(timeout)
        httpd.server_close()
        thread.join(timeout)
        self._httpd = self._thread = None

    def wait_idle(self, timeout: float = 30.0) -> None:
        """Wait until every connection has closed and none waits to be accepted: after a client process was
        killed and reaped, every request it sent is then in ``requests``. Raises TimeoutError."""
        if self._httpd is None:
            raise RuntimeError("FakeOpenAIServer has not been started")
        if not self._httpd.wait_idle(timeout):
            raise TimeoutError(f"fake server: connections still open after {timeout} s")

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """The bound port (kept after ``stop`` so that ``base_url`` stays printable)."""
        if self._bound_port is None:
            raise RuntimeError("FakeOpenAIServer has not been started")
        return self._bound_port

    @property
    def base_url(self) -> str:
        """``http://HOST:PORT/v1``, to pass as the client's ``base_url``."""
        return f"http://{self._host}:{self.port}/v1"

    # -- recording -------------------------------------------------------------

    @property
    def requests(self) -> list[FakeRequest]:
        """Snapshot of the API requests received so far, in arrival order."""
        with self._lock:
            return list(self._requests)

    @property
    def request_times(self) -> list[float]:
        """``time.monotonic()`` at the arrival of each request in ``requests``."""
        with self._lock:
            return list(self._request_times)

    @property
    def counts(self) -> dict[str, int]:
        """Number of requests per path (e.g. ``{"/v1/responses": 2}``), any method/route."""
        with self._lock:
            return dict(self._counts)

    @property
    def completed(self) -> int:
        """Requests answered in full with a non-fault reply."""
        with self._lock:
            return self._completed

    @property
    def rate_limited(self) -> int:
        """Requests answered 429 because they went beyond the server's ``limit``."""
        with self._lock:
            return self._rate_limited

    @property
    def errors(self) -> list[str]:
        """Problems of the script itself (exhausted, responder raised, no rule matched)."""
        with self._lock:
            return list(self._errors)

    @property
    def remaining(self) -> int | None:
        """Unconsumed scripted replies (None for a callable responder)."""
        with self._lock:
            return None if self._script is None else len(self._script) - self._next_reply

    def _count_path(self, path: str) -> None:
        with self._lock:
            self._counts[path] = self._counts.get(path, 0) + 1

    # -- request handling ------------------------------------------------------

    def _next_id(self, kind: str) -> int:
        with self._lock:
            self._counters[kind] += 1
            return self._counters[kind]

    def _choose(self, request: FakeRequest) -> ReplyLike:
        if self._callable is not None:
            return check_reply(self._callable(request), "responder result")
        assert self._script is not None
        with self._lock:
            if self._next_reply >= len(self._script):
                raise LookupError(
                    f"fake server script exhausted: request #{request.index} ({request.path}) arrived "
                    f"but all {len(self._script)} scripted replies were used"
                )
            reply = self._script[self._next_reply]
            self._next_reply += 1
            return reply

    def _handle(self, handler: _Handler) -> None:
        path = handler.path.split("?", 1)[0]
        self._count_path(path)
        api = next((name for suffix, name in _API_PATHS if path.endswith(suffix)), None)
        raw = handler.read_body()
        if api is None:
            handler.send_json(404, error_body(404, f"fake server: no route POST {path}", code="unknown_url"))
            return
        if raw is None:
            handler.send_json(411, error_body(400, "fake server: Content-Length required"))
            return
        try:
            body = json.loads(raw or b"{}")
            if not isinstance(body, dict):
                raise ValueError("body is not a JSON object")
        except ValueError as exc:
            handler.send_json(400, error_body(400, f"fake server: invalid JSON body: {exc}"))
            return

        with self._lock:
            request = FakeRequest(
                path=path,
                api=api,
                body=body,
                headers={k.lower(): v for k, v in handler.headers.items()},
                index=len(self._requests),
            )
            self._requests.append(request)
            self._request_times.append(time.monotonic())

        outcome = "error"
        try:
            try:
                plan = plan_of(self._choose(request))
            except Exception as exc:  # a broken script must not kill the server thread
                message = str(exc) if isinstance(exc, LookupError) else f"fake responder raised {exc!r}"
                with self._lock:
                    self._errors.append(message)
                if self.verbose:
                    print(f"fake openai: {message}", file=sys.stderr, flush=True)
                handler.send_json(500, error_body(500, message, code="fake_script_error"))
                return
            outcome = self._answer(handler, request, plan)
            if outcome == "ok":
                with self._lock:
                    self._completed += 1
        except _ClientGone:
            outcome = "client_gone"
            raise
        finally:
            self._log(request, handler.status_sent, outcome)

    def _answer(self, handler: _Handler, request: FakeRequest, plan: Plan) -> str:
        """Send the planned answer; returns the outcome recorded in the log."""
        # In background mode the answer goes out at once; the delay and gates hold the response back instead.
        background = (
            request.api == "responses"
            and request.body.get("background") is True
            and isinstance(plan.base, Reply)
        )
        if plan.delay > 0 and not background:
            if self._stopping.wait(plan.delay):
                handler.abort()
                return "server_stopped"
            if handler.peer_closed():
                raise _ClientGone()
        if not background:
            for gate in plan.gates:
                while not gate.wait(0.05):
                    if self._stopping.is_set():
                        handler.abort()
                        return "server_stopped"
        base = plan.base
        if isinstance(base, Drop):
            handler.abort()
            return "drop"
        if isinstance(base, Fault):
            data, content_type = base.render_body()
            handler.send_bytes(base.status, data, content_type, base.headers)
            return "fault"

        rendered = render(request, base, self._next_id)
        if self._buckets is not None:
            wait = self._buckets.take(rendered.input_tokens + rendered.output_tokens)
            if wait is not None:
                with self._lock:
                    self._rate_limited += 1
                retry = {
                    "retry-after-ms": str(max(1, round(wait * 1000))),
                    "retry-after": str(math.ceil(wait)),
                }
                handler.send_json(429, error_body(429), retry)
                return "rate_limited"
        headers = {"x-request-id": f"req_fake_{request.index}"}
        if background:
            return self.background.create(handler, request, plan, rendered, headers)
        if request.stream:
            return self._answer_stream(handler, request, plan, rendered, headers)

        final = (
            responses_final(request, rendered)
            if request.api == "responses"
            else chat_final(request, rendered)
        )
        data = json.dumps(final).encode()
        if plan.drop_after is None:
            handler.send_bytes(200, data, "application/json", headers)
            return "ok"
        # Promise the full length but hang up halfway, so the client cannot mistake it for a complete body.
        handler.start_response(
            200, {"Content-Type": "application/json", "Content-Length": str(len(data)), **headers}
        )
        handler.write(data[: len(data) // 2])
        handler.abort()
        return "drop_mid_stream"

    def _answer_stream(
        self,
        handler: _Handler,
        request: FakeRequest,
        plan: Plan,
        rendered: Rendered,
        headers: dict[str, str],
    ) -> str:
        if request.api == "responses":
            events = [sse_event(data, event) for event, data in responses_events(request, rendered)]
        else:
            events = [sse_event(chunk) for chunk in chat_chunks(request, rendered)] + [sse_event("[DONE]")]
        # Chunked transfer encoding (rather than close-delimited) makes a dropped
        # connection detectable by the client as an incomplete body.
        sse_headers = {"Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache"}
        handler.start_response(200, {**sse_headers, "Transfer-Encoding": "chunked", **headers})
        for i, event in enumerate(events):
            if plan.drop_after is not None and i >= plan.drop_after:
                break
            if i and plan.chunk_delay > 0 and self._stopping.wait(plan.chunk_delay):
                handler.abort()
                return "server_stopped"
            handler.write(http_chunk(event))
        if plan.drop_after is not None:  # hang up; the chunked body stays unterminated
            handler.abort()
            return "drop_mid_stream"
        handler.write(b"0\r\n\r\n")
        return "ok"

    def _log(self, request: FakeRequest, status: int | None, outcome: str) -> None:
        if self._log_path is None:
            return
        line = json.dumps(
            {
                "index": request.index,
                "path": request.path,
                "api": request.api,
                "model": request.model,
                "stream": request.stream,
                "status": status,
                "outcome": outcome,
            }
        )
        # Opened per line so that a reader in another process sees complete lines
        # and no handle outlives the server.
        with self._lock, open(self._log_path, "a", encoding="utf-8") as f:
            f.write(line + "\n")
