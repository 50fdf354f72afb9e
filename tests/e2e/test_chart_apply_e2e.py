"""`helm template` output applied to the dev cluster with the real kubectl (`kubectl apply -f -`):
default values, every optional feature on, and namespaced mode. Every object is accepted, stored
as rendered, and a re-apply of a changed rendering (strategic merge patches) lands on exactly the
new rendering. ServiceMonitor and PrometheusRule are prometheus-operator CRDs not available offline:
they are left out of the apply (docs/operations.md says so) and checked by tests/unit/test_chart.py.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import KubectlRunner, make_kubectl
from recurringjob.devcluster.server import DevCluster

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))
from packaging_tools import ALL_FEATURES, render

RELEASE_NS = "rj-system"
PROMETHEUS_OPERATOR_KINDS = {"ServiceMonitor", "PrometheusRule"}
CASES: dict[str, dict[str, Any]] = {
    "default": {},
    "all-features": ALL_FEATURES,
    "namespaced": {"watchNamespaces": ["team-a", "team-b"]},
}
# what a second, different rendering changes: replicas, args, a Service port, the PDB, a Role's rules
CHANGED = {"replicaCount": 3, "workers": 8, "extraArgs": ["--log-level=DEBUG"], "metrics.service.port": 9090,
           "podDisruptionBudget.minAvailable": 2, "leaderElection.leaseName": "renamed-lease"}
# The fields a plain stored object keeps exactly as applied (no controller or defaulting runs).
CONTENT = ("spec", "rules", "subjects", "roleRef", "data")


def appliable(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] not in PROMETHEUS_OPERATOR_KINDS]


def ref(doc: Mapping[str, Any]) -> tuple[str, str, str | None, str]:
    return doc["apiVersion"], doc["kind"], doc["metadata"].get("namespace"), doc["metadata"]["name"]


def live(kubectl: KubectlRunner, doc: Mapping[str, Any]) -> dict[str, Any]:
    group = doc["apiVersion"].split("/")[0] if "/" in doc["apiVersion"] else ""
    what = f"{doc['kind'].lower()}.{group}" if group else doc["kind"].lower()
    args = ["get", what, doc["metadata"]["name"], "-o", "yaml"]
    if doc["metadata"].get("namespace"):
        args += ["-n", doc["metadata"]["namespace"]]
    loaded: dict[str, Any] = yaml.safe_load(kubectl(*args).stdout)
    return loaded


def apply(kubectl: KubectlRunner, docs: list[dict[str, Any]]) -> list[str]:
    return kubectl("apply", "-f", "-", input=yaml.safe_dump_all(docs)).stdout.splitlines()


def assert_stored_as_rendered(kubectl: KubectlRunner, docs: list[dict[str, Any]]) -> None:
    for doc in docs:
        if doc["kind"] == "CustomResourceDefinition":
            continue  # defaulted by the server (spec.conversion), as kube does; served is what counts
        obj = live(kubectl, doc)
        for key in CONTENT:
            assert obj.get(key) == doc.get(key), f"{ref(doc)} {key}"
        assert obj["metadata"]["labels"] == doc["metadata"].get("labels"), ref(doc)


@pytest.mark.parametrize("case", sorted(CASES))
def test_rendered_chart_applies_with_kubectl(case: str, tmp_path: Path) -> None:
    values = CASES[case]
    docs = render(values, namespace=RELEASE_NS, include_crds=True)
    kinds = {d["kind"] for d in docs}
    if case == "all-features":
        assert PROMETHEUS_OPERATOR_KINDS <= kinds  # really rendered, only left out of the apply
    objects = appliable(docs)
    expected = {"CustomResourceDefinition", "ServiceAccount", "Deployment", "Service", "Role", "RoleBinding",
                "PodDisruptionBudget"} | ({"ConfigMap"} if case == "all-features" else set()) | (
        set() if case == "namespaced" else {"ClusterRole", "ClusterRoleBinding"})
    assert {d["kind"] for d in objects} == expected
    namespaces = [RELEASE_NS, *values.get("watchNamespaces", [])]
    with DevCluster(tmp_path / "cluster") as cluster:
        kubectl = make_kubectl(cluster, tmp_path / "kubectl-cache")
        kubectl("apply", "-f", "-", input=yaml.safe_dump_all(
            [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}} for ns in namespaces]))
        created = apply(kubectl, objects)
        assert len(created) == len(objects) and all(line.endswith(" created") for line in created), created
        assert_stored_as_rendered(kubectl, objects)

        # the same rendering again: nothing to change, except that kubectl always sends a PDB's
        # selector (its type says patchStrategy=replace), so it reports "configured" on any server
        again = apply(kubectl, objects)
        changed = [line for line in again if not line.endswith(" unchanged")]
        assert all(line.startswith("poddisruptionbudget.policy/") for line in changed), again

        # a different rendering: strategic merge patches must land on exactly the new manifests
        new_docs = appliable(render({**values, **CHANGED}, namespace=RELEASE_NS, include_crds=True))
        patched = apply(kubectl, new_docs)
        assert any(line.startswith("deployment.apps/") and line.endswith(" configured") for line in patched)
        assert_stored_as_rendered(kubectl, new_docs)
        assert "RecurringJob" in kubectl("api-resources", "--api-group=recurringjob.dev").stdout
        table = kubectl("get", "deployments,services,pdb", "-n", RELEASE_NS).stdout
        assert "0/3" in table and "9090/TCP" in table, table
