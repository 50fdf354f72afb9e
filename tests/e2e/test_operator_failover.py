"""Several replicas, one Lease: no duplicate and no missed occurrence across kill, pause and release.

Judged from the dev cluster's audit log: successful Job creates per scheduled-time annotation, and
which client (replica token) wrote what, when.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from operator_support import (
    SCHEDULED,
    audit,
    crd_kubectl,
    duplicates,
    job_creates,
    lease_holder,
    needs_crds,
    recurringjob,
    replicas,
    ts,
    wait_for,
)
from recurringjob.devcluster.server import DevCluster

pytestmark = needs_crds

LEASE_DURATION = 3.0  # FAST_LEASE in operator_support
NAMES = ("alpha", "beta", "gamma")


def apply_every_second(kubectl: Callable[..., Any]) -> None:
    # catchUp All + a deadline: occurrences that fall into a failover gap are launched late, not lost
    for name in NAMES:
        kubectl("apply", "-f", "-", input=recurringjob(name, "default", "* * * * * *", duration="0s",
                                                       catchUp="All", startingDeadlineSeconds=60))


def assert_exactly_once(cluster: DevCluster, start: float, end: float) -> None:
    """Every second in [start, end] has exactly one successful create per RecurringJob."""
    assert not duplicates(cluster), duplicates(cluster)
    for name in NAMES:
        times = {int(ts(c["annotations"][SCHEDULED])) for c in job_creates(cluster, name)}
        expected = set(range(int(start), int(end) + 1))
        assert expected <= times, f"{name} missed {sorted(expected - times)}"


def writers(cluster: DevCluster, since: float = 0.0, until: float = float("inf")) -> set[str]:
    """Clients whose writes to Jobs or RecurringJob status succeeded in a time window (the dev
    cluster's own controllers, `system:*` audit lines, are not writers)."""
    return {r["client"] for r in audit(cluster)
            if since <= r["ts"] <= until and r["code"] < 300 and not r["client"].startswith("system:")
            and (r["resource"] == "jobs" or r["subresource"] == "status")}


def test_two_replicas_share_one_lease_and_sigkill_hands_over(devcluster: DevCluster, tmp_path: Path) -> None:
    kubectl = crd_kubectl(devcluster, tmp_path)
    with replicas(devcluster, tmp_path, 2) as pods:
        leader_id = wait_for(lambda: lease_holder(kubectl), 20, what="a lease holder")
        apply_every_second(kubectl)
        first = wait_for(lambda: [c for n in NAMES for c in job_creates(devcluster, n)], 10, what="launches")
        time.sleep(4)
        assert writers(devcluster) == {leader_id}  # the follower watches, never writes
        leader = next(p for p in pods if p.identity == leader_id)
        follower = next(p for p in pods if p.identity != leader_id)
        killed_at = time.time()
        leader.signal(signal.SIGKILL)
        new_leader = wait_for(lambda: lease_holder(kubectl) == follower.identity, LEASE_DURATION + 5,
                              what="the follower to take the lease")
        assert new_leader
        took_over = min(r["ts"] for r in audit(devcluster)
                        if r["client"] == follower.identity and r["resource"] == "leases" and r["code"] < 300)
        # the follower may take over only after a full lease duration without renewal, and promptly then
        assert LEASE_DURATION - 1.0 <= took_over - killed_at <= LEASE_DURATION + 2.0
        time.sleep(3)
        end = time.time() - 1.5
        start = min(ts(c["annotations"][SCHEDULED]) for c in first) + 1
    assert_exactly_once(devcluster, start, end)
    assert writers(devcluster, since=killed_at) == {follower.identity}


def test_a_paused_leader_does_not_act_when_it_wakes_and_sigterm_releases(
        devcluster: DevCluster, tmp_path: Path) -> None:
    kubectl = crd_kubectl(devcluster, tmp_path)
    with replicas(devcluster, tmp_path, 2) as pods:
        leader_id = wait_for(lambda: lease_holder(kubectl), 20, what="a lease holder")
        apply_every_second(kubectl)
        first = wait_for(lambda: [c for n in NAMES for c in job_creates(devcluster, n)], 10, what="launches")
        leader = next(p for p in pods if p.identity == leader_id)
        follower = next(p for p in pods if p.identity != leader_id)
        paused_at = time.time()
        leader.signal(signal.SIGSTOP)  # frozen mid-work, like a long GC pause or a throttled node
        wait_for(lambda: lease_holder(kubectl) == follower.identity, LEASE_DURATION + 5, what="takeover")
        time.sleep(1)
        woke_at = time.time()
        leader.signal(signal.SIGCONT)
        time.sleep(3)
        # it woke believing nothing: no claim after waking, and no Job for an occurrence it had not
        # claimed before the pause (a write that passed its last leadership check microseconds
        # before SIGSTOP can still leave on waking; it is idempotent: a deterministic name)
        late = [r for r in audit(devcluster) if r["client"] == leader.identity and r["ts"] >= woke_at
                and r["code"] < 300 and (r["resource"] == "jobs" or r["subresource"] == "status")]
        assert all(r["verb"] == "create" and r["resource"] == "jobs"
                   and ts(r["annotations"][SCHEDULED]) <= paused_at for r in late), late
        assert lease_holder(kubectl) == follower.identity
        # SIGTERM on the current leader releases the Lease: the old one takes over without a lease wait
        stopped_at = time.time()
        follower.signal(signal.SIGTERM)
        wait_for(lambda: lease_holder(kubectl) == leader.identity, LEASE_DURATION + 5, interval=0.05,
                 what="handover after release")
        handed_over = time.time() - stopped_at
        assert follower.process is not None and follower.process.wait(10) == 0
        assert handed_over < LEASE_DURATION, f"handover took {handed_over:.2f}s: was the Lease released?"
        time.sleep(2)
        end = time.time() - 1.5
        start = min(ts(c["annotations"][SCHEDULED]) for c in first) + 1
    assert_exactly_once(devcluster, start, end)
