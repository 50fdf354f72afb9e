"""Faults that change how many replicas run: scale-up, scale-down, rolling-update.

With `--shards N` these move shards between replicas: a new replica takes its fair share from
the others (they hand shards back), a SIGTERMed one hands its shards to the others, and a rolling
update does both for every replica in turn. Without shards they move the one Lease. Either way
no occurrence may be doubled or dropped: the verdict judges it from the audit log.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from cluster import Replica
from faults_lifecycle import Begun
from recurringjob.evidence.verdict import Fault

if TYPE_CHECKING:
    from faults_plan import FaultExecutor, PlannedFault

READY_LINE = "standing for election"  # cli/run.py logs it once its caches are synced
READY_TIMEOUT = 45.0  # seconds for a new replica to sync (2 cores shared with the rest of the run)
GRACE = 10.0  # seconds a SIGTERMed replica has to hand back before SIGKILL (a pod's grace period)


class ScaleFaults:
    def __init__(self, executor: FaultExecutor) -> None:
        self.x = executor

    def wait_ready(self, replica: Replica) -> bool:
        """Until the replica stands for election (a readiness probe's view), or it dies."""
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline and replica.process.alive():
            if replica.process.log_path.exists() and READY_LINE in replica.process.log_path.read_text(
                    errors="replace"):
                return True
            time.sleep(0.2)
        return False

    def _scale_up(self, planned: PlannedFault) -> Begun:
        cluster = self.x.cluster
        slot = max([*cluster.replicas, 0]) + 1
        started = time.time()
        added = cluster.start_replica(slot)
        self.x.log(f"fault scale-up: started {added.identity} for {planned.length:.1f}s")
        ready = self.wait_ready(added)

        def end() -> Fault:
            added.process.stop(grace=GRACE)
            cluster.replicas.pop(slot, None)
            self.x.log(f"fault scale-up: SIGTERM {added.identity} (scaled back down)")
            return Fault("scale-up", started, time.time(), added.identity,
                         f"replica added ({'ready' if ready else 'NOT ready'}), later SIGTERMed")

        return None, end

    def _scale_down(self, planned: PlannedFault) -> Begun:
        cluster = self.x.cluster
        leader = self.x.find_leader()
        if leader is None:
            return self.x.not_injected(planned, "no live leader")
        self.x.wait_for_work()
        started = time.time()
        code = leader.process.stop(grace=GRACE)
        cluster.replicas.pop(leader.slot, None)  # not a crash: restart_crashed must leave it down
        self.x.log(f"fault scale-down: SIGTERM {leader.identity} (exit {code}) for {planned.length:.1f}s")

        def end() -> Fault:
            cluster.replicas[leader.slot] = leader  # its successor is a new incarnation (a new pod)
            successor = cluster.start_replica(leader.slot)
            self.x.log(f"fault scale-down: scaled back up with {successor.identity}")
            return Fault("scale-down", started, time.time(), leader.identity,
                         f"SIGTERM (exit {code}); back up as {successor.identity}")

        return None, end

    def _rolling_update(self, planned: PlannedFault) -> Begun:
        """A Deployment rollout (maxSurge 1, maxUnavailable 0): for each replica in turn, start its
        successor, wait until it is ready, then SIGTERM the old one."""
        cluster = self.x.cluster
        started = time.time()
        steps = []
        for slot in sorted(cluster.replicas):
            old = cluster.replicas[slot]
            successor = cluster.start_replica(slot)
            ready = self.wait_ready(successor)
            code = old.process.stop(grace=GRACE)
            steps.append(f"{old.identity}->{successor.identity}{'' if ready else ' (not ready)'} exit {code}")
            self.x.log(f"fault rolling-update: {steps[-1]}")
        return Fault("rolling-update", started, time.time(), "all replicas", "; ".join(steps)), None
