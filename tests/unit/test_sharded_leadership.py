"""runtime/shards.py: shards shared fairly, handed back on scale-up and SIGTERM, taken over after a crash.

Replicas are ShardedLeadership objects over one FakeKube, driven round by round on a shared fake
monotonic clock (one round per retry period), so every timing claim is exact.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from fake_kube import FakeKube
from recurringjob.core.shards import fair_shares
from recurringjob.runtime.acting import acting_shard
from recurringjob.runtime.kube import lease_path
from recurringjob.runtime.metrics import Metrics
from recurringjob.runtime.shards import ShardedLeadership

LEASE_DURATION, RENEW_DEADLINE, RETRY = 15.0, 10.0, 2.0


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Cluster:
    """Replicas sharing one API and one clock; `events` records (identity, shard, started?)."""

    def __init__(self, shards: int) -> None:
        self.api, self.clock, self.shards = FakeKube(), Clock(), shards
        self.replicas: dict[str, ShardedLeadership] = {}
        self.events: list[tuple[str, int, bool]] = []

    def add(self, identity: str, **kwargs: Any) -> ShardedLeadership:
        replica = ShardedLeadership(
            self.api, name="op", namespace="ops", identity=identity, shards=self.shards,
            lease_duration=LEASE_DURATION, renew_deadline=RENEW_DEADLINE, retry_period=RETRY,
            clock=self.clock,
            on_started=lambda shard: self.events.append((identity, shard, True)),
            on_stopped=lambda shard: self.events.append((identity, shard, False)), **kwargs)
        self.replicas[identity] = replica
        return replica

    def rounds(self, count: int = 1, skip: frozenset[str] = frozenset()) -> None:
        """`count` retry periods: every replica (but the frozen/dead ones in `skip`) runs one round."""
        for _ in range(count):
            for identity, replica in self.replicas.items():
                if identity not in skip:
                    asyncio.run(self.round(replica))
            self.clock.now += RETRY

    @staticmethod
    async def round(replica: ShardedLeadership) -> None:
        await replica.round()
        for lease in replica.leases:
            await lease.sync()

    def held(self, skip: frozenset[str] = frozenset()) -> dict[str, list[int]]:
        return {identity: replica.held() for identity, replica in self.replicas.items()
                if identity not in skip}

    def assert_fair(self, skip: frozenset[str] = frozenset()) -> None:
        held = self.held(skip)
        owners = [shard for shards in held.values() for shard in shards]
        assert sorted(owners) == list(range(self.shards)), held  # every shard led, by one replica only
        shares = {identity: len(shards) for identity, shards in held.items()}
        assert shares == fair_shares(list(held), self.shards)


@pytest.mark.parametrize("shards", [4, 7, 16])
@pytest.mark.parametrize("count", [1, 2, 3, 4, 5])
def test_live_replicas_settle_on_fair_shares_of_every_shard(shards: int, count: int) -> None:
    cluster = Cluster(shards)
    for index in range(count):
        cluster.add(f"replica-{index}")
    cluster.rounds(4)
    cluster.assert_fair()


def test_scale_up_hands_shards_to_the_newcomer_without_a_lease_wait() -> None:
    cluster = Cluster(4)
    cluster.add("a")
    cluster.rounds(2)
    assert cluster.held() == {"a": [0, 1, 2, 3]}
    cluster.add("b")
    cluster.rounds(2)  # 4 s: far less than the 15 s a taken-over Lease would need
    cluster.assert_fair()
    handed = [shard for identity, shard, started in cluster.events if identity == "a" and not started]
    assert sorted(handed) == sorted(cluster.held()["b"])
    # a and b never both believed in one shard: each started only after the other had stopped
    for shard in handed:
        stop = cluster.events.index(("a", shard, False))
        assert cluster.events.index(("b", shard, True)) > stop


def test_a_crashed_replicas_shards_are_taken_once_its_leases_expire() -> None:
    cluster = Cluster(4)
    for identity in ("a", "b"):
        cluster.add(identity)
    cluster.rounds(3)
    lost = cluster.held()["b"]
    dead = frozenset({"b"})
    rounds_before_expiry = int(LEASE_DURATION // RETRY) - 1
    cluster.rounds(rounds_before_expiry, skip=dead)
    assert all(shard not in cluster.held(dead)["a"] for shard in lost)  # not before the lease expired
    # a saw b's last renewal one retry period after it was written, and counts the lease duration
    # from there (its own clock): taken within lease duration + 2 retry periods of the last renewal
    cluster.rounds(3, skip=dead)
    assert cluster.held(dead) == {"a": [0, 1, 2, 3]}


def test_sigterm_hands_every_shard_over_on_the_next_round() -> None:
    cluster = Cluster(4)
    for identity in ("a", "b", "c"):
        cluster.add(identity)
    cluster.rounds(3)
    leaving = cluster.replicas["a"]
    handed = leaving.held()
    assert handed
    asyncio.run(leaving.release())
    assert not leaving.held() and not leaving.is_leader()
    assert ("a", handed[0], False) in cluster.events
    assert lease_path("ops", leaving.presence.name) not in cluster.api.objects  # left the presence set
    cluster.rounds(1, skip=frozenset({"a"}))
    cluster.assert_fair(skip=frozenset({"a"}))


def test_is_leader_inside_a_reconcile_means_its_own_shard() -> None:
    cluster = Cluster(4)
    for identity in ("a", "b"):
        cluster.add(identity)
    cluster.rounds(3)
    a = cluster.replicas["a"]
    mine, theirs = a.held()[0], cluster.replicas["b"].held()[0]
    assert a.is_leader()  # outside a reconcile: leads some shard
    for shard, expected in ((mine, True), (theirs, False)):
        token = acting_shard.set(shard)
        try:
            assert a.is_leader() is expected
        finally:
            acting_shard.reset(token)


def test_one_shard_is_the_unsharded_lease_with_no_presence_lease() -> None:
    cluster = Cluster(1)
    replica = cluster.add("a")
    assert [lease.name for lease in replica.leases] == ["op"]
    assert asyncio.run(replica.leases[0].try_acquire_or_renew())
    assert set(cluster.api.objects) == {lease_path("ops", "op")}


def test_shard_leadership_is_a_metric_per_shard_and_holder() -> None:
    cluster = Cluster(2)
    metrics = Metrics()
    cluster.add("a", metrics=metrics)
    cluster.rounds(2)
    for shard in ("0", "1"):
        assert metrics.registry.get_sample_value("recurringjob_shard_leader",
                                                 {"shard": shard, "identity": "a"}) == 1
    assert metrics.registry.get_sample_value("recurringjob_shards_fair_share") == 2


def test_is_leader_metric_is_the_fraction_of_shards_led_summing_to_one() -> None:
    cluster = Cluster(4)
    registries = {identity: Metrics() for identity in ("a", "b", "c")}
    for identity, metrics in registries.items():
        cluster.add(identity, metrics=metrics)
    for _ in range(4):
        cluster.rounds(1)
        for replica in cluster.replicas.values():
            replica._publish()  # run() publishes after every round
    values = [metrics.registry.get_sample_value("recurringjob_is_leader", {"identity": identity})
              for identity, metrics in registries.items()]
    assert sorted(values) == [0.25, 0.25, 0.5]
