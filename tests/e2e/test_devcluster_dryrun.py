"""Server-side dry runs: `kubectl apply --dry-run=server` and `kubectl diff` check without writing."""

from __future__ import annotations

import json
import subprocess
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from recurringjob.devcluster.server import DevCluster

KubectlRunner = Callable[..., subprocess.CompletedProcess[str]]

GADGET_CRD = """
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: gadgets.example.dev
spec:
  group: example.dev
  scope: Namespaced
  names: {plural: gadgets, singular: gadget, kind: Gadget}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            required: [size]
            properties:
              size: {type: integer, minimum: 1}
              color: {type: string, default: red}
"""


def gadget(size: int) -> str:
    return f"apiVersion: example.dev/v1\nkind: Gadget\nmetadata: {{name: g1}}\nspec: {{size: {size}}}\n"


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def post(cluster: DevCluster, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    req = urllib.request.Request(cluster.url + path, json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_apply_dry_run_server_validates_and_defaults_but_writes_nothing(
    devcluster: DevCluster, kubectl: KubectlRunner, tmp_path: Path
) -> None:
    kubectl("apply", "-f", write(tmp_path, "crd.yaml", GADGET_CRD))
    kubectl("wait", "--for=condition=Established", "crd/gadgets.example.dev", "--timeout=10s")
    manifest = write(tmp_path, "g1.yaml", gadget(3))
    out = kubectl("apply", "--dry-run=server", "-o", "json", "-f", manifest).stdout
    assert json.loads(out)["spec"] == {"size": 3, "color": "red"}  # schema default applied
    assert "NotFound" in kubectl("get", "gadget", "g1", check=False).stderr  # ...but nothing stored

    rejected = kubectl("apply", "--dry-run=server", "-f", write(tmp_path, "bad.yaml", gadget(0)), check=False)
    assert rejected.returncode != 0 and "spec.size" in rejected.stderr  # validation still runs

    kubectl("apply", "-f", manifest)
    stored = json.loads(kubectl("get", "gadget", "g1", "-o", "json").stdout)
    changed = write(tmp_path, "g1-changed.yaml", gadget(5))
    diff = kubectl("diff", "-f", changed, check=False)
    assert diff.returncode == 1, diff.stderr  # 1: differences found (>1 would be an error)
    assert "-  size: 3" in diff.stdout and "+  size: 5" in diff.stdout
    kubectl("apply", "--dry-run=server", "-f", changed)
    after = json.loads(kubectl("get", "gadget", "g1", "-o", "json").stdout)
    assert after["spec"]["size"] == 3
    assert after["metadata"]["resourceVersion"] == stored["metadata"]["resourceVersion"]

    creates = [e for e in devcluster.audit_entries() if e["resource"] == "gadgets"]
    assert [(e["verb"], e["code"]) for e in creates] == [("create", 201)]  # dry runs are not audited


def test_dry_run_values_and_verbs_that_are_not_supported_are_refused(devcluster: DevCluster) -> None:
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}
    code, status = post(devcluster, "/api/v1/namespaces/default/configmaps?dryRun=Some", body)
    assert code == 400 and "supported values" in status["message"]
    code, created = post(devcluster, "/api/v1/namespaces/default/configmaps?dryRun=All", body)
    assert code == 201 and created["metadata"]["uid"] and "resourceVersion" not in created["metadata"]
    req = urllib.request.Request(devcluster.url + "/api/v1/namespaces/default/configmaps/c?dryRun=All",
                                 method="DELETE")
    code, _ = post(devcluster, "/api/v1/namespaces/default/configmaps", body)
    assert code == 201  # the dry run above did not take the name
    try:
        urllib.request.urlopen(req, timeout=10)
        raise AssertionError("a dry-run delete must be refused, not committed")
    except urllib.error.HTTPError as exc:
        assert exc.code == 400
