"""The Helm chart, checked with the real helm binary and the Kubernetes JSON schemas (kubernetes-validate)."""

from __future__ import annotations

import json
import re
import tarfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from packaging_tools import (
    ALL_FEATURES,
    CHART,
    CRD_FILE,
    DASHBOARD_FILE,
    DOCKERFILE,
    K8S_VERSIONS,
    ROOT,
    RULES_FILE,
    by_kind,
    helm,
    load_yaml,
    one,
    render,
    set_args,
    walk_leaves,
)

NAMESPACED: dict[str, Any] = {"watchNamespaces": ["team-a", "team-b"]}

# The operator's API calls (docs/operations.md "RBAC", observed by tests/e2e/test_chart_rbac_e2e.py);
# nothing more.
WORKLOAD_VERBS = {
    ("recurringjob.dev", "recurringjobs"): {"get", "list", "watch"},
    ("recurringjob.dev", "recurringjobs/status"): {"update"},
    ("batch", "jobs"): {"get", "list", "watch", "create", "delete", "patch"},
    ("", "events"): {"create"},
}
# cluster mode only: Kopf's CRD scanning (namespaced mode turns it off)
CLUSTER_SCAN_VERBS = {("apiextensions.k8s.io", "customresourcedefinitions"): {"list", "watch"}}
LEASE_VERBS = {("coordination.k8s.io", "leases"): {"get", "create", "update"}}
PROMETHEUS_OPERATOR_KINDS = {"ServiceMonitor", "PrometheusRule"}


def rule_verbs(rules: list[Mapping[str, Any]]) -> dict[tuple[str, str], set[str]]:
    out: dict[tuple[str, str], set[str]] = {}
    for rule in rules:
        assert "*" not in rule["verbs"] and "*" not in rule["resources"], rule
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                out.setdefault((group, resource), set()).update(rule["verbs"])
    return out


def test_helm_lint_strict() -> None:
    for values in ({}, ALL_FEATURES, NAMESPACED):
        out = helm("lint", "--strict", CHART, *set_args(values)).stdout
        assert "0 chart(s) failed" in out and "[WARNING]" not in out and "[ERROR]" not in out, out


@pytest.mark.parametrize("values", [{}, ALL_FEATURES, NAMESPACED, {**ALL_FEATURES, **NAMESPACED}],
                         ids=["defaults", "all-features", "namespaced", "all-features-namespaced"])
def test_rendered_manifests_validate_against_kubernetes_schemas(values: dict[str, Any]) -> None:
    docs = render(values)
    kinds = {d["kind"] for d in docs}
    assert {"Deployment", "ServiceAccount", "Service", "Role", "RoleBinding"} <= kinds
    for doc in docs:
        assert doc["metadata"]["name"], doc
        if doc["kind"] in PROMETHEUS_OPERATOR_KINDS:
            # no offline schema for prometheus-operator kinds: see test_alerts_dashboard
            assert doc["apiVersion"] == "monitoring.coreos.com/v1"
            continue
        for version in K8S_VERSIONS:
            try:
                kubernetes_validate.validate(doc, version, strict=True)
            except kubernetes_validate.ValidationError as exc:
                name = f"{doc['kind']}/{doc['metadata']['name']}"
                raise AssertionError(f"{name} invalid for Kubernetes {version}: {exc}") from exc


def test_optional_features_render_only_when_enabled() -> None:
    default_kinds = {d["kind"] for d in render()}
    assert not default_kinds & {"ServiceMonitor", "PrometheusRule", "ConfigMap"}
    assert {"ClusterRole", "ClusterRoleBinding", "PodDisruptionBudget"} <= default_kinds
    all_kinds = {d["kind"] for d in render(ALL_FEATURES)}
    assert {"ServiceMonitor", "PrometheusRule", "ConfigMap"} <= all_kinds
    no_pdb = render({"replicaCount": 1})
    assert not by_kind(no_pdb, "PodDisruptionBudget"), "a PDB with minAvailable 1 on 1 replica blocks drains"


def test_values_schema_rejects_bad_values() -> None:
    bad: list[dict[str, Any]] = [
        {"replicaCount": 0},
        {"replicaCount": "two"},
        {"unknownKey": 1},
        {"serviceMonitor.unknown": True},
        {"image.pullPolicy": "Sometimes"},
        {"watchNamespaces": ["Team_A"]},
        {"leaderElection.leaseDurationSeconds": "15s"},
        {"metrics.port": 70000},
        {"grafanaDashboard.labelValue": 1},
        {"image.digest": "latest"},
    ]
    for values in bad:
        proc = helm("template", "rj", CHART, *set_args(values), check=False)
        assert proc.returncode != 0, f"schema accepted {values}"
        assert "schema" in proc.stderr, proc.stderr


def test_values_schema_covers_every_value() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())
    values = load_yaml(CHART / "values.yaml")
    assert schema.get("additionalProperties") is False
    assert set(schema["properties"]) == set(values), "top-level keys and schema properties differ"
    for path, _leaf in walk_leaves(values):
        node = schema
        for part in path:
            props = node.get("properties")
            if props is None:  # a free-form map (labels, resources, securityContext): typed as a whole
                assert node.get("type") == "object", (path, node)
                break
            assert part in props, f"values.yaml key {'.'.join(path)} is not in values.schema.json"
            node = props[part]
        else:
            assert "type" in node or "oneOf" in node, f"{'.'.join(path)} has no type in the schema"
    jsonschema.Draft7Validator.check_schema(schema)
    jsonschema.validate(values, schema)


def test_rbac_cluster_mode_is_exactly_the_documented_verbs() -> None:
    docs = render()
    cluster_role = one(docs, "ClusterRole")
    assert rule_verbs(cluster_role["rules"]) == WORKLOAD_VERBS | CLUSTER_SCAN_VERBS
    binding = one(docs, "ClusterRoleBinding")
    assert binding["roleRef"]["name"] == cluster_role["metadata"]["name"]
    sa = one(docs, "ServiceAccount")
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": sa["metadata"]["name"],
                                    "namespace": "rj-system"}]
    roles = by_kind(docs, "Role")
    assert len(roles) == 1 and roles[0]["metadata"]["namespace"] == "rj-system"
    assert rule_verbs(roles[0]["rules"]) == LEASE_VERBS
    # get/update limited to the operator's own Lease (create cannot be limited by name).
    named = [r for r in roles[0]["rules"] if r.get("resourceNames")]
    assert named == [{"apiGroups": ["coordination.k8s.io"], "resources": ["leases"],
                      "resourceNames": ["rj-recurringjob-operator"], "verbs": ["get", "update"]}]
    assert "--lease-name=rj-recurringjob-operator" in container(docs)["args"]


def test_rbac_namespaced_mode_needs_only_roles() -> None:
    docs = render(NAMESPACED)
    assert not by_kind(docs, "ClusterRole") and not by_kind(docs, "ClusterRoleBinding")
    roles = {r["metadata"]["namespace"]: r for r in by_kind(docs, "Role")
             if "leader" not in r["metadata"]["name"]}
    assert set(roles) == {"team-a", "team-b"}
    for role in roles.values():
        assert rule_verbs(role["rules"]) == WORKLOAD_VERBS
    lease_role = [r for r in by_kind(docs, "Role") if "leader" in r["metadata"]["name"]]
    assert len(lease_role) == 1 and lease_role[0]["metadata"]["namespace"] == "rj-system"
    bindings = by_kind(docs, "RoleBinding")
    assert {b["metadata"]["namespace"] for b in bindings} == {"team-a", "team-b", "rj-system"}
    for b in bindings:
        assert b["subjects"][0]["namespace"] == "rj-system"
    args = container(docs)["args"]
    assert "--namespace=team-a" in args and "--namespace=team-b" in args


def container(docs: list[dict[str, Any]]) -> dict[str, Any]:
    pod = one(docs, "Deployment")["spec"]["template"]["spec"]
    assert len(pod["containers"]) == 1
    return pod["containers"][0]


def dockerfile_entrypoint() -> list[str]:
    lines = [ln for ln in DOCKERFILE.read_text().splitlines() if ln.startswith("ENTRYPOINT")]
    assert len(lines) == 1, "exactly one ENTRYPOINT"
    return list(json.loads(lines[0].removeprefix("ENTRYPOINT")))


def test_command_matches_dockerfile_entrypoint_and_args_parse() -> None:
    c = container(render())
    assert c["command"] == dockerfile_entrypoint() == ["recurringjob", "run"]
    # The rendered args must be accepted by the real `recurringjob run` parser.
    from recurringjob import cli

    argv = [a.replace("$(POD_NAME)", "rj-abc").replace("$(POD_NAMESPACE)", "rj-system") for a in c["args"]]
    parsed = cli.build_parser("run").parse_args(["run", *argv])
    assert parsed.identity == "rj-abc"
    assert parsed.lease_namespace == "rj-system"
    assert parsed.health_port == 8081 and parsed.metrics_port == 8080
    assert (parsed.lease_duration, parsed.renew_deadline, parsed.retry_period) == (15, 10, 2)
    assert parsed.lease_name == "rj-recurringjob-operator" and parsed.namespaces == []
    assert (parsed.workers, parsed.log_level) == (32, "INFO")
    namespaced = [a.replace("$(POD_NAME)", "x").replace("$(POD_NAMESPACE)", "y")
                  for a in container(render(NAMESPACED))["args"]]
    assert cli.build_parser("run").parse_args(["run", *namespaced]).namespaces == ["team-a", "team-b"]


def test_deployment_identity_replicas_probes_and_spread() -> None:
    docs = render()
    deploy = one(docs, "Deployment")
    assert deploy["spec"]["replicas"] == 2
    c = container(docs)
    env = {e["name"]: e for e in c["env"]}
    assert env["POD_NAME"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    assert "--identity=$(POD_NAME)" in c["args"]
    probe = c["livenessProbe"]["httpGet"]
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert probe == {"path": "/healthz", "port": "health"} and ports == {"metrics": 8080, "health": 8081}
    assert c["resources"]["requests"] and c["resources"]["limits"]["memory"]
    pod = deploy["spec"]["template"]["spec"]
    spread = pod["topologySpreadConstraints"]
    selector = deploy["spec"]["selector"]["matchLabels"]
    assert spread and spread[0]["labelSelector"]["matchLabels"].items() <= selector.items()
    pdb = one(docs, "PodDisruptionBudget")
    assert pdb["spec"]["selector"] == deploy["spec"]["selector"]


def test_pod_security_standard_restricted() -> None:
    for values in ({}, ALL_FEATURES):
        pod = one(render(values), "Deployment")["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        assert not pod.get("hostNetwork") and not pod.get("hostPID") and not pod.get("hostIPC")
        for c in pod["containers"]:
            sc = c["securityContext"]
            assert sc["allowPrivilegeEscalation"] is False
            assert sc["readOnlyRootFilesystem"] is True
            assert sc["runAsNonRoot"] is True
            assert sc["capabilities"] == {"drop": ["ALL"]}
            assert sc["seccompProfile"] == {"type": "RuntimeDefault"}
            assert not sc.get("privileged")
        # restricted allows only these volume types
        for volume in pod.get("volumes", []):
            assert set(volume) - {"name"} <= {"emptyDir", "configMap", "secret", "projected",
                                                "downwardAPI", "persistentVolumeClaim", "ephemeral", "csi"}
    uid = int(pod["securityContext"]["runAsUser"])
    user_lines = [ln for ln in DOCKERFILE.read_text().splitlines() if ln.startswith("USER ")]
    assert user_lines[-1].split()[1].split(":")[0] == str(uid) and uid != 0


def test_service_and_monitoring_wiring() -> None:
    docs = render(ALL_FEATURES)
    deploy = one(docs, "Deployment")
    pod_labels = deploy["spec"]["template"]["metadata"]["labels"]
    svc = one(docs, "Service")
    assert svc["spec"]["selector"].items() <= pod_labels.items()
    assert svc["spec"]["ports"][0]["targetPort"] == "metrics"
    sm = one(docs, "ServiceMonitor")
    assert sm["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert sm["spec"]["selector"]["matchLabels"].items() <= svc["metadata"]["labels"].items()
    assert sm["spec"]["endpoints"][0]["port"] == svc["spec"]["ports"][0]["name"]
    assert sm["spec"]["namespaceSelector"]["matchNames"] == ["rj-system"]
    assert one(docs, "PrometheusRule")["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    cm = one(docs, "ConfigMap")
    assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert cm["metadata"]["annotations"] == {"grafana_folder": "Operators"}
    assert json.loads(cm["data"]["recurringjob-operator.json"]) == json.loads(DASHBOARD_FILE.read_text())
    custom = one(render({"grafanaDashboard.enabled": True, "grafanaDashboard.label": "my.org/dashboard",
                         "grafanaDashboard.labelValue": "yes"}), "ConfigMap")
    assert custom["metadata"]["labels"]["my.org/dashboard"] == "yes"
    assert "grafana_dashboard" not in custom["metadata"]["labels"]
    proc = helm("template", "rj", CHART, "--set", "serviceMonitor.enabled=true",
                "--set", "metrics.service.enabled=false", check=False)
    assert proc.returncode != 0 and "metrics.service.enabled" in proc.stderr


def test_chart_crd_is_the_top_level_crd() -> None:
    chart_crd = CHART / "crds" / "recurringjob.yaml"
    assert CRD_FILE.is_file(), f"{CRD_FILE} missing"
    assert chart_crd.read_bytes() == CRD_FILE.read_bytes()
    docs = render(include_crds=True)
    crds = by_kind(docs, "CustomResourceDefinition")
    assert [c["metadata"]["name"] for c in crds] == ["recurringjobs.recurringjob.dev"]
    assert crds[0] == load_yaml(CRD_FILE)
    for version in K8S_VERSIONS:
        kubernetes_validate.validate(crds[0], version, strict=True)


def test_helm_package_carries_the_linked_files(tmp_path: Path) -> None:
    """crds/ and files/ are symlinks into the repository: the packaged chart must hold their content."""
    helm("package", CHART, "--destination", tmp_path)
    (archive,) = tmp_path.glob("recurringjob-operator-*.tgz")
    with tarfile.open(archive) as tar:
        def member(name: str) -> bytes:
            f = tar.extractfile(f"recurringjob-operator/{name}")
            assert f is not None, name
            return f.read()

        assert member("crds/recurringjob.yaml") == CRD_FILE.read_bytes()
        assert member("files/recurringjob-operator.json") == DASHBOARD_FILE.read_bytes()
        assert member("files/recurringjob-operator.rules.yaml") == RULES_FILE.read_bytes()
    # The packaged chart renders like the directory.
    packaged = helm("template", "rj", archive, "--namespace", "rj-system",
                    "--set", "grafanaDashboard.enabled=true")
    assert [d for d in yaml.safe_load_all(packaged.stdout) if d] == render({"grafanaDashboard.enabled": True})


def crd_schema() -> dict[str, Any]:
    crd = load_yaml(CRD_FILE)
    (version,) = [v for v in crd["spec"]["versions"] if v.get("storage")]
    return dict(version["schema"]["openAPIV3Schema"])


def to_jsonschema(node: Any) -> Any:
    """OpenAPI v3 structural schema -> JSON schema: x-kubernetes-* are annotations, nullable widens."""
    if isinstance(node, list):
        return [to_jsonschema(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: to_jsonschema(v) for k, v in node.items() if not k.startswith("x-kubernetes-")}
    if node.get("x-kubernetes-int-or-string"):
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if node.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
    out.pop("nullable", None)
    return out


def test_examples_validate_against_the_crd_schema() -> None:
    schema = to_jsonschema(crd_schema())
    validator = jsonschema.Draft7Validator(schema)
    examples = sorted((ROOT / "examples").glob("*.yaml"))
    assert examples, "no examples/*.yaml"
    seen = 0
    for path in examples:
        for doc in yaml.safe_load_all(path.read_text()):
            if not doc or doc.get("kind") != "RecurringJob":
                continue
            seen += 1
            assert doc["apiVersion"] == "recurringjob.dev/v1alpha1", path
            errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.path))
            assert not errors, f"{path.name}: " + "; ".join(f"{list(e.path)}: {e.message}" for e in errors)
            assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", doc["metadata"]["name"]), path
    assert seen, "no RecurringJob in examples/"
    bad = {"apiVersion": "recurringjob.dev/v1alpha1", "kind": "RecurringJob", "metadata": {"name": "x"},
           "spec": {"schedule": "* * * * *", "concurrencyPolicy": "Sometimes", "jobTemplate": {"spec": {}}}}
    assert list(validator.iter_errors(bad)), "the CRD schema accepts concurrencyPolicy: Sometimes"


def test_operations_doc_lists_every_value() -> None:
    doc = (ROOT / "docs" / "operations.md").read_text()
    values = load_yaml(CHART / "values.yaml")
    free_form = {"resources", "podSecurityContext", "securityContext"}
    for path, _ in walk_leaves(values):
        key = path[0] if path[0] in free_form else ".".join(path)
        assert f"`{key}`" in doc, f"docs/operations.md has no row for value {key}"
