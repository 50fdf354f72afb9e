"""Helpers for the operator's end-to-end tests: replicas as subprocesses, audit-log counting, waiting."""

from __future__ import annotations

import collections
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import KubectlRunner, make_kubectl
from recurringjob.devcluster.server import DevCluster
from recurringjob.evidence.verdict_audit import parse_audit_lines

REPO = Path(__file__).resolve().parents[2]
CRDS = REPO / "crds"
SCHEDULED = "recurringjob.dev/scheduled-time"
NAME_LABEL = "recurringjob.dev/name"
# short leases so failover fits in a test: 3 s lease, 2 s renew deadline, 0.5 s retry
FAST_LEASE = ["--lease-duration", "3", "--renew-deadline", "2", "--retry-period", "0.5",
              # the dev cluster answers in milliseconds: occurrence locks released after seconds
              "--max-request-seconds", "3"]


def ts(value: str) -> float:
    """An API timestamp ("...Z") as epoch seconds."""
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Replica:
    """One `recurringjob run` process with its own kubeconfig token (= its audit `client`)."""

    def __init__(self, cluster: DevCluster, workdir: Path, identity: str, *extra: str,
                 env: dict[str, str] | None = None):
        self.identity = identity
        self.env = {**os.environ, **env} if env else None  # e.g. faketime_env(180): a skewed clock
        self.kubeconfig = cluster.write_kubeconfig(workdir / f"{identity}.kubeconfig", identity)
        self.metrics_port, self.health_port = free_port(), free_port()
        self.log_path = workdir / f"{identity}.log"
        self.command = [sys.executable, "-m", "recurringjob.cli", "run", "--identity", identity,
                        "--kubeconfig", self.kubeconfig, "--lease-namespace", "default",
                        "--metrics-port", str(self.metrics_port), "--health-port", str(self.health_port),
                        *FAST_LEASE, *extra]
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Replica:
        self.process = subprocess.Popen(self.command, stdout=subprocess.DEVNULL,
                                        stderr=open(self.log_path, "ab"), env=self.env)
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def signal(self, sig: signal.Signals) -> None:
        assert self.process is not None
        self.process.send_signal(sig)

    def stop(self, timeout: float = 15) -> int | None:
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


@contextlib.contextmanager
def replicas(cluster: DevCluster, workdir: Path, count: int = 1, *extra: str) -> Iterator[list[Replica]]:
    started = [Replica(cluster, workdir, f"replica-{i + 1}", *extra).start() for i in range(count)]
    try:
        yield started
    finally:
        for replica in started:
            replica.stop()


def audit(cluster: DevCluster) -> list[dict[str, Any]]:
    """The audit lines so far; read while the server writes, so a torn last line is left out (the
    verdict's own reader, parse_audit_lines, does the same)."""
    path = Path(cluster.audit_log)
    return list(parse_audit_lines(path.read_text().splitlines())) if path.exists() else []


def job_creates(cluster: DevCluster, rj_name: str | None = None, namespace: str | None = None
                ) -> list[dict[str, Any]]:
    """Successful Job creates (code 201) by RecurringJob, as the API server recorded them."""
    return [r for r in audit(cluster)
            if r["verb"] == "create" and r["resource"] == "jobs" and r["code"] == 201
            and (rj_name is None or (r.get("labels") or {}).get(NAME_LABEL) == rj_name)
            and (namespace is None or r["namespace"] == namespace)]


def duplicates(cluster: DevCluster) -> dict[tuple[str, str, str], int]:
    """(namespace, RecurringJob, scheduled time) created more than once."""
    counts = collections.Counter(
        (r["namespace"], (r.get("labels") or {}).get(NAME_LABEL), (r.get("annotations") or {}).get(SCHEDULED))
        for r in job_creates(cluster))
    return {key: n for key, n in counts.items() if n > 1}


def lease_holder(kubectl: Callable[..., subprocess.CompletedProcess[str]]) -> str | None:
    result = kubectl("get", "lease", "recurringjob-operator", "-n", "default", "-o", "json", check=False)
    if result.returncode != 0:
        return None
    return (json.loads(result.stdout).get("spec") or {}).get("holderIdentity")


def wait_for(predicate: Callable[[], Any], timeout: float, interval: float = 0.2,
             what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def recurringjob(name: str, namespace: str, schedule: str, *, duration: str | None = None,
                 outcome: str | None = None, **spec: Any) -> str:
    """A RecurringJob manifest (YAML) with a simulated Job duration/outcome for the dev cluster."""
    annotations = {}
    if duration is not None:
        annotations["devcluster.recurringjob.dev/duration"] = duration
    if outcome is not None:
        annotations["devcluster.recurringjob.dev/outcome"] = outcome
    body = {"apiVersion": "recurringjob.dev/v1alpha1", "kind": "RecurringJob",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"schedule": schedule, **spec,
                     "jobTemplate": {"metadata": {"annotations": annotations},
                                     "spec": {"template": {"spec": {
                                         "restartPolicy": "Never",
                                         "containers": [{"name": "main", "image": "busybox",
                                                         "command": ["true"]}]}}}}}}
    return yaml.safe_dump(body)


def get_json(kubectl: Callable[..., subprocess.CompletedProcess[str]], *args: str) -> Any:
    return json.loads(kubectl("get", *args, "-o", "json").stdout)


def apply_crds(kubectl: Callable[..., subprocess.CompletedProcess[str]]) -> None:
    """`kubectl apply -f crds/`, retried: the dev cluster's body reader can see a partial body of a
    multi-segment request (codec.read_body uses one StreamReader.read(n)), which fails as a 400."""
    for attempt in range(5):
        result = kubectl("apply", "-f", crds_path(), check=attempt == 4)
        if result.returncode == 0:
            return
        time.sleep(0.2)


def environment_ok() -> bool:
    return (CRDS / "recurringjob.yaml").exists() or bool(os.environ.get("RECURRINGJOB_E2E_CRDS"))


def crds_path() -> str:
    return os.environ.get("RECURRINGJOB_E2E_CRDS") or str(CRDS)


# modules that need the operator's CRD skip until crds/ is generated (or RECURRINGJOB_E2E_CRDS is set)
needs_crds = pytest.mark.skipif(not environment_ok(), reason="crds/recurringjob.yaml not written yet")


def crd_kubectl(cluster: DevCluster, workdir: Path) -> KubectlRunner:
    """kubectl for `cluster` (discovery cache under `workdir`), with the RecurringJob CRD applied."""
    kubectl = make_kubectl(cluster, workdir / "kubectl-cache")
    apply_crds(kubectl)
    return kubectl


def create_namespaces(kubectl: KubectlRunner, names: Iterable[str]) -> None:
    """One `kubectl apply` of a Namespace per name (each scenario runs in its own)."""
    kubectl("apply", "-f", "-", input="".join(
        f"---\napiVersion: v1\nkind: Namespace\nmetadata: {{name: {ns}}}\n" for ns in names))


@contextlib.contextmanager
def leading_replica(cluster: DevCluster, workdir: Path, namespaces: Iterable[str], *extra: str
                    ) -> Iterator[dict[str, Any]]:
    """The module-scoped setup of the one-replica scenario tests: CRD and `namespaces` applied, one
    replica (`extra` flags) started and leading. Yields {"cluster", "kubectl", "replica", "workdir"};
    on a clean exit the replica's log must hold no Traceback."""
    kubectl = crd_kubectl(cluster, workdir)
    create_namespaces(kubectl, namespaces)
    with replicas(cluster, workdir, 1, *extra) as [replica]:
        wait_for(lambda: "started leading" in replica.log(), 20, what="the replica to lead")
        yield {"cluster": cluster, "kubectl": kubectl, "replica": replica, "workdir": workdir}
        assert "Traceback" not in replica.log(), replica.log()[-3000:]


def plugin_kubectl(cluster: DevCluster, home: Path, default_timeout: float = 60) -> KubectlRunner:
    """kubectl with this venv's bin first on PATH, so `kubectl recurringjob ...` finds the plugin;
    KUBECONFIG, HOME and the discovery cache are the test's own."""
    env = dict(os.environ, KUBECONFIG=cluster.kubeconfig, HOME=str(home), KUBECACHEDIR=str(home / "cache"),
               PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")

    def run(*args: str, check: bool = True, timeout: float = default_timeout
            ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(["kubectl", *args], capture_output=True, text=True, timeout=timeout, env=env)
        if check and proc.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}")
        return proc

    return run
