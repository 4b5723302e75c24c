"""The ASGI app: the dashboard's pages and the HTTP API, over any engine's public API."""

from __future__ import annotations

import asyncio
import base64
import hmac
import json
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from .._engine import Engine, RunInfo, RunStatus
from .._exceptions import (
    EngineUnavailable,
    RunFinished,
    RunIdConflict,
    RunNotFound,
    SteadError,
    UsageError,
)
from .._usage import RunUsage, usage
from .._views import step_detail_view
from ..agents import approval_call_id, approval_message
from . import _api
from ._index import RunIndex
from ._openapi import openapi_spec

__all__ = ["LOOPBACK_HOSTS", "TOKEN_COOKIE", "create_app"]

STATIC = Path(__file__).parent / "static"
TOKEN_COOKIE = "stead_token"
LOOPBACK_HOSTS = ["127.0.0.1", "localhost", "::1", "[::1]"]

#: What the run list accepts as a status filter: the engine's statuses and "waiting" (running, waiting for a
#: person or a message).
LIST_STATUSES = ("pending", "running", "waiting", "completed", "failed", "cancelled")
MAX_PAGE = 500
#: Page data of finished runs kept in memory (the runs people look at last).
FINISHED_PAGES = 16


class ApiError(Exception):
    def __init__(self, status: int, message: str, type: str = "BadRequest") -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type


def _error_response(status: int, type: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"type": type, "message": message}}, status_code=status)


def _status_for(error: SteadError) -> int:
    if isinstance(error, RunNotFound):
        return 404
    if isinstance(error, RunFinished | RunIdConflict):
        return 409
    if isinstance(error, UsageError):
        return 400
    if isinstance(error, EngineUnavailable):
        return 503
    return 500


class _Guard:
    """Checks the token (when there is one) and refuses requests that change something from another origin."""

    def __init__(self, app: ASGIApp, token: str | None) -> None:
        self.app = app
        self.token = token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        path = request.url.path
        if path.startswith("/static/"):
            await self.app(scope, receive, send)
            return
        if request.method not in ("GET", "HEAD", "OPTIONS") and not _same_origin(request):
            await _error_response(403, "Forbidden", "cross-origin request refused")(scope, receive, send)
            return
        if self.token is not None:
            given = request.query_params.get("token")
            page = not path.startswith("/api/") and request.method == "GET"
            if page and given is not None and self._valid(given):
                # A page opened from the URL `stead ui` printed: keep the token in a cookie, drop it from the URL.
                response = RedirectResponse(path, status_code=303)
                response.set_cookie(TOKEN_COOKIE, given, httponly=True, samesite="strict")
                await response(scope, receive, send)
                return
            if not self._valid(_token_of(request)):
                await _error_response(
                    401,
                    "Unauthorized",
                    "this server needs its token: open the URL `stead ui` printed (…/?token=…), or send the "
                    "header 'Authorization: Bearer TOKEN'",
                )(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def _valid(self, given: str | None) -> bool:
        assert self.token is not None
        return given is not None and hmac.compare_digest(given.encode(), self.token.encode())


def _token_of(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    return request.headers.get("x-stead-token") or request.cookies.get(TOKEN_COOKIE)


def _same_origin(request: Request) -> bool:
    origin = request.headers.get("origin")
    if origin is None:
        return request.headers.get("sec-fetch-site") in (None, "same-origin", "none")
    return urlsplit(origin).netloc == request.headers.get("host")


# -- paging ---------------------------------------------------------------------------------------------------


def _encode_cursor(info: RunInfo, seen: int) -> str:
    raw = json.dumps([info.created_at.isoformat(), info.run_id, seen]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, str, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        at, run_id, seen = json.loads(raw)
        return datetime.fromisoformat(at), str(run_id), int(seen)
    except (ValueError, TypeError) as exc:
        raise ApiError(400, f"invalid cursor {cursor!r}: pass the next_cursor of a previous page") from exc


def _matches(info: RunInfo, wanted: set[str], query: str) -> bool:
    if wanted and _api.display_status(info) not in wanted:
        return False
    if not query:
        return True
    haystack = " ".join(
        [
            info.run_id,
            info.workflow,
            json.dumps(info.args, ensure_ascii=False, default=str),
            *info.waiting_for,
        ]
    )
    return query in haystack.lower()


async def list_page(
    engine: Engine,
    *,
    statuses: set[str],
    workflow: str | None,
    query: str,
    limit: int,
    cursor: str | None,
) -> tuple[list[RunInfo], str | None]:
    """One page of runs, newest first, after ``cursor``; and the cursor of the next page, if there is one.

    The engine lists newest first with a limit; a page reads ahead of the cursor and filters what the engine
    cannot (the "waiting" state, the search text), widening the window until the page is full.
    """
    engine_statuses: list[RunStatus] | None = None
    if statuses:
        engine_statuses = sorted({RunStatus.RUNNING if s == "waiting" else RunStatus(s) for s in statuses})
    after = _decode_cursor(cursor) if cursor else None
    skip = after[2] if after else 0
    window = skip + limit + 1
    filtered = bool(query) or "waiting" in statuses or "running" in statuses
    while True:
        infos = await engine.list(status=engine_statuses, workflow=workflow, limit=window)
        start = 0
        if after is not None:
            ids = [i.run_id for i in infos]
            if after[1] in ids:
                start = ids.index(after[1]) + 1
            else:
                start = next((n for n, i in enumerate(infos) if i.created_at < after[0]), len(infos))
        matched = [(n, i) for n, i in enumerate(infos[start:], start) if _matches(i, statuses, query)]
        exhausted = len(infos) < window
        if len(matched) > limit or exhausted:
            page = matched[:limit]
            more = len(matched) > limit
            next_cursor = _encode_cursor(page[-1][1], page[-1][0]) if more and page else None
            return [i for _, i in page], next_cursor
        window = window * 4 if filtered else window + limit


# -- the app --------------------------------------------------------------------------------------------------


class _UsageCache:
    """Usage of runs by run id; a run's usage changes only when its journal does (its ``updated_at``)."""

    def __init__(self, engine: Engine, size: int = 20_000) -> None:
        self.engine = engine
        self.size = size
        self.entries: dict[str, tuple[datetime, RunUsage]] = {}
        self.gate = asyncio.Semaphore(8)

    async def of(self, info: RunInfo) -> RunUsage:
        cached = self.entries.get(info.run_id)
        if cached is not None and cached[0] == info.updated_at:
            return cached[1]
        if not info.steps:
            return RunUsage()
        async with self.gate:
            run_usage = usage(await self.engine.steps(info.run_id))
        if len(self.entries) >= self.size:
            self.entries.pop(next(iter(self.entries)))
        self.entries[info.run_id] = (info.updated_at, run_usage)
        return run_usage


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise ApiError(400, f"the request body is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ApiError(400, f"the request body must be a JSON object, got {type(data).__name__}")
    return data


def _string(data: dict[str, Any], key: str, *, required: bool = True) -> str | None:
    value = data.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value:
        raise ApiError(400, f"'{key}' must be a non-empty string, got {value!r}")
    return value


def create_app(
    engine: Engine, *, token: str | None = None, allowed_hosts: list[str] | None = None
) -> Starlette:
    """The dashboard and HTTP API over ``engine``.

    With ``token``, every request but static assets needs it (header ``Authorization: Bearer TOKEN``, or the
    cookie a page opened as ``/?token=TOKEN`` sets). ``allowed_hosts`` limits the ``Host`` header (``serve``
    passes the loopback names when it binds 127.0.0.1, which defeats DNS rebinding).
    """
    usage_cache = _UsageCache(engine)
    index = RunIndex(engine)

    finished_pages: OrderedDict[tuple[str, datetime, frozenset[str]], bytes] = OrderedDict()

    async def get_run(request: Request) -> Response:
        run_id = request.path_params["run_id"]
        include = frozenset(p for p in request.query_params.get("include", "").split(",") if p)
        info = await engine.get(run_id)
        # A finished run changes only when it is reopened (its updated_at moves): its page data is kept, so a
        # run page of many steps, which polls, does not read its whole journal again each time.
        key = (run_id, info.updated_at, include)
        if info.status.finished and key in finished_pages:
            finished_pages.move_to_end(key)
            return Response(finished_pages[key], media_type="application/json")
        steps = await engine.steps(run_id)
        out = _api.run_json(info, usage(steps))
        out["approvals"] = _api.approvals_of(info)
        out["cli"] = _run_cli(info)
        if "steps" in include:
            out["step_list"] = _api.steps_json(steps)
            out["lanes"] = _api.lanes(steps)
        if "conversation" in include:
            out["conversation"] = _api.conversation(info, steps)
        response = JSONResponse(out)
        if info.status.finished:
            finished_pages[key] = bytes(response.body)
            while len(finished_pages) > FINISHED_PAGES:
                finished_pages.popitem(last=False)
        return response

    async def list_runs(request: Request) -> Response:
        params = request.query_params
        statuses = {s for s in params.get("status", "").split(",") if s}
        unknown = statuses - set(LIST_STATUSES)
        if unknown:
            raise ApiError(400, f"unknown status {sorted(unknown)}: use {', '.join(LIST_STATUSES)}")
        try:
            limit = int(params.get("limit", "50"))
        except ValueError:
            raise ApiError(400, f"limit must be a number, got {params.get('limit')!r}") from None
        if not 1 <= limit <= MAX_PAGE:
            raise ApiError(400, f"limit must be between 1 and {MAX_PAGE}, got {limit}")
        workflow = params.get("workflow") or None
        query = params.get("q", "").strip().lower()
        cursor = params.get("cursor") or None
        if not statuses and (cursor or query):
            # Deep pages and searches: from the index, not by reading every run before the page.
            after = _decode_cursor(cursor) if cursor else None
            infos, more = await index.page(
                after=(after[0], after[1]) if after else None, workflow=workflow, query=query, limit=limit
            )
            next_cursor = _encode_cursor(infos[-1], 0) if more and infos else None
        else:
            infos, next_cursor = await list_page(
                engine, statuses=statuses, workflow=workflow, query=query, limit=limit, cursor=cursor
            )
        with_usage = params.get("usage", "true").lower() not in ("0", "false", "no")
        usages: list[RunUsage | None] = (
            list(await asyncio.gather(*(usage_cache.of(i) for i in infos)))
            if with_usage
            else [None] * len(infos)
        )
        runs = [_api.run_json(i, u) for i, u in zip(infos, usages, strict=True)]
        return JSONResponse({"runs": runs, "next_cursor": next_cursor})

    async def start_run(request: Request) -> Response:
        from .._loader import load_target

        data = await _body(request)
        source = _string(data, "source")
        assert source is not None
        name = _string(data, "workflow", required=False)
        spec = f"{source}:{name}" if name else source
        args = data.get("args", [])
        kwargs = data.get("kwargs", {})
        if not isinstance(args, list) or not isinstance(kwargs, dict):
            raise ApiError(400, "'args' must be a JSON array and 'kwargs' a JSON object")
        run_id = _string(data, "run_id", required=False)
        workflow, recorded = load_target(spec)
        handle = await engine.start(workflow, *args, run_id=run_id, source=recorded, **kwargs)
        info = await engine.get(handle.run_id)
        out = _api.run_json(info)
        out["cli"] = _api.cli_for("start", info.run_id, source=spec, args=args)
        return JSONResponse(out, status_code=201)

    async def steps(request: Request) -> Response:
        found = await engine.steps(request.path_params["run_id"])
        return JSONResponse(
            {
                "steps": _api.steps_json(found),
                "lanes": _api.lanes(found),
            }
        )

    async def step(request: Request) -> Response:
        run_id, position = request.path_params["run_id"], request.path_params["position"]
        found = await engine.steps(run_id)
        chosen = next((s for s in found if s.position == position), None)
        if chosen is None:
            raise ApiError(
                404,
                f"run {run_id!r} has no step at {position!r}: take a position from /api/runs/{run_id}/steps",
                "StepNotFound",
            )
        out = step_detail_view(chosen)
        out["cli"] = {"fork": _api.cli_for("fork", run_id, at=position)}
        return JSONResponse(out)

    async def fork(request: Request) -> Response:
        run_id = request.path_params["run_id"]
        data = await _body(request)
        at = data.get("at")
        if isinstance(at, int) and not isinstance(at, bool):
            at = str(at)
        if not isinstance(at, str) or not at:
            raise ApiError(400, f"'at' must be a step's position (e.g. '0:2') or its number, got {at!r}")
        if "set_result" in data and data["set_result"] is None:
            raise ApiError(
                400,
                "'set_result' is null: a fork cannot set a step's result to null; leave 'set_result' out to "
                "run the step again",
            )
        new_id = _string(data, "run_id", required=False)
        handle = await engine.fork(run_id, at, run_id=new_id, replace=data.get("set_result"))
        out = _api.run_json(await engine.get(handle.run_id))
        out["forked_from"] = {"run_id": run_id, "at": at}
        out["cli"] = _api.cli_for("fork", run_id, at=at, set_result=data.get("set_result"), new_id=new_id)
        return JSONResponse(out, status_code=201)

    async def conversation(request: Request) -> Response:
        run_id = request.path_params["run_id"]
        info = await engine.get(run_id)
        return JSONResponse({"items": _api.conversation(info, await engine.steps(run_id))})

    async def send(request: Request) -> Response:
        run_id = request.path_params["run_id"]
        data = await _body(request)
        name = _string(data, "name")
        assert name is not None
        await engine.send(run_id, name, data.get("payload"))
        return JSONResponse(
            {"ok": True, "cli": _api.cli_for("send", run_id, name=name, payload=data.get("payload"))}
        )

    async def decide(request: Request, approved: bool) -> Response:
        from ..agents import approve, reject

        run_id = request.path_params["run_id"]
        data = await _body(request)
        call_id = _string(data, "call_id")
        assert call_id is not None
        always = bool(data.get("always", False))
        info = await engine.get(run_id)
        if approval_message(call_id) not in info.waiting_for and info.status.finished:
            raise RunFinished(f"run {run_id!r} has already finished; there is nothing to approve")
        if approved:
            await approve(engine, run_id, call_id, always=always)
            cli = _api.cli_for("approve", run_id, call_id=call_id)
        else:
            message = _string(data, "message", required=False)
            await reject(engine, run_id, call_id, message=message, always=always)
            cli = _api.cli_for("reject", run_id, call_id=call_id, message=message)
        return JSONResponse({"ok": True, "cli": cli})

    async def approve_call(request: Request) -> Response:
        return await decide(request, True)

    async def reject_call(request: Request) -> Response:
        return await decide(request, False)

    async def cancel(request: Request) -> Response:
        run_id = request.path_params["run_id"]
        await engine.cancel(run_id)
        return JSONResponse({"ok": True, "cli": _api.cli_for("cancel", run_id)})

    async def resume(request: Request) -> Response:
        run_id = request.path_params["run_id"]
        info = await engine.reopen(run_id)
        out = _api.run_json(info)
        out["cli"] = _api.cli_for("resume", run_id)
        return JSONResponse(out)

    async def events(request: Request) -> Response:
        run_id = request.path_params["run_id"]
        await engine.get(run_id)
        raw = request.headers.get("last-event-id") or request.query_params.get("after") or "0"
        try:
            after = int(raw)
        except ValueError:
            raise ApiError(
                400, f"Last-Event-ID / after must be an event id (a number), got {raw!r}"
            ) from None

        async def stream() -> AsyncIterator[ServerSentEvent]:
            try:
                async for event in engine.events(run_id, after=after, follow=True):
                    yield ServerSentEvent(json.dumps(_api.event_json(event), default=str), id=str(event.id))
            except UsageError as exc:
                yield ServerSentEvent(json.dumps({"message": str(exc)}), event="unsupported")
                return
            info = await engine.get(run_id)
            yield ServerSentEvent(json.dumps({"status": _api.display_status(info)}), event="end")

        return EventSourceResponse(stream(), ping=15, headers={"Cache-Control": "no-store"})

    async def approvals(request: Request) -> Response:
        infos = await engine.list(status=RunStatus.RUNNING, limit=MAX_PAGE * 2)
        items = [a for info in infos for a in _api.approvals_of(info)]
        return JSONResponse({"approvals": items})

    async def info(request: Request) -> Response:
        from .. import __version__

        return JSONResponse(
            {
                "engine": engine.url.split("://", 1)[0],
                "version": __version__,
                "statuses": list(LIST_STATUSES),
                "token_required": token is not None,
            }
        )

    async def openapi(request: Request) -> Response:
        return JSONResponse(openapi_spec())

    async def page(request: Request) -> Response:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-store"})

    async def on_api_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiError)
        return _error_response(exc.status, exc.type, exc.message)

    async def on_stead_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, SteadError)
        return _error_response(_status_for(exc), type(exc).__name__, str(exc))

    routes = [
        Route("/", page),
        Route("/runs/{run_id:path}", page),
        Route("/approvals", page),
        Route("/api/info", info),
        Route("/api/openapi.json", openapi),
        Route("/api/runs", list_runs, methods=["GET"]),
        Route("/api/runs", start_run, methods=["POST"]),
        Route("/api/approvals", approvals),
        Route("/api/runs/{run_id}", get_run),
        Route("/api/runs/{run_id}/steps", steps),
        Route("/api/runs/{run_id}/steps/{position:path}", step),
        Route("/api/runs/{run_id}/conversation", conversation),
        Route("/api/runs/{run_id}/events", events),
        Route("/api/runs/{run_id}/messages", send, methods=["POST"]),
        Route("/api/runs/{run_id}/approve", approve_call, methods=["POST"]),
        Route("/api/runs/{run_id}/reject", reject_call, methods=["POST"]),
        Route("/api/runs/{run_id}/cancel", cancel, methods=["POST"]),
        Route("/api/runs/{run_id}/resume", resume, methods=["POST"]),
        Route("/api/runs/{run_id}/fork", fork, methods=["POST"]),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    middleware = [Middleware(_Guard, token=token)]
    if allowed_hosts is not None:
        middleware.insert(0, Middleware(TrustedHostMiddleware, allowed_hosts=allowed_hosts))
    handlers: dict[Any, Callable[[Request, Exception], Awaitable[Response]]] = {
        ApiError: on_api_error,
        SteadError: on_stead_error,
    }
    return Starlette(routes=routes, middleware=middleware, exception_handlers=handlers)


def _run_cli(info: RunInfo) -> dict[str, str]:
    """The commands for what the run page offers on this run."""
    out = {"show": f"stead show {info.run_id}", "fork": f"stead fork {info.run_id} --at STEP"}
    if not info.status.finished:
        out["cancel"] = _api.cli_for("cancel", info.run_id)
    if info.status in (RunStatus.FAILED, RunStatus.RUNNING, RunStatus.PENDING):
        out["resume"] = _api.cli_for("resume", info.run_id)
    for name in info.waiting_for:
        if approval_call_id(name) is None:
            out[f"send:{name}"] = _api.cli_for("send", info.run_id, name=name, payload={})
    return out
