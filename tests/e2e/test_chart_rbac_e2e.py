"""The chart's RBAC is exactly what a running operator needs, in cluster and in namespaced mode.

The operator runs with the chart's rendered args through a short scenario — RecurringJobs launching
Jobs, Jobs succeeding and failing, history pruning, a Warning event (invalid schedule), claim
conflicts and Job name conflicts (injected 409s: the re-reads they cause need `get`), Lease
acquire/renew/release on SIGTERM — against a dev cluster with the access log on. Then: every request
it made (reads included) is allowed by the rendered (Cluster)Roles and bindings of its
ServiceAccount, and every rendered rule was needed by at least one request (least privilege).
"""

from __future__ import annotations

import copy
import json
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import make_kubectl
from operator_support import apply_crds, free_port, recurringjob, wait_for
from rbac_rules import bound_grants, denied, unused
from recurringjob.devcluster.server import DevCluster

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))
from packaging_tools import one, render

RELEASE_NS = "rj-system"
TEAMS = ("team-a", "team-b")
OUTSIDE = "other"  # a namespace the namespaced-mode release does not manage
ACCOUNT = "rj-recurringjob-operator"  # the rendered ServiceAccount (release "rj")
CLIENT = f"system:serviceaccount:{RELEASE_NS}:{ACCOUNT}"  # the operator's bearer token = its identity
MODES = {"cluster": {}, "namespaced": {"watchNamespaces": list(TEAMS)}}
FAULTS = [  # conflicts make the operator re-read what it could not write: the `get` verbs
    "--fault-seed", "7",
    "--fault-errors", f"rate=0.25 codes=409 verbs=update resources=recurringjobs/status clients={CLIENT}",
    "--fault-errors", f"rate=0.25 codes=409 verbs=create resources=jobs clients={CLIENT}",
]


def scenario_objects() -> str:
    docs = [f"apiVersion: v1\nkind: Namespace\nmetadata: {{name: {ns}}}\n"
            for ns in (RELEASE_NS, *TEAMS, OUTSIDE)]
    for ns in TEAMS:
        docs += [recurringjob("ok", ns, "*/2 * * * * *", duration="1s", successfulJobsHistoryLimit=1),
                 recurringjob("failing", ns, "*/2 * * * * *", duration="1s", outcome="Failed"),
                 recurringjob("bad", ns, "not a schedule")]  # -> Warning event InvalidSchedule
    docs.append(recurringjob("ok", OUTSIDE, "*/2 * * * * *", duration="1s"))
    return "---\n".join(docs)


def scenario_done(entries: list[dict[str, Any]]) -> bool:
    """Every kind of request the scenario is meant to provoke has happened at least once."""
    seen = {(e["verb"], e["resource"], e["subresource"], e["namespace"]) for e in entries
            if e["client"] == CLIENT and e["code"] < 300}
    # a Job re-read after an injected 409 finds no Job: 404 is still a request the RBAC must allow
    job_reads = {e["namespace"] for e in entries
                 if e["client"] == CLIENT and e["verb"] == "get" and e["resource"] == "jobs"}
    wanted = [("create", "events", None), ("delete", "jobs", None), ("create", "jobs", None),
              ("patch", "jobs", None),  # a pruned Job's occurrence lock released
              ("update", "recurringjobs", "status"), ("get", "recurringjobs", None)]
    return job_reads >= set(TEAMS) and all((*w, ns) in seen for w in wanted for ns in TEAMS)


@pytest.fixture(scope="module", params=sorted(MODES))
def run(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    mode: str = request.param
    workdir = tmp_path_factory.mktemp(f"rbac-{mode}")
    docs = render({**MODES[mode], "leaderElection.leaseDurationSeconds": 3,
                   "leaderElection.renewDeadlineSeconds": 2, "leaderElection.retryPeriodSeconds": 1,
                   "maxRequestSeconds": 2,
                   "metrics.port": free_port(), "health.port": free_port()}, namespace=RELEASE_NS)
    container = one(docs, "Deployment")["spec"]["template"]["spec"]["containers"][0]
    exe = shutil.which(container["command"][0], path=str(Path(sys.executable).parent))
    assert exe, f"{container['command'][0]} is not installed in the venv"
    args = [a.replace("$(POD_NAME)", "pod-1").replace("$(POD_NAMESPACE)", RELEASE_NS)
            for a in container["args"]]
    with DevCluster(workdir / "cluster", access_log=True, extra_args=FAULTS) as cluster:
        kubectl = make_kubectl(cluster, workdir / "kubectl-cache")
        apply_crds(kubectl)
        kubectl("apply", "-f", "-", input=scenario_objects())
        kubeconfig = cluster.write_kubeconfig(workdir / "operator.kubeconfig", CLIENT)
        log_path = workdir / "operator.log"
        with open(log_path, "ab") as log:
            proc = subprocess.Popen([exe, *container["command"][1:], *args, "--kubeconfig", kubeconfig],
                                    stdout=subprocess.DEVNULL, stderr=log)
            try:
                def done() -> bool:
                    assert proc.poll() is None, f"the operator exited: {log_path.read_text()[-3000:]}"
                    return scenario_done(cluster.access_entries())

                wait_for(done, timeout=90, interval=0.5, what=f"the {mode} scenario's requests")
            finally:
                stopped_at = time.time()
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        lease = json.loads(kubectl("get", "lease", "-n", RELEASE_NS, ACCOUNT, "-o", "json").stdout)
        entries = [e for e in cluster.access_entries() if e["client"] == CLIENT]
    yield {"mode": mode, "docs": docs, "entries": entries, "stopped_at": stopped_at,
           "lease_holder_after": lease["spec"].get("holderIdentity"), "exit_code": proc.returncode}


def test_every_request_is_allowed_by_the_rendered_rbac(run: dict[str, Any]) -> None:
    grants = bound_grants(run["docs"], ACCOUNT, RELEASE_NS)
    assert grants and len(run["entries"]) > 50
    assert denied(grants, run["entries"]) == []


def test_every_rendered_rule_is_needed(run: dict[str, Any]) -> None:
    # No exceptions: each (role, group, resource, verb) was used by at least one request above.
    assert unused(bound_grants(run["docs"], ACCOUNT, RELEASE_NS), run["entries"]) == []


def test_namespaced_mode_stays_in_its_namespaces(run: dict[str, Any]) -> None:
    resource_requests = [e for e in run["entries"] if e["resource"] is not None]
    namespaces = {e["namespace"] for e in resource_requests}
    if run["mode"] == "namespaced":
        assert namespaces == {RELEASE_NS, *TEAMS}  # no cluster-scoped request, nothing in OUTSIDE
    else:
        crd_reads = {e["verb"] for e in resource_requests if e["resource"] == "customresourcedefinitions"}
        assert crd_reads == {"list", "watch"}  # Kopf's resource scanning
        assert any(e["namespace"] is None and e["resource"] == "recurringjobs" for e in resource_requests)


def test_lease_acquired_renewed_and_released_on_sigterm(run: dict[str, Any]) -> None:
    leases = [e for e in run["entries"] if e["resource"] == "leases"]
    # the election reads, creates, renews; the server clock's probes (runtime/serverclock.py) add GETs
    verbs = [e["verb"] for e in leases]
    writes = [verb for verb in verbs if verb != "get"]
    assert verbs[0] == "get" and writes[:2] == ["create", "update"], verbs[:12]
    assert len([e for e in leases if e["verb"] == "update"]) >= 3  # renewals
    release = leases[-1]
    assert release["verb"] == "update" and release["code"] == 200 and release["ts"] >= run["stopped_at"]
    assert run["lease_holder_after"] is None and run["exit_code"] == 0


def _rule(docs: list[dict[str, Any]], kind: str, resource: str, named: bool = False) -> dict[str, Any]:
    return next(rule for doc in docs if doc["kind"] == kind for rule in doc["rules"]
                if resource in rule["resources"] and bool(rule.get("resourceNames")) == named)


def test_the_check_fails_on_a_missing_or_extra_rule(run: dict[str, Any]) -> None:
    """The two checks above can fail: each mutation of the rendered RBAC is caught on the same log."""
    workload_kind = "ClusterRole" if run["mode"] == "cluster" else "Role"
    entries = run["entries"]

    def check(mutate: Any) -> tuple[list[str], list[str]]:
        docs = copy.deepcopy(run["docs"])
        mutate(docs)
        grants = bound_grants(docs, ACCOUNT, RELEASE_NS)
        return denied(grants, entries), unused(grants, entries)

    no_job_get, _ = check(lambda d: _rule(d, workload_kind, "jobs")["verbs"].remove("get"))
    assert any(line.startswith("get batch/jobs ") for line in no_job_get), no_job_get
    no_events, _ = check(lambda d: _rule(d, workload_kind, "events")["verbs"].remove("create"))
    assert any(line.startswith("create core/events ") for line in no_events)
    other_lease, _ = check(lambda d: _rule(d, "Role", "leases", named=True).update(resourceNames=["another"]))
    assert any(line.startswith("update coordination.k8s.io/leases ") for line in other_lease)
    named_create, _ = check(lambda d: _rule(d, "Role", "leases").update(resourceNames=[ACCOUNT]))
    assert any(line.startswith("create coordination.k8s.io/leases ") for line in named_create)
    _, extra = check(lambda d: _rule(d, workload_kind, "jobs")["verbs"].append("update"))
    assert any(line.endswith(": update batch/jobs") for line in extra), extra
    if run["mode"] == "cluster":
        # the same rules bound by a RoleBinding in the release namespace only: scoping is checked
        def demote(docs: list[dict[str, Any]]) -> None:
            binding = one(docs, "ClusterRoleBinding")
            binding.update(kind="RoleBinding")
            binding["metadata"]["namespace"] = RELEASE_NS
        scoped, _ = check(demote)
        assert "list recurringjob.dev/recurringjobs (cluster)" in scoped, scoped
        crd_rule = "customresourcedefinitions"
        no_crd_watch, _ = check(lambda d: _rule(d, "ClusterRole", crd_rule)["verbs"].remove("watch"))
        assert f"watch apiextensions.k8s.io/{crd_rule} (cluster)" in no_crd_watch, no_crd_watch
