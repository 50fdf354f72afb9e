"""Faults that send run-now and backfill requests at the worst moments: trigger-failover, backfill-failover.

Each sends requests the way `kubectl recurringjob trigger|backfill` does (the plugin's own
`record_request`: a resourceVersion-checked PUT of spec.triggers / spec.backfills), then, while
the leader is working on them, SIGKILLs it and starts a second leader on its own Lease (a
split brain), sends the same ids again from another client, and at the end re-applies them
raw — trimmed from the spec and written back, as a GitOps tool re-applying an old manifest would.
Every request id must launch once and every backfilled time once: the verdict judges it from the
audit log against the requests recorded here (`made`).

Targets are Allow RecurringJobs without a TTL, so no overlap policy may legitimately refuse or
hold a request. Backfill ranges lie before each RecurringJob's creation, where the schedule never
launched anything, and every backfill fault takes a fresh range, so no time is backfilled twice
(a time whose Job was pruned would legitimately run again: that is what backfill is for).
"""

from __future__ import annotations

import random
import threading
import time
import urllib.error
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from cluster import ROGUE_LEASE_NAME
from faults_lifecycle import Begun
from recurringjob.cli.plugin_client import Conflict
from recurringjob.cli.plugin_requests import BACKFILLS, TRIGGERS, record_request, update_rj
from recurringjob.core.timeutil import format_rfc3339
from recurringjob.evidence.supervise import ApiClient
from recurringjob.evidence.verdict import Fault, JudgedRequest, parse_time

if TYPE_CHECKING:
    from cluster import ChaosCluster, Replica
    from faults_plan import FaultExecutor, PlannedFault

RJ_API = "/apis/recurringjob.dev/v1alpha1"
TARGETS = 3  # RecurringJobs a fault sends requests to
BACKFILL_OCCURRENCES = 20  # schedule periods per backfill range
NO_TARGETS = "no Allow RecurringJob without a TTL to send requests to"
REQUEST_CLIENTS = ("chaos-user", "chaos-gitops")  # who sends: a person, then a GitOps tool


class HarnessRjApi:
    """The plugin's RjApi over the harness's own REST client (409 -> the plugin's Conflict)."""

    def __init__(self, api: ApiClient, namespace: str) -> None:
        self.api = api
        self.namespace = namespace

    def _path(self, name: str) -> str:
        return f"{RJ_API}/namespaces/{self.namespace}/recurringjobs/{name}"

    def get_rj(self, name: str) -> dict[str, Any]:
        return dict(self.api.get(self._path(name)))

    def replace_rj(self, rj: Mapping[str, Any]) -> dict[str, Any]:
        try:
            return dict(self.api.request("PUT", self._path(str(rj["metadata"]["name"])), dict(rj)))
        except urllib.error.HTTPError as exc:
            if exc.code == 409:
                raise Conflict("conflict") from exc
            raise

    def patch_rj(self, name: str, patch: Mapping[str, Any]) -> dict[str, Any]:
        return dict(self.api.merge_patch(self._path(name), dict(patch)))


def reapplied(field: str, entry: Mapping[str, Any]) -> Callable[[dict[str, Any]], dict[str, Any] | None]:
    """The object with `entry` written back into spec.<field> (replacing an entry of its id), as an
    old manifest re-applied would: the plugin would see the id as known and write nothing."""
    def change(rj: dict[str, Any]) -> dict[str, Any]:
        spec = dict(rj.get("spec") or {})
        others = [e for e in spec.get(field) or [] if e.get("id") != entry["id"]]
        spec[field] = [*others, dict(entry)]
        return {**rj, "spec": spec}
    return change


class RequestFaults:
    def __init__(self, executor: FaultExecutor) -> None:
        self.x = executor
        self.made: list[JudgedRequest] = []  # every request sent, for the verdict
        self.rounds = 0
        self.backfill_rounds = 0

    @property
    def cluster(self) -> ChaosCluster:
        return self.x.cluster

    def _api(self, client: str) -> HarnessRjApi:
        return HarnessRjApi(ApiClient(self.cluster.devcluster.base_url, token=client), self.cluster.namespace)

    def _targets(self, rng: random.Random) -> list[dict[str, Any]]:
        plain = [rj for rj in self.cluster.list_recurringjobs()
                 if rj["spec"].get("concurrencyPolicy", "Allow") == "Allow"
                 and "ttlSecondsAfterFinished" not in rj["spec"]["jobTemplate"]["spec"]]
        return rng.sample(plain, min(TARGETS, len(plain)))

    def _leader_and_targets(self) -> tuple[Replica | None, list[dict[str, Any]]]:
        return self.x.find_leader(), self._targets(self.x.rng)

    def _send(self, sends: list[tuple[str, str, dict[str, Any]]], client: str) -> tuple[int, set[int]]:
        """Record each (RecurringJob, field, entry) through the plugin's code, concurrently (the
        requests land together, while the leader is busy). Returns how many were written, and the
        indexes of the sends now on record (written now or before)."""
        written: list[bool] = []
        recorded: set[int] = set()

        def one(index: int, name: str, field: str, entry: dict[str, Any]) -> None:
            for _ in range(20):  # the API may be failing or restarting: a person would retry
                try:
                    written.append(not record_request(self._api(client), name, field, entry).already)
                    recorded.add(index)
                    return
                except (OSError, urllib.error.URLError, Conflict):
                    time.sleep(0.3)
        threads = [threading.Thread(target=one, args=(i, *send), daemon=True) for i, send in enumerate(sends)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        return sum(written), recorded

    def _reapply(self, sends: list[tuple[str, str, dict[str, Any]]]) -> None:
        for name, field, entry in sends:
            for _ in range(20):
                try:
                    update_rj(self._api(REQUEST_CLIENTS[1]), name, reapplied(field, entry))
                    break
                except (OSError, urllib.error.URLError, Conflict):
                    time.sleep(0.3)

    def _kill_and_split(self, kind: str, leader: Replica) -> tuple[Replica, float]:
        started = time.time()
        leader.process.kill()
        slot = len(self.cluster.rogues) + 1
        rogue = self.cluster.start_replica(slot, lease_name=ROGUE_LEASE_NAME, rogue=True)
        self.x.log(f"fault {kind}: SIGKILL {leader.identity}; second leader {rogue.identity} started")
        return rogue, started

    def _end(self, kind: str, leader: Replica, rogue: Replica, started: float, sends: list[Any],
             detail: str) -> Callable[[], Fault]:
        def end() -> Fault:
            rogue.process.stop()
            replacement = self.cluster.start_replica(leader.slot)
            self._reapply(sends)
            self.x.log(f"fault {kind}: stopped {rogue.identity}, restarted {replacement.identity}, "
                       "re-applied the requests")
            return Fault(kind, started, time.time(), leader.identity, detail)
        return end

    # --- the faults ----------------------------------------------------------------------------

    def _trigger_failover(self, planned: PlannedFault) -> Begun:
        leader, targets = self._leader_and_targets()
        if leader is None or not targets:
            return self.x.not_injected(planned, NO_TARGETS if leader else "no live leader")
        self.rounds += 1
        sends = [(rj["metadata"]["name"], TRIGGERS, {"id": f"chaos-{self.rounds}-{i}"})
                 for i, rj in enumerate(targets)]
        self.x.wait_for_work()
        written, first = self._send(sends, REQUEST_CLIENTS[0])
        time.sleep(self.x.rng.uniform(0.0, 0.3))  # the leader is claiming / creating them now
        rogue, started = self._kill_and_split("trigger-failover", leader)
        again, second = self._send(sends, REQUEST_CLIENTS[1])
        # judged: what is on record (a send that never got through is not a request)
        self.made += [JudgedRequest(self.cluster.namespace, name, "trigger", entry["id"])
                      for i, (name, _, entry) in enumerate(sends) if i in first | second]
        ids = ", ".join(f"{name}/{entry['id']}" for name, _, entry in sends)
        self.x.log(f"fault trigger-failover: triggers {ids} ({written} written; re-sent: {again} written)")
        on_record = [send for i, send in enumerate(sends) if i in first | second]
        return None, self._end("trigger-failover", leader, rogue, started, on_record,
                               f"triggers {ids}; leader SIGKILLed, second leader, ids re-sent and re-applied")

    def _backfill_failover(self, planned: PlannedFault) -> Begun:
        leader, targets = self._leader_and_targets()
        if leader is None or not targets:
            return self.x.not_injected(planned, NO_TARGETS if leader else "no live leader")
        self.backfill_rounds += 1
        span = timedelta(seconds=BACKFILL_OCCURRENCES * self.x.period)
        sends = []
        judged: list[JudgedRequest] = []
        for rj in targets:
            created = parse_time(rj["metadata"]["creationTimestamp"])
            assert created is not None
            # the schedule never ran before its RecurringJob existed; each round goes further back
            end = created - timedelta(seconds=2) - span * (self.backfill_rounds - 1)
            start = end - span + timedelta(seconds=1)
            entry = {"id": f"bf-{self.backfill_rounds}", "from": format_rfc3339(start),
                     "to": format_rfc3339(end), "overlapPolicy": "Allow"}
            sends.append((rj["metadata"]["name"], BACKFILLS, entry))
            judged.append(JudgedRequest(self.cluster.namespace, rj["metadata"]["name"], "backfill",
                                        entry["id"], _utc(start), _utc(end)))
        self.x.wait_for_work()
        written, first = self._send(sends, REQUEST_CLIENTS[0])
        time.sleep(self.x.rng.uniform(0.5, 1.5))  # midway through the range
        rogue, started = self._kill_and_split("backfill-failover", leader)
        again, second = self._send(sends, REQUEST_CLIENTS[1])
        self.made += [request for i, request in enumerate(judged) if i in first | second]
        ranges = ", ".join(f"{name}/{entry['id']} {entry['from']}..{entry['to']}" for name, _, entry in sends)
        self.x.log(f"fault backfill-failover: {ranges} ({written} written; re-sent: {again} written)")
        on_record = [send for i, send in enumerate(sends) if i in first | second]
        return None, self._end("backfill-failover", leader, rogue, started, on_record,
                               f"backfills {ranges}; leader SIGKILLed midway, second leader, re-sent, "
                               "re-applied")


def _utc(moment: datetime) -> datetime:
    return moment.replace(microsecond=0)
