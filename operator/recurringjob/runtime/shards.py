"""Sharded leadership: one Lease per shard, shared fairly among the live replicas.

`--shards 1` (the default) is today's single Lease under its old name, driven by `Leadership.run`
unchanged. With N > 1 shards every replica runs one loop (a *round* per retry period):

1. LIST the deployment's Leases by label (one request): the N shard Leases `<name>-<i>` and one
   presence Lease per replica `<name>-member-<identity>`, which each replica renews every round.
2. Live replicas = holders of presence Leases whose record changed within the lease duration (on
   our own monotonic clock, as for shard Leases: no trust in other clocks). A replica joins the
   presence set only once its caches are synced (it stands for election then), so it never takes
   a shard it cannot plan yet.
3. Fair share: N // R shards each, the N % R extra to the first identities (core/shards.py); all
   replicas compute the same shares from the same set.
4. Renew the shards we hold; above our share, hand back the ones we prefer least (holder cleared:
   the replica below its share takes them on its next round, no lease-duration wait); below it,
   take free shards (never held, handed back, or expired) in our rendezvous-hash preference order.
   A shard free for longer than `2 x retry period` is taken by anyone, share or not, so disagreeing
   views of the live set (a replica that just died or appeared) can never leave a shard unled.

SIGTERM: stop acting for every shard, delete the presence Lease, hand every shard back; the others
see the shards free and the replica gone on their next round. SIGKILL: the shard and presence
Leases expire together after the lease duration and the survivors' shares grow.

Safety does not rest on any of this: the claim (a resourceVersion-checked status write) remains the
fence. A replica acting on a shard it has just lost either fails its guarded write (the shard's
Lease validity is checked before each write, see runtime/acting.py) or gets 409 on its claim.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import time
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

from recurringjob.core.jobs import name_label_value
from recurringjob.core.shards import (
    LEASE_GROUP_LABEL,
    LEASE_ROLE_LABEL,
    SHARD_LABEL,
    SHARDS_LABEL,
    fair_shares,
    member_lease_name,
    preference,
    shard_lease_name,
    shard_of,
)
from recurringjob.runtime.acting import acting_shard
from recurringjob.runtime.kube import ApiError, KubeApi, lease_path
from recurringjob.runtime.leadership import Leadership
from recurringjob.runtime.metrics import Metrics

log = logging.getLogger(__name__)

ShardCallback = Callable[[int], Awaitable[None] | None]
STALE_MEMBER_LEASES = 10  # lease durations after which a dead replica's presence Lease is deleted


class ShardedLeadership:
    def __init__(self, api: KubeApi, *, name: str, namespace: str, identity: str, shards: int = 1,
                 lease_duration: float = 15.0, renew_deadline: float = 10.0, retry_period: float = 2.0,
                 on_started: ShardCallback | None = None, on_stopped: ShardCallback | None = None,
                 metrics: Metrics | None = None, clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], float] = time.time):
        if shards < 1:
            raise ValueError("need at least one shard")
        self.api = api
        self.name = name
        self.namespace = namespace
        self.identity = identity
        self.shards = shards
        self.lease_duration = lease_duration
        self.retry_period = retry_period
        self.metrics = metrics
        self.clock = clock
        self.group = name_label_value(name)
        lease = partial(Leadership, api, namespace=namespace, identity=identity, clock=clock,
                        lease_duration=lease_duration, renew_deadline=renew_deadline,
                        retry_period=retry_period)
        self.leases = [
            lease(name=shard_lease_name(name, index, shards),
                  on_started_leading=partial(_call, on_started, index),
                  on_stopped_leading=partial(_call, on_stopped, index), metrics=metrics, wall=wall,
                  shard=index if shards > 1 else None,
                  labels={LEASE_GROUP_LABEL: self.group, LEASE_ROLE_LABEL: "shard",
                          SHARD_LABEL: str(index), SHARDS_LABEL: str(shards)})
            for index in range(shards)]
        # our presence: a Lease only we ever hold (Leadership's create/renew/hand-back fit it as is)
        self.presence = lease(name=member_lease_name(name, identity),
                              labels={LEASE_GROUP_LABEL: self.group, LEASE_ROLE_LABEL: "member",
                                      SHARDS_LABEL: str(shards)})
        self.preference = preference(identity, shards)
        self.live: list[str] = [identity]
        self.fair_share = shards
        # presence Lease name -> (record, monotonic time the record was first seen, the Lease)
        self._members: dict[str, tuple[tuple[Any, ...], float, dict[str, Any]]] = {}
        self._free_since: dict[int, float] = {}
        self._stopping = False
        self._request_timeout = max(0.5, min(renew_deadline / 2, retry_period * 2))

    # what the scheduler and the guarded writes ask
    def shard_of(self, uid: str) -> int:
        return shard_of(uid, self.shards)

    def leads(self, shard: int) -> bool:
        return 0 <= shard < self.shards and self.leases[shard].is_leader()

    def is_leader(self) -> bool:
        """Inside a reconcile: do we lead *its* shard (runtime/acting.py); elsewhere: any shard."""
        shard = acting_shard.get()
        if shard is None:
            return any(lease.is_leader() for lease in self.leases)
        return self.leads(shard)

    def held(self) -> list[int]:
        return [index for index, lease in enumerate(self.leases) if lease.is_leader()]

    def holders(self) -> dict[int, str]:
        """Each shard's holder as last observed ("" = nobody)."""
        return {index: lease.holder() for index, lease in enumerate(self.leases)}

    # the loop
    async def run(self) -> None:
        if self.shards == 1:
            await self.leases[0].run()  # exactly the unsharded operator
            return
        try:
            while not self._stopping:
                try:
                    await self.round()
                except (ApiError, TimeoutError) as exc:
                    log.warning("shard leases %s/%s: %s", self.namespace, self.name, exc)
                for lease in self.leases:
                    await lease.sync()
                self._publish()
                await asyncio.sleep(self.retry_period)
        finally:
            for lease in self.leases:
                lease.stop_acting()
                await lease.sync()
            self._publish()

    def _publish(self) -> None:
        """`recurringjob_is_leader` sharded: the fraction of the shards this replica leads, so the
        fleet's sum stays 1 exactly when every shard has one leader (the NoLeader/MultipleLeaders
        alerts keep their meaning: < 1 some shard unled, > 1 some shard led twice)."""
        if self.metrics is not None and self.shards > 1:
            self.metrics.is_leader.labels(identity=self.identity).set(len(self.held()) / self.shards)

    async def round(self) -> None:
        """One look at every Lease of the group, then renew, hand back or acquire (module docstring)."""
        started = self.clock()
        try:
            selector = f"{LEASE_GROUP_LABEL}={self.group}"
            listed = await self.api.request("GET", lease_path(self.namespace),
                                            query={"labelSelector": selector}, timeout=self._request_timeout)
        except (ApiError, TimeoutError):
            # no fresh view: keep what we hold (renewals need no read), take nothing new
            for index in self.held():
                await self._bounded(self.leases[index].acquire_observed(started))
            raise
        shard_leases: dict[int, dict[str, Any]] = {}
        members: dict[str, dict[str, Any]] = {}
        for lease in listed.get("items") or ():
            meta = lease.get("metadata") or {}
            labels = meta.get("labels") or {}
            if labels.get(LEASE_ROLE_LABEL) == "member":
                members[str(meta.get("name"))] = lease
            elif labels.get(LEASE_ROLE_LABEL) == "shard" and str(meta.get("name")) in self._names():
                shard_leases[self._names()[str(meta.get("name"))]] = lease
        for index, leadership in enumerate(self.leases):
            leadership.observe(shard_leases.get(index), started)
        self.presence.observe(members.get(self.presence.name), started)
        await self._bounded(self.presence.acquire_observed(started))
        self.live = self._live_members(members, started)
        self.fair_share = fair_shares(self.live, self.shards).get(self.identity, 0)
        if self.metrics is not None:
            self.metrics.shards_wanted.set(self.fair_share)
            self.metrics.live_replicas.set(len(self.live))
        for index in self.held():
            await self._bounded(self.leases[index].acquire_observed(started))
        held = self.held()
        if len(held) > self.fair_share:
            surplus = sorted(held, key=self.preference.index)[self.fair_share:]
            for index in surplus:
                log.info("%s hands shard %d back (fair share %d of %d shards, %d live replicas)",
                         self.identity, index, self.fair_share, self.shards, len(self.live))
                await self.leases[index].hand_back()
            held = self.held()
        for index in self.preference:
            lease = self.leases[index]
            if index in held or not lease.is_free(started):
                self._free_since.pop(index, None)
                continue
            free_since = self._free_since.setdefault(index, started)
            orphaned = started - free_since >= 2 * self.retry_period
            if len(held) < self.fair_share or orphaned:
                if await self._bounded(lease.acquire_observed(started)):
                    held.append(index)
                    self._free_since.pop(index, None)
        if 0 in held:
            await self._collect_dead_members(started)

    def _names(self) -> dict[str, int]:
        return {lease.name: index for index, lease in enumerate(self.leases)}

    def _live_members(self, members: dict[str, dict[str, Any]], now: float) -> list[str]:
        live = {self.identity}
        seen: dict[str, tuple[tuple[Any, ...], float, dict[str, Any]]] = {}
        for name, lease in members.items():
            spec = lease.get("spec") or {}
            record = (spec.get("holderIdentity"), spec.get("renewTime"))
            previous = self._members.get(name)
            first_seen = previous[1] if previous is not None and previous[0] == record else now
            seen[name] = (record, first_seen, lease)
            duration = float(spec.get("leaseDurationSeconds") or self.lease_duration)
            if spec.get("holderIdentity") and now < first_seen + duration:
                live.add(str(spec["holderIdentity"]))
        self._members = seen
        return sorted(live)

    async def _collect_dead_members(self, now: float) -> None:
        """The leader of shard 0 deletes presence Leases of replicas long dead (SIGKILLed pods)."""
        for name, (_, first_seen, lease) in list(self._members.items()):
            spec = lease.get("spec") or {}
            duration = float(spec.get("leaseDurationSeconds") or self.lease_duration)
            if name != self.presence.name and now >= first_seen + STALE_MEMBER_LEASES * duration:
                rv = (lease.get("metadata") or {}).get("resourceVersion")
                with contextlib.suppress(ApiError, TimeoutError):
                    await self.api.request("DELETE", lease_path(self.namespace, name),
                                           body={"preconditions": {"resourceVersion": rv}},
                                           timeout=self._request_timeout)
                    log.info("deleted the presence Lease %s of a replica gone for long", name)

    async def _bounded(self, attempt: Awaitable[bool]) -> bool:
        try:
            return await asyncio.wait_for(attempt, self._request_timeout)
        except (ApiError, TimeoutError) as exc:
            log.warning("shard leases %s/%s: %s", self.namespace, self.name, exc)
            return False

    async def release(self) -> None:
        """SIGTERM: stop acting on every shard at once, leave the presence set, hand every shard back."""
        held = self.held()
        self._stopping = True
        if self.shards == 1:
            await self.leases[0].release()
            return
        for lease in self.leases:  # nothing acts any more once we start handing back
            lease.stop_acting()
            with contextlib.suppress(Exception):
                await lease.sync()
        self._publish()
        with contextlib.suppress(ApiError, TimeoutError):
            await self.api.request("DELETE", lease_path(self.namespace, self.presence.name),
                                   timeout=self._request_timeout)
        for index in held:
            await self.leases[index].hand_back()


async def _call(callback: ShardCallback | None, index: int) -> None:
    if callback is None:
        return
    result = callback(index)
    if inspect.isawaitable(result):
        await result
