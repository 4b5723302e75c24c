"""What every drop-in program shares: its registration, its scripted model, and its side-effect log.

A program is an ordinary Agents SDK program (agents, tools, ``Runner.run``) wrapped in ``@stead.workflow``; its
body returns what a user would look at (final outputs, streamed text, the context after the run, session items).
Side effects that must happen once (tool bodies, lifecycle hooks) are appended to the file named by
``DROPIN_EFFECTS``, which outlives the processes that are killed. The model is the fake OpenAI server; every
agent's instructions start with ``[program/agent]`` so that one server can answer every program at once.
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import stead
from stead.testing import FakeRequest, ReplyLike

EFFECTS = "DROPIN_EFFECTS"

Script = Callable[[str, FakeRequest], ReplyLike]
"""Answers one request of a program: given the agent's name (from its tag) and the request."""


@dataclass
class Program:
    """One drop-in program and what the harness needs to drive it."""

    name: str
    workflow: stead.Workflow[[], dict[str, Any]]
    script: Script
    park_after: int = 1
    """Model requests answered before the crash way parks the program (the later ones hang until the kill)."""
    parked: int = 1
    """How many requests hang at once when the program is parked."""
    approvals: list[str] = field(default_factory=list)
    """Tool call ids a person approves from outside (the program parks waiting for them instead)."""
    effect_prefix: str = ""
    """Which side-effect lines are this program's (default: ``name:``)."""
    expect: dict[str, Any] = field(default_factory=dict)
    """Part of the oracle's outcome, written down by hand: the plain SDK run must give it."""
    isolated: bool = False
    """Ends the process it runs in: the harness gives it worker processes of its own (none does today: stead
    turns ``exit()`` in a run into the run's failure)."""
    xfail: dict[str, str] = field(default_factory=dict)
    """``"way/engine"`` -> the issue 13 point that makes it differ today."""

    def __post_init__(self) -> None:
        self.effect_prefix = self.effect_prefix or f"{self.name}:"


PROGRAMS: dict[str, Program] = {}

#: What differs today, by point of issue 13 (the reasons of the strict xfails).
ISSUE = {
    "13.2": "issue 13.2: a tool's pydantic/dataclass result reaches the SDK as a dict ('dict' object has no "
    "attribute ...)",
    "13.3": "issue 13.3: context changes made by a finished tool are lost when it is replayed",
    "13.3t": "issue 13.3: on Temporal, tools get the context as a dict and their changes do not reach the workflow",
    "13.4": "issue 13.4: stream_events() yields no text deltas inside a workflow (the final output is right)",
    "13.5": "issue 13.5: an in-memory SQLiteSession loses the items written before the crash",
    "13.5t": "issue 13.5: sessions on Temporal (in-memory SQLiteSession and session.get_items() in workflow code)",
    "13.6": "issue 13.6: an MCP server opened in workflow code does not work on the Temporal engine",
    "13.7": "issue 13.7: lifecycle hooks fire again for work answered from the journal",
}


def program(
    name: str, script: Script, **options: Any
) -> Callable[[Callable[[], Any]], stead.Workflow[[], Any]]:
    """Declare a drop-in program: its workflow is named ``dropin_<name>``."""

    def register(fn: Callable[[], Any]) -> stead.Workflow[[], Any]:
        wf = stead.workflow(name=f"dropin_{name}")(fn)
        PROGRAMS[name] = Program(name, wf, script, **options)
        return wf

    return register


def tag(prog: str, agent: str, text: str) -> str:
    """Instructions that route the agent's requests to its program's script."""
    return f"[{prog}/{agent}] {text}"


_TAG = re.compile(r"\[(\w+)/(\w+)\]")


def route(request: FakeRequest) -> tuple[str, str]:
    """The (program, agent) a request belongs to."""
    found = _TAG.search(request.instructions)
    if found is None:
        raise LookupError(f"a request without a [program/agent] tag: {request.instructions[:80]!r}")
    return found.group(1), found.group(2)


def effect(line: str) -> None:
    """Record a side effect, atomically, in the file that outlives crashed workers."""
    path = os.environ.get(EFFECTS)
    if not path:
        return
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, f"{os.getpid()} {line}\n".encode())
    finally:
        os.close(fd)


def user_texts(request: FakeRequest) -> list[str]:
    """The user messages a request carried, oldest first."""
    entries = request.body.get("input")
    if not isinstance(entries, list):
        return [request.input_text] if request.input_text else []
    return [_text(e.get("content")) for e in entries if isinstance(e, dict) and e.get("role") == "user"]


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return str(content)


def plain(items: list[Any]) -> list[dict[str, Any]]:
    """Session or input items as a user prints them, without the ids the fake server numbers per process."""
    out = []
    for item in items:
        data = json.loads(json.dumps(item, default=str))
        if isinstance(data, dict):
            data.pop("id", None)
        out.append(data)
    return out


_arrived: dict[tuple[str, str], threading.Event] = {}
_arrived_lock = threading.Lock()


def _event(prog: str, agent: str) -> threading.Event:
    with _arrived_lock:
        return _arrived.setdefault((prog, agent), threading.Event())


def arrived(prog: str, agent: str) -> None:
    """Note that a request of ``agent`` reached the server (the harness calls it for every request)."""
    _event(prog, agent).set()


def after(prog: str, previous: str, reply: ReplyLike) -> ReplyLike:
    """Answer only once a request of agent ``previous`` arrived: completion order made certain, where a delay
    would only make it likely on a loaded machine. Runs in the fake server's thread, which it may block."""
    _event(prog, previous).wait(15)
    return reply


def reset_order() -> None:
    """Forget which requests arrived (a new batch of runs begins)."""
    with _arrived_lock:
        _arrived.clear()
