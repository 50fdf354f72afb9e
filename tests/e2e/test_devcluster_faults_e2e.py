"""Faults injected by a real dev cluster process, as the official kubernetes client sees them."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import urllib3
from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException
from recurringjob.devcluster.faults import FaultClient
from recurringjob.evidence.supervise import DevClusterProcess, Supervisor, write_client_kubeconfig

NAMESPACE = "default"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevClusterProcess]:
    workdir = tmp_path_factory.mktemp("faults-e2e")
    with Supervisor(workdir) as supervisor:
        # A start-time rule proves the flags reach the server: every create by "flaky" gets 500.
        devcluster = DevClusterProcess(supervisor, workdir, None, extra_args=(
            "--fault-seed", "7", "--fault-errors", "rate=1 codes=500 verbs=create clients=flaky"))
        devcluster.start(timeout=30)
        yield devcluster


@pytest.fixture(scope="module")
def baseline(cluster: DevClusterProcess) -> dict[str, Any]:
    """The configuration the flags gave, restored around every test."""
    return FaultClient(cluster.base_url).get()


@pytest.fixture()
def faults(cluster: DevClusterProcess, baseline: dict[str, Any]) -> Iterator[FaultClient]:
    faults = FaultClient(cluster.base_url)
    faults.replace(baseline)
    yield faults
    faults.replace(baseline)


def core_api(cluster: DevClusterProcess, identity: str) -> client.CoreV1Api:
    path = write_client_kubeconfig(cluster.kubeconfig, cluster.workdir / f"{identity}.kubeconfig", identity)
    configuration = client.Configuration()
    config.load_kube_config(config_file=str(path), client_configuration=configuration)
    configuration.retries = False  # see every injected failure, no urllib3 retries
    return client.CoreV1Api(client.ApiClient(configuration))


def configmap(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"n": "0"}}


def status_of(exc: ApiException) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(exc.body)
    return body


def test_start_flags_inject_errors(cluster: DevClusterProcess, faults: FaultClient,
                                   baseline: dict[str, Any]) -> None:
    assert baseline["seed"] == 7 and baseline["errors"][0]["clients"] == ["flaky"]
    with pytest.raises(ApiException) as failed:
        core_api(cluster, "flaky").create_namespaced_config_map(NAMESPACE, configmap("flaky-1"))
    assert failed.value.status == 500 and status_of(failed.value)["reason"] == "InternalError"
    core_api(cluster, "steady").create_namespaced_config_map(NAMESPACE, configmap("steady-1"))
    assert faults.get()["stats"].get("error:500", 0) >= 1


def test_injected_conflict_throttle_and_unavailable_reach_the_official_client(
        cluster: DevClusterProcess, faults: FaultClient) -> None:
    api = core_api(cluster, "replica-1")
    created = api.create_namespaced_config_map(NAMESPACE, configmap("cas-target"))
    faults.set_errors(1.0, codes=[409], verbs=["update"], resources=["configmaps"], clients=["replica-1"])
    with pytest.raises(ApiException) as conflict:
        api.replace_namespaced_config_map("cas-target", NAMESPACE, created)
    body = status_of(conflict.value)
    assert (conflict.value.status, body["kind"], body["reason"]) == (409, "Status", "Conflict")
    assert 'configmaps "cas-target"' in body["message"]
    core_api(cluster, "replica-2").replace_namespaced_config_map("cas-target", NAMESPACE, created)

    faults.set_errors(1.0, codes=[429], verbs=["get"], clients=["replica-1"])
    with pytest.raises(ApiException) as throttled:
        api.read_namespaced_config_map("cas-target", NAMESPACE)
    assert throttled.value.status == 429 and throttled.value.headers["Retry-After"] == "1"

    faults.set_errors(1.0, codes=[503], verbs=["create"], resources=["configmaps"])
    with pytest.raises(ApiException) as unavailable:
        api.create_namespaced_config_map(NAMESPACE, configmap("never"))
    assert status_of(unavailable.value)["reason"] == "ServiceUnavailable"
    faults.set_errors(0)
    api.create_namespaced_config_map(NAMESPACE, configmap("after-errors"))


def test_partitioned_client_fails_or_hangs_while_another_works(
        cluster: DevClusterProcess, faults: FaultClient) -> None:
    cut_off, healthy = core_api(cluster, "replica-1"), core_api(cluster, "replica-2")
    faults.partition("replica-1", mode="fail")
    with pytest.raises(ApiException) as refused:
        cut_off.list_namespaced_config_map(NAMESPACE)
    assert refused.value.status == 503
    healthy.list_namespaced_config_map(NAMESPACE)

    faults.partition("replica-1", mode="hang")
    with pytest.raises(urllib3.exceptions.ReadTimeoutError):
        cut_off.list_namespaced_config_map(NAMESPACE, _request_timeout=0.5)
    outcome: dict[str, Any] = {}

    def hanging_request() -> None:
        try:
            outcome["result"] = cut_off.read_namespace(NAMESPACE, _request_timeout=10)
        except ApiException as exc:
            outcome["status"] = exc.status

    thread = threading.Thread(target=hanging_request)
    thread.start()
    time.sleep(0.4)
    assert thread.is_alive()  # still hanging...
    healthy.create_namespaced_config_map(NAMESPACE, configmap("during-partition"))  # ...others work
    faults.heal("replica-1")
    thread.join(5)
    assert outcome == {"status": 503}  # a request caught in the partition fails once it is lifted
    cut_off.list_namespaced_config_map(NAMESPACE)


def test_watch_streams_are_cut_and_resumes_expire(cluster: DevClusterProcess, faults: FaultClient) -> None:
    api = core_api(cluster, "watcher")
    faults.drop_watches(0.5, resources=["configmaps"], clients=["watcher"])
    started = time.monotonic()
    events = list(watch.Watch().stream(api.list_namespaced_config_map, NAMESPACE, timeout_seconds=30))
    elapsed = time.monotonic() - started
    assert 0.4 <= elapsed < 5, elapsed  # cut by the server, long before the 30 s timeout
    assert events  # the initial ADDED events arrived before the cut
    assert faults.get()["stats"]["watchDrop"] >= 1

    version = api.list_namespaced_config_map(NAMESPACE).metadata.resource_version
    faults.expire_watches(1.0, resources=["configmaps"], clients=["watcher"])
    with pytest.raises(ApiException) as expired:
        for _ in watch.Watch().stream(api.list_namespaced_config_map, NAMESPACE,
                                      resource_version=version, timeout_seconds=5):
            pass
    assert expired.value.status == 410
