"""Completion order: on replay, results reach workflow code in the order they reached it live.

Code that reacts to whichever branch finishes first (``asyncio.as_completed``, ``asyncio.wait(...,
return_when=FIRST_COMPLETED)``, a race of two agent runs) decides by completion order. Live, that order is the
order in which results were delivered, and the journal numbers each delivery. On replay every recorded result is
at hand at once, so the runtime hands them out in the recorded order, each only once the run has settled: no task
of the run can move without a further result. (Temporal gets the same from its history, where the completions
that reached the workflow together form one workflow task.)

Results delivered live in one turn of the event loop (two steps waiting on one signal) reach the code together:
``asyncio.wait(..., return_when=FIRST_COMPLETED)`` then finds both done. The journal keeps such a burst (each
later result of a turn records the number of its first), and replay hands a burst out in one turn too.

A run has settled when each of its tasks is done or waits on a future that is not done, and the loop holds no
ready callback that would wake one of them (a done callback of a finished task, a wake-up of a task). That last
part reads the event loop's queue of ready handles, which asyncio does not expose publicly; where it cannot be
read, the gate waits a few extra loop iterations instead.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import weakref
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["DeliveryGate"]

# Loop iterations a run must stay settled before a delivery where the ready queue cannot be inspected.
_FALLBACK_ITERATIONS = 8


class DeliveryGate:
    """Numbers deliveries live, and replays recorded ones in their recorded order."""

    def __init__(self, recorded: Iterable[int], bursts: Mapping[int, int] | None = None) -> None:
        self._remaining = sorted(set(recorded))
        """Recorded delivery numbers not delivered yet in this execution, lowest first."""
        self._bursts = dict(bursts or {})
        """For a result delivered in the same loop turn as an earlier one: the number of the turn's first."""
        self._turn: int | None = None
        """The number of the first result delivered live in the current loop turn."""
        self._remaining_set = set(self._remaining)
        self._last = max(self._remaining, default=0)
        self._pending: list[tuple[float, int, asyncio.Future[int]]] = []
        self._ties = itertools.count()
        self._tasks: weakref.WeakSet[asyncio.Task[Any]] = weakref.WeakSet()
        self._scheduled = False
        self._stable = 0

    def track(self, task: asyncio.Task[Any]) -> None:
        """Count ``task`` as one of the run's tasks (the run's root task and every task its code creates)."""
        self._tasks.add(task)

    @property
    def replaying(self) -> bool:
        """Whether recorded deliveries are still to be handed out."""
        return bool(self._remaining)

    def passes(self) -> bool:
        """Whether a live result delivered now needs no turn (nothing recorded is left, nobody waits): then
        ``deliver(None)`` returns at once with ``next_number``, so the number can be written with the result."""
        return not self._pending and not self._remaining

    @property
    def next_number(self) -> int:
        """The number the next live delivery gets."""
        return self._last + 1

    @property
    def next_burst(self) -> int | None:
        """What the next live delivery records as its burst (``burst_of``), like ``next_number``."""
        return self._turn

    def burst_of(self, number: int) -> int | None:
        """The number of the first result delivered in the same loop turn as ``number``; None if it was the first."""
        return self._bursts.get(number)

    def _next_live(self) -> int:
        self._last += 1
        if self._turn is None:
            self._turn = self._last
            asyncio.get_running_loop().call_soon(self._end_turn)  # runs in the loop's next turn
        else:
            self._bursts[self._last] = self._turn
        return self._last

    def _end_turn(self) -> None:
        self._turn = None

    async def deliver(self, recorded: int | None) -> int:
        """Wait for the turn of a result; return its delivery number, to record with it.

        ``recorded`` is the number the journal holds for a replayed result, None for a result just produced.
        """
        if recorded is not None and recorded not in self._remaining_set:
            recorded = None  # delivered already in this execution, or never numbered (an older journal)
        if not self._pending:
            if recorded is None and not self._remaining:
                return self._next_live()  # live: nothing recorded is left to replay
            if (
                recorded is not None
                and recorded == self._remaining[0]
                and self._settled(asyncio.current_task())
            ):
                return self._take(recorded)
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        key = float(recorded) if recorded is not None else float("inf")
        heapq.heappush(self._pending, (key, next(self._ties), future))
        self._schedule()
        return await future

    def _take(self, recorded: int) -> int:
        self._remaining_set.discard(recorded)
        self._remaining.remove(recorded)
        return recorded

    def _schedule(self) -> None:
        if not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._check)

    def _check(self) -> None:
        self._scheduled = False
        while self._pending and self._pending[0][2].done():
            heapq.heappop(self._pending)  # its waiter was cancelled
        if not self._pending:
            return
        if not self._settled(None):
            self._schedule()
            return
        key, _, future = heapq.heappop(self._pending)
        # A recorded result no code asks for any more (the code changed) cannot hold the others back: the lowest
        # waiting one goes next, and the run's end reports the recorded steps it never reached.
        if key == float("inf"):
            future.set_result(self._next_live())
        else:
            released = [(int(key), future)]
            burst = self._burst_key(key)
            while self._pending and self._burst_key(self._pending[0][0]) == burst:
                later, _, waiter = heapq.heappop(self._pending)
                if not waiter.done():
                    released.append((int(later), waiter))
            for number, waiter in released:  # woken in this order, in the same turn
                waiter.set_result(self._take(number))
        self._stable = 0
        if self._pending:
            self._schedule()

    def _burst_key(self, key: float) -> int | None:
        if key == float("inf"):
            return None
        return self._bursts.get(int(key), int(key))

    def _settled(self, running: asyncio.Task[Any] | None) -> bool:
        tracked = list(self._tasks)  # iterating a WeakSet is slow: once per check
        waiters: set[int] = set()
        for task in tracked:
            if task is running or task.done():
                continue
            waiter = getattr(task, "_fut_waiter", None)
            if waiter is None or waiter.done():
                return False  # runnable, or about to be woken
            waiters.add(id(waiter))
        ready = getattr(asyncio.get_running_loop(), "_ready", None)
        if ready is None:
            self._stable += 1
            return self._stable >= _FALLBACK_ITERATIONS
        if not ready:
            return True
        members = {id(t) for t in tracked}
        for handle in ready:
            owner = getattr(getattr(handle, "_callback", None), "__self__", None)
            if owner is not None and id(owner) in members:
                return False
            for arg in getattr(handle, "_args", None) or ():
                if id(arg) in members or id(arg) in waiters:
                    return False
        return True
