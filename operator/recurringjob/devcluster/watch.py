"""Watch streams: `?watch=1`, one JSON event per line, like kube-apiserver.

- resourceVersion absent or "0": synthetic ADDED for the current state, then changes;
  resourceVersion=N: every change after N (from the retained history), then changes;
  N older than the history: HTTP 200 with one ERROR event carrying a 410 Expired Status, which
  is how kube answers (client-go, the Python client and Kopf all restart with a fresh list).
- sendInitialEvents=true: the initial ADDED events end with a BOOKMARK annotated
  `k8s.io/initial-events-end` (watch-list). allowWatchBookmarks: a BOOKMARK with the current
  revision when the stream has been idle for a while.
- timeoutSeconds ends the stream cleanly; without it kube picks 30-60 minutes.
"""

from __future__ import annotations

import asyncio
import random
import time
from typing import TYPE_CHECKING, Any

from aiohttp import web

from recurringjob.devcluster import apierrors, codec
from recurringjob.devcluster.request import RequestInfo

if TYPE_CHECKING:
    from recurringjob.devcluster.http import ApiHandler
    from recurringjob.devcluster.routing import Target

Obj = dict[str, Any]


class EventLines:
    """Encoded watch lines, shared by every watcher that gets the same committed object.

    Committed objects are immutable, so the line for (type, object, apiVersion) never changes:
    with N watchers an event is encoded once, not N times. Entries keep their object alive, so
    its id() cannot be reused by another object while the entry exists.
    """

    def __init__(self, size: int = 4096) -> None:
        self._size = size
        self._lines: dict[tuple[int, str, str], tuple[Obj, bytes]] = {}

    def line(self, type_: str, obj: Obj, api_version: str) -> bytes:
        key = (id(obj), type_, api_version)
        cached = self._lines.get(key)
        if cached is not None and cached[0] is obj:
            return cached[1]
        served = obj if obj.get("apiVersion") == api_version else dict(obj, apiVersion=api_version)
        line = codec.dumps({"type": type_, "object": served}) + b"\n"
        if len(self._lines) >= self._size:
            del self._lines[next(iter(self._lines))]  # the oldest: watchers drain in commit order
        self._lines[key] = (obj, line)
        return line


def _flag(value: str | None) -> bool:
    return value in ("1", "true", "True")


async def serve_watch(
    handler: ApiHandler, request: web.Request, t: Target, info: RequestInfo
) -> web.StreamResponse:
    q = request.query
    store, faults = handler.store, handler.faults
    raw_rv = q.get("resourceVersion") or ""
    send_initial = _flag(q.get("sendInitialEvents"))
    try:
        since = None if raw_rv in ("", "0") or send_initial else int(raw_rv)
        timeout = float(q["timeoutSeconds"]) if q.get("timeoutSeconds") else random.uniform(1800, 3600)
    except ValueError:
        raise apierrors.bad_request(f'invalid watch parameters: resourceVersion "{raw_rv}"') from None
    as_table = codec.wants_table(request.headers.get("Accept", ""))
    response = web.StreamResponse(headers={"Content-Type": "application/json", "Cache-Control": "no-cache"})
    response.enable_chunked_encoding()
    try:
        if since is not None and faults is not None and faults.expire_watch(info):
            raise apierrors.expired(f"too old resource version: {since} ({store.revision})")
        sub, initial = store.subscribe(
            t.rt.rk, t.namespace, since, q.get("labelSelector"), q.get("fieldSelector")
        )
    except apierrors.ApiError as exc:
        if exc.code != 410:
            raise
        handler.watch_started(info)
        await response.prepare(request)
        await response.write(codec.dumps({"type": "ERROR", "object": exc.status()}) + b"\n")
        return response

    api_version = t.rt.api_version(t.version)

    def encode(type_: str, obj: Obj, revision: int) -> bytes:
        if not as_table:
            return handler.event_lines.line(type_, obj, api_version)
        served = codec.view(t.rt, obj, t.version)
        table = codec.table(t.rt, t.version, [served], revision, q.get("includeObject"))
        return codec.dumps({"type": type_, "object": table}) + b"\n"

    def bookmark(annotations: dict[str, str] | None = None) -> bytes:
        meta: dict[str, Any] = {"resourceVersion": str(store.revision)}
        if annotations:
            meta["annotations"] = annotations
        return (
            codec.dumps(
                {
                    "type": "BOOKMARK",
                    "object": {
                        "kind": t.rt.kind,
                        "apiVersion": t.rt.api_version(t.version),
                        "metadata": meta,
                    },
                }
            )
            + b"\n"
        )

    allow_bookmarks = _flag(q.get("allowWatchBookmarks"))
    cut_after = faults.watch_cut_after(info) if faults is not None else None
    deadline = time.monotonic() + (min(timeout, cut_after) if cut_after is not None else timeout)
    # A partition cuts an open stream too, as a real network partition would: the stream races the
    # injector's partition signal, which wakes the subscription so the loop below sees it at once.
    partitioned: asyncio.Task[None] | None = None
    if faults is not None:
        partitioned = asyncio.create_task(faults.wait_partitioned(info.client))
        partitioned.add_done_callback(lambda _: sub.wake())

    def cut() -> bool:  # server shutdown, or the client got partitioned
        return sub.closed or (partitioned is not None and partitioned.done())

    try:
        handler.watch_started(info)
        await response.prepare(request)
        chunk = b"".join(encode(*event) for event in initial)
        if send_initial and allow_bookmarks:
            chunk += bookmark({"k8s.io/initial-events-end": "true"})
        if chunk:
            await response.write(chunk)
        last_sent = time.monotonic()
        while not cut():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            wait = min(remaining, handler.bookmark_interval) if allow_bookmarks else remaining
            item = await sub.next(wait)
            if item is None:  # timed out, or woken by shutdown or a partition
                if cut():
                    break
                if allow_bookmarks and time.monotonic() - last_sent >= handler.bookmark_interval * 0.99:
                    await response.write(bookmark())
                    last_sent = time.monotonic()
                continue
            parts = [encode(*item)]
            while sub.pending():  # batch whatever is already queued into one write
                queued = await sub.next(0)
                if queued is not None:
                    parts.append(encode(*queued))
            await response.write(b"".join(parts))
            last_sent = time.monotonic()
    except ConnectionResetError:  # the client went away
        pass
    finally:
        sub.close()
        if partitioned is not None:
            partitioned.cancel()
    return response
