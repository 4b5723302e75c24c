"""Agent memory (the SDK's ``Session``) inside durable runs.

The SDK reads a session's history when a run starts and appends the input and each turn's new items with plain
writes. Replaying a run against such a store would read back the items the first execution wrote (the model
input changes) and write them again (the memory gains duplicates). Two ways out:

* :class:`JournaledSession` wraps any session (``SQLiteSession``, Redis, SQLAlchemy, your own): every read,
  write, pop and clear is a step. A replay gets the history the first execution read, whatever the store holds
  now, and a recorded write is not made again. ``Runner.run(..., session=s)`` inside a workflow wraps ``s`` by
  itself; call :func:`journaled_session` to use a session directly in workflow code.
* :class:`RunSession` keeps the conversation in the run itself. The run's journal already holds everything the
  items come from (messages received, model responses, tool results), so the memory is rebuilt exactly by a
  replay, on any machine, with no store and no step of its own.

The SDK's default store, an in-memory ``SQLiteSession``, is already memory of one process: inside a workflow it
is kept as a :class:`RunSession` is (:func:`install_memory_sessions`), so that a resumed run holds what an
uncrashed one holds. Workflow code may also call a ``SQLiteSession``'s methods directly, on any engine.
"""

from __future__ import annotations

import copy
import inspect
import json
import uuid
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, cast

from agents.items import TResponseInputItem
from agents.memory import OpenAIConversationsSession, Session, SessionABC, SessionSettings, SQLiteSession
from agents.memory.session_settings import resolve_session_limit

from .. import _serde
from .._context import StepAttributes, StepCall, current_scope, in_workflow, publish
from .._retry import RetryPolicy

__all__ = [
    "SESSION_RETRY",
    "JournaledSession",
    "RunSession",
    "install_memory_sessions",
    "journaled_session",
    "use_in_run",
]

SESSION_RETRY = RetryPolicy(max_attempts=3, initial_interval=0.5)
"""Retries of a session operation whose store failed (a locked database, a dropped connection)."""

_METHODS = ("get_items", "add_items", "pop_item", "clear_session")


def _accepts_wrapper(method: Any) -> bool:
    try:
        parameters = inspect.signature(method).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(
        p.name == "wrapper" and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) for p in parameters
    )


def _json(value: Any, what: str) -> Any:
    return _serde.to_json_value(value, what)


def _fingerprint(value: Any, what: str) -> str:
    return json.dumps(_json(value, what), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


class JournaledSession(SessionABC):
    """A session whose operations inside a workflow are journaled steps; outside one, the session itself.

    Reads return what the first execution read; writes, pops and clears happen once per run (a write is
    repeated only if the worker dies between the store's commit and the journal's, like any step). The store
    may be shared with other programs and other runs: each run sees it as it was when that run read it.
    """

    def __init__(self, session: Session, *, key: str | None = None) -> None:
        """``key``: the agent run the operations belong to (their steps are numbered under it); without one,
        each operation takes the next position of the calling workflow task."""
        if isinstance(session, JournaledSession):
            session = session.session
        self.session: Session = session
        self._key = key
        self._ops = 0
        self._pass_wrapper = all(_accepts_wrapper(getattr(session, m, None)) for m in _METHODS)
        # Read once: a replay must see the id the first execution saw (the SDK derives the prompt cache key from
        # it), even for sessions that learn their id from their first remote call.
        try:
            self._session_id: str | None = session.session_id
        except Exception:
            self._session_id = None
        self.session_settings = getattr(session, "session_settings", None)

    @property
    def session_id(self) -> str:
        if self._session_id is None:
            raise ValueError(f"the wrapped session {type(self.session).__name__} has no id yet")
        return self._session_id

    @session_id.setter
    def session_id(self, value: str) -> None:
        self._session_id = value

    @property
    def _ignore_ids_for_matching(self) -> bool:
        # The SDK compares items with or without ids depending on the store; keep the wrapped store's policy.
        return bool(
            isinstance(self.session, OpenAIConversationsSession)
            or getattr(self.session, "_ignore_ids_for_matching", False)
        )

    def __repr__(self) -> str:
        return f"JournaledSession({self.session!r})"

    def _kwargs(self, wrapper: Any) -> dict[str, Any]:
        return {"wrapper": wrapper} if self._pass_wrapper and wrapper is not None else {}

    async def _step(self, op: str, fn: Callable[[], Awaitable[Any]], inputs: str, detail: str = "") -> Any:
        scope = current_scope()
        if scope is None:
            return await fn()
        position = None
        if self._key is not None:
            self._ops += 1
            position = f"{self._key}/session:{self._ops}"
        name = self._session_id or type(self.session).__name__
        call = StepCall(
            name=f"session:{op}",
            fn=fn,
            args_json=inputs,
            retry=SESSION_RETRY,
            kind="session",
            summary=f"session · {op} · {name}{detail}",
            attributes=StepAttributes(extra={"session": name, "operation": op}),
            position=position,
        )
        return await scope.runtime.execute_step(scope, call)

    async def get_items(self, limit: int | None = None, *, wrapper: Any = None) -> list[TResponseInputItem]:
        async def read() -> Any:
            items = await self.session.get_items(limit, **self._kwargs(wrapper))
            return _json(list(items), "the items of a session")

        if current_scope() is None:
            return await self.session.get_items(limit, **self._kwargs(wrapper))
        data = await self._step("get_items", read, json.dumps({"limit": limit}))
        return cast(list[TResponseInputItem], data)

    async def add_items(self, items: list[TResponseInputItem], *, wrapper: Any = None) -> None:
        async def write() -> None:
            await self.session.add_items(items, **self._kwargs(wrapper))

        if current_scope() is None:
            await write()
            return
        inputs = _fingerprint(items, "the items added to a session")
        await self._step("add_items", write, inputs, f" · {len(items)} item{'s' if len(items) != 1 else ''}")

    async def pop_item(self, *, wrapper: Any = None) -> TResponseInputItem | None:
        async def pop() -> Any:
            item = await self.session.pop_item(**self._kwargs(wrapper))
            return None if item is None else _json(item, "an item popped from a session")

        if current_scope() is None:
            return await self.session.pop_item(**self._kwargs(wrapper))
        return cast("TResponseInputItem | None", await self._step("pop_item", pop, "null"))

    async def clear_session(self, *, wrapper: Any = None) -> None:
        async def clear() -> None:
            await self.session.clear_session(**self._kwargs(wrapper))

        await self._step("clear_session", clear, "null")


class _JournaledCompactionSession(JournaledSession):
    """For sessions that compact their history through the model (``OpenAIResponsesCompactionSession``)."""

    async def run_compaction(self, args: Any = None, *, wrapper: Any = None) -> None:
        inner = cast(Any, self.session)
        pass_wrapper = wrapper is not None and _accepts_wrapper(inner.run_compaction)

        async def compact() -> None:
            await inner.run_compaction(args, **({"wrapper": wrapper} if pass_wrapper else {}))

        await self._step("run_compaction", compact, _fingerprint(args, "the compaction arguments"))


class _JournaledConversationsSession(JournaledSession):
    """For ``OpenAIConversationsSession``, which the SDK recognises by class to shape the items it stores."""

    @property  # type: ignore[misc]
    def __class__(self) -> type:  # isinstance() must see the wrapped class, as with mocks
        return type(self.session)


def journaled_session(session: Session, *, key: str | None = None) -> Session:
    """``session`` with its operations journaled inside workflows (see :class:`JournaledSession`).

    A :class:`RunSession` and an in-memory ``SQLiteSession`` need no journaling and are returned as they are.
    """
    if isinstance(session, RunSession) or _in_memory(session):
        return session
    inner = session.session if isinstance(session, JournaledSession) else session
    if isinstance(inner, OpenAIConversationsSession):
        return _JournaledConversationsSession(inner, key=key)
    if callable(getattr(inner, "run_compaction", None)):
        return _JournaledCompactionSession(inner, key=key)
    return JournaledSession(inner, key=key)


def use_in_run(session: Any, key: str) -> Any:
    """The session an agent run inside a workflow uses in place of the one it was given."""
    if session is None or isinstance(session, RunSession) or _in_memory(session):
        return session
    return journaled_session(session, key=key)


def _in_memory(session: Any) -> bool:
    # Only the SDK's own class: a subclass may keep more than the items (AdvancedSQLiteSession's branches).
    return type(session) is SQLiteSession and bool(getattr(session, "_is_memory_db", False))


def _in_run(session: Any) -> Session | None:
    """What a ``SQLiteSession`` called directly from workflow code stands for, or None elsewhere (and inside
    steps, where the store itself is meant)."""
    scope = current_scope()
    if scope is None or type(session) is not SQLiteSession:
        return None
    if not _in_memory(session):
        return JournaledSession(session)  # a file: each operation a step, as with journaled_session()
    runtime = scope.runtime
    held: tuple[Any, RunSession] | None = session.__dict__.get("_stead_memory")
    # Per execution: a run replayed in the same process (a reopened run, an evicted Temporal workflow) rebuilds
    # the memory from scratch, also for a store made at module level.
    if held is None or held[0] is not runtime:
        held = (runtime, RunSession(session.session_id, session_settings=session.session_settings))
        session.__dict__["_stead_memory"] = held
    return held[1]


_memory_installed = False


def install_memory_sessions() -> None:
    """Make a ``SQLiteSession`` used in workflow code safe to replay and usable on any engine (idempotent).

    In memory (the SDK's default), its items are kept in the run: they come from what the run's journal replays,
    like a :class:`RunSession`'s, instead of from a database that a crash empties and that replayed writes would
    not refill. In a file, its operations called from workflow code are steps (:class:`JournaledSession`). Either
    way no thread is needed in workflow code (Temporal's workflow event loop has none). Outside workflow code
    the class is untouched.
    """
    global _memory_installed
    if _memory_installed:
        return
    cls: Any = SQLiteSession
    get_items, add_items, pop_item, clear = cls.get_items, cls.add_items, cls.pop_item, cls.clear_session

    async def get_items_(self: SQLiteSession, limit: int | None = None) -> list[TResponseInputItem]:
        run = _in_run(self)
        return await (get_items(self, limit) if run is None else run.get_items(limit))

    async def add_items_(self: SQLiteSession, items: list[TResponseInputItem]) -> None:
        run = _in_run(self)
        await (add_items(self, items) if run is None else run.add_items(items))

    async def pop_item_(self: SQLiteSession) -> TResponseInputItem | None:
        run = _in_run(self)
        return await (pop_item(self) if run is None else run.pop_item())

    async def clear_session_(self: SQLiteSession) -> None:
        run = _in_run(self)
        await (clear(self) if run is None else run.clear_session())

    for name, fn in (
        ("get_items", get_items_),
        ("add_items", add_items_),
        ("pop_item", pop_item_),
        ("clear_session", clear_session_),
    ):
        original = getattr(cls, name)
        fn.__name__, fn.__qualname__, fn.__doc__ = original.__name__, original.__qualname__, original.__doc__
        setattr(cls, name, fn)
    _memory_installed = True


class RunSession(SessionABC):
    """Conversation memory kept by the durable run itself: no store, nothing to configure, any engine.

    Create it in workflow code and pass it to every ``Runner.run`` of the conversation::

        session = stead.agents.RunSession()
        while True:
            message = await stead.wait_for("user")
            result = await Runner.run(agent, message, session=session)

    Its items live in the run's memory. A replay rebuilds them exactly, because everything they come from is in
    the journal (messages received, model responses, tool results): after a crash, on another worker or another
    machine, also on Temporal, with no database of its own and no journal entry of its own.

    Limits: the memory belongs to one run: it ends with the run and another run cannot write to it (pass
    ``session.items`` to a new run, ``RunSession(items=...)``, to carry a conversation over). Outsiders read it
    only through published state (``publish="conversation"`` publishes the items after each change). A run
    replays its whole conversation when a worker takes it over, so very long conversations are better split
    into runs. Outside a workflow it is a plain in-memory session.
    """

    def __init__(
        self,
        session_id: str | None = None,
        *,
        items: Iterable[TResponseInputItem] = (),
        publish: str | None = None,
        session_settings: SessionSettings | None = None,
    ) -> None:
        """``session_id`` defaults to the run's id (it groups the model's prompt cache); ``items`` seed the
        memory; ``publish`` names a state key under which the items are published after each change."""
        if session_id is None:
            scope = current_scope()
            session_id = scope.runtime.run_id if scope is not None else f"run-session-{uuid.uuid4().hex}"
        self.session_id = session_id
        self.session_settings = session_settings
        self._items: list[TResponseInputItem] = [self._copy(i) for i in items]
        self._publish = publish
        self._published()

    def __repr__(self) -> str:
        return f"RunSession({self.session_id!r}, {len(self._items)} items)"

    @staticmethod
    def _copy(item: TResponseInputItem) -> TResponseInputItem:
        # Plain JSON copies: the SDK's later changes to its own objects must not reach the memory, and the
        # memory must look the same live and replayed.
        return cast(TResponseInputItem, copy.deepcopy(_json(item, "a session item")))

    def _published(self) -> None:
        if self._publish is not None and in_workflow():
            publish(self._publish, self._items)

    @property
    def items(self) -> list[TResponseInputItem]:
        """A copy of every item, oldest first (JSON data: return it, publish it, or seed a new run with it)."""
        return copy.deepcopy(self._items)

    def messages(self) -> list[dict[str, str]]:
        """The conversation for people: ``{"role": "user" | "assistant", "text": ...}`` per message item."""
        out: list[dict[str, str]] = []
        for item in self._items:
            raw = cast(dict[str, Any], item)
            role = raw.get("role")
            if role not in ("user", "assistant") or raw.get("type", "message") != "message":
                continue
            content = raw.get("content")
            if isinstance(content, str):
                text = content
            elif isinstance(content, list):
                text = "".join(
                    str(part.get("text", "")) for part in content if isinstance(part, dict) and "text" in part
                )
            else:
                continue
            out.append({"role": str(role), "text": text})
        return out

    async def get_items(self, limit: int | None = None) -> list[TResponseInputItem]:
        limit = resolve_session_limit(limit, self.session_settings)
        chosen = self._items if limit is None else self._items[-limit:] if limit > 0 else []
        return copy.deepcopy(chosen)

    async def add_items(self, items: list[TResponseInputItem]) -> None:
        if not items:
            return
        self._items.extend(self._copy(i) for i in items)
        self._published()

    async def pop_item(self) -> TResponseInputItem | None:
        if not self._items:
            return None
        item = self._items.pop()
        self._published()
        return item

    async def clear_session(self) -> None:
        self._items.clear()
        self._published()
