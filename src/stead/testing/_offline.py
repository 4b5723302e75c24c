"""Offline mode: run a program's agents against canned replies instead of a model provider.

A program ships its canned replies as a JSON script for the fake OpenAI server (the format of
``stead.testing.load_script``; the ``rules`` form suits agents, since it answers by instructions, input and tool
outputs rather than by arrival order). ``stead run --offline FILE.py:WORKFLOW`` finds the script with
:func:`offline_script_for` and runs the workflow inside :func:`offline_models`::

    script = offline_script_for("examples/haiku.py")  # examples/haiku.offline.json
    with offline_models(script) as server:
        ...  # start the run and a worker here; every model call goes to `server`
    print(len(server.requests))

Where the script lives, for a program file ``app.py``: ``app.offline.json`` beside it. For a module of a package
(a directory with ``__init__.py``), ``pkg/workflow.py``: ``pkg/workflow.offline.json``, else ``pkg/offline.json``,
else the same up the enclosing packages.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

from .._exceptions import UsageError
from .fake_openai import FakeOpenAIServer, FakeRequest, Fault, ReplyLike, Responder, load_script

__all__ = [
    "OFFLINE_API_KEY",
    "RUN_HEADER",
    "OfflineScriptError",
    "PerRunScripts",
    "fake_models",
    "load_offline_script",
    "offline_models",
    "offline_script_for",
]

OFFLINE_API_KEY = "offline"
"""The API key offline mode sets: any non-empty value does for the fake server."""

#: The environment offline mode owns while it is active (restored on exit).
_ENV_VARS = (
    "OPENAI_BASE_URL",
    "OPENAI_API_KEY",
    "STEAD_OPENAI_API",
    "OPENAI_AGENTS_DISABLE_TRACING",
    "STEAD_RUN_HEADER",
)

RUN_HEADER = "X-Stead-Run"
"""The header offline mode has each model request carry its run id in (``STEAD_RUN_HEADER``)."""

_SPEC_SUFFIX = re.compile(r":[A-Za-z_][A-Za-z0-9_]*$")


class OfflineScriptError(UsageError):
    """An offline script is missing, unreadable or not a valid fake-server script."""


def _program_file(source: str) -> Path | None:
    """The file a source names: ``app.py``, ``app.py:NAME`` (the workflow is ignored) or ``package.module``."""
    text = source.strip()
    if not text:
        return None
    path = Path(text)
    if not path.is_file():
        stripped = _SPEC_SUFFIX.sub("", text)
        if stripped != text and Path(stripped).is_file():
            path = Path(stripped)
        elif stripped.endswith(".py") or "/" in stripped or os.sep in stripped:
            return None  # a file that does not exist
        elif all(part.isidentifier() for part in stripped.split(".")):
            origin = _module_origin(stripped)
            if origin is None:
                return None
            path = origin
        else:
            return None
    return path.resolve()


def _module_origin(dotted: str) -> Path | None:
    """Where a dotted module's source is, without importing it when it is not imported yet (parents aside)."""
    module = sys.modules.get(dotted)
    origin = getattr(module, "__file__", None) if module is not None else None
    if origin is None:
        cwd = os.getcwd()
        added = cwd not in sys.path and "" not in sys.path
        if added:
            sys.path.insert(0, cwd)  # as the loader does for `stead run package.module:NAME`
        try:
            spec = importlib.util.find_spec(dotted)
        except (ImportError, ValueError):
            spec = None
        finally:
            if added:
                sys.path.remove(cwd)
        origin = spec.origin if spec is not None and spec.has_location else None
    return Path(origin) if origin else None


def offline_script_for(source: str) -> Path | None:
    """The offline script of a program, or ``None`` if it ships none.

    ``source`` is a program file (``examples/haiku.py``, optionally with ``:WORKFLOW``) or a dotted module
    (``examples.deep_research.workflow``). Candidates, first existing wins:

    * ``x.offline.json`` beside the file ``x.py``;
    * if the file is inside a package (its directory has ``__init__.py``): ``offline.json`` in that directory,
      then in each enclosing package directory, innermost first.
    """
    path = _program_file(source)
    if path is None:
        return None
    candidates = [path.with_name(f"{path.stem}.offline.json")] if path.stem != "__init__" else []
    directory = path.parent
    while (directory / "__init__.py").is_file():
        candidates.append(directory / "offline.json")
        if directory.parent == directory:
            break
        directory = directory.parent
    return next((c for c in candidates if c.is_file()), None)


def load_offline_script(script_path: str | os.PathLike[str]) -> Any:
    """Read and check an offline script; return the responder for :class:`FakeOpenAIServer`.

    Raises :class:`OfflineScriptError` (a ``UsageError``) naming the file when it cannot be used.
    """
    path = Path(script_path)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise OfflineScriptError(f"no offline script {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise OfflineScriptError(f"cannot read the offline script {path}: {exc}") from None
    except json.JSONDecodeError as exc:
        raise OfflineScriptError(f"the offline script {path} is not valid JSON: {exc}") from None
    try:
        return load_script(raw)
    except (ValueError, TypeError) as exc:
        raise OfflineScriptError(
            f"the offline script {path} is not a valid fake-server script: {exc}"
        ) from None


@contextmanager
def offline_models(
    script_path: str | os.PathLike[str],
    *,
    api: Literal["chat", "responses"] | None = None,
    log_path: str | os.PathLike[str] | None = None,
) -> Iterator[FakeOpenAIServer]:
    """Serve canned model replies from ``script_path`` on 127.0.0.1 and point agent runs at them.

    The script is read and checked with :func:`load_offline_script`, then served as :func:`fake_models` does.
    ``stead run --offline`` runs its worker inside this context.
    """
    with fake_models(load_offline_script(script_path), api=api, log_path=log_path) as server:
        yield server


@contextmanager
def fake_models(
    responder: Responder,
    *,
    api: Literal["chat", "responses"] | None = None,
    log_path: str | os.PathLike[str] | None = None,
    tracing: bool = False,
) -> Iterator[FakeOpenAIServer]:
    """Serve ``responder`` from a :class:`FakeOpenAIServer` on 127.0.0.1 and point agent runs at it.

    Starts the server in this process (in background threads), and for the duration sets ``OPENAI_BASE_URL`` to
    it and ``OPENAI_API_KEY`` to ``"offline"``. ``STEAD_OPENAI_API`` is cleared, so agents use the Chat
    Completions API (the default with a base URL), unless ``api`` names the API to use. ``STEAD_RUN_HEADER`` is
    set to :data:`RUN_HEADER`, so each model request names its run (what :class:`PerRunScripts` routes by).
    Unless ``tracing`` is true, tracing is switched off (``OPENAI_AGENTS_DISABLE_TRACING=1``, and ``set_tracing_disabled(True)`` when the
    Agents SDK is imported): its default exporter would send traces to OpenAI with the fake key. On exit the
    server stops and the environment and tracing switch are restored, also when the body raises.

    Yields the server: ``server.requests`` lists what the agents asked, ``server.errors`` the requests the
    script could not answer. With ``log_path`` each request is also appended to that file as a JSON line.

    stead builds its model client from the environment at the first agent run on an event loop and keeps it
    until the loop's last worker stops: enter this context before starting the worker, and leave it after the
    worker stopped.
    """
    saved = {name: os.environ.get(name) for name in _ENV_VARS}
    server = FakeOpenAIServer(responder, log_path=log_path)
    server.start()
    restore_tracing = _keep_tracing if tracing else _disable_tracing()
    try:
        os.environ["OPENAI_BASE_URL"] = server.base_url
        os.environ["OPENAI_API_KEY"] = OFFLINE_API_KEY
        if not tracing:
            os.environ["OPENAI_AGENTS_DISABLE_TRACING"] = "1"
        os.environ["STEAD_RUN_HEADER"] = RUN_HEADER
        if api is None:
            os.environ.pop("STEAD_OPENAI_API", None)
        else:
            os.environ["STEAD_OPENAI_API"] = api
        yield server
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        restore_tracing()
        server.stop()


def _keep_tracing() -> None:
    """Tracing was left alone: nothing to restore."""


class PerRunScripts:
    """A responder that answers each run from its own program's offline script.

    ``script_of_run(run_id)`` names the script for a run (it is asked once per run, from a server thread);
    ``None``, or a request outside any run, gets ``default_script``. A request that no rule of its script
    matches, in a script without a ``default``, gets HTTP 400 naming the script and the request: an error that
    retrying cannot heal, so the run fails at once instead of retrying a server error for minutes.
    """

    def __init__(
        self,
        default_script: str | os.PathLike[str],
        script_of_run: Callable[[str], str | os.PathLike[str] | None] = lambda run_id: None,
    ) -> None:
        self._default = Path(default_script)
        self._script_of_run = script_of_run
        self._responders: dict[Path, Responder] = {self._default: load_offline_script(self._default)}
        self._scripts: dict[str, Path] = {}
        self._next: dict[Path, int] = {}
        self._lock = threading.Lock()

    def script_for(self, run_id: str | None) -> Path:
        if run_id is None:
            return self._default
        with self._lock:
            known = self._scripts.get(run_id)
        if known is None:
            found = self._script_of_run(run_id)
            known = self._default if found is None else Path(found)
            with self._lock:
                self._scripts[run_id] = known
        return known

    def _responder(self, script: Path) -> Responder:
        with self._lock:
            responder = self._responders.get(script)
        if responder is None:
            responder = load_offline_script(script)
            with self._lock:
                responder = self._responders.setdefault(script, responder)
        return responder

    def __call__(self, request: FakeRequest) -> ReplyLike:
        run_id = request.headers.get(RUN_HEADER.lower())
        script = self.script_for(run_id)
        responder = self._responder(script)
        if callable(responder):
            try:
                return responder(request)
            except LookupError:
                return self._unmatched(script, request)
        with self._lock:  # a list script: one reply per request, in order
            index = self._next.get(script, 0)
            self._next[script] = index + 1
        if index >= len(responder):
            return Fault(400, message=f"offline script {script}: all {len(responder)} replies were used")
        return responder[index]

    @staticmethod
    def _unmatched(script: Path, request: FakeRequest) -> ReplyLike:
        instructions = (
            request.instructions.strip().splitlines()[0][:80] if request.instructions.strip() else ""
        )
        return Fault(
            400,
            message=f"offline script {script}: no rule matches this request and the script has no default "
            f"(model {request.model!r}, instructions {instructions!r}, input {request.input_text[:120]!r}, "
            f'tool output: {bool(request.tool_outputs)}); add a rule for it, or a "default" reply',
        )


def _disable_tracing() -> Callable[[], None]:
    """Switch the Agents SDK's tracing off if it is imported; return a function that restores the switch."""
    if "agents" not in sys.modules:
        return lambda: None  # it reads OPENAI_AGENTS_DISABLE_TRACING when first used
    from agents.tracing import get_trace_provider

    provider = get_trace_provider()
    missing = object()
    previous = getattr(provider, "_manual_disabled", missing)
    provider.set_disabled(True)

    def restore() -> None:
        if previous is missing:
            return  # an unknown provider: leave it disabled rather than guess
        if previous is None:
            provider._manual_disabled = None  # type: ignore[attr-defined]
            refresh = getattr(provider, "_refresh_disabled_flag", None)
            if callable(refresh):
                refresh()
        else:
            provider.set_disabled(bool(previous))

    return restore
