"""The operator's Job watch against a dev cluster: what it must not lose when the watch breaks.

Two bugs of the label-filtered Kopf watch this guards against:
- a Job that finished and was deleted while the Job watch was down (and its resourceVersion
  expired, so the watch relisted) stayed cached as running: Forbid skipped every later occurrence;
- a running Job whose `recurringjob.dev/name` label was removed became invisible: never booked.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import KubectlRunner
from operator_support import (
    SCHEDULED,
    crd_kubectl,
    create_namespaces,
    get_json,
    job_creates,
    needs_crds,
    recurringjob,
    replicas,
    wait_for,
)
from recurringjob.devcluster.faultclient import FaultClient
from recurringjob.devcluster.server import DevCluster

pytestmark = needs_crds

OPERATOR = "replica-1"
JOBS_OF_OPERATOR = {"resources": ["jobs"], "clients": [OPERATOR]}


@pytest.fixture()
def setup(devcluster: DevCluster, tmp_path: Path) -> Iterator[tuple[DevCluster, KubectlRunner, Path]]:
    kubectl = crd_kubectl(devcluster, tmp_path)
    create_namespaces(kubectl, ["watched"])
    yield devcluster, kubectl, tmp_path


def _finished(job: dict[str, Any]) -> bool:
    return any(c.get("type") in ("Complete", "Failed") and c.get("status") == "True"
               for c in (job.get("status") or {}).get("conditions") or ())


def _job(kubectl: KubectlRunner, name: str) -> dict[str, Any] | None:
    result = kubectl("get", "job", name, "-n", "watched", "-o", "json", check=False)
    return json.loads(result.stdout) if result.returncode == 0 else None


def _active(kubectl: KubectlRunner, rj: str) -> set[str]:
    status = get_json(kubectl, "rj", rj, "-n", "watched").get("status") or {}
    return {ref["name"] for ref in status.get("active") or ()}


def _created_after(cluster: DevCluster, rj: str, instant: float) -> list[dict[str, Any]]:
    return [c for c in job_creates(cluster, rj, "watched") if c["ts"] > instant]


def _delete_for_good(kubectl: KubectlRunner, name: str) -> None:
    """Delete a Job, its finalizers removed first (as a user forcing it away would)."""
    kubectl("patch", "job", name, "-n", "watched", "--type", "merge",
            "-p", '{"metadata":{"finalizers":null}}')
    kubectl("delete", "job", name, "-n", "watched", "--wait=false")
    wait_for(lambda: _job(kubectl, name) is None, 10, what=f"Job {name} to be gone")


def test_a_job_deleted_while_the_watch_was_down_and_expired_does_not_block_forbid(
        setup: tuple[DevCluster, KubectlRunner, Path]) -> None:
    cluster, kubectl, workdir = setup
    faults = FaultClient(cluster.url)
    # the operator's Job watches are cut every 2 s (and resumed), so a fault set later takes
    # hold of the Job watch within 2 s without touching the RecurringJob watch or the Lease
    faults.drop_watches(2.0, **JOBS_OF_OPERATOR)
    with replicas(cluster, workdir, 1) as [replica]:
        wait_for(lambda: "started leading" in replica.log(), 30, what="the replica to lead")
        kubectl("apply", "-f", "-", input=recurringjob(
            "forbid", "watched", "* * * * * *", duration="4s", concurrencyPolicy="Forbid",
            startingDeadlineSeconds=2))
        first = wait_for(lambda: job_creates(cluster, "forbid", "watched"), 20,
                         what="the first Job")[0]["name"]

        # the Job watch goes down: every list and watch of Jobs by the operator fails
        faults.update({"errors": [{"rate": 1.0, "codes": [503], "verbs": ["list", "watch"],
                                   **JOBS_OF_OPERATOR}]})
        wait_for(lambda: any(e["fault"] == "error:503" and e["verb"] == "watch" for e in faults.log()), 10,
                 what="the operator's Job watch to fail")
        wait_for(lambda: _finished(_job(kubectl, first) or {}), 15, what=f"{first} to finish")
        _delete_for_good(kubectl, first)

        # it comes back, and its resourceVersion has expired: it must relist
        since = time.time()
        faults.update({"errors": [], "watchExpiry": [{"rate": 1.0, **JOBS_OF_OPERATOR}]})
        wait_for(lambda: [e for e in faults.log(since) if e["fault"] == "watchExpired"], 15,
                 what="the operator's Job watch to get 410 Expired")
        faults.update({"watchExpiry": []})
        resumed = time.time()

        later = wait_for(lambda: _created_after(cluster, "forbid", resumed), 30,
                         what="a later occurrence of the Forbid RecurringJob")
        assert later[0]["name"] != first
        assert later[0]["annotations"][SCHEDULED] > job_creates(cluster, "forbid", "watched")[0][
            "annotations"][SCHEDULED]
        assert first not in _active(kubectl, "forbid")
        assert "Traceback" not in replica.log(), replica.log()[-3000:]


def test_a_running_job_whose_name_label_is_removed_is_still_booked_when_it_finishes(
        setup: tuple[DevCluster, KubectlRunner, Path]) -> None:
    cluster, kubectl, workdir = setup
    with replicas(cluster, workdir, 1) as [replica]:
        wait_for(lambda: "started leading" in replica.log(), 30, what="the replica to lead")
        kubectl("apply", "-f", "-", input=recurringjob(
            "stripped", "watched", "* * * * * *", duration="4s", concurrencyPolicy="Forbid"))
        first = wait_for(lambda: job_creates(cluster, "stripped", "watched"), 20,
                         what="the first Job")[0]["name"]
        kubectl("label", "job", first, "-n", "watched", "recurringjob.dev/name-")
        job = _job(kubectl, first)
        assert job is not None and not _finished(job), "the Job finished before its label was removed"
        assert "recurringjob.dev/name" not in (job["metadata"].get("labels") or {})

        wait_for(lambda: _finished(_job(kubectl, first) or {}), 15, what=f"{first} to finish")
        finished_at = time.time()
        wait_for(lambda: first not in _active(kubectl, "stripped"), 15,
                 what=f"{first} to be booked (leave status.active)")
        status = get_json(kubectl, "rj", "stripped", "-n", "watched")["status"]
        assert status.get("lastSuccessfulTime")
        wait_for(lambda: _created_after(cluster, "stripped", finished_at), 15,
                 what="the next occurrence after the booked Job")
        assert "Traceback" not in replica.log(), replica.log()[-3000:]
