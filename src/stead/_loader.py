"""Finding workflows in user code: ``app.py:NAME``, ``package.module:NAME``, or every workflow of a file or module.

A file is imported under a module name derived from its resolved path (the same file always gets the same name),
with its directory first on ``sys.path`` so that it imports its neighbours, and registered in ``sys.modules``.
The ``source`` recorded for a run is the file's absolute path, or the module's dotted name.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
import re
import sys
import traceback
from pathlib import Path
from types import ModuleType
from typing import Any

from ._exceptions import UsageError, WorkflowNotFound
from ._workflow import Step, Workflow

__all__ = ["is_file_source", "load_module", "load_target", "load_workflows", "module_name_for"]

_MISSING = object()

#: Files already imported: module name -> (mtime_ns, size) of the file when it was executed.
_loaded: dict[str, tuple[int, int]] = {}


def is_file_source(source: str) -> bool:
    """Whether ``source`` names a file (``app.py``, ``./app``, ``/abs/app.py``) rather than a dotted module."""
    return source.endswith(".py") or "/" in source or os.sep in source or Path(source).is_file()


def module_name_for(path: Path) -> str:
    """The stable module name of a file: its stem plus a digest of its resolved path."""
    resolved = path.resolve()
    stem = re.sub(r"\W", "_", resolved.stem) or "app"
    digest = hashlib.blake2b(str(resolved).encode(), digest_size=6).hexdigest()
    return f"_stead_app_{stem}_{digest}"


def load_module(source: str) -> tuple[ModuleType, str]:
    """Import a file or a dotted module; return it with the ``source`` to record (absolute path or dotted name)."""
    if is_file_source(source):
        return _load_file(Path(source))
    return _load_dotted(source), source


def load_workflows(source: str) -> list[Workflow[..., Any]]:
    """Every ``@stead.workflow`` defined (or imported) at module level of a file or module, in definition order."""
    module, _ = load_module(source)
    return _workflows_of(module, source)


def load_target(spec: str) -> tuple[Workflow[..., Any], str]:
    """The workflow named by ``FILE.py:NAME`` or ``package.module:NAME``, and the source to record for it."""
    where, sep, name = spec.rpartition(":")
    if not sep or not where or not name or (len(where) == 1 and where.isalpha()):  # "C:\\app.py" has no name
        hint = ""
        if spec and (is_file_source(spec) or not sep):
            try:
                names = [wf.name for wf in load_workflows(spec)]
            except UsageError:
                names = []
            if names:
                hint = f"; it defines: {', '.join(names)}"
        raise UsageError(f"expected FILE.py:WORKFLOW or package.module:WORKFLOW, got {spec!r}{hint}")
    module, source = load_module(where)
    workflows = _workflows_of(module, where)
    value = getattr(module, name, _MISSING)
    if value is _MISSING:
        by_name = [wf for wf in workflows if wf.name == name]
        if by_name:
            return by_name[0], source
        defined = ", ".join(wf.name for wf in workflows)
        what = f"it defines: {defined}" if defined else "it defines no @stead.workflow"
        raise WorkflowNotFound(f"{where} has no workflow {name!r}; {what}")
    if not isinstance(value, Workflow):
        kind = "a @stead.step" if isinstance(value, Step) else f"a {type(value).__name__}"
        raise WorkflowNotFound(
            f"{name} in {where} is {kind}, not a @stead.workflow; decorate an `async def` with @stead.workflow"
        )
    return value, source


def _workflows_of(module: ModuleType, where: str) -> list[Workflow[..., Any]]:
    found: list[Workflow[..., Any]] = []
    names: dict[str, Workflow[..., Any]] = {}
    for value in list(vars(module).values()):
        if not isinstance(value, Workflow) or any(value is wf for wf in found):
            continue
        other = names.get(value.name)
        if other is not None:
            raise UsageError(
                f"{where} defines two workflows named {value.name!r}; give one another name with "
                "@stead.workflow(name=...)"
            )
        names[value.name] = value
        found.append(value)
    return found


def _load_file(path: Path) -> tuple[ModuleType, str]:
    if not path.is_file():
        what = "is a directory, not a Python file" if path.is_dir() else "does not exist"
        raise WorkflowNotFound(f"no file {path} (it {what})")
    resolved = path.resolve()
    name = module_name_for(resolved)
    stat = resolved.stat()
    version = (stat.st_mtime_ns, stat.st_size)
    directory = str(resolved.parent)
    if directory in sys.path:
        sys.path.remove(directory)
    sys.path.insert(0, directory)
    cached = sys.modules.get(name)
    if cached is not None and _loaded.get(name) == version:
        return cached, str(resolved)
    spec = importlib.util.spec_from_file_location(name, resolved)
    if spec is None or spec.loader is None:
        raise UsageError(f"cannot import {resolved}: not a Python source file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        sys.modules.pop(name, None)
        _loaded.pop(name, None)
        raise UsageError(f"importing {path} failed: {_describe(exc, resolved)}") from None
    _loaded[name] = version
    return module, str(resolved)


def _load_dotted(dotted: str) -> ModuleType:
    if not all(part.isidentifier() for part in dotted.split(".")):
        raise WorkflowNotFound(f"no file or module {dotted!r}; expected FILE.py or package.module")
    cwd = os.getcwd()
    if cwd not in sys.path and "" not in sys.path:
        sys.path.insert(0, cwd)  # as `python -m` does: modules of the current directory import
    try:
        return importlib.import_module(dotted)
    except ModuleNotFoundError as exc:
        if exc.name is not None and (dotted == exc.name or dotted.startswith(exc.name + ".")):
            raise WorkflowNotFound(f"no module {dotted!r} (and no file of that name)") from None
        raise UsageError(f"importing {dotted} failed: {_describe(exc, None)}") from None
    except Exception as exc:
        raise UsageError(f"importing {dotted} failed: {_describe(exc, None)}") from None


def _describe(exc: BaseException, file: Path | None) -> str:
    """``ValueError: boom (app.py, line 3)``: the exception and the innermost line of user code it came from."""
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    if isinstance(exc, SyntaxError):
        return text
    frames = traceback.extract_tb(exc.__traceback__)
    user = [f for f in frames if "importlib" not in f.filename]
    if file is not None:
        user = [f for f in user if Path(f.filename) == file] or user
    if user:
        frame = user[-1]
        text += f" ({Path(frame.filename).name}, line {frame.lineno})"
    return text
