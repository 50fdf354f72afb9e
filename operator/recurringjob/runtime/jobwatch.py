"""The Job reflector: LIST then WATCH Jobs with our own client, the cache being the truth after a relist.

Why not Kopf's watch: after 410 Gone it relists without reporting the objects that vanished while
it was away, and its label-filtered watch loses a Job whose label is edited away. Here:

- one paginated LIST (`limit`/`continue`), then WATCH from the list's resourceVersion with
  bookmarks and `timeoutSeconds`; a dropped stream resumes from the last resourceVersion seen
  (bookmarks included), so a plain reconnect costs no relist;
- 410 Gone (an HTTP answer or a watch ERROR event) relists and REPLACES the view: held Jobs absent
  from the list are reported deleted (Cache.replace_jobs);
- no label selector: a Job is ours by its controller ownerReference, so no label edit can hide it;
- every object is slimmed at the edge (slim_job) before anything keeps it: no pod templates held;
- errors back off exponentially (never a hot loop); a stream that stays silent past the idle
  timeout or outlives the server's timeout (a watch the server forgot) ends on our side.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from fnmatch import fnmatchcase
from typing import Any, Protocol

import orjson

from recurringjob import GROUP
from recurringjob.runtime.cache import Cache, controller_ref, owner_key
from recurringjob.runtime.kube import ApiError, KubeApi, job_path

log = logging.getLogger(__name__)

GLOB_CHARS = "*?[!"  # a --namespace holding one of these is a pattern, not a name
OUR_PREFIX = f"{GROUP}/"
_JOB_META_FIELDS = ("name", "namespace", "uid", "resourceVersion", "creationTimestamp", "deletionTimestamp")
_UNIQUE_META_FIELDS = frozenset({"name", "uid", "resourceVersion"})  # one Job's own: nothing to share
_JOB_CONDITION_FIELDS = ("type", "status", "reason", "lastTransitionTime")
_JOB_STATUS_FIELDS = ("startTime", "completionTime", "active", "succeeded", "failed")


def _shared(value: Any) -> Any:
    """One str object for equal values (sys.intern; interned strings still die with their last
    user). A cached Job's strings mostly repeat across Jobs: the namespace, its owner's name, uid and
    apiVersion, the finalizer, condition types, and timestamps shared by every Job of the same
    second. Decoding gives each Job its own copies; shared, a cached Job is ~1 KB smaller."""
    return sys.intern(value) if type(value) is str else value


def slim_job(obj: Mapping[str, Any]) -> dict[str, Any]:
    """What planning and metrics read of a Job, nothing else (like a client-go informer transform).

    Metadata: identity, versions, timestamps, finalizers, the controller ownerReference if it is a
    RecurringJob, and only our own (`recurringjob.dev/*`) labels and annotations; status: the
    conditions (without messages), start/completion times and pod counts; no spec at all.
    Every Job entering the cache goes through here, the ones our own requests return included.
    Repeated string values are shared (`_shared`); the Job's own name, uid and version are not.
    """
    meta = obj.get("metadata") or {}
    slim_meta: dict[str, Any] = {}
    for key in _JOB_META_FIELDS:
        value = meta.get(key)
        if value is not None:
            slim_meta[key] = value if key in _UNIQUE_META_FIELDS else _shared(value)
    if meta.get("finalizers"):
        slim_meta["finalizers"] = [_shared(f) for f in meta["finalizers"]]
    ref = controller_ref(obj)
    slim_meta["ownerReferences"] = [{k: _shared(v) for k, v in ref.items()}] if ref is not None else []
    for field in ("labels", "annotations"):
        ours = {k: _shared(v) for k, v in (meta.get(field) or {}).items() if k.startswith(OUR_PREFIX)}
        if ours:
            slim_meta[field] = ours
    status = obj.get("status") or {}
    slim_status: dict[str, Any] = {key: _shared(status[key]) for key in _JOB_STATUS_FIELDS if key in status}
    conditions = status.get("conditions")
    if conditions:
        slim_status["conditions"] = [
            {key: _shared(c[key]) for key in _JOB_CONDITION_FIELDS if key in c}
            for c in conditions if isinstance(c, Mapping)]
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": slim_meta, "status": slim_status}


class JobEvents(Protocol):
    """Who is told about Job changes (the Scheduler)."""

    def on_job_event(self, job: Mapping[str, Any], previous: Mapping[str, Any] | None,
                     deleted: bool) -> None: ...


class JobSink:
    """Applies the reflector's view to the cache and tells the scheduler what changed."""

    def __init__(self, cache: Cache, events: JobEvents) -> None:
        self.cache = cache
        self.events = events

    def changed(self, job: Mapping[str, Any]) -> None:
        """An ADDED or MODIFIED Job (slim). One no longer ours (ownerReference removed) is gone."""
        if owner_key(job) is None:
            self.deleted(job)
            return
        previous, stored = self.cache.put_job(job)
        if stored:
            # completions are counted by the scheduler, in the CAS write that removes a Job from
            # status.active (once per Job, across failovers), not here on watch transitions
            self.events.on_job_event(job, previous, deleted=False)

    def deleted(self, job: Mapping[str, Any]) -> None:
        held = self.cache.drop_job(job)
        if held is not None:
            self.events.on_job_event(held, None, deleted=True)

    def relisted(self, jobs: Sequence[Mapping[str, Any]], in_scope: Callable[[str], bool],
                 list_rv: str | None) -> int:
        """A full LIST: store it and report what vanished meanwhile; returns how many vanished."""
        stored, removed = self.cache.replace_jobs(
            [job for job in jobs if owner_key(job) is not None], in_scope=in_scope, list_rv=list_rv)
        for job, previous in stored:
            self.events.on_job_event(job, previous, deleted=False)
        for job in removed:
            self.events.on_job_event(job, None, deleted=True)
        return len(removed)


# Retries of a failing LIST/WATCH stay this close together: after an API server outage the Job view
# is stale until the next attempt, and a stale "still running" makes Forbid skip what is due (an
# 8-second backoff cost 18 occurrences in the long chaos run). Two requests every 2 s are nothing
# for an API server; client-go's reflector backs off to 30 s, but it serves many more watchers.
BACKOFF_MAX_SECONDS = 2.0


class Relist(Exception):
    """The watch cannot resume from its resourceVersion (410 Gone, or an ERROR event): list again."""


class Reflector:
    """LIST + WATCH of one Job collection (a namespace, or all of them), kept in a JobSink."""

    def __init__(self, api: KubeApi, sink: JobSink, *, namespace: str = "",
                 accepts: Callable[[str], bool] = lambda _: True, page_size: int = 500,
                 watch_seconds: int = 120, idle_seconds: float = 90.0, healthy_seconds: float = 1.0,
                 backoff_base: float = 0.25, backoff_max: float = BACKOFF_MAX_SECONDS) -> None:
        self.api = api
        self.sink = sink
        self.namespace = namespace
        self.path = job_path(namespace) if namespace else "/apis/batch/v1/jobs"
        self.accepts = (lambda ns: ns == namespace) if namespace else accepts
        self.page_size = page_size
        self.watch_seconds = watch_seconds
        self.idle_seconds = idle_seconds
        self.healthy_seconds = healthy_seconds  # a stream shorter than this, with no event, failed
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.synced = asyncio.Event()  # set once the first LIST is in the cache
        self.resource_version: str | None = None
        self.lists = 0  # LISTs completed (the first one included)
        self.watches = 0  # WATCH requests sent

    def __repr__(self) -> str:
        return f"Reflector({self.namespace or 'all namespaces'})"

    async def run(self) -> None:
        """Forever (until cancelled): list when needed, watch, resume, back off on failures."""
        failures = 0
        while True:
            healthy = False
            try:
                if self.resource_version is None:
                    await self._relist()
                healthy = await self._watch()
            except Relist as exc:
                log.info("%r: %s; listing again", self, exc)
                self.resource_version = None
            except ApiError as exc:
                if exc.status == 410:
                    log.info("%r: %s; listing again", self, exc)
                    self.resource_version = None
                else:
                    log.warning("%r: %s", self, exc)
            except Exception:  # a bug must not end the watch for good: log it, start over from a LIST
                log.exception("%r failed; listing again", self)
                self.resource_version = None
            failures = 0 if healthy else failures + 1
            if failures:
                await asyncio.sleep(self._backoff(failures))

    def _backoff(self, failures: int) -> float:
        """Exponential with jitter: the first retry is quick, a persistent failure costs little."""
        delay = min(self.backoff_max, self.backoff_base * 2 ** min(failures - 1, 16))
        return delay * random.uniform(0.5, 1.0)

    async def _relist(self) -> None:
        jobs: list[dict[str, Any]] = []
        token, list_rv = "", None
        while True:
            query = {"limit": str(self.page_size)}
            if token:
                query["continue"] = token
            page = await self.api.request("GET", self.path, query=query, timeout=60.0)
            for item in page.get("items") or ():
                # only ours are kept (a cluster-wide LIST returns every Job of the cluster); one
                # held but no longer ours is absent from the list, hence dropped, as before
                if self.accepts(str((item.get("metadata") or {}).get("namespace") or "")) \
                        and controller_ref(item) is not None:
                    jobs.append(slim_job(item))
            page_meta = page.get("metadata") or {}
            list_rv = page_meta.get("resourceVersion") or list_rv
            token = page_meta.get("continue") or ""
            if not token:
                break
        vanished = self.sink.relisted(jobs, self.accepts, list_rv)
        self.resource_version = list_rv
        self.lists += 1
        if self.synced.is_set():
            log.info("%r: relisted %d Jobs at resourceVersion %s; %d vanished meanwhile",
                     self, len(jobs), list_rv, vanished)
        self.synced.set()
        if list_rv is None:
            raise Relist("the LIST answer carried no resourceVersion")

    async def _watch(self) -> bool:
        """One WATCH stream from self.resource_version; True if it was healthy (lasted or delivered)."""
        assert self.resource_version is not None
        query = {"watch": "1", "allowWatchBookmarks": "true", "resourceVersion": self.resource_version,
                 "timeoutSeconds": str(self.watch_seconds)}
        started, events = time.monotonic(), 0
        self.watches += 1
        try:
            async with contextlib.aclosing(self.api.stream_lines(
                    self.path, query=query, idle_timeout=self.idle_seconds,
                    total_timeout=self.watch_seconds + 30.0)) as lines:
                async for line in lines:
                    if line.strip():
                        self._handle(orjson.loads(line))
                        events += 1
        except ApiError as exc:
            if exc.status != 0 or (time.monotonic() - started < self.healthy_seconds and not events):
                raise
            log.info("%r: watch ended: %s; resuming from %s", self, exc, self.resource_version)
        except ValueError as exc:  # a line that is not JSON: the stream is broken, resume
            log.warning("%r: unreadable watch line (%s); resuming from %s", self, exc, self.resource_version)
        return events > 0 or time.monotonic() - started >= self.healthy_seconds

    def _handle(self, event: Mapping[str, Any]) -> None:
        kind, obj = event.get("type"), event.get("object")
        if not isinstance(obj, Mapping):
            raise Relist(f"a watch event without an object: {str(event)[:200]}")
        if kind == "ERROR":
            raise Relist(f"watch ERROR {obj.get('code')} {obj.get('reason')}: {obj.get('message')}")
        meta = obj.get("metadata") or {}
        if kind in ("ADDED", "MODIFIED", "DELETED") and self.accepts(str(meta.get("namespace") or "")):
            job = slim_job(obj)
            if kind == "DELETED":
                self.sink.deleted(job)
            else:
                self.sink.changed(job)
        if meta.get("resourceVersion"):  # BOOKMARKs too: a resume starts after them
            self.resource_version = str(meta["resourceVersion"])


def namespace_scopes(namespaces: Sequence[str]) -> tuple[list[str], Callable[[str], bool]]:
    """(what to list/watch, which namespaces to keep): exact names get one reflector each; globs or
    no --namespace at all mean one cluster-wide reflector filtered client-side."""
    if namespaces and not any(ch in ns for ns in namespaces for ch in GLOB_CHARS):
        return list(dict.fromkeys(namespaces)), lambda _: True
    if not namespaces:
        return [""], lambda _: True
    patterns = list(namespaces)
    return [""], lambda namespace: any(fnmatchcase(namespace, pattern) for pattern in patterns)


class JobWatch:
    """The reflectors of an operator replica (every replica runs them: warm caches for failover)."""

    def __init__(self, api: KubeApi, sink: JobSink, namespaces: Sequence[str], **options: Any) -> None:
        scopes, accepts = namespace_scopes(namespaces)
        self.reflectors = [Reflector(api, sink, namespace=scope, accepts=accepts, **options)
                           for scope in scopes]
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._tasks = [asyncio.create_task(r.run(), name=f"jobwatch-{r.namespace or 'all'}")
                       for r in self.reflectors]

    async def wait_synced(self) -> None:
        await asyncio.gather(*(r.synced.wait() for r in self.reflectors))

    async def stop(self) -> None:
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
