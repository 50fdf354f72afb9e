"""The system under test for one chaos run: a dev cluster, the RecurringJobs, the replicas.

Everything runs as real processes under one `Supervisor`; this module knows how to start them,
find the Lease holder, and read the end state. It decides nothing about faults or the verdict.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import time
import urllib.error
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from recurringjob.evidence.supervise import (
    ApiClient,
    DevClusterProcess,
    ManagedProcess,
    Supervisor,
    lease_holder,
    recurringjob_command,
    wait_until,
    write_client_kubeconfig,
)
from recurringjob.evidence.verdict import JudgedRecurringJob
from variants import Variant

REPO = Path(__file__).resolve().parents[2]
CRD_FILE = REPO / "crds" / "recurringjob.yaml"
NAIVE_SCRIPT = Path(__file__).resolve().parent / "naive.py"
RJ_API = "/apis/recurringjob.dev/v1alpha1"
LEASE_NAME = "recurringjob-operator"
ROGUE_LEASE_NAME = "recurringjob-operator-rogue"
USER_CLIENT = "chaos-user"
DURATION_ANNOTATION = "devcluster.recurringjob.dev/duration"
# Time zones cycled over the RecurringJobs, so the verdict's zone handling is exercised too.
TIME_ZONES = (None, "Europe/Berlin", "America/New_York", "Asia/Kolkata")


@dataclass(frozen=True)
class LeaseTimings:
    duration: float
    renew_deadline: float
    retry_period: float


@dataclass
class Replica:
    slot: int  # replica-<slot>
    incarnation: int  # bumped on every restart: a restarted pod is a new identity
    process: ManagedProcess
    lease_name: str = LEASE_NAME

    @property
    def identity(self) -> str:
        return self.process.name


@dataclass
class ChaosCluster:
    workdir: Path
    namespace: str
    lease: LeaseTimings
    naive: bool = False
    data_dir: bool = False
    devcluster_args: tuple[str, ...] = ()
    crd_file: Path = CRD_FILE
    supervisor: Supervisor = field(init=False)
    devcluster: DevClusterProcess = field(init=False)
    max_request_seconds: float | None = None  # the replicas' --max-request-seconds (None: default)
    shards: int = 1  # the replicas' --shards; "the leader" is then shard 0's holder
    replicas: dict[int, Replica] = field(default_factory=dict)
    rogues: list[Replica] = field(default_factory=list)
    # Wall-clock offsets (seconds) of the replica slots, applied with libfaketime at (re)start.
    clock_offsets: dict[int, float] = field(default_factory=dict)
    # RecurringJobs whose Jobs someone else deletes (TTL, a user): their final status cannot be
    # checked against the Jobs left.
    jobs_deleted_by_others: set[tuple[str, str]] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.supervisor = Supervisor(self.workdir / "logs")
        self.devcluster = DevClusterProcess(
            self.supervisor,
            self.workdir / "cluster",
            self.workdir / "cluster" / "data" if self.data_dir else None,
            self.devcluster_args,
        )
        self.devcluster.workdir.mkdir(parents=True, exist_ok=True)

    # --- lifecycle ------------------------------------------------------------------------------

    def start_cluster(self) -> None:
        self.devcluster.start()
        self.apply_crd()
        self.ensure_namespace(self.namespace)

    def stop_all(self) -> None:
        self.supervisor.stop_all()

    @property
    def api(self) -> ApiClient:
        # A fresh client each time: the dev cluster may have been restarted (same port).
        return ApiClient(self.devcluster.base_url, token="chaos-harness")

    def apply_crd(self) -> None:
        kubeconfig = str(self.devcluster.kubeconfig)
        kubectl = ["kubectl", "--kubeconfig", kubeconfig, "apply", "-f", str(self.crd_file)]
        result = subprocess.run(kubectl, capture_output=True, text=True, timeout=60, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"kubectl apply of the CRD failed: {result.stderr.strip()}")
        wait_until(lambda: self.api.get_or_none(RJ_API), 30, what="the RecurringJob API to be served")

    def ensure_namespace(self, name: str) -> None:
        try:
            self.api.create("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                                   "metadata": {"name": name}})
        except urllib.error.HTTPError as exc:
            if exc.code != 409:
                raise

    # --- RecurringJobs ---------------------------------------------------------------------------

    def create_recurringjobs(
        self, count: int, schedule: str, starting_deadline: int, job_durations: list[str] | None,
        variants: list[Variant] | None = None,
    ) -> list[JudgedRecurringJob]:
        """`count` RecurringJobs rj-000.., cycling over time zones and over `variants` (specs)."""
        created = []
        variants = variants or [Variant()]
        for index in range(count):
            name = f"rj-{index:03d}"
            zone = TIME_ZONES[index % len(TIME_ZONES)]
            variant = variants[index % len(variants)]
            annotations = {}
            if variant.duration is not None:
                annotations[DURATION_ANNOTATION] = variant.duration
            elif job_durations:
                annotations[DURATION_ANNOTATION] = job_durations[index % len(job_durations)]
            deadline = starting_deadline if variant.deadline is None else variant.deadline
            job_spec: dict[str, Any] = {"backoffLimit": 0, "template": {"spec": {
                "restartPolicy": "Never",
                "containers": [{"name": "main", "image": "busybox", "command": ["true"]}],
            }}}  # fmt: skip
            if variant.ttl_after_finished is not None:
                job_spec["ttlSecondsAfterFinished"] = variant.ttl_after_finished
            spec: dict[str, Any] = {
                "schedule": schedule,
                # Every occurrence must run, even those due while no replica could act (failover,
                # API outage): catch up on all of them within a deadline longer than any fault.
                "catchUp": "All",
                "startingDeadlineSeconds": deadline,
                "concurrencyPolicy": variant.policy,
                "successfulJobsHistoryLimit": 2,
                "failedJobsHistoryLimit": 1,
                "jobTemplate": {"metadata": {"labels": {"app": "chaos"}, "annotations": annotations},
                                "spec": job_spec},
            }  # fmt: skip
            if zone:
                spec["timeZone"] = zone
            body = {"apiVersion": "recurringjob.dev/v1alpha1", "kind": "RecurringJob",
                    "metadata": {"name": name, "namespace": self.namespace}, "spec": spec}
            self.api.create(f"{RJ_API}/namespaces/{self.namespace}/recurringjobs", body)
            created.append(JudgedRecurringJob(self.namespace, name, schedule, zone,
                                              concurrency_policy=variant.policy,
                                              starting_deadline_seconds=deadline))
            if variant.ttl_after_finished is not None:
                self.jobs_deleted_by_others.add((self.namespace, name))
        return created

    def suspend_all(self) -> None:
        for rj in self.list_recurringjobs():
            name = rj["metadata"]["name"]
            self.api.merge_patch(f"{RJ_API}/namespaces/{self.namespace}/recurringjobs/{name}",
                                 {"spec": {"suspend": True}})

    def list_recurringjobs(self) -> list[dict[str, Any]]:
        return list(self.api.get(f"{RJ_API}/namespaces/{self.namespace}/recurringjobs")["items"])

    def list_jobs(self) -> list[dict[str, Any]]:
        return list(self.api.get(f"/apis/batch/v1/namespaces/{self.namespace}/jobs")["items"])

    def user(self) -> ApiClient:
        """A person with kubectl: the client that deletes and edits Jobs by hand."""
        return ApiClient(self.devcluster.base_url, token=USER_CLIENT)

    # --- replicas --------------------------------------------------------------------------------

    def start_replica(self, slot: int, lease_name: str = LEASE_NAME, rogue: bool = False) -> Replica:
        previous = self.replicas.get(slot)
        incarnation = 1 if previous is None or rogue else previous.incarnation + 1
        identity = f"{'rogue' if rogue else 'replica'}-{slot}"
        if incarnation > 1:
            identity += f"-r{incarnation}"
        kubeconfig = write_client_kubeconfig(
            self.devcluster.kubeconfig, self.workdir / "cluster" / f"{identity}.kubeconfig", identity
        )
        if self.naive:
            argv = [sys.executable, str(NAIVE_SCRIPT), "--identity", identity]
        else:
            argv = recurringjob_command(
                "run",
                "--identity", identity,
                "--lease-name", lease_name,
                "--lease-namespace", self.namespace,
                "--health-port", "0",
                "--metrics-port", "0",
                "--lease-duration", str(self.lease.duration),
                "--renew-deadline", str(self.lease.renew_deadline),
                "--retry-period", str(self.lease.retry_period),
            )  # fmt: skip
            if self.max_request_seconds is not None:
                argv += ["--max-request-seconds", str(self.max_request_seconds)]
            if self.shards > 1:
                argv += ["--shards", str(self.shards)]
        env = {**_base_env(), "KUBECONFIG": str(kubeconfig)}
        offset = 0.0 if rogue else self.clock_offsets.get(slot, 0.0)
        if offset:
            env |= _faketime_env(offset)
        replica = Replica(slot, incarnation, self.supervisor.start(identity, argv, env), lease_name)
        if rogue:
            self.rogues.append(replica)
        else:
            self.replicas[slot] = replica
        return replica

    def live_replicas(self) -> list[Replica]:
        return [r for r in self.replicas.values() if r.process.alive() and not r.process.paused]

    @property
    def leader_lease(self) -> str:
        """The Lease whose holder leader faults target: the only one, or shard 0's when sharded."""
        return LEASE_NAME if self.shards <= 1 else f"{LEASE_NAME}-0"

    def holder(self) -> str | None:
        try:
            return lease_holder(self.api, self.namespace, self.leader_lease)
        except (urllib.error.URLError, OSError):
            return None

    def leader(self) -> Replica | None:
        """The live, running replica named by the Lease, if any."""
        holder = self.holder()
        return next((r for r in self.live_replicas() if r.identity == holder), None)

    def wait_for_leader(self, timeout: float) -> Replica:
        return wait_until(self.leader, timeout, what="a live replica to hold the Lease")  # type: ignore[no-any-return]

    def wait_for_cluster(self, timeout: float = 30.0) -> None:
        wait_until(lambda: self.api.get("/version"), timeout, what="the dev cluster to answer")


def _faketime_env(offset: float) -> dict[str, str]:
    """tests/faketime_env.py's variables (loaded by path: run.py runs as a script, tests/ is not on
    its import path)."""
    spec = importlib.util.spec_from_file_location("faketime_env", REPO / "tests" / "faketime_env.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    variables: dict[str, str] = module.faketime_env(offset)
    return variables


def _base_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("KUBECONFIG", None)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def sleep_until(moment: float) -> None:
    delay = moment - time.time()
    if delay > 0:
        time.sleep(delay)
