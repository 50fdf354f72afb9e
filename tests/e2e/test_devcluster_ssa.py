"""Server-side apply against the dev cluster with the real kubectl 1.32 (`kubectl apply --server-side`),
on a RecurringJob and on built-in kinds (ConfigMap; a Deployment's containers as a list-map), plus
raw-HTTP bad input. Evidence is what the server stores: objects and their managedFields read back."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import KubectlRunner, make_kubectl
from recurringjob.devcluster.server import DevCluster

ROOT = Path(__file__).resolve().parents[2]
APPLY = "application/apply-patch+yaml"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevCluster]:
    with DevCluster(tmp_path_factory.mktemp("devcluster-ssa")) as dev:
        yield dev


@pytest.fixture(scope="module")
def kubectl(cluster: DevCluster, tmp_path_factory: pytest.TempPathFactory) -> KubectlRunner:
    run = make_kubectl(cluster, tmp_path_factory.mktemp("kubectl-cache"))
    run("apply", "-f", str(ROOT / "crds" / "recurringjob.yaml"))
    return run


def ssa(kubectl: KubectlRunner, doc: dict[str, Any], *flags: str, check: bool = True) -> Any:
    return kubectl("apply", "--server-side", *flags, "-f", "-", input=json.dumps(doc), check=check)


def get(kubectl: KubectlRunner, kind: str, name: str) -> dict[str, Any]:
    out = kubectl("get", kind, name, "-o", "json", "--show-managed-fields").stdout
    doc: dict[str, Any] = json.loads(out)
    return doc


def entries(obj: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    """managedFields by (manager, operation)."""
    return {(e["manager"], e["operation"]): e for e in obj["metadata"].get("managedFields", [])}


def configmap(name: str, data: dict[str, str], labels: dict[str, str] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if labels:
        meta["labels"] = labels
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": data}


def raw(
    cluster: DevCluster, method: str, path: str, body: bytes | None, content_type: str = APPLY
) -> tuple[int, dict[str, Any]]:
    req = urllib.request.Request(
        cluster.url + path,
        data=body,
        method=method,
        headers={"Content-Type": content_type, "Authorization": "Bearer ssa-test"},
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


# ------------------------------------------------------------------------------------ ConfigMap
def test_apply_creates_then_removed_fields_disappear(kubectl: KubectlRunner) -> None:
    out = ssa(kubectl, configmap("cm-prune", {"x": "1", "gone": "2"}, {"keep": "a", "drop": "b"})).stdout
    assert "configmap/cm-prune serverside-applied" in out
    created = get(kubectl, "configmap", "cm-prune")
    applied = entries(created)[("kubectl", "Apply")]
    assert applied["apiVersion"] == "v1" and applied["fieldsType"] == "FieldsV1"
    assert applied["fieldsV1"] == {
        "f:data": {"f:x": {}, "f:gone": {}},
        "f:metadata": {"f:labels": {"f:keep": {}, "f:drop": {}}},
    }

    ssa(kubectl, configmap("cm-prune", {"x": "1"}, {"keep": "a"}))
    updated = get(kubectl, "configmap", "cm-prune")
    assert updated["data"] == {"x": "1"}
    assert updated["metadata"]["labels"] == {"keep": "a"}
    assert entries(updated)[("kubectl", "Apply")]["fieldsV1"] == {
        "f:data": {"f:x": {}},
        "f:metadata": {"f:labels": {"f:keep": {}}},
    }


def test_conflict_names_the_manager_and_force_moves_ownership(kubectl: KubectlRunner) -> None:
    ssa(kubectl, configmap("cm-conflict", {"x": "1", "y": "1"}))
    refused = ssa(kubectl, configmap("cm-conflict", {"x": "2"}), "--field-manager", "other", check=False)
    assert refused.returncode != 0
    assert 'Apply failed with 1 conflict: conflict with "kubectl": .data.x' in refused.stderr
    assert get(kubectl, "configmap", "cm-conflict")["data"] == {"x": "1", "y": "1"}

    # The same value is no conflict: both own it.
    ssa(kubectl, configmap("cm-conflict", {"y": "1"}), "--field-manager", "other")
    shared = entries(get(kubectl, "configmap", "cm-conflict"))
    assert "f:y" in shared[("kubectl", "Apply")]["fieldsV1"]["f:data"]
    assert "f:y" in shared[("other", "Apply")]["fieldsV1"]["f:data"]

    ssa(
        kubectl,
        configmap("cm-conflict", {"x": "2", "y": "1"}),
        "--field-manager",
        "other",
        "--force-conflicts",
    )
    forced = get(kubectl, "configmap", "cm-conflict")
    assert forced["data"]["x"] == "2"
    owners = entries(forced)
    assert "f:x" in owners[("other", "Apply")]["fieldsV1"]["f:data"]
    assert "f:x" not in owners[("kubectl", "Apply")]["fieldsV1"]["f:data"]

    # kubectl stops applying y: other still owns it, so it stays; x is other's, so it stays too.
    ssa(kubectl, configmap("cm-conflict", {"z": "3"}))
    assert get(kubectl, "configmap", "cm-conflict")["data"] == {"x": "2", "y": "1", "z": "3"}


def test_conflict_with_a_client_side_apply_update_entry(kubectl: KubectlRunner, tmp_path: Path) -> None:
    manifest = tmp_path / "cm.yaml"
    manifest.write_text(yaml.safe_dump(configmap("cm-csa", {"x": "1"})))
    kubectl("apply", "-f", str(manifest))  # client-side apply: an Update entry
    owners = entries(get(kubectl, "configmap", "cm-csa"))
    assert owners[("kubectl-client-side-apply", "Update")]["fieldsV1"]["f:data"] == {".": {}, "f:x": {}}

    refused = ssa(kubectl, configmap("cm-csa", {"x": "2"}), "--field-manager", "other", check=False)
    assert 'conflict with "kubectl-client-side-apply" using v1: .data.x' in refused.stderr


# --------------------------------------------------------------------------------- RecurringJob
def recurringjob(spec: dict[str, Any]) -> dict[str, Any]:
    base = yaml.safe_load((ROOT / "examples" / "heartbeat.yaml").read_text())
    base["metadata"] = {"name": "ssa-rj"}
    base["spec"] = {**base["spec"], **spec}
    return dict(base)


def test_recurringjob_apply_update_conflict_and_force(kubectl: KubectlRunner) -> None:
    ssa(kubectl, recurringjob({"startingDeadlineSeconds": 30}))
    assert get(kubectl, "recurringjob", "ssa-rj")["spec"]["startingDeadlineSeconds"] == 30

    without = recurringjob({})
    del without["spec"]["startingDeadlineSeconds"]
    ssa(kubectl, without)
    rj = get(kubectl, "recurringjob", "ssa-rj")
    assert "startingDeadlineSeconds" not in rj["spec"]
    assert rj["spec"]["successfulJobsHistoryLimit"] == 3  # still applied

    kubectl("patch", "recurringjob", "ssa-rj", "--type", "merge", "-p", '{"spec":{"schedule":"0 * * * *"}}')
    owners = entries(get(kubectl, "recurringjob", "ssa-rj"))
    assert owners[("kubectl-patch", "Update")]["fieldsV1"] == {"f:spec": {"f:schedule": {}}}

    refused = ssa(kubectl, without, check=False)
    assert (
        'Apply failed with 1 conflict: conflict with "kubectl-patch" using recurringjob.dev/v1alpha1: '
        ".spec.schedule" in refused.stderr
    )
    ssa(kubectl, without, "--force-conflicts")
    rj = get(kubectl, "recurringjob", "ssa-rj")
    assert rj["spec"]["schedule"] == without["spec"]["schedule"]
    assert ("kubectl-patch", "Update") not in entries(rj)  # its only field moved to kubectl


def test_status_writes_own_only_status(cluster: DevCluster, kubectl: KubectlRunner) -> None:
    ssa(kubectl, recurringjob({}) | {"metadata": {"name": "ssa-rj-status"}})
    path = "/apis/recurringjob.dev/v1alpha1/namespaces/default/recurringjobs/ssa-rj-status/status"
    patch = json.dumps({"status": {"lastScheduleTime": "2025-01-01T00:00:00Z"}}).encode()
    code, _ = raw(cluster, "PATCH", path + "?fieldManager=my-operator", patch, "application/merge-patch+json")
    assert code == 200
    owners = entries(get(kubectl, "recurringjob", "ssa-rj-status"))
    status_entry = owners[("my-operator", "Update")]
    assert status_entry["subresource"] == "status"
    assert status_entry["fieldsV1"] == {"f:status": {".": {}, "f:lastScheduleTime": {}}}


# ----------------------------------------------------------------------------------- Deployment
def deployment(containers: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "ssa-web"},
        "spec": {
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": containers}},
        },
    }


def test_deployment_containers_merge_by_name(kubectl: KubectlRunner) -> None:
    main = {"name": "main", "image": "nginx:1", "ports": [{"containerPort": 80}],
            "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]}  # fmt: skip
    ssa(kubectl, deployment([main, {"name": "side", "image": "busybox"}]))
    applied = entries(get(kubectl, "deployment", "ssa-web"))[("kubectl", "Apply")]["fieldsV1"]
    containers = applied["f:spec"]["f:template"]["f:spec"]["f:containers"]
    assert set(containers) == {'k:{"name":"main"}', 'k:{"name":"side"}'}
    assert 'k:{"containerPort":80,"protocol":"TCP"}' in containers['k:{"name":"main"}']["f:ports"]

    # Another manager adds an env var to the side container: a new field, no conflict.
    sidecar = {"name": "side", "env": [{"name": "C", "value": "3"}]}
    ssa(kubectl, deployment([sidecar]), "--field-manager", "sidecar")
    refused = ssa(kubectl, deployment([{"name": "main", "image": "nginx:2"}]), "--field-manager", "sidecar",
                  check=False)  # fmt: skip
    assert 'conflict with "kubectl": .spec.template.spec.containers[name="main"].image' in refused.stderr

    # kubectl drops env B and the side container: B goes; the side container stays (sidecar owns part).
    ssa(kubectl, deployment([{**main, "env": [{"name": "A", "value": "1"}]}]))
    live = get(kubectl, "deployment", "ssa-web")["spec"]["template"]["spec"]["containers"]
    by_name = {c["name"]: c for c in live}
    assert by_name["main"]["env"] == [{"name": "A", "value": "1"}]
    assert by_name["side"]["env"] == [{"name": "C", "value": "3"}]
    assert [c["name"] for c in live] == ["main", "side"]


def test_server_side_dry_run_stores_nothing(kubectl: KubectlRunner) -> None:
    out = ssa(kubectl, configmap("cm-dry", {"x": "1"}), "--dry-run=server").stdout
    assert "cm-dry serverside-applied (server dry run)" in out
    missing = kubectl("get", "configmap", "cm-dry", check=False)
    assert missing.returncode != 0 and "NotFound" in missing.stderr


# ---------------------------------------------------------------------------- raw bad input
CM_PATH = "/api/v1/namespaces/default/configmaps/cm-raw"


@pytest.mark.parametrize(
    ("query", "body", "code", "reason", "message"),
    [
        ("?fieldManager=t", b"{ not: [valid", 400, "BadRequest", "error decoding YAML: "),
        ("?fieldManager=t", b"- a\n- b\n", 400, "BadRequest", "error decoding YAML: "),
        ("", json.dumps(configmap("cm-raw", {})).encode(), 422, "Invalid",
         'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch'),
        ("?fieldManager=t", json.dumps({**configmap("cm-raw", {}), "apiVersion": "v2"}).encode(), 400,
         "BadRequest", "Incorrect version specified in apply patch. Specified patch version: v2, expected: "),
        ("?fieldManager=t", json.dumps({**configmap("cm-raw", {}), "kind": "Secret"}).encode(), 400,
         "BadRequest", "the kind in the apply patch (Secret) does not match the kind of the resource"),
        ("?fieldManager=t", json.dumps(configmap("other-name", {})).encode(), 400, "BadRequest",
         "the name of the object (other-name) does not match the name on the URL (cm-raw)"),
        ("?fieldManager=t",
         json.dumps(configmap("cm-raw", {}) | {"metadata": {"name": "cm-raw", "managedFields": []}}).encode(),
         400, "BadRequest", "metadata.managedFields must be nil"),
        ("?fieldManager=t&force=maybe", json.dumps(configmap("cm-raw", {})).encode(), 400, "BadRequest",
         'force: strconv.ParseBool: parsing "maybe": invalid syntax'),
    ],
    ids=["not-yaml", "not-an-object", "no-field-manager", "api-version", "kind", "name", "managed-fields",
         "force-value"],
)  # fmt: skip
def test_bad_apply_requests_get_kube_status(
    cluster: DevCluster, query: str, body: bytes, code: int, reason: str, message: str
) -> None:
    status, doc = raw(cluster, "PATCH", CM_PATH + query, body)
    assert (status, doc["kind"], doc["code"], doc["reason"]) == (code, "Status", code, reason)
    assert doc["message"].startswith(message), doc["message"]
    assert raw(cluster, "GET", "/api/v1/namespaces/default/configmaps", None)[0] == 200  # still serving


def test_bad_list_map_and_force_on_merge_patch(cluster: DevCluster) -> None:
    dup = deployment([{"name": "a", "image": "x"}, {"name": "a", "image": "y"}]) | {
        "metadata": {"name": "ssa-dup"}
    }
    path = "/apis/apps/v1/namespaces/default/deployments/ssa-dup?fieldManager=t"
    status, doc = raw(cluster, "PATCH", path, json.dumps(dup).encode())
    assert (status, doc["reason"]) == (400, "BadRequest")
    assert 'duplicate entries for key [name="a"]' in doc["message"]

    keyless = deployment([{"image": "x"}]) | {"metadata": {"name": "ssa-dup"}}
    status, doc = raw(cluster, "PATCH", path, json.dumps(keyless).encode())
    assert status == 400 and 'omits key field "name"' in doc["message"]

    raw(cluster, "PATCH", CM_PATH + "?fieldManager=t", json.dumps(configmap("cm-raw", {"a": "1"})).encode())
    status, doc = raw(
        cluster, "PATCH", CM_PATH + "?force=true", b'{"data":{"a":"2"}}', "application/merge-patch+json"
    )
    assert (status, doc["reason"]) == (422, "Invalid")
    assert doc["message"] == (
        'PatchOptions.meta.k8s.io "" is invalid: force: Forbidden: may not be specified for non-apply patch'
    )


def test_conflict_status_body_lists_causes(cluster: DevCluster) -> None:
    path = "/api/v1/namespaces/default/configmaps/cm-causes"
    assert (
        raw(
            cluster,
            "PATCH",
            path + "?fieldManager=a",
            json.dumps(configmap("cm-causes", {"x": "1", "y": "1"})).encode(),
        )[0]
        == 201
    )
    status, doc = raw(
        cluster,
        "PATCH",
        path + "?fieldManager=b",
        json.dumps(configmap("cm-causes", {"x": "2", "y": "2"})).encode(),
    )
    assert (status, doc["reason"]) == (409, "Conflict")
    assert doc["message"] == 'Apply failed with 2 conflicts: conflicts with "a":\n- .data.x\n- .data.y'
    assert doc["details"]["causes"] == [
        {"type": "FieldManagerConflict", "message": 'conflict with "a"', "field": ".data.x"},
        {"type": "FieldManagerConflict", "message": 'conflict with "a"', "field": ".data.y"},
    ]


def test_manager_from_user_agent_when_no_field_manager(cluster: DevCluster) -> None:
    req = urllib.request.Request(
        cluster.url + "/api/v1/namespaces/default/configmaps",
        data=json.dumps(configmap("cm-agent", {"x": "1"})).encode(),
        method="POST",
        headers={"Content-Type": "application/json", "User-Agent": "my-tool/1.2 (linux)"},
    )
    with urllib.request.urlopen(req, timeout=10) as response:
        created = json.loads(response.read())
    (entry,) = created["metadata"]["managedFields"]
    assert (entry["manager"], entry["operation"], entry["apiVersion"]) == ("my-tool", "Update", "v1")
    assert entry["fieldsV1"] == {"f:data": {".": {}, "f:x": {}}}


def test_request_managed_fields_reset_kept_or_refused(cluster: DevCluster) -> None:
    path = "/api/v1/namespaces/default/configmaps/cm-reset"
    raw(cluster, "PATCH", path + "?fieldManager=a", json.dumps(configmap("cm-reset", {"x": "1"})).encode())

    def put(managed_fields: Any) -> tuple[int, dict[str, Any]]:
        doc = configmap("cm-reset", {"x": "1"})
        doc["metadata"]["managedFields"] = managed_fields
        return raw(cluster, "PUT", path, json.dumps(doc).encode(), "application/json")

    status, kept = put([{"manager": "x", "operation": "Update", "fieldsV1": {"f:data": 5}}])
    assert status == 200 and [e["manager"] for e in kept["metadata"]["managedFields"]] == ["a"]
    status, refused = put([{"manager": "x", "operation": "Patch", "fieldsV1": {}}])
    assert (status, refused["reason"]) == (422, "Invalid")
    assert "metadata.managedFields[0].operation" in refused["message"]
    status, reset = put([])
    assert status == 200 and "managedFields" not in reset["metadata"]
