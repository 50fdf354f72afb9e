"""Faults on the life of Jobs and replicas: TTL, deletion and label edits by hand, late writes,
a Replace cut short, skewed clocks. Each is done for real, like those in faults_plan.py:

- `job-ttl`: RecurringJobs whose Jobs are deleted as soon as they finish (ttlSecondsAfterFinished
  0, see variants.py); every replica restarted (SIGTERM rollout), then all of them frozen while
  the leader's Jobs finish and vanish, and SIGKILLed before any could book them or see them go.
- `job-delete`: a user deletes running and finished Jobs (background propagation, as `kubectl
  delete job` does).
- `label-strip`: a user removes the `recurringjob.dev/name` label from running Jobs.
- `late-write`: the server holds the leader's Job creates (the dev cluster's hold fault) while the
  leader is frozen past its lease: a new leader recovers while the old creates are on the wire.
- `replace-crash`: Job DELETEs fail (500/503) and the leader is SIGKILLed just after an occurrence
  is due: Replace deletions recorded in claims must be completed by whoever leads next.
- `clock-skew`: every replica restarted with its wall clock minutes off (libfaketime; +/- by
  slot), later restarted with the true clock.
"""

from __future__ import annotations

import random
import threading
import time
import urllib.error
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from cluster import ChaosCluster
from recurringjob.evidence.supervise import ApiClient
from recurringjob.evidence.verdict import NAME_LABEL, Fault

if TYPE_CHECKING:
    from faults_plan import FaultExecutor, PlannedFault

SKEW_AHEAD = 180.0  # seconds: a replica whose clock runs ahead would launch early
SKEW_BEHIND = -120.0  # seconds: one that runs behind would launch late (or not at all)
LATE_WRITE_HOLD = (10.0, 14.0)  # seconds the leader's creates stay on the server: < --max-request-seconds
# job-ttl: how long the replicas are frozen before their SIGKILL; longer than the Jobs' 1 s run, so
# the ones just created finish and are TTL-deleted while no replica can book them.
TTL_FREEZE = 2.0
ROLLOUT_PAUSE = 1.5  # seconds between two replica restarts of a rollout: the new one gets going
DELETE_OPTIONS = {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background"}

JobAction = Callable[[ApiClient, list[dict[str, Any]], random.Random], int]
EndAction = Callable[[], "Fault | list[Fault]"]  # ends a fault; what was done, with its real moments
Begun = tuple["Fault | list[Fault] | None", "EndAction | None"]  # records so far, how to end it


def _running(job: dict[str, Any]) -> bool:
    status = job.get("status") or {}
    return bool(status.get("active")) and not job["metadata"].get("deletionTimestamp")


def _finished(job: dict[str, Any]) -> bool:
    conditions = (job.get("status") or {}).get("conditions") or []
    done = any(c.get("type") in {"Complete", "Failed"} and c.get("status") == "True" for c in conditions)
    return done and not job["metadata"].get("deletionTimestamp")


def _owner(job: dict[str, Any]) -> str | None:
    for ref in job["metadata"].get("ownerReferences") or []:
        if ref.get("controller") and ref.get("kind") == "RecurringJob":
            return str(ref.get("name"))
    return None


class HandyUser(threading.Thread):
    """A person at kubectl for the length of a fault: every half second or so, `act` on the Jobs."""

    def __init__(self, cluster: ChaosCluster, kind: str, act: JobAction, rng: random.Random) -> None:
        super().__init__(name=f"chaos-user-{kind}", daemon=True)
        self.cluster = cluster
        self.act = act
        self.rng = rng
        self.stopped = threading.Event()
        self.done = 0  # Jobs acted on

    def run(self) -> None:
        api = self.cluster.user()
        path = f"/apis/batch/v1/namespaces/{self.cluster.namespace}/jobs"
        while not self.stopped.wait(self.rng.uniform(0.3, 0.8)):
            try:
                jobs = list(api.get(path)["items"])
                self.done += self.act(api, jobs, self.rng)
            except (OSError, urllib.error.URLError):
                pass  # the server may be restarting or injecting errors: try again next time

    def stop(self) -> None:
        self.stopped.set()
        self.join(timeout=10)


def delete_some_jobs(cluster: ChaosCluster) -> JobAction:
    """One running and one finished Job per round, deleted as `kubectl delete job` does."""

    def act(api: ApiClient, jobs: list[dict[str, Any]], rng: random.Random) -> int:
        running = [job for job in jobs if _running(job)]
        finished = [job for job in jobs if _finished(job)]
        chosen = rng.sample(running, min(1, len(running))) + rng.sample(finished, min(1, len(finished)))
        deleted = 0
        for job in chosen:
            meta = job["metadata"]
            owner = _owner(job)
            if owner:  # its final status can no longer be checked against its Jobs
                cluster.jobs_deleted_by_others.add((cluster.namespace, owner))
            try:
                api.request("DELETE", f"/apis/batch/v1/namespaces/{meta['namespace']}/jobs/{meta['name']}",
                            DELETE_OPTIONS)
                deleted += 1
            except urllib.error.HTTPError as exc:
                if exc.code not in (404, 409):
                    raise OSError(f"DELETE job {meta['name']}: HTTP {exc.code}") from None
        return deleted

    return act


def strip_some_labels(api: ApiClient, jobs: list[dict[str, Any]], rng: random.Random) -> int:
    """Up to two running Jobs per round lose their `recurringjob.dev/name` label."""
    labelled = [job for job in jobs if _running(job) and NAME_LABEL in (job["metadata"].get("labels") or {})]
    stripped = 0
    for job in rng.sample(labelled, min(2, len(labelled))):
        meta = job["metadata"]
        try:
            api.merge_patch(f"/apis/batch/v1/namespaces/{meta['namespace']}/jobs/{meta['name']}",
                            {"metadata": {"labels": {NAME_LABEL: None}}})
            stripped += 1
        except urllib.error.HTTPError as exc:
            if exc.code != 404:
                raise OSError(f"PATCH job {meta['name']}: HTTP {exc.code}") from None
    return stripped


class LifecycleFaults:
    """The faults above, done through a `FaultExecutor` (its cluster, leader lookup, fault client)."""

    def __init__(self, executor: FaultExecutor) -> None:
        self.x = executor
        self.users: list[HandyUser] = []

    @property
    def cluster(self) -> ChaosCluster:
        return self.x.cluster

    def rollout(self) -> tuple[float, float]:
        """Restart every replica in turn (SIGTERM, then its successor), as a Deployment update does."""
        started = time.time()
        for slot in sorted(self.cluster.replicas):
            replica = self.cluster.replicas[slot]
            replica.process.stop(grace=5.0)
            successor = self.cluster.start_replica(slot)
            offset = self.cluster.clock_offsets.get(slot, 0.0)
            self.x.log(f"rollout: {replica.identity} -> {successor.identity}"
                       + (f" (clock {offset:+.0f}s)" if offset else ""))
            time.sleep(ROLLOUT_PAUSE)
        return started, time.time()

    # --- the faults ----------------------------------------------------------------------------

    def _job_ttl(self, planned: PlannedFault) -> Begun:
        started, rolled = self.rollout()
        leader = self.x.find_leader()
        if leader is None:
            return Fault("job-ttl", started, rolled, "all replicas", "rollout; no leader to SIGKILL"), None
        # The crash that matters: Jobs finished (and TTL-deleted at once) before any replica booked
        # them, and no replica's cache saw them go. So every replica is frozen while the leader's
        # latest Jobs run, they finish and vanish, then every replica is SIGKILLed (a node loss).
        self.x.wait_for_work()
        time.sleep(0.3)
        replicas = list(self.cluster.replicas.values())
        for replica in replicas:
            replica.process.pause()
        time.sleep(TTL_FREEZE)
        for replica in replicas:
            replica.process.kill()
        self.x.log(f"fault job-ttl: every replica frozen while {leader.identity}'s Jobs ran, SIGKILLed "
                   f"{TTL_FREEZE}s on")

        def end() -> Fault:
            successors = [self.cluster.start_replica(replica.slot).identity for replica in replicas]
            return Fault("job-ttl", started, time.time(), leader.identity,
                         "ttlSecondsAfterFinished 0; SIGTERM rollout of every replica, then all frozen while "
                         f"the Jobs of {leader.identity} finished and SIGKILLed; restarted as "
                         + ", ".join(successors))

        return None, end

    def _user_fault(self, planned: PlannedFault, act: JobAction, verb: str) -> Begun:
        started = time.time()
        user = HandyUser(self.cluster, planned.kind, act, random.Random(self.x.rng.random()))
        self.users.append(user)
        user.start()
        self.x.log(f"fault {planned.kind}: a user {verb} for {planned.length:.1f}s")

        def end() -> Fault:
            user.stop()
            self.x.log(f"fault {planned.kind}: {user.done} Job(s) {verb}")
            if not user.done:
                return Fault(planned.kind, started, time.time(), None, f"not injected: no Job {verb}")
            return Fault(planned.kind, started, time.time(), None, f"{user.done} Job(s) {verb} by hand")

        return None, end

    def _job_delete(self, planned: PlannedFault) -> Begun:
        return self._user_fault(planned, delete_some_jobs(self.cluster), "deleted")

    def _label_strip(self, planned: PlannedFault) -> Begun:
        return self._user_fault(planned, strip_some_labels, "stripped of their name label")

    def _late_write(self, planned: PlannedFault) -> Begun:
        leader = self.x.find_leader()
        if leader is None:
            return self.x.not_injected(planned, "no live leader")
        hold = float(planned.params["hold"])
        since = time.time()
        self.x.faults.hold(hold, verbs=["create"], resources=["jobs"], clients=[leader.identity])
        self.x.wait_for_work()
        time.sleep(0.3)  # the leader's creates for this occurrence are on the server now, held
        started = time.time()
        leader.process.pause()
        self.x.log(f"fault late-write: {leader.identity}'s Job creates held {hold:.1f}s; SIGSTOP it")

        def end() -> Fault:
            self.x.faults.hold(0)
            held = [e for e in self.x.faults.log(since) if e.get("fault") == "hold"]
            holder = self.cluster.holder()
            leader.process.resume()
            self.x.log(f"fault late-write: {len(held)} create(s) were held; SIGCONT {leader.identity} "
                       f"(Lease held by {holder})")
            if not held:
                why = "not injected: no create held"
                return Fault("late-write", started, time.time(), leader.identity, why)
            return Fault("late-write", started, time.time(), leader.identity,
                         f"{len(held)} Job create(s) held {hold:.1f}s on the server; SIGSTOP/SIGCONT; "
                         f"Lease holder at SIGCONT: {holder}")

        return None, end

    def _replace_crash(self, planned: PlannedFault) -> Begun:
        leader = self.x.find_leader()
        if leader is None:
            return self.x.not_injected(planned, "no live leader")
        self.x.faults.set_errors(1.0, codes=[500, 503], verbs=["delete"], resources=["jobs"])
        self.x.wait_for_work()
        started = time.time()
        leader.process.kill()
        self.x.log(f"fault replace-crash: Job DELETEs fail; SIGKILL {leader.identity} just after claims")

        def end() -> Fault:
            self.x.faults.set_errors(0)
            replacement = self.cluster.start_replica(leader.slot)
            return Fault("replace-crash", started, time.time(), leader.identity,
                         "Job DELETEs answered 500/503; SIGKILL mid-claim; restarted as "
                         + replacement.identity)

        return None, end

    def _clock_skew(self, planned: PlannedFault) -> Begun:
        ahead_first = bool(planned.params.get("ahead_first", True))
        slots = sorted(self.cluster.replicas)
        offsets = {slot: SKEW_AHEAD if (index % 2 == 0) == ahead_first else SKEW_BEHIND
                   for index, slot in enumerate(slots)}
        self.cluster.clock_offsets.update(offsets)
        started, rolled = self.rollout()
        described = ", ".join(f"replica-{slot} {offset:+.0f}s" for slot, offset in offsets.items())
        self.x.log(f"fault clock-skew: replicas restarted with clocks {described}")
        rollout_on = Fault("rollout", started, rolled, "all replicas", f"restart, clocks skewed: {described}")

        def end() -> list[Fault]:
            self.cluster.clock_offsets.clear()
            back, done = self.rollout()
            self.x.log("fault clock-skew: replicas restarted with the true clock")
            return [
                Fault("clock-skew", started, done, "all replicas", f"wall clocks {described}"),
                Fault("rollout", back, done, "all replicas", "restart with the true clock"),
            ]

        return rollout_on, end

    def clear(self) -> None:
        for user in self.users:
            user.stop()
        self.users.clear()
