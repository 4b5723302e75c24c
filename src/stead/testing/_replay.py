"""Replay tests over committed runs: ``stead export RUN -o run.json``, then ``await replay_file(...)`` in pytest."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .. import UsageError, Workflow
from .._replay import ReplayResult, load_export, replay_recorded
from ._offline import fake_models

__all__ = ["no_models", "replay_file"]


@contextmanager
def no_models() -> Iterator[None]:
    """Agents get a model server that answers nothing: a replay makes no model call, and must not reach one."""
    with fake_models([]):
        yield


def _read(path: str | os.PathLike[str]) -> tuple[Any, Any]:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))  # small, and read once per test
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot read the run export {os.fspath(path)}: {exc}") from None
    return load_export(data, os.fspath(path))


async def replay_file(path: str | os.PathLike[str], workflows: Iterable[Workflow[..., Any]]) -> ReplayResult:
    """Replay the run exported to ``path`` with the given code, executing no step and needing no engine; raise
    ``stead.NonDeterminismError`` at the first divergence (the test fails, saying where and how)."""
    info, steps = _read(path)
    by_name = {wf.name: wf for wf in workflows}
    workflow = by_name.get(info.workflow)
    if workflow is None:
        raise UsageError(
            f"{os.fspath(path)} is a run of workflow {info.workflow!r}; pass it (given: {', '.join(by_name) or 'none'})"
        )
    with no_models():
        return await replay_recorded(workflow, info, steps)
