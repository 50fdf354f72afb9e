"""Lease-based leadership with a monotonic validity clock.

Why our own loop instead of `kubernetes.aio.leaderelection`: that module (37.x) rejects retry
periods under 1 s (our tests fail over in ~3 s), never releases the Lease on shutdown (so failover
waits a full lease duration), measures its deadlines with the wall clock, writes naive local times
as UTC, and returns after the first loss instead of standing for election again. The algorithm
below is client-go's: followers take over a Lease whose record has not changed for
`leaseDurationSeconds` as measured on *their own* monotonic clock (no clock-skew trust), and writes
are resourceVersion-checked replaces, so two candidates can never both win one round.

Validity: `is_leader()` is true only while `monotonic() < start_of_last_successful_renew +
renew_deadline`. The start of the request is used (not its end), and renew_deadline <
lease_duration, so we stop believing strictly before any follower may take over; a process frozen
by SIGSTOP wakes up with the clock moved on and believes nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import math
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from recurringjob.runtime.kube import ApiError, KubeApi, lease_path
from recurringjob.runtime.metrics import Metrics

log = logging.getLogger(__name__)

Callback = Callable[[], Awaitable[None] | None]


def _micro_time(moment: datetime | None = None) -> str:
    return (moment or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Leadership:
    """Holds (or stands for) one coordination.k8s.io/v1 Lease; see the module docstring."""

    def __init__(self, api: KubeApi, *, name: str, namespace: str, identity: str,
                 lease_duration: float = 15.0, renew_deadline: float = 10.0, retry_period: float = 2.0,
                 on_started_leading: Callback | None = None, on_stopped_leading: Callback | None = None,
                 metrics: Metrics | None = None, clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], float] = time.time, labels: dict[str, str] | None = None,
                 shard: int | None = None):
        if not lease_duration > renew_deadline > retry_period > 0:
            raise ValueError("need lease_duration > renew_deadline > retry_period > 0")
        self.api = api
        self.name = name
        self.namespace = namespace
        self.identity = identity
        self.lease_duration = lease_duration
        self.renew_deadline = renew_deadline
        self.retry_period = retry_period
        self.on_started_leading = on_started_leading
        self.on_stopped_leading = on_stopped_leading
        self.metrics = metrics
        self.clock = clock
        self.wall = wall  # unix seconds for the last-renew metric only (the server's clock in the operator)
        self.labels = labels or {}  # put on the Lease when we create it (sharded Leases are listed by label)
        self.shard = shard          # which shard this Lease stands for (None: the unsharded Lease)
        self._valid_until = 0.0         # monotonic; acting is allowed strictly before it
        self._leading = False           # callbacks' view: started and not yet stopped
        self._observed_record: tuple[Any, ...] | None = None
        self._observed_at = 0.0         # monotonic time the observed record was first seen
        self._lease: dict[str, Any] | None = None  # the Lease as last read or written
        self._stopping = False
        self._request_timeout = max(0.5, min(renew_deadline / 2, retry_period * 2))
        if metrics is not None and shard is None:
            metrics.is_leader.labels(identity=identity).set(0)

    def is_leader(self) -> bool:
        """True only while the last successful acquire/renew is younger than renew_deadline."""
        return not self._stopping and self.clock() < self._valid_until

    def seconds_left(self) -> float:
        """How long the current proof of leadership lasts (<= 0: none)."""
        return self._valid_until - self.clock() if not self._stopping else 0.0

    async def run(self) -> None:
        """Stand for election, lead, renew; forever (until cancelled or `release()`)."""
        try:
            while not self._stopping:
                try:
                    await asyncio.wait_for(self.try_acquire_or_renew(), self._request_timeout)
                except (ApiError, TimeoutError) as exc:
                    log.warning("lease %s/%s: %s", self.namespace, self.name, exc)
                await self._sync_callbacks()
                await asyncio.sleep(self.retry_period)
        finally:
            self._valid_until = 0.0
            await self._sync_callbacks()

    async def try_acquire_or_renew(self) -> bool:
        """One round of client-go's tryAcquireOrRenew; True if we hold the Lease afterwards."""
        started = self.clock()
        cached = self._lease
        if self.is_leader() and cached and (cached.get("spec") or {}).get("holderIdentity") == self.identity:
            # renew straight from the Lease we wrote last: its resourceVersion proves nobody else wrote
            # since (409 otherwise), which saves the GET on every round
            if await self._write(started, cached):
                return True
        try:
            lease = await self.api.request("GET", lease_path(self.namespace, self.name),
                                           timeout=self._request_timeout)
        except ApiError as exc:
            if exc.status != 404:
                raise
            return await self._write(started, None)
        self.observe(lease, started)
        if not self.is_free(started):
            return False  # someone else holds a lease that has not expired by our own clock
        return await self._write(started, lease)

    def observe(self, lease: dict[str, Any] | None, started: float) -> None:
        """Take in the Lease as read at monotonic time `started` (a GET, or a LIST of all shards)."""
        if lease is None:
            self._observed_record, self._lease = None, None
            return
        spec = lease.get("spec") or {}
        record = (spec.get("holderIdentity") or "", spec.get("renewTime"), spec.get("acquireTime"),
                  spec.get("leaseDurationSeconds"), spec.get("leaseTransitions"))
        if record != self._observed_record:
            self._observed_record, self._observed_at = record, started
        self._lease = lease

    def holder(self) -> str:
        """The holder of the Lease as last observed ("" when free or never seen)."""
        return str(((self._lease or {}).get("spec") or {}).get("holderIdentity") or "")

    def is_free(self, now: float) -> bool:
        """May we take the Lease at `now`: nobody holds it, we do, or its record has not changed for
        its duration as measured on our own clock (no trust in the holder's wall clock)."""
        holder = self.holder()
        if not holder or holder == self.identity:
            return True
        spec = (self._lease or {}).get("spec") or {}
        duration = float(spec.get("leaseDurationSeconds") or self.lease_duration)
        return now >= self._observed_at + duration

    async def acquire_observed(self, started: float) -> bool:
        """Renew, or take the observed Lease if it is free; no read (the caller observed it)."""
        if self.is_leader() and self.holder() == self.identity:
            return await self._write(started, self._lease)
        if not self.is_free(started):
            return False
        return await self._write(started, self._lease)

    async def _write(self, started: float, lease: dict[str, Any] | None) -> bool:
        now = _micro_time()
        spec_in = (lease or {}).get("spec") or {}
        renewing = spec_in.get("holderIdentity") == self.identity
        transitions = int(spec_in.get("leaseTransitions") or 0) + (0 if renewing or lease is None else 1)
        spec = {
            "holderIdentity": self.identity,
            "leaseDurationSeconds": math.ceil(self.lease_duration),
            "acquireTime": spec_in.get("acquireTime") if renewing and spec_in.get("acquireTime") else now,
            "renewTime": now,
            "leaseTransitions": transitions,
        }
        try:
            if lease is None:
                metadata: dict[str, Any] = {"name": self.name, "namespace": self.namespace}
                if self.labels:
                    metadata["labels"] = dict(self.labels)
                body = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": metadata,
                        "spec": spec}
                written = await self.api.request("POST", lease_path(self.namespace), body=body,
                                                 timeout=self._request_timeout)
            else:
                # replace with metadata.resourceVersion: a concurrent candidate's write makes ours 409
                body = {**lease, "spec": {**spec_in, **spec}}
                written = await self.api.request("PUT", lease_path(self.namespace, self.name), body=body,
                                                 timeout=self._request_timeout)
        except ApiError as exc:
            if exc.status == 409:
                return False  # lost the race (or AlreadyExists): read again next round
            raise
        if self._stopping:
            return False
        self._lease = written
        self._valid_until = started + self.renew_deadline
        if self.metrics is not None:
            self.metrics.lease_last_renew.set(self.wall())
            if not renewing:
                self.metrics.lease_transitions.inc()
        return True

    async def sync(self) -> None:
        """Fire the start/stop callback if the validity verdict changed (sharded rounds call it)."""
        await self._sync_callbacks()

    async def _sync_callbacks(self) -> None:
        """Fire start/stop callbacks when the validity verdict changed."""
        leader = self.is_leader()
        if leader == self._leading:
            return
        self._leading = leader
        if self.metrics is not None and self.shard is None:
            self.metrics.is_leader.labels(identity=self.identity).set(1 if leader else 0)
        elif self.metrics is not None:
            gauge = self.metrics.shard_leader.labels(shard=str(self.shard), identity=self.identity)
            gauge.set(1 if leader else 0)
        log.info("%s %s leading (lease %s/%s)", self.identity, "started" if leader else "stopped",
                 self.namespace, self.name)
        callback = self.on_started_leading if leader else self.on_stopped_leading
        if callback is not None:
            result = callback()
            if inspect.isawaitable(result):
                await result

    async def release(self) -> None:
        """Stop acting at once, then hand the Lease back (holder cleared, 1 s duration, like client-go)."""
        self._stopping = True
        await self.hand_back()

    def stop_acting(self) -> None:
        """Believe nothing from now on (callbacks fire on the next sync); the Lease is kept until
        `hand_back` clears its holder."""
        self._stopping = True

    async def hand_back(self) -> None:
        """Stop acting on this Lease and clear its holder, so the next candidate takes it on its next
        round instead of waiting out the lease duration; we may stand again later (unless stopping)."""
        held = self.clock() < self._valid_until
        self._valid_until = 0.0
        await self._sync_callbacks()
        lease = self._lease
        if not held or lease is None or (lease.get("spec") or {}).get("holderIdentity") != self.identity:
            return
        now = _micro_time()
        spec = {**(lease.get("spec") or {}), "holderIdentity": None, "leaseDurationSeconds": 1,
                "renewTime": now, "acquireTime": now}
        with contextlib.suppress(ApiError, TimeoutError):
            self._lease = await self.api.request("PUT", lease_path(self.namespace, self.name),
                                                 body={**lease, "spec": spec}, timeout=self._request_timeout)
            log.info("%s released lease %s/%s", self.identity, self.namespace, self.name)
