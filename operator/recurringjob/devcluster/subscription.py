"""Watch plumbing shared by the store and its consumers: committed events and subscriber queues.

A `Subscription` is filled synchronously when the store commits, so no event can slip between a
watcher's initial state and its stream. Selector transitions follow kube's watch cache: an object
that starts matching arrives as ADDED, one that stops matching as DELETED.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import TYPE_CHECKING, Any

from recurringjob.devcluster import apierrors
from recurringjob.devcluster.registry import RK, ResourceType
from recurringjob.devcluster.selectors import FieldSelector, LabelSelector

if TYPE_CHECKING:
    from recurringjob.devcluster.store import Store

Obj = dict[str, Any]


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
        store: Store,
        rk: RK,
        namespace: str | None,
        labels: LabelSelector | None,
        fields: FieldSelector | None,
    ) -> None:
        self._store, self.rk, self.namespace = store, rk, namespace
        self._labels, self._fields = labels, fields
        self._queue: deque[tuple[str, Obj, int]] = deque()
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

    def drain(self) -> list[tuple[str, Obj, int]]:
        """Take everything queued so far (the replayed history, right after subscribing)."""
        queued = list(self._queue)
        self._queue.clear()
        return queued

    def pending(self) -> bool:
        return bool(self._queue)

    async def next(self, timeout: float | None = None) -> tuple[str, Obj, int] | None:  # noqa: ASYNC109
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
        self._store.unsubscribe(self)


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
