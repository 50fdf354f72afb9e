"""Issue 8's numbered failures, each tried against a real operator process on a dev cluster.

Each scenario has its own namespace; all run at once against one replica (restarted once, for the
TTL case). Everything is judged from the API server's side: the audit log and objects read back.
The operator runs with `--max-request-seconds 3` so occurrence locks are released within seconds.
"""

from __future__ import annotations

import collections
import time
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from operator_support import (
    audit,
    get_json,
    job_creates,
    leading_replica,
    recurringjob,
    wait_for,
)
from recurringjob.devcluster.faultclient import FaultClient
from recurringjob.devcluster.server import DevCluster

LOCK = "recurringjob.dev/occurrence-lock"
LONG_NAME = "a-recurringjob-whose-name-is-seventy-three-characters-long-abcdefghijklmn"
assert len(LONG_NAME) == 73
NAMESPACES = ("ttl", "byhand", "suspended", "rejected", "longname", "replace", "orphans")


def with_template(manifest: str, **template_spec: Any) -> str:
    body = yaml.safe_load(manifest)
    body["spec"]["jobTemplate"]["spec"].update(template_spec)
    return yaml.safe_dump(body)


def without_restart_policy(manifest: str) -> str:
    body = yaml.safe_load(manifest)
    del body["spec"]["jobTemplate"]["spec"]["template"]["spec"]["restartPolicy"]
    return yaml.safe_dump(body)


def creates_by_name(cluster: DevCluster, namespace: str) -> collections.Counter[str]:
    return collections.Counter(r["name"] for r in audit(cluster)
                               if r["verb"] == "create" and r["resource"] == "jobs"
                               and r["namespace"] == namespace and r["code"] in (200, 201))


def deletes_by(cluster: DevCluster, client: str, namespace: str) -> list[dict[str, Any]]:
    return [r for r in audit(cluster) if r["verb"] == "delete" and r["resource"] == "jobs"
            and r["namespace"] == namespace and r["client"] == client]


@pytest.fixture(scope="module")
def env(module_devcluster: DevCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    workdir = tmp_path_factory.mktemp("exactly-once")
    with leading_replica(module_devcluster, workdir, NAMESPACES, "--max-request-seconds", "3") as env:
        yield {**env, "faults": FaultClient(module_devcluster.url)}


def test_a_finished_job_deleted_while_the_operator_is_down_is_not_run_again(env: dict[str, Any]) -> None:
    """1. TTL + restart: the Job finishes and is deleted while no operator runs; the new process
    (cold cache) must book it, not create it again, and not count it missed."""
    cluster, kubectl, replica = env["cluster"], env["kubectl"], env["replica"]
    kubectl("apply", "-f", "-", input=recurringjob("ttl", "ttl", "*/3 * * * * *", duration="2s",
                                                   startingDeadlineSeconds=60))
    first = wait_for(lambda: job_creates(cluster, "ttl", "ttl"), 10, what="a Job of ttl")[0]
    replica.stop()  # SIGTERM rollout while the Job runs
    replica.process = None
    def finished() -> bool:
        status = get_json(kubectl, "job", first["name"], "-n", "ttl")["status"]
        return any(c["type"] == "Complete" for c in status.get("conditions") or [])

    wait_for(finished, 10, what="the Job to finish")
    kubectl("delete", "job", first["name"], "-n", "ttl", "--wait=false")  # as the TTL controller would
    job = get_json(kubectl, "job", first["name"], "-n", "ttl")
    assert job["metadata"].get("deletionTimestamp") and LOCK in job["metadata"]["finalizers"]
    replica.start()
    wait_for(lambda: len(job_creates(cluster, "ttl", "ttl")) >= 3, 20, what="later Jobs of ttl")
    assert creates_by_name(cluster, "ttl")[first["name"]] == 1
    wait_for(lambda: not kubectl("get", "job", first["name"], "-n", "ttl", check=False).returncode == 0, 15,
             what="the booked Job's lock to be released")
    status = get_json(kubectl, "rj", "ttl", "-n", "ttl")["status"]
    assert first["name"] not in [r["name"] for r in status.get("active") or []]


def test_a_running_job_deleted_by_hand_is_not_recreated(env: dict[str, Any]) -> None:
    """4. A running Job deleted by hand stays deleted (booked as stopped), also while suspended."""
    cluster, kubectl = env["cluster"], env["kubectl"]
    victims = {}
    cases = (("byhand", False), ("suspended", True))
    for ns, _ in cases:  # both first: they wait for the same occurrence, not one after the other
        kubectl("apply", "-f", "-", input=recurringjob("long", ns, "*/20 * * * * *", duration="60s"))
    for ns, suspend in cases:
        victim = wait_for(lambda ns=ns: job_creates(cluster, "long", ns), 25, what=f"a Job in {ns}")[0]
        if suspend:
            kubectl("patch", "rj", "long", "-n", ns, "--type=merge", "-p", '{"spec":{"suspend":true}}')
        kubectl("delete", "job", victim["name"], "-n", ns, "--wait=false")
        victims[ns] = victim["name"]
    time.sleep(8)  # several reconciles: a re-create would have happened by now
    for ns, victim_name in victims.items():
        counts = creates_by_name(cluster, ns)
        assert counts[victim_name] == 1 and all(n == 1 for n in counts.values()), counts

        def booked(ns: str = ns, name: str = victim_name) -> bool:
            status = get_json(kubectl, "rj", "long", "-n", ns).get("status") or {}
            return name not in [r["name"] for r in status.get("active") or []]

        wait_for(booked, 10, what=f"the deleted Job to leave status.active in {ns}")
        def gone(ns: str = ns, name: str = victim_name) -> bool:
            return kubectl("get", "job", name, "-n", ns, check=False).returncode != 0

        wait_for(gone, 15, what=f"the deleted Job to be gone in {ns} (its lock released)")


def test_a_job_template_the_api_rejects_says_so_without_a_write_storm(env: dict[str, Any]) -> None:
    """8. No restartPolicy: Ready=False/JobRejected with the API's message, a Warning, no phantom."""
    cluster, kubectl = env["cluster"], env["kubectl"]
    kubectl("apply", "-f", "-", input=without_restart_policy(recurringjob("bad", "rejected", "* * * * * *")))

    def ready() -> dict[str, Any] | None:
        status = get_json(kubectl, "rj", "bad", "-n", "rejected").get("status") or {}
        return next((c for c in status.get("conditions") or [] if c["type"] == "Ready"
                     and c["reason"] == "JobRejected"), None)

    condition = wait_for(ready, 15, what="Ready=False/JobRejected")
    assert condition["status"] == "False" and "restartPolicy" in condition["message"]
    events = wait_for(lambda: [e for e in get_json(kubectl, "events", "-n", "rejected")["items"]
                               if e["reason"] == "JobRejected"], 10, what="a JobRejected event")
    assert events[0]["type"] == "Warning"
    time.sleep(5)
    status = get_json(kubectl, "rj", "bad", "-n", "rejected")["status"]
    assert not status.get("active")
    writes = [r for r in audit(cluster) if r["namespace"] == "rejected" and r["verb"] in ("create", "update")
              and r["resource"] in ("jobs", "recurringjobs")]
    assert len(writes) <= 8, [(r["verb"], r["resource"], r["code"]) for r in writes]  # ~1 attempt a minute


def test_a_recurringjob_with_a_long_name_launches_valid_jobs(env: dict[str, Any]) -> None:
    """9. A 73-character RecurringJob name: Jobs with a valid name and label value are created."""
    cluster, kubectl = env["cluster"], env["kubectl"]
    kubectl("apply", "-f", "-", input=recurringjob(LONG_NAME, "longname", "*/2 * * * * *", duration="0s"))
    wait_for(lambda: [r for r in audit(cluster) if r["namespace"] == "longname" and r["resource"] == "jobs"
                      and r["verb"] == "create" and r["code"] == 201], 15, what="a created Job")
    jobs = get_json(kubectl, "jobs", "-n", "longname")["items"]
    for job in jobs:
        assert len(job["metadata"]["name"]) <= 63
        assert len(job["metadata"]["labels"]["recurringjob.dev/name"]) <= 63
        assert job["metadata"]["ownerReferences"][0]["name"] == LONG_NAME
    rejected = [r for r in audit(cluster) if r["namespace"] == "longname" and r["code"] == 422]
    assert not rejected


def test_replace_completes_a_deletion_its_leader_could_not_do(env: dict[str, Any]) -> None:
    """5. The claim moved the old Job out of `active` and recorded its deletion; the DELETE fails.
    The new Job waits for the deletion (never two at once), which is completed as soon as the API
    works again — not at the next occurrence."""
    cluster, kubectl, faults = env["cluster"], env["kubectl"], env["faults"]
    kubectl("apply", "-f", "-", input=recurringjob("swap", "replace", "*/20 * * * * *", duration="120s",
                                                   concurrencyPolicy="Replace"))
    first = wait_for(lambda: job_creates(cluster, "swap", "replace"), 25, what="the first Job")[0]
    faults.set_errors(1.0, codes=[500], verbs=["delete"], resources=["jobs"], clients=["replica-1"])
    try:
        def recorded() -> Any:
            status = get_json(kubectl, "rj", "swap", "-n", "replace").get("status") or {}
            return status if status.get("pendingDeletions") == [first["name"]] else None

        status = wait_for(recorded, 25, what="the next claim to record the deletion")
        second = status["active"][0]["name"]
        time.sleep(3)
        assert len(job_creates(cluster, "swap", "replace")) == 1  # not created while the old one runs
    finally:
        healed_at = time.time()
        faults.clear()
    done = wait_for(lambda: [r for r in deletes_by(cluster, "replica-1", "replace")
                             if r["name"] == first["name"] and r["code"] in (200, 202)], 10,
                    what="the recorded deletion to be completed")
    assert done[0]["ts"] - healed_at < 8  # well before the next occurrence, 20 s later
    created = wait_for(lambda: [c for c in job_creates(cluster, "swap", "replace") if c["name"] == second],
                       10, what="the replacing Job after the deletion")
    assert created[0]["ts"] >= done[0]["ts"]
    wait_for(lambda: not get_json(kubectl, "rj", "swap", "-n", "replace")["status"].get("pendingDeletions"),
             10, what="pendingDeletions to be cleared")


def test_deleting_a_recurringjob_releases_its_jobs_locks(env: dict[str, Any]) -> None:
    """No Job stays stuck: the RecurringJob deleted (background), its Jobs go once their locks are free."""
    cluster, kubectl = env["cluster"], env["kubectl"]
    kubectl("apply", "-f", "-", input=recurringjob("doomed", "orphans", "* * * * * *", duration="30s"))
    wait_for(lambda: len(job_creates(cluster, "doomed", "orphans")) >= 2, 15, what="2 Jobs of doomed")
    kubectl("delete", "rj", "doomed", "-n", "orphans", "--wait=false")
    wait_for(lambda: not get_json(kubectl, "jobs", "-n", "orphans")["items"], 30,
             what="the Jobs of a deleted RecurringJob to be released and collected")
