"""Executes a planner Decision after its claim succeeded: delete (Replace), create, recover, prune.

The claim is persisted before anything here runs, so every step may fail and be repeated: Job
names are deterministic (AlreadyExists from our own earlier attempt means done), deletions of
missing Jobs are fine, and whatever a crash leaves undone is redone by the next plan() (an
`active` entry without its Job is recreated). Every write is preceded by a leadership check.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

from recurringjob import GROUP, KIND, VERSION
from recurringjob.core.jobs import (
    FIRE_TIME_ANNOTATION,
    OCCURRENCE_LOCK_FINALIZER,
    SCHEDULED_TIME_ANNOTATION,
    TRIGGER_KIND_ANNOTATION,
)
from recurringjob.core.timeutil import format_rfc3339, parse_rfc3339
from recurringjob.runtime.cache import Cache
from recurringjob.runtime.claim import NotLeader, backoff_delay
from recurringjob.runtime.jobwatch import slim_job
from recurringjob.runtime.kube import ApiError, KubeApi, events_path, job_path
from recurringjob.runtime.metrics import Metrics

log = logging.getLogger(__name__)

T = TypeVar("T")

# A create refused for what it is (invalid template, admission, quota), not for a transient reason
# or a name collision: retrying the same manifest at once would only fail again.
REJECTION_STATUSES = frozenset({400, 403, 422})
# How long before its deadline a scheduled occurrence's create is still sent: a create takes a
# moment to reach the API server, and the Job must exist by T + startingDeadlineSeconds.
DEADLINE_MARGIN_SECONDS = 0.5


class JobRejected(Exception):
    """The API refused to create a Job; `message` is the API's own explanation."""

    def __init__(self, job_name: str, status: int, message: str):
        super().__init__(f"{status}: {message}")
        self.job_name = job_name
        self.status = status
        self.message = message


class DecisionLike(Protocol):
    """The parts of planner.Decision that the runtime reads (read-only, so the frozen dataclass fits)."""

    @property
    def action(self) -> str: ...
    @property
    def missed(self) -> int: ...
    @property
    def warnings(self) -> tuple[str, ...]: ...
    @property
    def reason(self) -> str: ...
    @property
    def status(self) -> dict[str, Any] | None: ...
    @property
    def requeue_after(self) -> float | None: ...
    @property
    def job(self) -> dict[str, Any] | None: ...
    @property
    def recreate(self) -> tuple[dict[str, Any], ...]: ...
    @property
    def delete_active(self) -> tuple[str, ...]: ...
    @property
    def prune(self) -> tuple[str, ...]: ...
    @property
    def release(self) -> tuple[str, ...]: ...


def _meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    return obj.get("metadata") or {}


def _scheduled_time(job: Mapping[str, Any]) -> float | None:
    """When the Job was due: its fire time (nominal + jitter), else its nominal time; None for a
    backfilled occurrence (late by design, not launch lag)."""
    annotations = _meta(job).get("annotations") or {}
    if annotations.get(TRIGGER_KIND_ANNOTATION) == "backfill":
        return None
    value = annotations.get(FIRE_TIME_ANNOTATION) or annotations.get(SCHEDULED_TIME_ANNOTATION)
    try:
        return parse_rfc3339(value).timestamp() if value else None
    except ValueError:
        return None


class EventRecorder:
    """Warning Events about RecurringJobs; one POST each, repeats of one (uid, reason, message) muted."""

    def __init__(self, api: KubeApi, *, instance: str, mute_seconds: float = 300.0, max_keys: int = 20_000,
                 clock: Callable[[], float] = time.time):
        self.api = api
        self.instance = instance
        self.clock = clock  # unix seconds for the Event's timestamps: the server's clock (ServerClock)
        self.mute_seconds = mute_seconds
        self.max_keys = max_keys
        self._last_posted: dict[tuple[str, str, str], float] = {}

    async def warn(self, rj: Mapping[str, Any], reason: str, message: str) -> None:
        meta = _meta(rj)
        mute_key = (str(meta.get("uid")), reason, message)
        now = time.monotonic()
        if now - self._last_posted.get(mute_key, -1e18) < self.mute_seconds:
            return
        if len(self._last_posted) >= self.max_keys:
            self._last_posted.clear()
        self._last_posted[mute_key] = now
        stamp = format_rfc3339(datetime.fromtimestamp(self.clock(), UTC))
        event = {
            "apiVersion": "v1", "kind": "Event",
            # named like client-go's recorder (<object>.<unix nanos, hex>): a generateName ending in
            # "." is not a valid DNS-subdomain prefix, and kube-apiserver rejects it
            "metadata": {"name": f"{str(meta.get('name'))[:236]}.{time.time_ns():x}",
                         "namespace": meta.get("namespace")},
            "involvedObject": {"apiVersion": f"{GROUP}/{VERSION}", "kind": KIND, "name": meta.get("name"),
                               "namespace": meta.get("namespace"), "uid": meta.get("uid"),
                               "resourceVersion": meta.get("resourceVersion")},
            "type": "Warning", "reason": reason, "message": message[:1024],
            "source": {"component": "recurringjob-operator"},
            "reportingComponent": "recurringjob.dev/operator", "reportingInstance": self.instance,
            "firstTimestamp": stamp, "lastTimestamp": stamp, "count": 1,
        }
        try:
            await self.api.request("POST", events_path(str(meta.get("namespace"))), body=event)
        except ApiError as exc:  # events are best effort: never block or fail a launch for one
            log.warning("could not post event %s for %s/%s: %s", reason, meta.get("namespace"),
                        meta.get("name"), exc)


class Launcher:
    def __init__(self, api: KubeApi, *, is_leader: Callable[[], bool], cache: Cache,
                 events: EventRecorder, metrics: Metrics | None = None, attempts: int = 6,
                 clock: Callable[[], float] = time.time):
        self.api = api
        self.clock = clock  # unix seconds for the launch lag: the server's clock (ServerClock)
        self.is_leader = is_leader
        self.cache = cache
        self.events = events
        self.metrics = metrics
        self.attempts = attempts

    async def execute(self, rj: Mapping[str, Any], decision: DecisionLike) -> None:
        """Carry out `decision` for `rj` (the object returned by the successful claim)."""
        meta = _meta(rj)
        namespace, name = str(meta.get("namespace")), str(meta.get("name"))
        for job_name in decision.delete_active:
            # Foreground: the Job's pods go first, while our lock still holds the Job object
            await self._delete_job(namespace, name, job_name, propagation="Foreground")
        if decision.job is not None:
            created = await self._create_job(rj, decision.job)
            if created:
                self._count(namespace, name, "launched")
        for manifest in decision.recreate:
            if await self._create_job(rj, manifest):
                self._count(namespace, name, "recovered")
        if decision.action == "skip":
            self._count(namespace, name, "skipped")
        self._count(namespace, name, "missed", decision.missed)
        for job_name in decision.prune:
            await self._delete_job(namespace, name, job_name)
            await self.release_lock(namespace, job_name)
        for job_name in decision.release:
            await self.release_lock(namespace, job_name)
        for reason in decision.warnings:
            await self.events.warn(rj, reason, decision.reason)

    def _count(self, namespace: str, name: str, result: str, amount: int = 1) -> None:
        if self.metrics is not None:
            self.metrics.count_occurrences(namespace, name, result, amount)

    async def _create_job(self, rj: Mapping[str, Any], manifest: Mapping[str, Any]) -> bool:
        """Create a Job; True if this call created it. Our own existing Job counts as done."""
        namespace = str(_meta(rj).get("namespace"))
        job_name = str(_meta(manifest).get("name"))
        for _ in range(self.attempts):
            late_by = self._late_by(rj, manifest)
            if late_by is not None:
                # the claim (or a retry) took too long: starting it now would break the deadline.
                # Claimed and never created, it is booked as missed by the next plan.
                log.warning("not creating Job %s/%s: %.1fs past startingDeadlineSeconds", namespace, job_name,
                            late_by)
                return False
            try:
                created = await self._retrying(lambda: self.api.request(
                    "POST", job_path(namespace), body=manifest, guard=self.is_leader))
            except ApiError as exc:
                if exc.status in REJECTION_STATUSES:
                    raise JobRejected(job_name, exc.status, exc.message or exc.reason) from exc
                if exc.status != 409:
                    raise
            else:
                self._observe_lag(manifest)
                self.cache.put_job(slim_job(created))
                return True
            try:
                existing = await self._retrying(
                    lambda: self.api.request("GET", job_path(namespace, job_name)))
            except ApiError as exc:
                if exc.status == 404:
                    continue  # a 409 without the Job (e.g. deleted meanwhile): try the create again
                raise
            self.cache.put_job(slim_job(existing))
            owners = _meta(existing).get("ownerReferences") or ()
            if any(ref.get("uid") == _meta(rj).get("uid") for ref in owners):
                return False  # our own earlier attempt (or another leader's): the occurrence is launched
            await self.events.warn(rj, "JobNameTaken",
                                   f"Job {job_name} already exists and is not owned by this RecurringJob; "
                                   f"the occurrence is missed")
            self._count(namespace, str(_meta(rj).get("name")), "missed")
            return False
        raise ApiError(409, "Conflict", f"Job {job_name}: create kept conflicting")

    def _late_by(self, rj: Mapping[str, Any], manifest: Mapping[str, Any]) -> float | None:
        """Seconds a scheduled occurrence's create would be past its startingDeadlineSeconds (with
        the margin), or None. Requests are exempt: a backfill is late by design, and a claimed
        trigger is recovered whatever the deadline."""
        deadline = (rj.get("spec") or {}).get("startingDeadlineSeconds")
        annotations = _meta(manifest).get("annotations") or {}
        requested = annotations.get(TRIGGER_KIND_ANNOTATION) in ("trigger", "backfill")
        if not isinstance(deadline, int) or requested:
            return None
        due_text = annotations.get(FIRE_TIME_ANNOTATION) or annotations.get(SCHEDULED_TIME_ANNOTATION)
        try:
            due = parse_rfc3339(due_text).timestamp() if isinstance(due_text, str) else None
        except ValueError:
            return None
        if due is None:
            return None
        late_by = self.clock() + DEADLINE_MARGIN_SECONDS - (due + deadline)
        return late_by if late_by > 0 else None

    async def _delete_job(self, namespace: str, owner: str, job_name: str,
                          propagation: str = "Background") -> None:
        body = {"apiVersion": "v1", "kind": "DeleteOptions", "propagationPolicy": propagation}
        try:
            await self._retrying(lambda: self.api.request(
                "DELETE", job_path(namespace, job_name), body=body,
                query={"propagationPolicy": propagation}, guard=self.is_leader))
        except ApiError as exc:
            if exc.status != 404:
                raise
        # forget it now: planning again before the watch reports the deletion would delete it twice
        self.cache.drop_job_named((namespace, owner), job_name)

    def _forget(self, namespace: str, job_name: str) -> None:
        """The API says the Job is gone: so must the cache be, or every plan until the watch
        catches up (a relist after an API server restart) would release its lock again."""
        self.cache.drop_job({"metadata": {"namespace": namespace, "name": job_name}})

    async def release_lock(self, namespace: str, job_name: str) -> None:
        """Remove our occurrence-lock finalizer from a Job (and only ours: a JSON patch that tests
        the entry it removes, so another controller's finalizer is never dropped)."""
        path = job_path(namespace, job_name)
        index: int | None = 0  # ours is usually the only finalizer: try without reading first
        for _ in range(3):
            if index is None:
                try:
                    job = await self._retrying(lambda: self.api.request("GET", path))
                except ApiError as exc:
                    if exc.status == 404:
                        self._forget(namespace, job_name)
                        return
                    raise
                finalizers = list(_meta(job).get("finalizers") or ())
                if OCCURRENCE_LOCK_FINALIZER not in finalizers:
                    return
                index = finalizers.index(OCCURRENCE_LOCK_FINALIZER)
            entry = f"/metadata/finalizers/{index}"
            patch = [{"op": "test", "path": entry, "value": OCCURRENCE_LOCK_FINALIZER},
                     {"op": "remove", "path": entry}]
            try:
                await self._retrying(lambda body=patch: self.api.request(  # type: ignore[misc]
                    "PATCH", path, body=body, content_type="application/json-patch+json",
                    guard=self.is_leader))
                return
            except ApiError as exc:
                if exc.status == 404:
                    self._forget(namespace, job_name)
                    return
                if exc.status not in (409, 422):  # 422: the test failed (the list differs): read it
                    raise
                index = None
        log.warning("could not release the occurrence lock of Job %s/%s; will try again", namespace, job_name)

    def _observe_lag(self, manifest: Mapping[str, Any]) -> None:
        scheduled = _scheduled_time(manifest)
        if self.metrics is not None and scheduled is not None:
            self.metrics.launch_lag.observe(max(0.0, self.clock() - scheduled))

    async def _retrying(self, send: Callable[[], Awaitable[T]]) -> T:
        """Retry transient failures (500/503/429/timeouts) with backoff, honouring Retry-After."""
        for attempt in range(self.attempts):
            if not self.is_leader():
                raise NotLeader()
            try:
                return await send()
            except ApiError as exc:
                if not exc.transient or attempt == self.attempts - 1:
                    raise
                await asyncio.sleep(backoff_delay(attempt, exc.retry_after))
        raise AssertionError("unreachable")


def job_finished_facts(job: Mapping[str, Any]) -> tuple[bool, float | None] | None:
    """(succeeded, duration seconds) of a finished Job, None while it runs."""
    status = job.get("status") or {}
    for condition in status.get("conditions") or ():
        if condition.get("status") != "True" or condition.get("type") not in ("Complete", "Failed"):
            continue
        duration = None
        start = status.get("startTime")
        end = status.get("completionTime") or condition.get("lastTransitionTime")
        if start and end:
            try:
                duration = (datetime.fromisoformat(str(end).replace("Z", "+00:00"))
                            - datetime.fromisoformat(str(start).replace("Z", "+00:00"))).total_seconds()
            except ValueError:
                duration = None
        return condition.get("type") == "Complete", duration
    return None

