"""Optimistic concurrency under real concurrent clients, history expiry (410) and durability."""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException
from recurringjob.devcluster.server import DevCluster

WORKERS = 6
INCREMENTS = 8


def core_api(cluster: DevCluster) -> client.CoreV1Api:
    return client.CoreV1Api(config.new_client_from_config(config_file=cluster.kubeconfig))


def run_increments(cluster: DevCluster, name: str, preconditions: bool) -> tuple[int, int]:
    """WORKERS threads each add INCREMENTS to a counter by read-modify-write; returns (final, conflicts)."""
    core_api(cluster).create_namespaced_config_map(
        "default", client.V1ConfigMap(metadata=client.V1ObjectMeta(name=name), data={"n": "0"})
    )
    conflicts = 0
    lock = threading.Lock()
    start = threading.Barrier(WORKERS)

    def worker() -> None:
        nonlocal conflicts
        core = core_api(cluster)
        start.wait()
        for _ in range(INCREMENTS):
            while True:
                current = core.read_namespaced_config_map(name, "default")
                current.data["n"] = str(int(current.data["n"]) + 1)
                time.sleep(0.005)  # widen the read-write window so the race is certain, not lucky
                if not preconditions:
                    current.metadata.resource_version = None  # a blind write: last writer wins
                try:
                    core.replace_namespaced_config_map(name, "default", current)
                    break
                except ApiException as exc:
                    assert exc.status == 409, exc
                    with lock:
                        conflicts += 1

    threads = [threading.Thread(target=worker) for _ in range(WORKERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    final = int(core_api(cluster).read_namespaced_config_map(name, "default").data["n"])
    return final, conflicts


def test_resource_version_preconditions_lose_no_increment(module_devcluster: DevCluster) -> None:
    final, conflicts = run_increments(module_devcluster, "cas", preconditions=True)
    assert final == WORKERS * INCREMENTS
    assert conflicts > 0  # the workers really did race


def test_blind_writes_lose_updates(module_devcluster: DevCluster) -> None:
    final, conflicts = run_increments(module_devcluster, "blind", preconditions=False)
    assert conflicts == 0
    assert final < WORKERS * INCREMENTS  # the lost-update problem, shown by the same loop without CAS


def test_watch_from_compacted_revision_gets_410_expired(tmp_path: Path) -> None:
    with DevCluster(tmp_path, extra_args=["--history", "5", "--history-seconds", "0"]) as cluster:
        core = core_api(cluster)
        first = core.create_namespaced_config_map("default", {"metadata": {"name": "c0"}})
        for i in range(1, 10):
            core.create_namespaced_config_map("default", {"metadata": {"name": f"c{i}"}})
        old = first.metadata.resource_version
        url = f"{cluster.url}/api/v1/namespaces/default/configmaps?watch=1&resourceVersion={old}"
        with urllib.request.urlopen(url, timeout=10) as response:  # kube: 200, then one ERROR event
            assert response.status == 200
            event = json.loads(response.readline())
        assert event["type"] == "ERROR"
        assert (event["object"]["code"], event["object"]["reason"]) == (410, "Expired")
        assert event["object"]["message"].startswith(f"too old resource version: {old} (")
        with pytest.raises(ApiException) as exc:  # the official client turns it into an exception
            for _ in watch.Watch().stream(
                core.list_namespaced_config_map, "default", resource_version=old, timeout_seconds=2
            ):
                pass
        assert exc.value.status == 410
        recent = core.list_namespaced_config_map("default").metadata.resource_version
        core.delete_namespaced_config_map("c1", "default")
        events = [
            (e["type"], e["object"].metadata.name)
            for e in watch.Watch().stream(
                core.list_namespaced_config_map, "default", resource_version=recent, timeout_seconds=1
            )
        ]
        assert events == [("DELETED", "c1")]


def test_state_survives_restart_with_data_dir(tmp_path: Path) -> None:
    cluster = DevCluster(tmp_path / "run", data_dir=str(tmp_path / "data"))
    with cluster:
        core = core_api(cluster)
        core.create_namespaced_config_map("default", {"metadata": {"name": "kept"}, "data": {"a": "1"}})
        gone = core.create_namespaced_config_map("default", {"metadata": {"name": "gone"}})
        core.patch_namespaced_config_map("kept", "default", {"data": {"a": "2"}})
        core.delete_namespaced_config_map("gone", "default")
        before = int(core.list_namespaced_config_map("default").metadata.resource_version)
        assert cluster.stop() == 0  # SIGTERM: clean exit
        cluster.start()
        core = core_api(cluster)
        listed = core.list_namespaced_config_map("default")
        assert [(c.metadata.name, c.data) for c in listed.items] == [("kept", {"a": "2"})]
        assert int(listed.metadata.resource_version) == before  # the revision continues, not restarts
        after = core.create_namespaced_config_map("default", {"metadata": {"name": "new"}})
        assert int(after.metadata.resource_version) == before + 1
        assert after.metadata.uid != gone.metadata.uid
        assert cluster.process is not None
        cluster.process.kill()  # a crash: every acknowledged write is already in the journal
        cluster.process.wait()
        cluster.process = None
        cluster.start()
        names = [c.metadata.name for c in core_api(cluster).list_namespaced_config_map("default").items]
        assert names == ["kept", "new"]
