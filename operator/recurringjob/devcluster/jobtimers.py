"""What the dev cluster's Job controllers share: one timer per Job, and the task that drives them.

The Job simulator (jobsim.py) finishes a Job when its timer fires, the TTL-after-finished
controller (ttl.py) deletes one. Both are a `JobTimerController`: one task consumes the store's Job
events and keeps a `KeyedTimers` heap, so ten thousand Jobs cost ten thousand heap entries, not ten
thousand tasks. Each controller brings its own clock (the loop's, or wall time), what an event
means for a Job's timer, and what happens when one fires.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
from abc import ABC, abstractmethod

from recurringjob.devcluster.store import Obj, Store, Subscription

JOBS = ("batch", "jobs")
HEAP_SLACK = 16  # stale heap entries tolerated beyond one per live timer before a rebuild
FAILED_STEP_PAUSE = 0.1  # seconds to wait after a failed step, so a persistent failure cannot spin

JobKey = tuple[str, str]  # (namespace, name)


def job_key(job: Obj) -> JobKey:
    meta = job["metadata"]
    return meta.get("namespace", ""), meta["name"]


class KeyedTimers:
    """At most one timer per Job key, each armed for one uid (a same-named successor is another Job).

    `_live[key]` holds the only live timer of a key; the heap may also hold stale entries (re-set
    or cancelled since), which are skipped when popped: setting stays O(log n) with no removal.
    Once stale entries outnumber the live ones the heap is rebuilt from `_live`, so a key that is
    re-set again and again before its due time cannot grow it without bound.
    """

    def __init__(self) -> None:
        self._live: dict[JobKey, tuple[str, float, int]] = {}  # key -> (uid, due, sequence)
        self._heap: list[tuple[float, int, JobKey, str]] = []  # (due, sequence, key, uid)
        self._sequence = itertools.count()  # ties fire in the order they were set

    def __len__(self) -> int:
        return len(self._live)

    def __contains__(self, key: JobKey) -> bool:
        return key in self._live

    def set(self, key: JobKey, uid: str, due: float) -> None:
        """Arm `key` for `uid` at `due`, replacing its timer; a no-op if it is already exactly that."""
        current = self._live.get(key)
        if current is not None and current[:2] == (uid, due):
            return  # e.g. a status write that does not move the due time
        sequence = next(self._sequence)
        self._live[key] = (uid, due, sequence)
        heapq.heappush(self._heap, (due, sequence, key, uid))
        self._compact()

    def cancel(self, key: JobKey, uid: str | None = None) -> bool:
        """Disarm `key` (only if armed for `uid`, when given); whether there was a timer to disarm."""
        current = self._live.get(key)
        if current is None or (uid is not None and current[0] != uid):
            return False
        del self._live[key]
        self._compact()
        return True

    def next_due(self) -> float | None:
        """The earliest heap entry's due time. It may be a stale entry's: waking for it finds nothing
        due and only costs a wakeup."""
        return self._heap[0][0] if self._heap else None

    def pop_due(self, now: float) -> tuple[JobKey, str] | None:
        """Disarm and return the earliest live timer due by `now` as (key, uid), else None.

        One at a time, so a caller that fails acting on one leaves the rest armed.
        """
        while self._heap and self._heap[0][0] <= now:
            _, sequence, key, uid = heapq.heappop(self._heap)
            current = self._live.get(key)
            if current is None or current[2] != sequence:
                continue  # cancelled or re-set since
            del self._live[key]
            return key, uid
        return None

    def _compact(self) -> None:
        """Rebuild the heap from the live timers once stale entries outnumber them (plus a little
        slack): O(live), after more than `live` stale entries, so setting stays O(log n) amortised."""
        if len(self._heap) <= 2 * len(self._live) + HEAP_SLACK:
            return
        self._heap = [(due, sequence, key, uid) for key, (uid, due, sequence) in self._live.items()]
        heapq.heapify(self._heap)


class JobTimerController(ABC):
    """One task that feeds every store Job event to `_on_event` and fires the due timers (`_timers`).

    A subclass names its task and logger, picks its clock (`_now`) and says what an event does to
    a Job's timer (`_on_event`) and what a fired timer does (`_fire`).
    """

    # a long burst of events is drained in slices this long, firing due timers in between; None: at once
    events_per_yield: int | None = None

    def __init__(self, store: Store, *, task_name: str, display_name: str, logger: logging.Logger) -> None:
        self.store = store
        self._timers = KeyedTimers()
        self._task_name = task_name
        self._display_name = display_name  # names the controller in the log line of a failed step
        self._log = logger
        self._subscription: Subscription | None = None
        self._task: asyncio.Task[None] | None = None

    @abstractmethod
    def _now(self) -> float:
        """The clock timers are set on."""

    @abstractmethod
    def _on_event(self, type_: str, job: Obj) -> None:
        """A Job event (or one of the initial ones): set or cancel its timer, act on it."""

    @abstractmethod
    def _fire(self, key: JobKey, uid: str, now: float) -> None:
        """The timer of `key`, armed for `uid`, is due (it is already disarmed)."""

    async def start(self) -> None:
        """Call after the store's state is loaded: Jobs already there come as the initial events."""
        self._subscription, initial = self.store.subscribe(JOBS)
        for type_, job, _ in initial:
            self._on_event(type_, job)
        self._task = asyncio.create_task(self._run(self._subscription), name=self._task_name)

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()  # Subscription.next awaits plainly (no wait_for), so this always lands
            await asyncio.wait({task})
        if task is not None and not task.cancelled():
            with contextlib.suppress(Exception):
                task.result()
        if self._subscription is not None:
            self._subscription.close()
            self._subscription = None

    def _fire_due(self, now: float) -> None:
        while (due := self._timers.pop_due(now)) is not None:
            self._fire(due[0], due[1], now)

    async def _run(self, subscription: Subscription) -> None:
        while not subscription.closed:  # closed: the server is shutting down
            try:
                self._fire_due(self._now())
                next_due = self._timers.next_due()
                timeout = None if next_due is None else max(0.0, next_due - self._now())
                event = await subscription.next(timeout)
                handled = 0
                while event is not None:
                    self._on_event(event[0], event[1])
                    handled += 1
                    if self.events_per_yield is not None and handled % self.events_per_yield == 0:
                        await asyncio.sleep(0)  # let other tasks run, and fire what came due meanwhile
                        self._fire_due(self._now())
                    event = await subscription.next(0) if subscription.pending() else None
            except asyncio.CancelledError:
                raise
            except Exception:  # one odd Job must not stop the controller for every other Job
                self._log.exception("%s step failed", self._display_name)
                await asyncio.sleep(FAILED_STEP_PAUSE)
