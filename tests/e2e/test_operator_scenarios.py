"""One operator replica on a dev cluster: second-level schedules, Forbid, Replace, history, GC, bad specs.

All scenarios are applied at once (one namespace each) and judged from the API server's audit log
and the objects, so the module takes about as long as its slowest scenario.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from typing import Any

import pytest
from operator_support import (
    NAME_LABEL,
    SCHEDULED,
    audit,
    duplicates,
    get_json,
    job_creates,
    leading_replica,
    needs_crds,
    recurringjob,
    ts,
    wait_for,
)
from recurringjob.devcluster.server import DevCluster

pytestmark = needs_crds

SCENARIOS = {
    "basic": [recurringjob("tick", "basic", "*/2 * * * * *", duration="1s")],
    "forbid": [recurringjob("forbid", "forbid", "* * * * * *", duration="3s", concurrencyPolicy="Forbid")],
    "replace": [recurringjob("replace", "replace", "*/2 * * * * *", duration="60s",
                             concurrencyPolicy="Replace")],
    "history": [recurringjob("hist", "history", "* * * * * *", duration="0s", successfulJobsHistoryLimit=2)],
    "gc": [recurringjob("doomed", "gc", "* * * * * *", duration="30s")],
    "malformed": [recurringjob("broken", "malformed", "*/2 * * * * *", timeZone="Mars/Olympus_Mons"),
                  recurringjob("fine", "malformed", "*/2 * * * * *", duration="0s")],
}


@pytest.fixture(scope="module")
def env(module_devcluster: DevCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    workdir = tmp_path_factory.mktemp("operator")
    with leading_replica(module_devcluster, workdir, SCENARIOS) as env:
        for manifests in SCENARIOS.values():
            for manifest in manifests:
                env["kubectl"]("apply", "-f", "-", input=manifest)
        yield env


def test_second_level_schedule_launches_each_occurrence_once(env: dict[str, Any]) -> None:
    cluster, kubectl = env["cluster"], env["kubectl"]
    creates = wait_for(lambda: len(job_creates(cluster, "tick")) >= 4 and job_creates(cluster, "tick"), 15,
                       what="4 Jobs of tick")
    times = [ts(c["annotations"][SCHEDULED]) for c in creates]
    assert all(int(t) % 2 == 0 for t in times), times
    assert sorted(times) == times and len(set(times)) == len(times)
    assert not duplicates(cluster)
    for create in creates:  # launched close to their time, named after it
        assert create["name"] == f"tick-{int(ts(create['annotations'][SCHEDULED]))}"
        assert create["ts"] - ts(create["annotations"][SCHEDULED]) < 1.0
        assert create["client"] == "replica-1"
    job = get_json(kubectl, "job", creates[-1]["name"], "-n", "basic")
    owner = job["metadata"]["ownerReferences"][0]
    assert (owner["kind"], owner["name"], owner.get("controller")) == ("RecurringJob", "tick", True)
    assert job["metadata"]["labels"][NAME_LABEL] == "tick"
    status = get_json(kubectl, "rj", "tick", "-n", "basic")["status"]
    assert status["lastScheduleTime"] and status["nextScheduleTime"] > status["lastScheduleTime"]
    wait_for(lambda: get_json(kubectl, "rj", "tick", "-n", "basic")["status"].get("lastSuccessfulTime"), 5,
             what="lastSuccessfulTime")


def test_forbid_never_overlaps_and_counts_skips(env: dict[str, Any]) -> None:
    cluster, kubectl = env["cluster"], env["kubectl"]
    wait_for(lambda: len(job_creates(cluster, "forbid")) >= 3, 20, what="3 Jobs of forbid")
    jobs = get_json(kubectl, "jobs", "-n", "forbid")["items"]
    spans = sorted((ts(j["status"]["startTime"]),
                    ts(j["status"].get("completionTime") or "2999-01-01T00:00:00Z"))
                   for j in jobs if j["status"].get("startTime"))
    for (_, end), (start, _) in itertools.pairwise(spans):
        assert start >= end - 0.01, f"Forbid overlapped: {spans}"
    status = get_json(kubectl, "rj", "forbid", "-n", "forbid")["status"]
    assert status.get("skippedOccurrences", 0) >= 2
    assert len(status.get("active") or []) <= 1


def test_replace_deletes_the_running_job_before_the_next(env: dict[str, Any]) -> None:
    cluster, kubectl = env["cluster"], env["kubectl"]
    creates = wait_for(lambda: len(job_creates(cluster, "replace")) >= 3 and job_creates(cluster, "replace"),
                       15, what="3 Jobs of replace")
    deletes = [r for r in audit(cluster) if r["verb"] == "delete" and r["resource"] == "jobs"
               and r["namespace"] == "replace" and r["client"] == "replica-1"]
    replaced = {r["name"] for r in deletes if r["code"] == 200}
    assert {c["name"] for c in creates[:-1]} <= replaced | {creates[-2]["name"]}
    for delete in deletes:  # each delete precedes the create of the Job that replaces it
        later = [c for c in creates if c["ts"] > delete["ts"]]
        assert later, "a Replace delete without a following create"
    status = get_json(kubectl, "rj", "replace", "-n", "replace")["status"]
    assert len(status["active"]) == 1


def test_history_is_pruned_to_the_limit(env: dict[str, Any]) -> None:
    cluster, kubectl = env["cluster"], env["kubectl"]
    wait_for(lambda: len(job_creates(cluster, "hist")) >= 8, 20, what="8 Jobs of hist")
    time.sleep(1.5)
    jobs = get_json(kubectl, "jobs", "-n", "history")["items"]
    # a finished Job is pruned once its occurrence lock is free (--max-request-seconds 3, + 1 s)
    lock_free = time.time() - 3 - 1 - 1  # - 1 s: creationTimestamp is truncated to the second

    def prunable(job: dict[str, Any]) -> bool:
        done = any(c["type"] == "Complete" for c in job["status"].get("conditions") or [])
        meta = job["metadata"]
        return done and ts(meta["creationTimestamp"]) < lock_free and not meta.get("deletionTimestamp")

    finished = [j for j in jobs if prunable(j)]
    assert len(finished) <= 2 + 1, [j["metadata"]["name"] for j in jobs]  # +1: just finished, not yet pruned
    pruned = [r for r in audit(cluster) if r["verb"] == "delete" and r["namespace"] == "history"
              and r["client"] == "replica-1"]
    assert len(pruned) >= 3
    assert not duplicates(cluster)  # a pruned Job is never re-created


def test_deleting_the_recurringjob_deletes_its_jobs(env: dict[str, Any]) -> None:
    cluster, kubectl = env["cluster"], env["kubectl"]
    wait_for(lambda: len(job_creates(cluster, "doomed")) >= 2, 15, what="2 Jobs of doomed")
    kubectl("delete", "rj", "doomed", "-n", "gc")
    deleted_at = time.time()
    wait_for(lambda: not get_json(kubectl, "jobs", "-n", "gc")["items"], 15, what="GC of doomed's Jobs")
    time.sleep(1.5)
    assert not [c for c in job_creates(cluster, "doomed") if c["ts"] > deleted_at + 0.5]


def test_a_malformed_recurringjob_is_not_ready_with_a_warning_while_others_run(env: dict[str, Any]) -> None:
    cluster, kubectl = env["cluster"], env["kubectl"]

    def ready_condition() -> dict[str, Any] | None:
        status = get_json(kubectl, "rj", "broken", "-n", "malformed").get("status") or {}
        return next((c for c in status.get("conditions") or [] if c["type"] == "Ready"), None)

    ready = wait_for(ready_condition, 10, what="a Ready condition on broken")
    assert (ready["status"], ready["reason"]) == ("False", "UnknownTimeZone")
    events = wait_for(lambda: [e for e in get_json(kubectl, "events", "-n", "malformed")["items"]
                               if e["involvedObject"]["name"] == "broken"], 10, what="a Warning event")
    assert events[0]["type"] == "Warning" and events[0]["reason"] == "UnknownTimeZone"
    wait_for(lambda: len(job_creates(cluster, "fine", "malformed")) >= 3, 15, what="fine keeps running")
    assert not job_creates(cluster, "broken")
    assert len(events) == 1  # one event per change, not one per reconcile
