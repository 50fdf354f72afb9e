"""Sharded leadership end to end: 3 replicas, --shards 4, real processes against the dev cluster.

Each replica leads about N/R shards and launches only its shards' RecurringJobs; SIGKILL one and
its shards are led again within lease duration + 2 s; SIGTERM one and its shards are handed over
without the lease wait. Exactly once is judged from the audit log: one successful Job create per
RecurringJob and second, none missing.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from operator_support import (
    SCHEDULED,
    audit,
    crd_kubectl,
    duplicates,
    get_json,
    job_creates,
    needs_crds,
    recurringjob,
    replicas,
    ts,
    wait_for,
)
from recurringjob.core.shards import shard_of
from recurringjob.devcluster.server import DevCluster

pytestmark = needs_crds

SHARDS = 4
LEASE_DURATION = 3.0  # FAST_LEASE in operator_support
NAMES = tuple(f"rj-{index}" for index in range(8))


def shard_holders(kubectl: Callable[..., Any]) -> dict[int, str]:
    result = kubectl("get", "leases", "-n", "default", "-l", "recurringjob.dev/lease-role=shard",
                     "-o", "json", check=False)
    if result.returncode != 0:
        return {}
    return {int(lease["metadata"]["labels"]["recurringjob.dev/shard"]):
            lease["spec"].get("holderIdentity") or "" for lease in json.loads(result.stdout)["items"]}


def settled(kubectl: Callable[..., Any], members: set[str]) -> dict[int, str] | None:
    """The holders once every shard is led by one of `members`, each leading N/R rounded."""
    holders = shard_holders(kubectl)
    if sorted(holders) != list(range(SHARDS)) or set(holders.values()) - members:
        return None
    counts = [list(holders.values()).count(member) for member in members]
    fair = min(counts) >= SHARDS // len(members) and max(counts) <= -(-SHARDS // len(members))
    return holders if fair else None


def lease_acquired_at(cluster: DevCluster, lease: str, client: str, since: float) -> float | None:
    """When `client` first wrote `lease` successfully after `since` (an acquire: the audit log has
    no bodies, so the caller knows the lease was someone else's before)."""
    times = [r["ts"] for r in audit(cluster) if r["resource"] == "leases" and r.get("name") == lease
             and r["client"] == client and r["code"] < 300 and r["verb"] in ("update", "create")
             and r["ts"] >= since]
    return min(times) if times else None


def test_shards_are_shared_taken_over_after_a_kill_and_handed_back_on_sigterm(
        devcluster: DevCluster, tmp_path: Path) -> None:
    kubectl = crd_kubectl(devcluster, tmp_path)
    with replicas(devcluster, tmp_path, 3, "--shards", str(SHARDS)) as pods:
        identities = {pod.identity for pod in pods}
        holders = wait_for(lambda: settled(kubectl, identities), 40, what="4 shards over 3 replicas")
        for name in NAMES:
            kubectl("apply", "-f", "-", input=recurringjob(name, "default", "* * * * * *", duration="0s",
                                                           catchUp="All", startingDeadlineSeconds=60))
        uids = {rj["metadata"]["name"]: rj["metadata"]["uid"]
                for rj in get_json(kubectl, "recurringjobs", "-n", "default")["items"]}
        first = wait_for(lambda: len({(c.get("labels") or {}).get("recurringjob.dev/name")
                                      for c in job_creates(devcluster)}) == len(NAMES)
                         and job_creates(devcluster), 30, what="every RecurringJob launching")
        start = max(min(ts(c["annotations"][SCHEDULED]) for c in job_creates(devcluster, name))
                    for name in NAMES) + 1
        time.sleep(3)
        # each RecurringJob's Jobs come from the holder of its shard, nobody else
        steady = [c for c in job_creates(devcluster) if c["ts"] > first[-1]["ts"]]
        assert steady
        for create in steady:
            name = create["labels"]["recurringjob.dev/name"]
            assert create["client"] == holders[shard_of(uids[name], SHARDS)], (name, create, holders)
        # and `kubectl recurringjob owner` names that replica
        owner = subprocess.run([sys.executable, "-m", "recurringjob.cli.plugin", "--kubeconfig",
                                devcluster.kubeconfig, "-n", "default", "owner", NAMES[0]],
                               capture_output=True, text=True, check=True).stdout
        shard = shard_of(uids[NAMES[0]], SHARDS)
        lease = f"Lease default/recurringjob-operator-{shard}"
        expected = f"shard {shard} of {SHARDS}, {lease}: led by {holders[shard]}"
        assert expected in owner, owner

        # SIGKILL the holder of two shards (or of one): the survivors lead them within lease + 2 s
        victim = max(identities, key=lambda member: list(holders.values()).count(member))
        lost = [shard for shard, holder in holders.items() if holder == victim]
        survivors = identities - {victim}
        killed_at = time.time()
        next(pod for pod in pods if pod.identity == victim).signal(signal.SIGKILL)
        holders = wait_for(lambda: settled(kubectl, survivors), LEASE_DURATION + 10, interval=0.1,
                           what="the killed replica's shards taken over")
        for shard in lost:
            taken = lease_acquired_at(devcluster, f"recurringjob-operator-{shard}", holders[shard], killed_at)
            assert taken is not None
            assert taken - killed_at <= LEASE_DURATION + 2.0, f"shard {shard}: {taken - killed_at:.1f}s"
        time.sleep(2)

        # SIGTERM one survivor: it hands its shards back, the last replica leads all within a round
        leaving = sorted(survivors)[0]
        staying = survivors - {leaving}
        handed = [shard for shard, holder in holders.items() if holder == leaving]
        stopped_at = time.time()
        pod = next(pod for pod in pods if pod.identity == leaving)
        pod.signal(signal.SIGTERM)
        wait_for(lambda: settled(kubectl, staying), LEASE_DURATION + 10, interval=0.05,
                 what="handover on SIGTERM")
        assert pod.process is not None and pod.process.wait(15) == 0
        (last,) = staying
        for shard in handed:
            taken = lease_acquired_at(devcluster, f"recurringjob-operator-{shard}", last, stopped_at)
            assert taken is not None and taken - stopped_at < LEASE_DURATION - 0.5, \
                f"shard {shard} handed over after {(taken or 0) - stopped_at:.1f}s: was it released?"
        time.sleep(3)
        end = time.time() - 1.5
    assert not duplicates(devcluster), duplicates(devcluster)
    for name in NAMES:
        launched = {int(ts(c["annotations"][SCHEDULED])) for c in job_creates(devcluster, name)}
        missing = set(range(int(start), int(end) + 1)) - launched
        assert not missing, f"{name} missed {sorted(missing)}"
