"""A rate limit shared by every run and every worker of an engine, as pure functions over a small state record.

Per key (a provider/model name) the state holds two GCRA schedules ("theoretical arrival times"), one for
requests and one for tokens, a time until which a provider's Retry-After blocks the key, and an AIMD
concurrency window used when no limit is configured. ``reserve`` books a call and says how long to wait before
sending it; ``settle`` corrects the token estimate with the reported usage and applies what a 429 taught.

A call is booked only when it fits; one that does not is told when it would and asks again then, so the
estimates of calls still waiting never hold capacity that the reported usage of finished calls gave back. The
schedule is a token bucket whose capacity is the per-period limit, refilled continuously, as providers count.

A ``Limiter`` books and settles calls by operation (async, so that the records may live on another machine).
The engine running a step attempt provides its limiter through :func:`limiter_scope`; model calls find it with
:func:`current_limiter`. ``RecordLimiter`` is the limiter over a ``LimiterStore``, an atomic read-modify-write of
one key's record (the embedded engine: a row of its SQLite file, in one transaction; else this process's memory).
The Temporal engine's limiter sends the same operations to a workflow per key that applies these functions.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import os
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Protocol, TypeVar, runtime_checkable

from ._exceptions import UsageError
from ._procs import HOST, gone_process

__all__ = [
    "Limit",
    "LimitState",
    "Limiter",
    "LimiterStore",
    "MemoryLimiterStore",
    "RecordLimiter",
    "Reservation",
    "acquire",
    "configured_limit",
    "current_limiter",
    "limiter_scope",
    "parse_limits",
    "process_limiter",
    "rate_limit",
    "reserve",
    "settle",
]

T = TypeVar("T")

_START_WINDOW = 64.0
"""Concurrent calls allowed per key at first when no limit is configured; AIMD moves it from there."""
_MAX_WINDOW = 4096.0
_LEASE = 300.0
"""A concurrency slot of a worker that died is given back after this many seconds."""
_POLL = 0.05
_SLACK = 0.5
"""Seconds the schedule lags the provider's: a provider counts a call when it arrives, not when it was booked."""


@dataclass(frozen=True)
class Limit:
    """A provider's limit for one key: requests and tokens per ``period`` seconds (a minute unless scaled)."""

    requests: float | None = None
    tokens: float | None = None
    period: float = 60.0

    def __post_init__(self) -> None:
        for name, value in (("requests", self.requests), ("tokens", self.tokens), ("period", self.period)):
            if value is not None and value <= 0:
                raise UsageError(f"rate limit {name} must be positive, got {value!r}")

    @property
    def configured(self) -> bool:
        return self.requests is not None or self.tokens is not None


@dataclass(frozen=True)
class LimitState:
    """One key's record."""

    request_tat: float = 0.0
    token_tat: float = 0.0
    blocked_until: float = 0.0
    window: float = _START_WINDOW
    leases: dict[str, float] = field(default_factory=dict)
    """Concurrency slots in use (AIMD mode): lease id -> when it is given back if never settled."""

    def to_json(self) -> str:
        return json.dumps(
            {
                "request_tat": self.request_tat,
                "token_tat": self.token_tat,
                "blocked_until": self.blocked_until,
                "window": self.window,
                "leases": self.leases,
            }
        )

    @classmethod
    def from_json(cls, text: str | None) -> LimitState:
        if not text:
            return cls()
        data = json.loads(text)
        return cls(
            float(data.get("request_tat", 0.0)),
            float(data.get("token_tat", 0.0)),
            float(data.get("blocked_until", 0.0)),
            float(data.get("window", _START_WINDOW)),
            {str(k): float(v) for k, v in (data.get("leases") or {}).items()},
        )


@dataclass(frozen=True)
class Reservation:
    """What ``reserve`` decided: wait ``wait`` seconds; ``booked`` when the call may then go (else ask again)."""

    wait: float
    booked: bool
    reason: str = ""


def _book(tat: float, now: float, cost: float, per: float, period: float) -> tuple[float, float]:
    """GCRA with a burst of one full period: (new arrival time, seconds to wait before the call may go)."""
    interval = period / per
    new_tat = max(tat, now) + cost * interval
    return new_tat, max(0.0, new_tat - period + _SLACK - now)


def _live(leases: dict[str, float], now: float) -> dict[str, float]:
    """The slots still held: not expired, and not held by a process of this machine that no longer exists."""
    gone: dict[str, bool] = {}  # per holder (``host/pid``): a window's slots mostly share a few processes

    def held(slot: str) -> bool:
        holder = slot.rpartition("/")[0]
        if holder not in gone:
            gone[holder] = gone_process(slot)
        return not gone[holder]

    return {k: v for k, v in leases.items() if v > now and held(k)}


def reserve(
    state: LimitState, limit: Limit, now: float, cost: float, lease: str
) -> tuple[LimitState, Reservation]:
    """Book one call of ``cost`` estimated tokens at ``now``."""
    if state.blocked_until > now:
        return state, Reservation(state.blocked_until - now, False, "retry-after")
    if not limit.configured:
        leases = dict(state.leases)
        if len(leases) >= max(1, int(state.window)):
            # Slots of dead processes and expired ones are looked for when they would keep a call back.
            leases = _live(leases, now)
            if len(leases) >= max(1, int(state.window)):
                return replace(state, leases=leases), Reservation(_POLL, False, "concurrency")
        leases[lease] = now + _LEASE
        return replace(state, leases=leases), Reservation(0.0, True)
    request_tat, token_tat = state.request_tat, state.token_tat
    wait, reason = 0.0, ""
    if limit.requests is not None:
        request_tat, w = _book(request_tat, now, 1.0, limit.requests, limit.period)
        wait, reason = (w, "requests") if w > wait else (wait, reason)
    if limit.tokens is not None:
        # A call bigger than the whole bucket would never fit: it waits for an empty bucket, not forever.
        token_tat, w = _book(token_tat, now, min(cost, limit.tokens), limit.tokens, limit.period)
        wait, reason = (w, "tokens") if w > wait else (wait, reason)
    if wait > 0:
        # Not booked: by the time it fits, reported usage may have corrected the estimates booked before it.
        return state, Reservation(wait, False, reason)
    return replace(state, request_tat=request_tat, token_tat=token_tat), Reservation(0.0, True)


def settle(
    state: LimitState,
    limit: Limit,
    now: float,
    lease: str,
    *,
    estimated: float,
    actual: float | None,
    retry_after: float | None,
    limited: bool,
) -> LimitState:
    """After the call: correct the token booking with the reported usage; learn from a 429."""
    token_tat, request_tat = state.token_tat, state.request_tat
    if limited:
        # A call the provider refused cost nothing there: give its booking back; its retry books again.
        actual = 0.0
        if limit.requests is not None:
            request_tat = max(now, request_tat - limit.period / limit.requests)
    if limit.tokens is not None and actual is not None:
        # Refunds never move the schedule before now: capacity not used in the past is gone.
        token_tat = max(now, token_tat + (actual - estimated) * limit.period / limit.tokens)
    if limited and retry_after is not None:
        # The provider's buckets are fuller in the record than they are (calls reached the provider later than
        # booked while its bucket was full, or somebody else uses the key): the answer says how far. Bring the
        # record down to the provider's: a call like this one fits again when Retry-After has passed, not before.
        fits = now + retry_after + limit.period - _SLACK
        if limit.requests is not None:
            request_tat = max(request_tat, fits - limit.period / limit.requests)
        if limit.tokens is not None:
            token_tat = max(token_tat, fits - min(estimated, limit.tokens) * limit.period / limit.tokens)
    leases = {k: v for k, v in state.leases.items() if k != lease}
    window = state.window
    if not limit.configured:
        window = max(1.0, window / 2) if limited else min(_MAX_WINDOW, window + 1.0 / window)
    blocked = state.blocked_until
    if retry_after is not None:
        blocked = max(blocked, now + retry_after)
    return replace(
        state,
        request_tat=request_tat,
        token_tat=token_tat,
        blocked_until=blocked,
        window=window,
        leases=leases,
    )


@runtime_checkable
class LimiterStore(Protocol):
    """Where an engine keeps the records: ``update`` applies ``change`` to one key's record atomically."""

    def update_limit(self, key: str, change: Callable[[LimitState], tuple[LimitState, T]]) -> T: ...


class MemoryLimiterStore:
    """Records in this process only: for engines without a shared store, and for runs outside one."""

    def __init__(self) -> None:
        self._states: dict[str, LimitState] = {}

    def update_limit(self, key: str, change: Callable[[LimitState], tuple[LimitState, T]]) -> T:
        state, value = change(self._states.get(key, LimitState()))
        self._states[key] = state
        return value


class Limiter(Protocol):
    """Books and settles the calls of one key: ``reserve`` and ``settle`` applied wherever the records are."""

    async def reserve(self, key: str, limit: Limit, cost: float, lease: str) -> Reservation: ...

    async def settle(
        self,
        key: str,
        limit: Limit,
        lease: str,
        *,
        estimated: float,
        actual: float | None,
        retry_after: float | None,
        limited: bool,
    ) -> None: ...


class RecordLimiter:
    """The limiter over records kept in a ``LimiterStore``, with this machine's clock.

    Records shared by processes (``shared``) name the process holding each concurrency slot, so that the slots
    of a process of this machine that died (``kill -9``) are given back at the next booking instead of after
    ``_LEASE`` seconds: a killed worker must not shrink every other worker's window.
    """

    def __init__(
        self, store: LimiterStore, clock: Callable[[], float] = time.time, *, shared: bool = True
    ) -> None:
        self.store = store
        self.clock = clock
        self.shared = shared

    def _slot(self, lease: str) -> str:
        # The pid when the slot is taken, not when the limiter was made: a forked child is another holder.
        return f"{HOST}/{os.getpid()}/{lease}" if self.shared else lease

    async def reserve(self, key: str, limit: Limit, cost: float, lease: str) -> Reservation:
        now = self.clock()
        slot = self._slot(lease)
        return self.store.update_limit(key, lambda s: reserve(s, limit, now, cost, slot))

    async def settle(
        self,
        key: str,
        limit: Limit,
        lease: str,
        *,
        estimated: float,
        actual: float | None,
        retry_after: float | None,
        limited: bool,
    ) -> None:
        now = self.clock()
        slot = self._slot(lease)

        def change(state: LimitState) -> tuple[LimitState, None]:
            settled = settle(
                state,
                limit,
                now,
                slot,
                estimated=estimated,
                actual=actual,
                retry_after=retry_after,
                limited=limited,
            )
            return settled, None

        self.store.update_limit(key, change)


_process = RecordLimiter(MemoryLimiterStore(), shared=False)
_current: contextvars.ContextVar[Limiter | None] = contextvars.ContextVar("stead_limiter", default=None)


def current_limiter() -> Limiter:
    """The limiter of the engine running this step attempt; outside one, this process's."""
    return _current.get() or _process


def process_limiter() -> Limiter:
    """This process's limiter (records in memory): what engines without shared records fall back to."""
    return _process


@contextmanager
def limiter_scope(limiter: Limiter | None) -> Iterator[None]:
    """Model calls in this context book through ``limiter`` (engines set it around each step attempt)."""
    token = _current.set(limiter)
    try:
        yield
    finally:
        _current.reset(token)


# -- configuration ---------------------------------------------------------------------------------------------

_configured: dict[str, Limit] = {}
_ENV = "STEAD_RATE_LIMITS"
_ITEM = re.compile(r"^\s*(?P<value>\d+(?:\.\d+)?)\s*(?P<unit>rpm|tpm|rps|tps|per|s)\s*$")


def rate_limit(
    key: str, *, requests: float | None = None, tokens: float | None = None, period: float = 60.0
) -> Limit:
    """Limit model calls for ``key`` (a model name, or ``"*"`` for every model) across all runs and workers.

    ``requests`` and ``tokens`` are per ``period`` seconds (a minute by default, as providers state them).
    """
    limit = Limit(requests, tokens, period)
    _configured[key] = limit
    return limit


def parse_limits(text: str) -> dict[str, Limit]:
    """``gpt-4o-mini=60rpm,20000tpm;*=500rpm`` (``per10s`` scales the period) into limits per key."""
    limits: dict[str, Limit] = {}
    for part in filter(None, (p.strip() for p in text.split(";"))):
        key, sep, spec = part.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"rate limit {part!r}: expected KEY=60rpm,20000tpm (KEY a model name or *)")
        requests = tokens = None
        period = 60.0
        for item in filter(None, (i.strip() for i in spec.split(","))):
            if item.startswith("per") and item.endswith("s"):
                period = float(item[3:-1])
                continue
            match = _ITEM.match(item)
            if match is None or match["unit"] not in ("rpm", "tpm"):
                raise UsageError(f"rate limit {part!r}: {item!r} is not like 60rpm, 20000tpm or per10s")
            if match["unit"] == "rpm":
                requests = float(match["value"])
            else:
                tokens = float(match["value"])
        limits[key.strip()] = Limit(requests, tokens, period)
    return limits


def configured_limit(key: str) -> Limit | None:
    """The limit for ``key``: from ``rate_limit`` calls, else ``STEAD_RATE_LIMITS``; none means AIMD only.

    ``STEAD_RATE_LIMITS=off`` turns the limiter off (None): every call goes at once, as before it existed.
    """
    raw = os.environ.get(_ENV, "")
    if raw.strip().lower() == "off":
        return None
    env = parse_limits(raw)
    for source in (_configured, env):
        if key in source:
            return source[key]
    for source in (_configured, env):
        if "*" in source:
            return source["*"]
    return Limit()


async def acquire(
    limiter: Limiter,
    key: str,
    limit: Limit,
    cost: float,
    lease: str,
    on_wait: Callable[[float, str], None],
) -> None:
    """Wait until a call of ``cost`` tokens may go for ``key``; ``on_wait(seconds, reason)`` before each wait."""
    while True:
        result = await limiter.reserve(key, limit, cost, lease)
        if result.wait > 0:
            on_wait(result.wait, result.reason)
            await asyncio.sleep(result.wait)
        if result.booked:
            return
