"""Which faults happen when (seeded), and how each one is really done to a process or the server.

Planning is pure (a `random.Random(seed)` decides kinds' order, moments and lengths), so a seed
names a run. Execution acts on real things only: signals to replica process groups, the dev
cluster's fault admin API, restarting the dev cluster process. Nothing is simulated inside the
operator. Every executed fault is recorded as a `Fault` with the moments it really began/ended.
"""

from __future__ import annotations

import random
import threading
import time
import urllib.error
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cluster import ROGUE_LEASE_NAME, ChaosCluster, LeaseTimings, Replica
from faults_lifecycle import LATE_WRITE_HOLD, Begun, EndAction, LifecycleFaults
from faults_requests import RequestFaults
from faults_scale import ScaleFaults
from recurringjob.devcluster.faultclient import FaultClient
from recurringjob.evidence.supervise import ApiClient
from recurringjob.evidence.verdict import Fault

# Faults done at a moment, for a while.
TIMED_FAULTS = (
    "kill-leader",
    "pause-leader",
    "partition-leader",
    "split-brain",
    "api-errors",
    "watch-drops",
    "slow-api",
    "devcluster-restart",
    # faults_lifecycle.py
    "job-ttl",
    "job-delete",
    "clock-skew",
    "late-write",
    "label-strip",
    "replace-crash",
    # faults_scale.py
    "scale-up",
    "scale-down",
    "rolling-update",
    # faults_requests.py
    "trigger-failover",
    "backfill-failover",
)
# Faults that are a configuration of the whole run (Job timing), not a moment.
RUN_FAULTS = ("status-race",)
ALL_FAULTS = TIMED_FAULTS + RUN_FAULTS
MIN_SLOT_SECONDS = 25.0  # in long runs, each fault gets at least this much time before the next


@dataclass(frozen=True)
class PlannedFault:
    kind: str
    at: float  # seconds after the run's start
    length: float  # seconds the fault lasts (kill-leader: until the killed replica is restarted)
    params: dict[str, Any] = field(default_factory=dict)


def parse_faults(text: str) -> list[str]:
    """Comma-separated fault kinds; `all`: every fault the harness knows."""
    kinds = [k.strip() for k in text.split(",") if k.strip()]
    if kinds == ["all"]:
        return list(ALL_FAULTS)
    unknown = sorted(set(kinds) - set(ALL_FAULTS))
    if unknown:
        raise ValueError(f"unknown fault(s) {', '.join(unknown)}; known: {', '.join(ALL_FAULTS)}")
    return kinds


def fault_length(kind: str, lease: LeaseTimings, rng: random.Random) -> float:
    if kind in {"pause-leader", "partition-leader"}:
        # Longer than the lease: someone else must take over while the leader is away.
        return lease.duration + rng.uniform(1.0, 3.0)
    return {
        "kill-leader": rng.uniform(2.0, 4.0),
        "split-brain": rng.uniform(8.0, 12.0),
        "api-errors": rng.uniform(4.0, 8.0),
        "watch-drops": rng.uniform(6.0, 10.0),
        "slow-api": rng.uniform(5.0, 8.0),
        "devcluster-restart": 0.0,
        "job-ttl": rng.uniform(2.0, 4.0),  # the SIGKILLed replica's downtime (after the rollout)
        "job-delete": rng.uniform(6.0, 10.0),
        "label-strip": rng.uniform(6.0, 10.0),
        "clock-skew": rng.uniform(8.0, 12.0),  # between the two rollouts
        "late-write": rng.uniform(*LATE_WRITE_HOLD) + 1.0,  # the hold, then SIGCONT
        # Longer than the lease: the next leader meets failing deletes too.
        "replace-crash": lease.duration + rng.uniform(1.0, 3.0),
        # Long enough for shards to move twice (in, then back out) with a few occurrences between.
        "scale-up": lease.duration + rng.uniform(3.0, 5.0),
        "scale-down": lease.duration + rng.uniform(3.0, 5.0),
        "rolling-update": 0.0,  # done in one go: every replica replaced in turn
        # the killed leader's downtime, with a second leader running meanwhile
        "trigger-failover": rng.uniform(6.0, 10.0),
        "backfill-failover": rng.uniform(6.0, 10.0),
    }[kind]


def plan_faults(
    kinds: list[str], rng: random.Random, start: float, horizon: float, lease: LeaseTimings
) -> list[PlannedFault]:
    """Timed faults spread over [start, horizon] (seconds into the run), one per slot.

    Each slot holds one fault, which ends inside its slot, so faults never overlap and every
    fault's effect can be told apart. Long runs repeat the whole set in rounds, each round in a
    fresh seeded order.
    """
    timed = [k for k in dict.fromkeys(kinds) if k in TIMED_FAULTS]
    if not timed or horizon <= start:
        return []
    span = horizon - start
    rounds = max(1, int(span // (len(timed) * MIN_SLOT_SECONDS)))
    sequence: list[str] = []
    for _ in range(rounds):
        order = list(timed)
        rng.shuffle(order)
        sequence += order
    slot = span / len(sequence)
    planned = []
    for index, kind in enumerate(sequence):
        length = fault_length(kind, lease, rng)
        slack = max(0.0, slot - length - 1.0)
        params: dict[str, Any] = {}
        if kind == "partition-leader":
            params["mode"] = rng.choice(["hang", "fail"])
        if kind == "late-write":
            params["hold"] = round(length - 1.0, 3)
        if kind == "clock-skew":
            params["ahead_first"] = rng.random() < 0.5
        planned.append(PlannedFault(kind, start + index * slot + rng.uniform(0.0, slack), length, params))
    return planned




class FaultExecutor:
    """Does planned faults to a `ChaosCluster`. `begin` acts now and returns how to end it."""

    def __init__(
        self,
        cluster: ChaosCluster,
        rng: random.Random,
        lease: LeaseTimings,
        log: Callable[[str], None],
        wait_for_work: Callable[[], None] = lambda: None,
        period: float = 1.0,
    ) -> None:
        self.cluster = cluster
        self.rng = rng
        self.lease = lease
        self.log = log
        # Leader faults strike mid-work: just after an occurrence is due, while the leader is
        # claiming and creating (the moment the incidents' leaders were caught in).
        self.wait_for_work = wait_for_work
        self.period = period  # the schedule's period (seconds): backfill ranges are counted in it
        self.lifecycle = LifecycleFaults(self)
        self.scale = ScaleFaults(self)
        self.requests = RequestFaults(self)

    @property
    def faults(self) -> FaultClient:
        return FaultClient(self.cluster.devcluster.base_url)

    def _leader(self) -> Replica | None:
        if self.cluster.naive:  # no Lease: any replica is "the" scheduler
            live = self.cluster.live_replicas()
            return self.rng.choice(live) if live else None
        try:
            return self.cluster.wait_for_leader(self.lease.duration * 3 + 5)
        except TimeoutError:
            return None

    def begin(self, planned: PlannedFault) -> Begun:
        """Inject; returns (Fault records of what is done already or could not be done, its end action)."""
        name = "_" + planned.kind.replace("-", "_")
        owner = next(o for o in (self, self.lifecycle, self.scale, self.requests) if hasattr(o, name))
        method = getattr(owner, name)
        result: Begun = method(planned)
        return result

    def find_leader(self) -> Replica | None:
        return self._leader()

    def not_injected(self, planned: PlannedFault, why: str) -> tuple[Fault, None]:
        return self._not_injected(planned, why)

    def _not_injected(self, planned: PlannedFault, why: str) -> tuple[Fault, None]:
        self.log(f"fault {planned.kind}: NOT injected: {why}")
        return Fault(planned.kind, time.time(), None, None, f"not injected: {why}"), None

    # --- faults done to replica processes ---------------------------------------------------------

    def _kill_leader(self, planned: PlannedFault) -> tuple[None, EndAction] | tuple[Fault, None]:
        leader = self._leader()
        if leader is None:
            return self._not_injected(planned, "no live leader")
        self.wait_for_work()
        started = time.time()
        leader.process.kill()
        self.log(f"fault kill-leader: SIGKILL {leader.identity} (pid {leader.process.pid})")

        def end() -> Fault:
            replacement = self.cluster.start_replica(leader.slot)
            self.log(f"fault kill-leader: restarted slot {leader.slot} as {replacement.identity}")
            return Fault("kill-leader", started, time.time(), leader.identity,
                         f"SIGKILL; restarted as {replacement.identity}")

        return None, end

    def _pause_leader(self, planned: PlannedFault) -> tuple[None, EndAction] | tuple[Fault, None]:
        leader = self._leader()
        if leader is None:
            return self._not_injected(planned, "no live leader")
        self.wait_for_work()
        started = time.time()
        leader.process.pause()
        self.log(f"fault pause-leader: SIGSTOP {leader.identity} for {planned.length:.1f}s")

        def end() -> Fault:
            holder = self.cluster.holder()
            leader.process.resume()
            self.log(f"fault pause-leader: SIGCONT {leader.identity} (Lease held by {holder})")
            return Fault("pause-leader", started, time.time(), leader.identity,
                         f"SIGSTOP/SIGCONT; Lease holder at SIGCONT: {holder}")

        return None, end

    def _partition_leader(self, planned: PlannedFault) -> tuple[None, EndAction] | tuple[Fault, None]:
        leader = self._leader()
        if leader is None:
            return self._not_injected(planned, "no live leader")
        mode = planned.params.get("mode", "hang")
        self.wait_for_work()
        started = time.time()
        self.faults.partition(leader.identity, mode=mode)
        self.log(f"fault partition-leader: {leader.identity} cut off ({mode}) for {planned.length:.1f}s")

        def end() -> Fault:
            self.faults.heal(leader.identity)
            self.log(f"fault partition-leader: healed {leader.identity}")
            return Fault("partition-leader", started, time.time(), leader.identity, f"mode={mode}")

        return None, end

    def _split_brain(self, planned: PlannedFault) -> tuple[None, EndAction]:
        started = time.time()
        slot = len(self.cluster.rogues) + 1
        rogue = self.cluster.start_replica(slot, lease_name=ROGUE_LEASE_NAME, rogue=True)
        self.log(f"fault split-brain: started {rogue.identity} on Lease {ROGUE_LEASE_NAME}")

        def end() -> Fault:
            rogue.process.stop()
            self.log(f"fault split-brain: stopped {rogue.identity}")
            return Fault("split-brain", started, time.time(), rogue.identity,
                         f"second leader on Lease {ROGUE_LEASE_NAME}")

        return None, end

    # --- faults done by the API server ---------------------------------------------------------------

    def _api_errors(self, planned: PlannedFault) -> tuple[None, EndAction]:
        started = time.time()
        rate = round(self.rng.uniform(0.2, 0.4), 2)
        self.faults.set_errors(rate, codes=[500, 503, 429, 409], verbs=["create", "update", "patch"],
                               resources=["recurringjobs", "jobs"])
        self.log(f"fault api-errors: {rate:.0%} of recurringjobs/jobs writes answer 500/503/429/409")

        def end() -> Fault:
            self.faults.set_errors(0)
            return Fault("api-errors", started, time.time(), None, f"rate={rate} codes=500,503,429,409")

        return None, end

    def _watch_drops(self, planned: PlannedFault) -> tuple[None, EndAction]:
        started = time.time()
        self.faults.drop_watches(after=0.5, jitter=2.0)
        self.faults.expire_watches(rate=0.5)
        self.log("fault watch-drops: watches cut after 0.5-2.5s, half of the resumes answered 410")

        def end() -> Fault:
            self.faults.update({"watchDrops": [], "watchExpiry": []})
            detail = "drop after 0.5-2.5s, 410 on 50% of resumes"
            return Fault("watch-drops", started, time.time(), None, detail)

        return None, end

    def _slow_api(self, planned: PlannedFault) -> tuple[None, EndAction]:
        started = time.time()
        self.faults.set_latency(0.2, jitter=0.8, verbs=["get", "list"])
        self.log("fault slow-api: reads take 0.2-1.0s")

        def end() -> Fault:
            self.faults.set_latency(0)
            return Fault("slow-api", started, time.time(), None, "get/list +0.2-1.0s")

        return None, end

    def _devcluster_restart(self, planned: PlannedFault) -> tuple[Fault, None]:
        started = time.time()
        self.log("fault devcluster-restart: stopping the API server")
        self.cluster.devcluster.restart()
        self.log(f"fault devcluster-restart: serving again on port {self.cluster.devcluster.port}")
        detail = "SIGTERM + restart on --data-dir"
        return Fault("devcluster-restart", started, time.time(), "devcluster", detail), None

    def clear(self) -> None:
        """End-of-run safety net: no fault rule, partition, user or paused process may outlive the run."""
        self.lifecycle.clear()
        for replica in [*self.cluster.replicas.values(), *self.cluster.rogues]:
            if replica.process.paused:
                replica.process.resume()
        try:
            self.faults.clear()
        except (OSError, RuntimeError):
            pass


class ConcurrentWriter(threading.Thread):
    """status-race's second writer: touches RecurringJobs right when their occurrences are claimed.

    Users and GitOps tools write RecurringJobs too. Each touch (a metadata annotation, via the main
    resource) moves the object's resourceVersion at the moment the leader claims an occurrence or
    records a completion, so those status writes meet a concurrent change and must re-read rather
    than overwrite: a lost update would show in the final lastSuccessfulTime check.
    """

    def __init__(self, cluster: ChaosCluster, names: list[str], next_due: Callable[[], float],
                 rng: random.Random) -> None:
        super().__init__(name="chaos-concurrent-writer", daemon=True)
        self.cluster = cluster
        self.names = names
        self.next_due = next_due
        self.rng = rng
        self.stopped = threading.Event()
        self.touches = 0

    def run(self) -> None:
        api = ApiClient(self.cluster.devcluster.base_url, token="chaos-concurrent-writer")
        path = f"/apis/recurringjob.dev/v1alpha1/namespaces/{self.cluster.namespace}/recurringjobs"
        while not self.stopped.is_set():
            due = self.next_due()
            if self.stopped.wait(max(0.0, due + self.rng.uniform(0.0, 0.03) - time.time())):
                return
            for name in self.rng.sample(self.names, max(1, len(self.names) // 2)):
                try:
                    api.merge_patch(f"{path}/{name}", {"metadata": {"annotations": {
                        "chaos.recurringjob.dev/touched": f"{time.time():.3f}"}}})
                    self.touches += 1
                except (OSError, urllib.error.URLError):
                    pass  # the server may be restarting or injecting errors: touch the next one

    def stop(self) -> None:
        self.stopped.set()
        self.join(timeout=5)
