"""The built-in kinds a Helm chart renders (Deployment, Service, PDB, RBAC), served as stored objects
to the real kubectl: apply, re-apply with strategic merge patches, tables, status subresources;
and the access log (`--access-log`), which records every request, reads and watches included."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import KubectlRunner, make_kubectl
from recurringjob.devcluster.server import DevCluster

WORKLOADS = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, labels: {app: web}}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: app
        image: example/app:1
        ports: [{containerPort: 8080, name: http}]
        env: [{name: A, value: "1"}]
      - name: sidecar
        image: example/sidecar:1
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports:
  - {name: http, port: 80, targetPort: 8080}
  - {name: metrics, port: 9090, targetPort: 9090}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: web}
spec:
  minAvailable: 1
  selector: {matchLabels: {app: web}}
"""

RBAC = """
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: reader}
rules:
- {apiGroups: [""], resources: [pods], verbs: [get, list]}
- {apiGroups: [batch], resources: [jobs], verbs: [get]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: reader}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: reader}
subjects: [{kind: ServiceAccount, name: bot, namespace: default}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: leases}
rules:
- {apiGroups: [coordination.k8s.io], resources: [leases], resourceNames: [one], verbs: [get, update]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: leases}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: leases}
subjects: [{kind: ServiceAccount, name: bot, namespace: default}]
"""


def apply(kubectl: KubectlRunner, text: str) -> str:
    return kubectl("apply", "-f", "-", input=text).stdout


def get_yaml(kubectl: KubectlRunner, *what: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(kubectl("get", *what, "-o", "yaml").stdout)
    return loaded


def test_chart_kinds_are_discoverable(kubectl: KubectlRunner) -> None:
    resources = kubectl("api-resources", "-o", "name").stdout.split()
    for name in ("deployments.apps", "services", "poddisruptionbudgets.policy",
                 "roles.rbac.authorization.k8s.io", "rolebindings.rbac.authorization.k8s.io",
                 "clusterroles.rbac.authorization.k8s.io", "clusterrolebindings.rbac.authorization.k8s.io"):
        assert name in resources, name
    assert "Deployment" in kubectl("explain", "deployment").stdout


def test_workloads_apply_reapply_and_print(kubectl: KubectlRunner) -> None:
    assert apply(kubectl, WORKLOADS).count("created") == 3
    again = apply(kubectl, WORKLOADS)
    assert "deployment.apps/web unchanged" in again and "service/web unchanged" in again
    # re-apply: one container's image changes, one env var is added, the sidecar goes away, a
    # Service port is dropped -> merged by name / port, as kube's strategic merge patch does
    changed = (WORKLOADS.replace("image: example/app:1", "image: example/app:2")
               .replace('env: [{name: A, value: "1"}]', 'env: [{name: A, value: "1"}, {name: B, value: "2"}]')
               .replace("      - name: sidecar\n        image: example/sidecar:1\n", "")
               .replace("  - {name: metrics, port: 9090, targetPort: 9090}\n", ""))
    apply(kubectl, changed)
    deployment = get_yaml(kubectl, "deployment", "web")
    containers = deployment["spec"]["template"]["spec"]["containers"]
    assert [(c["name"], c["image"]) for c in containers] == [("app", "example/app:2")]
    assert containers[0]["env"] == [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]
    assert containers[0]["ports"] == [{"containerPort": 8080, "name": "http"}]
    assert deployment["metadata"]["generation"] == 2
    assert [p["port"] for p in get_yaml(kubectl, "service", "web")["spec"]["ports"]] == [80]
    table = kubectl("get", "deploy,svc,pdb", "-o", "wide").stdout
    assert "READY" in table and "UP-TO-DATE" in table and "0/2" in table
    assert "ClusterIP" in table and "80/TCP" in table and "MIN AVAILABLE" in table


def test_rbac_rules_are_replaced_not_merged(kubectl: KubectlRunner) -> None:
    assert apply(kubectl, RBAC).count("created") == 4
    apply(kubectl, RBAC.replace("- {apiGroups: [batch], resources: [jobs], verbs: [get]}\n", ""))
    assert get_yaml(kubectl, "clusterrole", "reader")["rules"] == [
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}]
    bindings = kubectl("get", "rolebinding,clusterrolebinding", "-o", "wide").stdout
    assert "Role/leases" in bindings and "ClusterRole/reader" in bindings and "default/bot" in bindings
    assert kubectl("get", "clusterrole", "reader", "-n", "elsewhere").returncode == 0  # cluster-scoped
    assert get_yaml(kubectl, "role", "leases")["rules"][0]["resourceNames"] == ["one"]


def call(cluster: DevCluster, method: str, path: str, body: Any = None,
         content_type: str = "application/json") -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(cluster.url + path, data=data, method=method,
                                     headers={"Content-Type": content_type, "Authorization": "Bearer tester"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def test_deployment_and_pdb_status_subresources(devcluster: DevCluster) -> None:
    base = "/apis/apps/v1/namespaces/default/deployments"
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment",
                  "metadata": {"name": "d"}, "spec": {"replicas": 1, "template": {}},
                  "status": {"readyReplicas": 5}}
    code, created = call(devcluster, "POST", base, deployment)
    assert code == 201 and "status" not in created  # a create does not set status
    code, patched = call(devcluster, "PATCH", f"{base}/d/status", {"status": {"readyReplicas": 1}},
                         "application/merge-patch+json")
    assert code == 200 and patched["status"] == {"readyReplicas": 1}
    assert patched["metadata"]["generation"] == 1  # status writes do not bump generation
    code, _ = call(devcluster, "PATCH", f"{base}/d", {"spec": {"replicas": 3}},
                   "application/merge-patch+json")
    assert code == 200
    code, current = call(devcluster, "GET", f"{base}/d")
    assert current["metadata"]["generation"] == 2 and current["status"] == {"readyReplicas": 1}
    pdbs = "/apis/policy/v1/namespaces/default/poddisruptionbudgets"
    code, _ = call(devcluster, "POST", pdbs, {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
                                             "metadata": {"name": "p"}, "spec": {"minAvailable": 1}})
    assert code == 201
    pdb_status = {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "p"},
                  "status": {"disruptionsAllowed": 1}}
    code, status = call(devcluster, "PUT", f"{pdbs}/p/status", pdb_status)
    assert code == 200 and status["status"] == {"disruptionsAllowed": 1}
    assert call(devcluster, "GET", "/apis/rbac.authorization.k8s.io/v1/roles")[0] == 200
    assert call(devcluster, "GET", "/apis/rbac.authorization.k8s.io/v1/namespaces/x/clusterroles")[0] == 404


@pytest.fixture()
def logged_cluster(tmp_path: Path) -> Iterator[DevCluster]:
    with DevCluster(tmp_path / "cluster", access_log=True) as cluster:
        yield cluster


def test_access_log_records_every_request(logged_cluster: DevCluster, tmp_path: Path) -> None:
    cluster = logged_cluster
    cms = "/api/v1/namespaces/default/configmaps"
    stream = urllib.request.Request(cluster.url + cms + "?watch=1&timeoutSeconds=30",
                                    headers={"Authorization": "Bearer watcher"})
    watching = urllib.request.urlopen(stream, timeout=30)
    try:
        call(cluster, "POST", cms, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}})
        call(cluster, "GET", cms + "/c")
        call(cluster, "GET", cms)
        call(cluster, "GET", cms + "/missing")
        call(cluster, "PATCH", cms + "/c", {"data": {"k": "v"}}, "application/merge-patch+json")
        call(cluster, "DELETE", cms + "/c")
        call(cluster, "DELETE", cms)
        call(cluster, "GET", "/apis/nothing.example/v1/things")
        call(cluster, "GET", "/apis")
        make_kubectl(cluster, tmp_path / "cache")("get", "configmaps")
        entries = cluster.access_entries()  # the watch is logged while its stream is still open
    finally:
        watching.close()
    mine = [(e["verb"], e["resource"], e["name"], e["code"]) for e in entries if e["client"] == "tester"]
    assert mine == [("create", "configmaps", "c", 201), ("get", "configmaps", "c", 200),
                    ("list", "configmaps", None, 200), ("get", "configmaps", "missing", 404),
                    ("patch", "configmaps", "c", 200), ("delete", "configmaps", "c", 200),
                    ("deletecollection", "configmaps", None, 200), ("get", None, None, 404),
                    ("get", None, None, 200)]
    watch = [e for e in entries if e["client"] == "watcher"]
    assert watch == [{**watch[0], "verb": "watch", "group": "", "version": "v1", "resource": "configmaps",
                      "subresource": None, "namespace": "default", "name": None, "code": 200, "path": None}]
    assert [e["path"] for e in entries if e["client"] == "tester" and e["resource"] is None] == [
        "/apis/nothing.example/v1/things", "/apis"]
    kubectl_reads = {(e["verb"], e["resource"] or e["path"]) for e in entries if "kubectl" in e["client"]}
    assert ("list", "configmaps") in kubectl_reads and ("get", "/api") in kubectl_reads
    assert all(isinstance(e["ts"], float) for e in entries)
    # the audit log still holds only the mutations
    assert [e["verb"] for e in cluster.audit_entries() if e["client"] == "tester"] == [
        "create", "patch", "delete", "delete"]


def test_access_log_sees_a_refused_watch_once(logged_cluster: DevCluster) -> None:
    def expired_watch() -> None:
        call(logged_cluster, "GET", "/api/v1/namespaces/default/configmaps?watch=1&labelSelector=a%3D%3D%3D")

    worker = threading.Thread(target=expired_watch)
    worker.start()
    worker.join(10)
    time.sleep(0.1)
    watches = [e for e in logged_cluster.access_entries() if e["verb"] == "watch"]
    assert [e["code"] for e in watches] == [400]
