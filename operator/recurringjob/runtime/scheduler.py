"""The leader's scheduler: one time-ordered queue, a bounded worker pool, one reconcile per key at once.

A heap of (due, seq, key) entries, with `_due[key]` holding the only live entry of each key
(stale heap entries are skipped when popped, which keeps enqueue O(log n) with no removal; once
they outnumber the live ones the heap is rebuilt from `_due`, so it stays under ~2x the keys).
One dispatcher task sleeps until the earliest entry is due (or an earlier one arrives) and hands
due keys to a fixed pool of workers. A key being reconciled is never handed out again: a wakeup
that arrives meanwhile is remembered and replayed once the reconcile ends (coalescing).
No task per object, no polling over all objects.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from recurringjob.core.attention import initial_due
from recurringjob.core.occurrence_lock import (
    DEFAULT_MAX_REQUEST_SECONDS,
    controller_uid,
    is_deleting,
    orphaned_locks,
)
from recurringjob.core.planner_status import book_rejection
from recurringjob.runtime.acting import acting_shard
from recurringjob.runtime.cache import Cache, Key, active_names, is_finished, owner_key
from recurringjob.runtime.claim import ClaimConflict, NotLeader, RecurringJobGone, claim, read_recurringjob
from recurringjob.runtime.jobwatch import slim_job
from recurringjob.runtime.kube import ApiError, KubeApi, job_path
from recurringjob.runtime.launch import DecisionLike, JobRejected, Launcher, job_finished_facts
from recurringjob.runtime.metrics import Metrics

log = logging.getLogger(__name__)

PlanFn = Callable[[Mapping[str, Any], Sequence[Mapping[str, Any]], datetime], DecisionLike]


class Sharding(Protocol):
    """What the scheduler needs to know about shards (runtime/shards.py; one shard when absent)."""

    def shard_of(self, uid: str) -> int: ...

    def leads(self, shard: int) -> bool: ...

SWEEP_INTERVAL = 10.0  # seconds between looks for locked Jobs whose RecurringJob is gone
IDLE_REQUEUE_FLOOR = 0.005  # a plan that wrote nothing is re-run no sooner than this (no hot loops)
HEAP_SLACK = 16  # stale heap entries tolerated beyond one per live key before a rebuild


class Scheduler:
    def __init__(self, *, cache: Cache, api: KubeApi, launcher: Launcher, is_leader: Callable[[], bool],
                 metrics: Metrics | None = None, plan: PlanFn | None = None, workers: int = 32,
                 conflict_retries: int = 3, error_delay: float = 2.0,
                 clock: Callable[[], float] = time.monotonic,
                 now: Callable[[], datetime] = lambda: datetime.now(UTC),
                 max_request_seconds: float = DEFAULT_MAX_REQUEST_SECONDS, sharding: Sharding | None = None):
        if plan is None:
            from functools import partial

            from recurringjob.core.planner import plan as planner_plan
            plan = partial(planner_plan, max_request_seconds=max_request_seconds)
        self.cache = cache
        self.api = api
        self.launcher = launcher
        self.is_leader = is_leader
        self.metrics = metrics
        self.plan = plan
        self.workers = workers
        self.conflict_retries = conflict_retries
        self.error_delay = error_delay
        self.clock = clock
        self.now = now
        self.max_request_seconds = max_request_seconds
        self.sharding = sharding
        self._shards_started: set[int] = set()
        self._heap: list[tuple[float, int, Key]] = []
        self._due: dict[Key, tuple[float, int]] = {}
        self._seq = itertools.count()
        self._ready: asyncio.Queue[Key] = asyncio.Queue()
        self._ready_set: set[Key] = set()
        self._running: set[Key] = set()
        self._rerun: set[Key] = set()
        self._written_rv: dict[Key, str] = {}  # the resourceVersion our last claim produced, per key
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def active(self) -> bool:
        return bool(self._tasks)

    # lifecycle (leadership callbacks)
    def start(self) -> None:
        """Begin acting: every known RecurringJob is queued at its `initial_due` time.

        Planning all of them at once (~1 ms each) would stall due occurrences for seconds on
        every failover; those needing attention come first, most overdue first, the rest at
        their next occurrence (recovery still goes through plan()).
        """
        if self._tasks:
            return
        self._start_tasks()
        self._queue_known(lambda key: True)

    def start_shard(self, shard: int) -> None:
        """Begin acting for one more shard (sharded leadership's callback): queue its RecurringJobs."""
        if shard in self._shards_started:
            return
        self._shards_started.add(shard)
        self._start_tasks()
        self._queue_known(lambda key: self._shard_of_key(key) == shard, f" for shard {shard}")

    async def stop_shard(self, shard: int) -> None:
        """Stop acting for one shard: its queued RecurringJobs are dropped (a reconcile of it already
        running stops at its next guarded write: the shard's Lease is no longer valid)."""
        self._shards_started.discard(shard)
        if not self._shards_started:
            await self.stop()
            return
        for key in [key for key in self._due if self._shard_of_key(key) == shard]:
            del self._due[key]
            self._rerun.discard(key)
        self._compact_heap()
        log.info("scheduler stopped acting for shard %d", shard)

    def _start_tasks(self) -> None:
        if self._tasks:
            return
        self._tasks.append(asyncio.create_task(self._dispatch(), name="scheduler-dispatch"))
        self._tasks.append(asyncio.create_task(self._sweep_forever(), name="scheduler-sweep"))
        for index in range(self.workers):
            self._tasks.append(asyncio.create_task(self._work(), name=f"scheduler-worker-{index}"))

    def _queue_known(self, wanted: Callable[[Key], bool], what: str = "") -> None:
        now = self.now()
        due_now = queued = 0
        for key in self.cache.recurringjob_keys():
            if not wanted(key):
                continue
            rj = self.cache.recurringjob(key)
            delay = (initial_due(rj, now) - now).total_seconds() if rj is not None else 0.0
            due_now += delay <= 0
            queued += 1
            self.enqueue(key, delay)
        log.info("scheduler started%s: %d RecurringJobs queued (%d due now), %d workers",
                 what, queued, due_now, self.workers)

    def _shard_of_key(self, key: Key) -> int:
        if self.sharding is None:
            return 0
        rj = self.cache.recurringjob(key)
        return self.sharding.shard_of(str((rj.get("metadata") or {}).get("uid") or "")) if rj else 0

    async def stop(self) -> None:
        """Stop acting at once; in-flight reconciles are cancelled (their claims are safe either way)."""
        tasks, self._tasks = self._tasks, []
        self._shards_started.clear()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._heap.clear()
        self._due.clear()
        self._ready = asyncio.Queue()
        self._ready_set.clear()
        self._running.clear()
        self._rerun.clear()
        if self.metrics is not None:
            self.metrics.queue_size.set(0)
        if tasks:
            log.info("scheduler stopped")

    # feeding
    def enqueue(self, key: Key, delay: float = 0.0) -> None:
        """Plan `key` after `delay` seconds, or sooner if it is already due sooner. A negative delay
        runs at once too, but ahead of entries due later (the most overdue first)."""
        if not self._tasks:
            return
        if self.sharding is not None and not self.sharding.leads(self._shard_of_key(key)):
            return  # another replica's shard (or one we just lost)
        due = self.clock() + delay
        current = self._due.get(key)
        if current is not None and current[0] <= due:
            return
        seq = next(self._seq)
        self._due[key] = (due, seq)
        heapq.heappush(self._heap, (due, seq, key))
        if self._heap[0][1] == seq:
            self._wake.set()  # new earliest entry: the dispatcher must re-arm its sleep
        self._compact_heap()

    def forget(self, key: Key) -> None:
        self._due.pop(key, None)
        self._rerun.discard(key)
        self._written_rv.pop(key, None)
        self._compact_heap()

    def _compact_heap(self) -> None:
        """Drop superseded entries once they outnumber the live ones (plus a little slack).

        A superseded entry otherwise stays until its own due time, which for a far-future key
        that keeps getting watch events is never. A rebuild costs O(live) and happens only after
        more than `live` stale pushes, so enqueue stays O(log n) amortised. The rebuild only
        removes entries, so the dispatcher's sleep needs no re-arming (at worst it wakes early
        for a removed entry, finds nothing due and sleeps again).
        """
        if len(self._heap) <= 2 * len(self._due) + HEAP_SLACK:
            return
        self._heap = [(due, seq, key) for key, (due, seq) in self._due.items()]
        heapq.heapify(self._heap)

    def on_recurringjob_event(self, rj: Mapping[str, Any]) -> None:
        """A watch event (already cached): plan it unless it is the echo of our own last write."""
        meta = rj.get("metadata") or {}
        key = (str(meta.get("namespace")), str(meta.get("name")))
        if self._written_rv.get(key) != meta.get("resourceVersion"):
            self.enqueue(key)

    def on_job_event(self, job: Mapping[str, Any], previous: Mapping[str, Any] | None, deleted: bool) -> None:
        """Finished, deleting or vanished Jobs change the owner's bookkeeping (active, last*Time,
        history, the occurrence lock)."""
        owner = owner_key(job)
        if owner is None:
            return
        finished_now = is_finished(job) and (previous is None or not is_finished(previous))
        deleting_now = is_deleting(job) and (previous is None or not is_deleting(previous))
        if deleted or finished_now or deleting_now:
            self.enqueue(owner)

    def queue_size(self) -> int:
        return len(self._due)

    # machinery
    async def _dispatch(self) -> None:
        while True:
            now = self.clock()
            while self._heap and self._heap[0][0] <= now:
                due, seq, key = heapq.heappop(self._heap)
                if self._due.get(key) != (due, seq):
                    continue  # superseded entry
                del self._due[key]
                self._hand_out(key)
            if self.metrics is not None:
                self.metrics.queue_size.set(len(self._due))
            timeout = self._heap[0][0] - now if self._heap else None
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)

    def _hand_out(self, key: Key) -> None:
        if key in self._running:
            self._rerun.add(key)  # coalesce: replay once the running reconcile ends
        elif key not in self._ready_set:
            self._ready_set.add(key)
            self._ready.put_nowait(key)

    async def _work(self) -> None:
        while True:
            key = await self._ready.get()
            self._ready_set.discard(key)
            self._running.add(key)
            delay: float | None = None
            # the guarded writes of this reconcile check this shard's Lease (runtime/acting.py)
            token = acting_shard.set(self._shard_of_key(key))
            try:
                delay = await self._reconcile_safely(key)
            finally:
                acting_shard.reset(token)
                self._running.discard(key)
            if key in self._rerun:
                self._rerun.discard(key)
                delay = 0.0
            if delay is not None and self.cache.recurringjob(key) is not None:
                self.enqueue(key, delay)

    async def _reconcile_safely(self, key: Key) -> float | None:
        started = time.monotonic()
        try:
            return await self.reconcile(key)
        except NotLeader:
            return None
        except ApiError as exc:
            log.warning("reconcile %s/%s: %s; retrying in %.1fs", *key, exc, self.error_delay)
            return self.error_delay
        except Exception:
            log.exception("reconcile %s/%s failed; retrying in 30s", *key)
            return 30.0
        finally:
            if self.metrics is not None:
                self.metrics.reconcile_duration.observe(time.monotonic() - started)

    async def reconcile(self, key: Key) -> float | None:
        """plan -> claim (CAS) -> launch; returns seconds until the next plan (None: only on change)."""
        rj = self.cache.recurringjob(key)
        for _ in range(self.conflict_retries + 1):
            if rj is None or not self.is_leader():
                return None
            await self._confirm_missing_active(key, rj)
            jobs = self.cache.jobs_of(key)
            planned_at = self.clock()  # requeue_after counts from the plan's `now`, not from our return
            decision = self.plan(rj, jobs, self.now())
            status = decision.status
            current_status = rj.get("status") or {}
            changes_status = status is not None and status != current_status
            creates_or_deletes = bool(decision.job or decision.recreate or decision.delete_active)
            wrote = False
            if changes_status or creates_or_deletes:
                # creating or replacing Jobs always goes through a claim, even with an unchanged
                # status: the resourceVersion check proves the decision was made from current state
                try:
                    written = await claim(self.api, rj, status if status is not None else current_status,
                                          is_leader=self.is_leader, metrics=self.metrics)
                except ClaimConflict:
                    rj = await self._refresh(key, (rj.get("metadata") or {}).get("uid"))
                    continue
                except RecurringJobGone:
                    self.cache.drop_recurringjob(key, (rj.get("metadata") or {}).get("uid"))
                    return None
                self._written_rv[key] = str((written.get("metadata") or {}).get("resourceVersion"))
                self._count_finished(key, current_status, written.get("status") or {}, jobs)
                self.cache.put_recurringjob(written)
                rj, wrote = written, True
            if wrote or decision.prune or decision.warnings or decision.release:
                # pruning and releasing locks without a claim is safe: plan() only touches Jobs
                # outside `active` that are finished or being deleted
                try:
                    await self.launcher.execute(rj, decision)
                except JobRejected as rejected:
                    return await self._book_rejection(key, rj, rejected)
            requeue = decision.requeue_after
            if requeue is None:
                return None
            # the claim and the launch took time: wake at the planned instant, not that much later
            remaining = float(requeue) - (self.clock() - planned_at)
            return max(remaining, 0.0 if wrote else IDLE_REQUEUE_FLOOR)
        return 1.0  # kept conflicting: someone else is writing; look again shortly

    async def _book_rejection(self, key: Key, rj: Mapping[str, Any], rejected: JobRejected) -> float | None:
        """The API refused a Job we claimed: take it out of `active` (it was never created), count the
        occurrence missed, set Ready=False/JobRejected and post a Warning. plan() then waits a minute
        before the next attempt, so a bad template costs a few writes a minute, not a storm."""
        log.warning("%s/%s: the API rejected Job %s: %s", *key, rejected.job_name, rejected)
        await self.launcher.events.warn(rj, "JobRejected", f"Job {rejected.job_name}: {rejected.message}")
        current: Mapping[str, Any] | None = rj
        for _ in range(self.conflict_retries + 1):
            if current is None or not self.is_leader():
                return None
            meta = current.get("metadata") or {}
            status = book_rejection(current.get("status") or {}, rejected.job_name, rejected.message,
                                    self.now(), meta.get("generation"))
            try:
                written = await claim(self.api, current, status, is_leader=self.is_leader,
                                      metrics=self.metrics)
            except ClaimConflict:
                current = await self._refresh(key, meta.get("uid"))
                continue
            except RecurringJobGone:
                self.cache.drop_recurringjob(key, meta.get("uid"))
                return None
            self._written_rv[key] = str((written.get("metadata") or {}).get("resourceVersion"))
            self.cache.put_recurringjob(written)
            if self.metrics is not None:
                self.metrics.count_occurrences(key[0], key[1], "missed", 1)
            return 0.0  # plan again: it computes the retry time from the condition
        return self.error_delay

    def _count_finished(self, key: Key, before: Mapping[str, Any], after: Mapping[str, Any],
                        jobs: Sequence[Mapping[str, Any]]) -> None:
        """Count each finished Job once: when a successful CAS write takes it out of status.active.

        That write happens once per Job whoever leads (a second leader's copy of it gets 409), so
        a failover neither repeats nor loses the count, and a Job that was already finished when
        first seen (a short Job, a new leader) is counted too. Jobs removed unfinished (Replace,
        missing past the deadline) are not completions.
        """
        if self.metrics is None:
            return
        removed = active_names(before) - active_names(after)
        if not removed:
            return
        for job in jobs:
            name = (job.get("metadata") or {}).get("name")
            facts = job_finished_facts(job) if name in removed else None
            if facts is not None:
                removed.discard(name)
                self.metrics.job_finished(key[0], key[1], facts[0], facts[1])

    async def _confirm_missing_active(self, key: Key, rj: Mapping[str, Any]) -> None:
        """GET claimed Jobs the cache lacks before plan() may call them missing.

        The Job watch can lag behind the status watch (a new leader, a dropped watch); planning
        from that gap would recreate (harmless: AlreadyExists) or, past the deadline, drop a
        running Job from `active` (wrong: Forbid would then overlap). Costs reads only in recovery.
        """
        active = (rj.get("status") or {}).get("active") or ()
        if not active:
            return
        known = {(job.get("metadata") or {}).get("name") for job in self.cache.jobs_of(key)}
        for ref in active:
            name = ref.get("name") if isinstance(ref, Mapping) else None
            if not name or name in known:
                continue
            try:
                job = await self.api.request("GET", job_path(key[0], str(name)))
            except ApiError as exc:
                if exc.status == 404:
                    continue
                raise
            self.cache.put_job(slim_job(job))

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_INTERVAL)
            try:
                await self.release_orphaned_locks()
            except (ApiError, NotLeader) as exc:
                log.warning("releasing the locks of Jobs without a RecurringJob: %s", exc)

    async def release_orphaned_locks(self) -> int:
        """Release the occurrence lock of Jobs being deleted whose RecurringJob is gone (deleted with
        background propagation, so no plan() will ever book them); returns how many were released."""
        live = {str((rj.get("metadata") or {}).get("uid"))
                for rj in map(self.cache.recurringjob, self.cache.recurringjob_keys()) if rj is not None}
        orphans = orphaned_locks(self.cache.iter_jobs(), live, self.now(), self.max_request_seconds)
        sharding = self.sharding
        shards: dict[tuple[str, str], int] = {}
        if sharding is not None:
            # each shard's leader releases the orphans of its own shard; hashed after the cheap
            # orphan test, not for every cached Job every sweep (a cost every replica paid)
            for namespace, name in orphans:
                job = self.cache.job(namespace, name)
                shards[(namespace, name)] = sharding.shard_of((controller_uid(job) if job else None) or "")
            orphans = [at for at in orphans if sharding.leads(shards[at])]
        for namespace, name in orphans:
            token = acting_shard.set(shards.get((namespace, name), 0))
            try:
                await self.launcher.release_lock(namespace, name)
            finally:
                acting_shard.reset(token)
        return len(orphans)

    async def _refresh(self, key: Key, uid: str | None) -> Mapping[str, Any] | None:
        """A fresh read after a conflict; a 404 forgets only the incarnation we planned (`uid`)."""
        try:
            fresh = await read_recurringjob(self.api, *key)
        except RecurringJobGone:
            self.cache.drop_recurringjob(key, uid)
            return None
        self.cache.put_recurringjob(fresh)
        return self.cache.recurringjob(key)
