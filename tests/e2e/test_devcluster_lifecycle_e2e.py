"""What exactly-once verdicts rely on, seen through the official client against a real dev cluster:
the hold fault (a create still on the wire after the client gave up), controller audit lines
(finished, stopped, deleted, removed), Job deletion with finalizers, the TTL controller."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import urllib3
import yaml
from kubernetes import client, config
from kubernetes.client.rest import ApiException
from recurringjob.devcluster.faults import FaultClient
from recurringjob.devcluster.server import DevCluster

NAMESPACE = "default"
LOCK = "recurringjob.dev/occurrence-lock"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevCluster]:
    with DevCluster(tmp_path_factory.mktemp("lifecycle"), extra_args=["--job-duration", "1s"]) as cluster:
        yield cluster


@pytest.fixture()
def faults(cluster: DevCluster) -> Iterator[FaultClient]:
    faults = FaultClient(cluster.url)
    faults.clear()
    yield faults
    faults.clear()


def batch_api(cluster: DevCluster, identity: str) -> client.BatchV1Api:
    path = cluster.write_kubeconfig(Path(cluster.workdir) / f"{identity}.kubeconfig", identity)
    configuration = client.Configuration()
    config.load_kube_config(config_file=path, client_configuration=configuration)
    configuration.retries = False
    return client.BatchV1Api(client.ApiClient(configuration))


def job(name: str, duration: str = "1s", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "annotations": {"devcluster.recurringjob.dev/duration": duration}},
        "spec": {
            "template": {"spec": {"restartPolicy": "Never",
                                  "containers": [{"name": "main", "image": "busybox"}]}},
            **spec,
        },
    }


def wait_for(what: str, check: Callable[[], Any], timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def lines(cluster: DevCluster, name: str, **match: Any) -> list[dict[str, Any]]:
    return [e for e in cluster.audit_entries()
            if e["name"] == name and all(e.get(k) == v for k, v in match.items())]


def test_held_create_commits_after_the_client_gave_up(cluster: DevCluster, faults: FaultClient) -> None:
    api = batch_api(cluster, "replica-held")
    faults.hold(2.5, verbs=["create"], resources=["jobs"], clients=["replica-held"])
    sent = time.time()
    with pytest.raises(urllib3.exceptions.ReadTimeoutError):
        api.create_namespaced_job(NAMESPACE, job("held-1"), _request_timeout=0.5)
    # the client is gone; the create is still on the server and lands later
    with pytest.raises(ApiException) as missing:
        api.read_namespaced_job("held-1", NAMESPACE)
    assert missing.value.status == 404
    stored = wait_for("the held create to land", lambda: _read(api, "held-1"))
    assert stored.metadata.uid
    (line,) = wait_for("its audit line", lambda: lines(cluster, "held-1", verb="create"))
    assert line["client"] == "replica-held" and line["code"] == 201
    assert sent - 1 <= line["received"] <= sent + 1
    assert line["ts"] - line["received"] >= 2.4  # ts is the commit time
    # other clients and other verbs are not held
    other = batch_api(cluster, "replica-free")
    started = time.monotonic()
    other.create_namespaced_job(NAMESPACE, job("free-1"))
    api.patch_namespaced_job("held-1", NAMESPACE, {"metadata": {"labels": {"seen": "yes"}}})
    assert time.monotonic() - started < 2.0
    assert "received" not in lines(cluster, "free-1", verb="create")[0]
    assert faults.get()["stats"]["hold"] == 1


def test_finished_and_removed_lines(cluster: DevCluster) -> None:
    api = batch_api(cluster, "replica-a")
    api.create_namespaced_job(NAMESPACE, job("done-1", "200ms"))
    failed = job("fails-1", "200ms")
    failed["metadata"]["annotations"]["devcluster.recurringjob.dev/outcome"] = "Failed"
    api.create_namespaced_job(NAMESPACE, failed)
    for name, outcome in (("done-1", "Complete"), ("fails-1", "Failed")):
        (line,) = wait_for(f"{name} to finish", lambda n=name: lines(cluster, n, event="finished"))
        assert (line["verb"], line["subresource"], line["client"], line["outcome"], line["code"]) == (
            "update", "status", "system:job-controller", outcome, 200)
        assert (line["group"], line["version"], line["resource"], line["namespace"]) == (
            "batch", "v1", "jobs", NAMESPACE)
    api.delete_namespaced_job("done-1", NAMESPACE, propagation_policy="Background")
    entries = [e for e in cluster.audit_entries() if e["name"] == "done-1"]
    delete_at = next(i for i, e in enumerate(entries) if e["verb"] == "delete" and "event" not in e)
    removed = [e for e in entries if e.get("event") == "removed"]
    assert len(removed) == 1 and entries.index(removed[0]) > delete_at  # cause before effect
    assert (removed[0]["client"], removed[0]["code"], removed[0]["uid"]) == (
        "system:storage", 200, entries[0].get("uid") or removed[0]["uid"])
    assert not [e for e in entries if e.get("event") == "stopped"]  # it had finished: nothing stopped


def test_foreground_delete_stops_a_job_held_by_a_finalizer(cluster: DevCluster) -> None:
    api = batch_api(cluster, "replica-a")
    body = job("fg-1", "30s")
    body["metadata"]["finalizers"] = [LOCK]
    api.create_namespaced_job(NAMESPACE, body)
    wait_for("fg-1 to run", lambda: (_read(api, "fg-1").status.active or 0) == 1)
    api.delete_namespaced_job("fg-1", NAMESPACE, propagation_policy="Foreground")
    (stopped,) = wait_for("the stopped line", lambda: lines(cluster, "fg-1", event="stopped"))
    assert (stopped["verb"], stopped["client"]) == ("update", "system:job-controller")
    held = _read(api, "fg-1")
    assert held.metadata.deletion_timestamp is not None and held.metadata.finalizers == [LOCK]
    assert not held.status.active and not held.status.conditions  # no Complete/Failed
    # the name stays taken
    with pytest.raises(ApiException) as taken:
        api.create_namespaced_job(NAMESPACE, job("fg-1"))
    assert taken.value.status == 409 and "AlreadyExists" in taken.value.body
    # no new finalizer on an object being deleted
    with pytest.raises(ApiException) as refused:
        api.patch_namespaced_job("fg-1", NAMESPACE, {"metadata": {"finalizers": [LOCK, "example.com/x"]}})
    assert refused.value.status == 422
    assert "no new finalizers can be added if the object is being deleted" in refused.value.body
    api.patch_namespaced_job("fg-1", NAMESPACE, {"metadata": {"finalizers": None}})
    wait_for("fg-1 to be removed", lambda: lines(cluster, "fg-1", event="removed"))
    assert _read(api, "fg-1") is None
    assert len(lines(cluster, "fg-1", event="stopped")) == 1


def test_background_delete_keeps_a_held_job_running_until_it_is_gone(cluster: DevCluster) -> None:
    api = batch_api(cluster, "replica-a")
    body = job("bg-1", "30s")
    body["metadata"]["finalizers"] = [LOCK]
    api.create_namespaced_job(NAMESPACE, body)
    wait_for("bg-1 to run", lambda: (_read(api, "bg-1").status.active or 0) == 1)
    api.delete_namespaced_job("bg-1", NAMESPACE, propagation_policy="Background")
    time.sleep(0.5)
    held = _read(api, "bg-1")
    assert held.metadata.deletion_timestamp is not None and held.status.active == 1
    assert not lines(cluster, "bg-1", event="stopped")
    api.patch_namespaced_job("bg-1", NAMESPACE, {"metadata": {"finalizers": None}})
    (stopped,) = wait_for("the stopped line", lambda: lines(cluster, "bg-1", event="stopped"))
    assert stopped["subresource"] is None
    entries = [e for e in cluster.audit_entries() if e["name"] == "bg-1"]
    assert entries.index(stopped) > entries.index(lines(cluster, "bg-1", event="removed")[0])


def test_ttl_controller_deletes_finished_jobs_with_foreground_propagation(cluster: DevCluster) -> None:
    api = batch_api(cluster, "replica-a")
    api.create_namespaced_job(NAMESPACE, job("ttl-1", "100ms", ttlSecondsAfterFinished=1))
    kept = job("ttl-2", "100ms", ttlSecondsAfterFinished=1)
    kept["metadata"]["finalizers"] = [LOCK]
    api.create_namespaced_job(NAMESPACE, kept)
    api.create_namespaced_job(NAMESPACE, job("ttl-none", "100ms"))
    (deleted,) = wait_for("the TTL delete", lambda: lines(cluster, "ttl-1", event="deleted"))
    assert (deleted["verb"], deleted["client"], deleted["code"], deleted["propagationPolicy"]) == (
        "delete", "system:ttl-after-finished-controller", 200, "Foreground")
    finished = lines(cluster, "ttl-1", event="finished")[0]
    assert deleted["ts"] >= finished["ts"]
    wait_for("ttl-1 to be removed", lambda: _read(api, "ttl-1") is None)
    # a finalizer holds ttl-2: it only gets its deletionTimestamp, and is deleted once
    wait_for("ttl-2's deletion", lambda: _read(api, "ttl-2").metadata.deletion_timestamp)
    assert _read(api, "ttl-2").metadata.finalizers == [LOCK]
    time.sleep(1.5)
    assert len(lines(cluster, "ttl-2", event="deleted")) == 1
    assert _read(api, "ttl-none") is not None and not lines(cluster, "ttl-none", event="deleted")
    api.patch_namespaced_job("ttl-2", NAMESPACE, {"metadata": {"finalizers": None}})
    wait_for("ttl-2 to be removed", lambda: _read(api, "ttl-2") is None)


def _read(api: client.BatchV1Api, name: str) -> Any:
    try:
        return api.read_namespaced_job(name, NAMESPACE)
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise


def test_kubectl_shows_kubes_validation_message(cluster: DevCluster, tmp_path: Path) -> None:
    name = "x" * 64
    manifest = tmp_path / "job.yaml"
    manifest.write_text(yaml.safe_dump(job(name)))
    result = subprocess.run(["kubectl", "--kubeconfig", cluster.kubeconfig, "create", "-f", str(manifest)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert (f'The Job "{name}" is invalid: spec.template.labels: Invalid value: "{name}": '
            "must be no more than 63 characters") in result.stderr
    assert "Traceback" not in result.stderr


def test_ttl_controller_picks_finished_jobs_up_after_a_restart(tmp_path: Path) -> None:
    with DevCluster(tmp_path / "restart", data_dir=str(tmp_path / "data")) as cluster:
        api = batch_api(cluster, "replica-a")
        api.create_namespaced_job(NAMESPACE, job("ttl-restart", "100ms", ttlSecondsAfterFinished=3))
        wait_for("it to finish", lambda: lines(cluster, "ttl-restart", event="finished"))
        cluster.restart()  # the TTL runs out while the server restarts
        api = batch_api(cluster, "replica-a")
        assert _read(api, "ttl-restart") is not None
        wait_for("the TTL delete after the restart", lambda: _read(api, "ttl-restart") is None)
        (deleted,) = lines(cluster, "ttl-restart", event="deleted")
        assert deleted["client"] == "system:ttl-after-finished-controller"
