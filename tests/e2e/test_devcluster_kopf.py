"""Kopf 1.45 (unmodified watch-streams, finalizers, status/annotation patches) against the dev cluster."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from example_crd import example_crd, spec_n_schema
from kopf.testing import KopfRunner
from kubernetes import client, config
from kubernetes.config import kube_config
from recurringjob.devcluster.server import DevCluster

CRD = example_crd("Gadget", spec_n_schema({"type": "object", "x-kubernetes-preserve-unknown-fields": True}))

OPERATOR = """
import os
import kopf

def record(line):
    with open(os.environ["GADGET_EVENTS"], "a") as handle:
        handle.write(line + "\\n")

@kopf.on.startup()
def configure(settings, **_):
    settings.watching.server_timeout = 5
    settings.posting.enabled = False

@kopf.on.create("example.dev", "v1", "gadgets")
def created(name, spec, **_):
    record(f"create {name} {spec.get('n')}")
    return {"seen": spec.get("n")}

@kopf.on.update("example.dev", "v1", "gadgets")
def updated(name, spec, **_):
    record(f"update {name} {spec.get('n')}")

@kopf.on.delete("example.dev", "v1", "gadgets")
def deleted(name, **_):
    record(f"delete {name}")
"""


def wait_for(predicate: object, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.1)
    raise AssertionError("condition not reached in time")


def test_kopf_operator_sees_create_update_delete(
    devcluster: DevCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = config.new_client_from_config(config_file=devcluster.kubeconfig)
    client.ApiextensionsV1Api(api).create_custom_resource_definition(CRD)
    custom = client.CustomObjectsApi(api)
    events = tmp_path / "events.log"
    events.touch()
    operator = tmp_path / "operator.py"
    operator.write_text(OPERATOR)
    monkeypatch.setenv("KUBECONFIG", devcluster.kubeconfig)
    # The client read $KUBECONFIG when it was first imported; Kopf's login goes through it.
    monkeypatch.setattr(kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", devcluster.kubeconfig)
    monkeypatch.setenv("GADGET_EVENTS", str(events))

    def lines() -> list[str]:
        return events.read_text().splitlines()

    with KopfRunner(["run", "--standalone", "--namespace", "default", str(operator)], timeout=60) as runner:
        body = {
            "apiVersion": "example.dev/v1",
            "kind": "Gadget",
            "metadata": {"name": "g1"},
            "spec": {"n": 1},
        }
        custom.create_namespaced_custom_object("example.dev", "v1", "default", "gadgets", body)
        wait_for(lambda: "create g1 1" in lines())
        wait_for(
            lambda: (
                custom.get_namespaced_custom_object("example.dev", "v1", "default", "gadgets", "g1")
                .get("status", {})
                .get("created")
                == {"seen": 1}
            )
        )
        custom.patch_namespaced_custom_object(
            "example.dev", "v1", "default", "gadgets", "g1", {"spec": {"n": 2}}
        )
        wait_for(lambda: "update g1 2" in lines())
        custom.delete_namespaced_custom_object("example.dev", "v1", "default", "gadgets", "g1")
        wait_for(lambda: "delete g1" in lines())
        wait_for(
            lambda: (
                not custom.list_namespaced_custom_object("example.dev", "v1", "default", "gadgets")["items"]
            )
        )
    assert runner.exit_code == 0, runner.output
    assert lines() == ["create g1 1", "update g1 2", "delete g1"]
    assert os.path.exists(devcluster.audit_log)
    finalizer_patches = [a for a in devcluster.audit_entries() if a["verb"] == "patch" and a["name"] == "g1"]
    assert finalizer_patches and all(a["code"] == 200 for a in finalizer_patches)
