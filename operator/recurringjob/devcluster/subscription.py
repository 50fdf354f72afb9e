"""Watch fan-out behind the store: committed events, the retained history, subscriber queues.

The store owns objects and revisions; `WatchHub` owns everything a watcher needs: the history a
resumed watch replays (and the compaction point before which it answers 410 Expired) and the live
subscriptions each commit is offered to. A `Subscription` is filled synchronously when the store
commits, so no event can slip between a watcher's initial state and its stream. Selector
transitions follow kube's watch cache: an object that starts matching arrives as ADDED, one that
stops matching as DELETED.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from recurringjob.devcluster import apierrors
from recurringjob.devcluster.registry import RK, ResourceType
from recurringjob.devcluster.selectors import FieldSelector, LabelSelector

Obj = dict[str, Any]
WatchEvent = tuple[str, Obj, int]  # (type, object, revision) as one watcher receives it


class Event:
    """One committed change. `old` is the previous state for MODIFIED (selector transitions)."""

    __slots__ = ("namespace", "obj", "old", "revision", "rk", "type")

    def __init__(self, revision: int, rk: RK, type_: str, obj: Obj, old: Obj | None) -> None:
        self.revision, self.rk, self.type, self.obj, self.old = revision, rk, type_, obj, old
        self.namespace = obj["metadata"].get("namespace", "")


class Subscription:
    """A watcher's queue. Filled synchronously at commit time, so it never misses an event."""

    def __init__(
        self,
        hub: WatchHub,
        rk: RK,
        namespace: str | None,
        labels: LabelSelector | None,
        fields: FieldSelector | None,
    ) -> None:
        self._hub, self.rk, self.namespace = hub, rk, namespace
        self._labels, self._fields = labels, fields
        self._queue: deque[WatchEvent] = deque()
        self._ready = asyncio.Event()
        self.closed = False

    def _matches(self, obj: Obj | None) -> bool:
        if obj is None:
            return False
        if self._labels is not None and not self._labels.matches(obj["metadata"].get("labels") or {}):
            return False
        return self._fields is None or self._fields.matches(obj)

    def offer(self, event: Event) -> None:
        if self.namespace and event.namespace != self.namespace:
            return
        new_ok = self._matches(event.obj)
        if event.type == "MODIFIED" and (self._labels is not None or self._fields is not None):
            old_ok = self._matches(event.old)
            if new_ok and not old_ok:
                self._put("ADDED", event.obj, event.revision)
            elif old_ok and not new_ok and event.old is not None:
                gone = dict(
                    event.old, metadata=dict(event.old["metadata"], resourceVersion=str(event.revision))
                )
                self._put("DELETED", gone, event.revision)
            elif new_ok:
                self._put("MODIFIED", event.obj, event.revision)
        elif new_ok:
            self._put(event.type, event.obj, event.revision)

    def _put(self, type_: str, obj: Obj, revision: int) -> None:
        self._queue.append((type_, obj, revision))
        self._ready.set()

    def drain(self) -> list[WatchEvent]:
        """Take everything queued so far (the replayed history, right after subscribing)."""
        queued = list(self._queue)
        self._queue.clear()
        return queued

    def pending(self) -> bool:
        return bool(self._queue)

    async def next(self, timeout: float | None = None) -> WatchEvent | None:  # noqa: ASYNC109
        """The next event (shared object: do not mutate), or None after `timeout` seconds or a wake().

        The timeout is a loop timer that sets the same flag as an event would, not asyncio.wait_for:
        on Python 3.11 wait_for can swallow a cancellation that lands as its wait completes, which
        left shutdown waiting on watch handlers. A plain await always lets cancellation through.
        """
        if not self._queue:
            self._ready.clear()
            timer = None
            if timeout is not None:
                timer = asyncio.get_running_loop().call_later(max(0.0, timeout), self._ready.set)
            try:
                await self._ready.wait()
            finally:
                if timer is not None:
                    timer.cancel()
        return self._queue.popleft() if self._queue else None

    def wake(self) -> None:
        self._ready.set()

    def close(self) -> None:
        self.closed = True
        self._hub.remove(self)


# kube-apiserver's watch cache keeps at least this much history per resource (eventFreshDuration),
# and older resourceVersions are served from etcd until its compaction (5 min). One shared window
# of N events was far stricter: at 1,000 events/s of Jobs a RecurringJob watch resumed after a
# 20-second LIST got 410 every time, and Kopf re-listed all 10,000 RecurringJobs in a loop.
HISTORY_FRESH_SECONDS = 75.0
HISTORY_HARD_CAP_FACTOR = 20  # fresh events are kept up to this many times --history, per resource


class WatchHub:
    """The retained history and the live subscriptions, per resource.

    Per resource kind: events younger than `fresh_seconds` are kept (up to `history_limit` x
    HISTORY_HARD_CAP_FACTOR), older ones only while there are at most `history_limit` of them."""

    def __init__(self, history_limit: int, fresh_seconds: float = HISTORY_FRESH_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._limit = history_limit
        self._fresh = fresh_seconds
        self._clock = clock
        self._history: dict[RK, deque[tuple[float, Event]]] = {}
        self._compacted: dict[RK, int] = {}  # every event of the kind after this revision is retained
        self._floor = 0  # after a restore: nothing of any kind before this revision
        self._subscribers: dict[RK, set[Subscription]] = {}

    def publish(self, event: Event) -> None:
        """Retain `event` for resuming watches and queue it for every live subscriber of its kind."""
        now = self._clock()
        history = self._history.setdefault(event.rk, deque())
        history.append((now, event))
        while len(history) > self._limit and (
            now - history[0][0] > self._fresh or len(history) > self._limit * HISTORY_HARD_CAP_FACTOR
        ):
            self._compacted[event.rk] = history.popleft()[1].revision
        for sub in self._subscribers.get(event.rk, ()):
            sub.offer(event)

    def open(
        self,
        rk: RK,
        namespace: str | None,
        since: int | None,
        labels: LabelSelector | None,
        fields: FieldSelector | None,
    ) -> Subscription:
        """A live subscription; with `since`, already holding every retained change after it."""
        compacted = max(self._floor, self._compacted.get(rk, 0))
        if since is not None and since < compacted:
            raise apierrors.expired(f"too old resource version: {since} ({compacted + 1})")
        sub = Subscription(self, rk, namespace, labels, fields)
        if since is not None:
            for _, event in self._history.get(rk, ()):
                if event.revision > since:
                    sub.offer(event)
        self._subscribers.setdefault(rk, set()).add(sub)
        return sub

    def remove(self, sub: Subscription) -> None:
        self._subscribers.get(sub.rk, set()).discard(sub)

    def close_all(self) -> None:
        """Server shutdown: every subscription closes and its waiting consumer wakes up."""
        for subs in list(self._subscribers.values()):
            for sub in list(subs):
                sub.close()
                sub.wake()

    def reset(self, revision: int) -> None:
        """After a restore: no history, so a watch resuming from before `revision` gets 410."""
        self._history.clear()
        self._compacted.clear()
        self._floor = revision


def parse_selectors(
    rt: ResourceType | None, label_selector: str | None, field_selector: str | None
) -> tuple[LabelSelector | None, FieldSelector | None]:
    """Parsed selectors; 400 BadRequest with kube's message for bad syntax or unsupported fields."""
    try:
        labels = LabelSelector.parse(label_selector) if label_selector else None
        supported = ("metadata.name", "metadata.namespace", *(rt.field_labels if rt else ()))
        fields = FieldSelector.parse(field_selector, supported) if field_selector else None
    except ValueError as exc:
        raise apierrors.bad_request(str(exc)) from None
    return labels, fields
