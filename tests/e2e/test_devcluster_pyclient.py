"""The official kubernetes Python client (sync, asyncio, and its Lease leader election)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from example_crd import example_crd, spec_n_schema
from kubernetes import client, config, watch
from kubernetes.aio import client as aclient
from kubernetes.aio import config as aconfig
from kubernetes.aio.leaderelection import electionconfig, leaderelection
from kubernetes.aio.leaderelection.resourcelock.leaselock import LeaseLock
from kubernetes.client.rest import ApiException
from recurringjob.devcluster.server import DevCluster

CRD = example_crd("Counter", spec_n_schema({"type": "object", "properties": {"seen": {"type": "integer"}}}))


class FixedLeaseLock(LeaseLock):
    """kubernetes 37's aio LeaseLock.create passes `pretty=True`, which its own pydantic-validated API
    rejects (pretty must be a string) before any request is sent; this creates the Lease the same way
    without that argument. Everything else is the library's."""

    async def create(self, name: str, namespace: str, election_record: Any) -> bool:
        body = aclient.V1Lease(
            metadata=aclient.V1ObjectMeta(name=name), spec=self.update_lease(election_record)
        )
        try:
            await self.api_instance.create_namespaced_lease(namespace, body)
            return True
        except aclient.ApiException:
            return False


def sync_client(cluster: DevCluster) -> client.ApiClient:
    return config.new_client_from_config(config_file=cluster.kubeconfig)


def test_sync_crud_and_compare_and_swap(devcluster: DevCluster) -> None:
    api = sync_client(devcluster)
    core = client.CoreV1Api(api)
    created = core.create_namespaced_config_map(
        "default",
        client.V1ConfigMap(metadata=client.V1ObjectMeta(name="c", labels={"app": "a"}), data={"k": "1"}),
    )
    stale = created.metadata.resource_version
    created.data["k"] = "2"
    updated = core.replace_namespaced_config_map("c", "default", created)
    assert int(updated.metadata.resource_version) > int(stale)
    created.metadata.resource_version = stale  # a writer that read before the update above
    with pytest.raises(ApiException) as exc:
        core.replace_namespaced_config_map("c", "default", created)
    assert exc.value.status == 409 and '"reason":"Conflict"' in exc.value.body.replace(" ", "")
    with pytest.raises(ApiException) as exc:
        core.patch_namespaced_config_map(
            "c", "default", {"metadata": {"resourceVersion": stale}, "data": {"k": "3"}}
        )
    assert exc.value.status == 409
    core.patch_namespaced_config_map("c", "default", {"data": {"k": "4"}})
    listed = core.list_namespaced_config_map("default", label_selector="app in (a,b)")
    assert [c.data["k"] for c in listed.items] == ["4"] and int(listed.metadata.resource_version) >= 3
    assert core.list_namespaced_config_map("default", label_selector="app!=a").items == []
    events = watch.Watch().stream(
        core.list_namespaced_config_map, "default", resource_version=stale, timeout_seconds=1
    )
    assert [(e["type"], e["object"].data["k"]) for e in events] == [("MODIFIED", "2"), ("MODIFIED", "4")]
    core.delete_namespaced_config_map("c", "default")
    with pytest.raises(ApiException) as exc:
        core.read_namespaced_config_map("c", "default")
    assert exc.value.status == 404


def test_custom_objects_status_subresource_and_cas(devcluster: DevCluster) -> None:
    api = sync_client(devcluster)
    client.ApiextensionsV1Api(api).create_custom_resource_definition(CRD)
    custom = client.CustomObjectsApi(api)
    body = {
        "apiVersion": "example.dev/v1",
        "kind": "Counter",
        "metadata": {"name": "x"},
        "spec": {"n": 1},
        "status": {"seen": 7},
    }
    created = custom.create_namespaced_custom_object("example.dev", "v1", "default", "counters", body)
    assert "status" not in created  # status is ignored on create with a status subresource
    created["status"] = {"seen": 1}
    with_status = custom.replace_namespaced_custom_object_status(
        "example.dev", "v1", "default", "counters", "x", created
    )
    assert with_status["status"] == {"seen": 1} and with_status["metadata"]["generation"] == 1
    with pytest.raises(ApiException) as exc:  # created's resourceVersion is stale now
        custom.replace_namespaced_custom_object_status(
            "example.dev", "v1", "default", "counters", "x", created
        )
    assert (
        exc.value.status == 409
        and 'counters.example.dev \\"x\\": the object has been modified' in exc.value.body
    )
    with_status["spec"]["n"] = 2
    with_status["status"] = {"seen": 99}
    main = custom.replace_namespaced_custom_object(
        "example.dev", "v1", "default", "counters", "x", with_status
    )
    assert main["status"] == {"seen": 1} and main["metadata"]["generation"] == 2
    client.ApiextensionsV1Api(api).delete_custom_resource_definition("counters.example.dev")


def test_asyncio_client_crud_and_watch(devcluster: DevCluster) -> None:
    async def main() -> None:
        api = await aconfig.new_client_from_config(config_file=devcluster.kubeconfig)
        async with api:
            core = aclient.CoreV1Api(api)
            batch = aclient.BatchV1Api(api)
            job = {
                "apiVersion": "batch/v1",
                "kind": "Job",
                "metadata": {"name": "j"},
                "spec": {
                    "template": {
                        "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]}
                    }
                },
            }
            created = await batch.create_namespaced_job("default", job)
            assert (
                created.spec.selector.match_labels["batch.kubernetes.io/controller-uid"]
                == created.metadata.uid
            )
            secret = await core.create_namespaced_secret(
                "default", {"metadata": {"name": "s"}, "stringData": {"a": "b"}}
            )
            assert secret.metadata.name == "s"
            names = [s.metadata.name for s in (await core.list_namespaced_secret("default")).items]
            assert names == ["s"]
            await core.delete_namespaced_secret("s", "default")
            with pytest.raises(aclient.ApiException) as exc:
                await core.read_namespaced_secret("s", "default")
            assert exc.value.status == 404

    asyncio.run(main())


def test_leader_election_holds_and_hands_over_a_lease(devcluster: DevCluster, tmp_path: Path) -> None:
    async def main() -> list[str]:
        leaders: list[str] = []
        clients = []

        async def candidate(identity: str) -> None:
            path = devcluster.write_kubeconfig(tmp_path / f"{identity}.kubeconfig", identity)
            api = await aconfig.new_client_from_config(config_file=path)
            clients.append(api)
            lock = FixedLeaseLock("leader", "default", identity, api)

            async def started() -> None:
                leaders.append(identity)
                await asyncio.sleep(3600)

            async def stopped() -> None:
                pass

            conf = electionconfig.Config(
                lock,
                lease_duration=3,
                renew_deadline=2,
                retry_period=1,
                onstarted_leading=started,
                onstopped_leading=stopped,
            )
            await leaderelection.LeaderElection(conf).run()

        first = asyncio.create_task(candidate("replica-1"))
        await asyncio.sleep(0.5)
        second = asyncio.create_task(candidate("replica-2"))
        await asyncio.sleep(2.5)
        assert leaders == ["replica-1"]  # the second candidate waits while the lease is renewed
        first.cancel()  # the leader dies without releasing; the lease must expire first
        for _ in range(100):
            if len(leaders) == 2:
                break
            await asyncio.sleep(0.1)
        second.cancel()
        for api in clients:
            await api.close()
        return leaders

    assert asyncio.run(main()) == ["replica-1", "replica-2"]
    holders = [
        a["client"] for a in devcluster.audit_entries() if a["resource"] == "leases" and a["code"] < 300
    ]
    assert holders[0] == "replica-1" and holders[-1] == "replica-2"
