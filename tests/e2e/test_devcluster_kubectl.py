"""kubectl 1.32 against the dev cluster: apply, re-apply (merge and strategic merge), get, describe,
explain, watch, delete; raw HTTP for kube's answers to bad input; the audit log."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from recurringjob.devcluster.server import DevCluster

KubectlRunner = Callable[..., subprocess.CompletedProcess[str]]

ROOT = Path(__file__).resolve().parents[2]

WIDGET_CRD = """
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.dev
spec:
  group: example.dev
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget, shortNames: [wd]}
  versions:
  - name: v1
    served: true
    storage: true
    subresources: {status: {}}
    additionalPrinterColumns:
    - {name: Size, type: integer, jsonPath: .spec.size}
    - {name: Color, type: string, jsonPath: .spec.color}
    schema:
      openAPIV3Schema:
        type: object
        description: A widget used by the dev cluster tests.
        properties:
          spec:
            type: object
            required: [size]
            properties:
              size: {type: integer, minimum: 1, description: How big the widget is.}
              color: {type: string, enum: [red, blue], default: red}
          status:
            type: object
            properties:
              phase: {type: string}
"""

JOB = """
apiVersion: batch/v1
kind: Job
metadata: {name: j1}
spec:
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: main
        image: busybox
        env:
        - {name: A, value: "1"}
        - {name: B, value: "2"}
      - {name: side, image: busybox}
"""


def apply(kubectl: KubectlRunner, tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return kubectl("apply", "-f", str(path)).stdout


def test_crd_and_custom_objects_round_trip(kubectl: KubectlRunner, tmp_path: Path) -> None:
    assert "created" in apply(kubectl, tmp_path, "crd.yaml", WIDGET_CRD)
    widget = (
        "apiVersion: example.dev/v1\nkind: Widget\n"
        "metadata: {name: w1, labels: {app: demo}}\nspec: {size: 3}\n"
    )
    assert "widget.example.dev/w1 created" in apply(kubectl, tmp_path, "w.yaml", widget)
    table = kubectl("get", "wd").stdout.split()
    assert table == ["NAME", "SIZE", "COLOR", "w1", "3", "red"]  # printer columns; the default applied
    assert "unchanged" in apply(kubectl, tmp_path, "w.yaml", widget)
    assert "configured" in apply(
        kubectl, tmp_path, "w.yaml", widget.replace("size: 3", "size: 4, color: blue")
    )
    obj = yaml.safe_load(kubectl("get", "widget", "w1", "-o", "yaml").stdout)
    assert obj["spec"] == {"size": 4, "color": "blue"} and obj["metadata"]["generation"] == 2
    described = kubectl("describe", "widgets", "w1").stdout
    assert "Name:         w1" in described and "Size:   4" in described
    explained = kubectl("explain", "widget.spec").stdout
    assert "size\t<integer> -required-" in explained and "How big the widget is." in explained
    bad = kubectl("apply", "-f", "-", input=widget.replace("size: 3", "size: 0"), check=False)
    assert bad.returncode != 0 and "spec.size" in bad.stderr
    unknown = kubectl(
        "apply", "-f", "-", input=widget.replace("size: 3", "size: 3, shape: round"), check=False
    )
    assert unknown.returncode != 0 and 'unknown field "spec.shape"' in unknown.stderr
    assert 'widget.example.dev "w1" deleted' in kubectl("delete", "widget", "w1").stdout
    assert "No resources found" in kubectl("get", "widgets").stderr


def test_project_crd_and_examples_apply(kubectl: KubectlRunner) -> None:
    crd = ROOT / "crds" / "recurringjob.yaml"
    assert crd.exists(), "the project's CRD is part of the repository"
    kubectl("apply", "-f", str(crd))
    assert "recurringjobs" in kubectl("api-resources", "--api-group=recurringjob.dev").stdout
    examples = sorted((ROOT / "examples").glob("*.yaml"))
    for example in examples:
        assert "created" in kubectl("apply", "-f", str(example)).stdout
    table = kubectl("get", "rj").stdout.splitlines()
    assert table[0].split()[:2] == ["NAME", "SCHEDULE"] and len(table) == 1 + len(examples)
    explained = kubectl("explain", "recurringjob.spec").stdout
    # the CRD's field descriptions reach `kubectl explain` through the dev cluster's /openapi/v3
    assert "concurrencyPolicy\t<string>" in explained
    assert "Like CronJob's spec.concurrencyPolicy" in " ".join(explained.split())


def test_reapply_job_uses_strategic_merge_patch(
    kubectl: KubectlRunner, tmp_path: Path, devcluster: DevCluster
) -> None:
    assert "job.batch/j1 created" in apply(kubectl, tmp_path, "job.yaml", JOB)
    edited = JOB.replace('{name: A, value: "1"}', '{name: C, value: "3"}')
    assert "configured" in apply(kubectl, tmp_path, "job.yaml", edited)
    containers = json.loads(
        kubectl("get", "job", "j1", "-o", "jsonpath={.spec.template.spec.containers}").stdout
    )
    assert [c["name"] for c in containers] == ["main", "side"]
    assert containers[0]["env"] == [{"name": "C", "value": "3"}, {"name": "B", "value": "2"}]
    patches = [a for a in devcluster.audit_entries() if a["verb"] == "patch" and a["resource"] == "jobs"]
    assert patches and patches[-1]["code"] == 200


def test_get_watch_sees_changes_and_delete(
    kubectl: KubectlRunner, tmp_path: Path, devcluster: DevCluster
) -> None:
    apply(
        kubectl, tmp_path, "cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c1}\ndata: {k: v}\n"
    )
    env_cmd = [
        "kubectl",
        "--kubeconfig",
        devcluster.kubeconfig,
        "get",
        "configmaps",
        "--watch",
        "--request-timeout=4s",
        "-o",
        "name",
    ]
    watcher = subprocess.Popen(
        env_cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={
            "KUBECACHEDIR": str(tmp_path / "watch-cache"),
            "HOME": str(tmp_path),
            "PATH": "/usr/local/bin:/usr/bin:/bin",
        },
    )
    time.sleep(1.0)
    apply(kubectl, tmp_path, "cm2.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c2}\n")
    kubectl("delete", "configmap", "c1")
    out, _ = watcher.communicate(timeout=15)
    assert "configmap/c1" in out and "configmap/c2" in out
    assert kubectl("get", "configmap", "c1", check=False).returncode != 0
    verbs = [(a["verb"], a["name"], a["code"]) for a in devcluster.audit_entries()]
    assert ("create", "c2", 201) in verbs and ("delete", "c1", 200) in verbs


def request(
    cluster: DevCluster,
    method: str,
    path: str,
    body: bytes | None = None,
    content_type: str = "application/json",
) -> tuple[int, dict[str, Any]]:
    req = urllib.request.Request(
        cluster.url + path,
        data=body,
        method=method,
        headers={"Content-Type": content_type, "Authorization": "Bearer raw-test"},
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_bad_input_gets_kube_status_codes(devcluster: DevCluster) -> None:
    base = "/api/v1/namespaces/default/configmaps"
    code, status = request(devcluster, "POST", base, b'{"kind": "ConfigMap", "metadata": ')
    assert code == 400 and status["kind"] == "Status" and status["reason"] == "BadRequest"
    code, status = request(devcluster, "GET", "/api/v1/namespaces/default/nosuchthings")
    assert code == 404 and status["reason"] == "NotFound"
    code, status = request(
        devcluster,
        "POST",
        base,
        json.dumps({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}}).encode(),
    )
    assert code == 400 and "does not match the expected kind" in status["message"]
    code, status = request(
        devcluster,
        "POST",
        base,
        b'{"metadata": {"name": "big"}, "data": {"x": "' + b"a" * (4 * 1024 * 1024) + b'"}}',
    )
    assert code == 413 and status["reason"] == "RequestEntityTooLarge"
    code, _ = request(
        devcluster,
        "POST",
        base,
        b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: y}\n",
        "application/yaml",
    )
    assert code == 201
    code, status = request(
        devcluster, "POST", base, b'{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "y"}}'
    )
    assert code == 409 and status["reason"] == "AlreadyExists"
    code, status = request(devcluster, "GET", base + "/missing")
    assert code == 404 and status["message"] == 'configmaps "missing" not found'
    lines = devcluster.audit_entries()
    assert set(lines[0]) == {
        "ts",
        "verb",
        "group",
        "version",
        "resource",
        "subresource",
        "namespace",
        "name",
        "code",
        "client",
        "labels",
        "annotations",
    }
    assert [(a["verb"], a["code"]) for a in lines] == [
        ("create", 400),
        ("create", 400),
        ("create", 413),
        ("create", 201),
        ("create", 409),
    ]
    assert all(a["client"] == "raw-test" for a in lines)
