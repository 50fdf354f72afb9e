"""Issue 8, item 2: a create still on the wire when leadership moves must not run a second time.

The leader's Job creates are held on the API server (the dev cluster's `hold` fault: committed later
even though the client gave up), the leader is partitioned so it loses the Lease, the new leader
recovers the claimed occurrence, that Job finishes and is deleted at once (ttlSecondsAfterFinished
0), and then the old create lands. The occurrence lock keeps the name taken for
`--max-request-seconds`, so the late create gets 409 AlreadyExists. Judged from the audit log.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from operator_support import audit, crd_kubectl, lease_holder, recurringjob, replicas, wait_for
from recurringjob.devcluster.faultclient import FaultClient
from recurringjob.devcluster.server import DevCluster

HOLD_SECONDS = 8.0
MAX_REQUEST_SECONDS = "15"  # > HOLD_SECONDS: the bound the operator is told the API keeps


def creates(cluster: DevCluster, name: str | None = None) -> list[dict[str, Any]]:
    return [r for r in audit(cluster) if r["verb"] == "create" and r["resource"] == "jobs"
            and r["namespace"] == "wire" and (name is None or r["name"] == name)]


@pytest.fixture()
def env(devcluster: DevCluster, tmp_path: Any) -> Iterator[dict[str, Any]]:
    kubectl = crd_kubectl(devcluster, tmp_path)
    kubectl("create", "namespace", "wire")
    with replicas(devcluster, tmp_path, 2, "--max-request-seconds", MAX_REQUEST_SECONDS) as started:
        yield {"cluster": devcluster, "kubectl": kubectl, "replicas": started,
               "faults": FaultClient(devcluster.url)}


def test_a_deposed_leaders_late_create_lands_on_a_taken_name(env: dict[str, Any]) -> None:
    cluster, kubectl, faults = env["cluster"], env["kubectl"], env["faults"]
    leader = wait_for(lambda: lease_holder(kubectl), 20, what="a leader")
    faults.hold(HOLD_SECONDS, verbs=["create"], resources=["jobs"], clients=[leader])
    body = yaml.safe_load(recurringjob("wire", "wire", "*/20 * * * * *", duration="0s"))
    body["spec"]["jobTemplate"]["spec"]["ttlSecondsAfterFinished"] = 0
    kubectl("apply", "-f", "-", input=yaml.safe_dump(body))

    def claimed() -> str | None:
        status = (kubectl_json(kubectl, "rj", "wire", "-n", "wire").get("status") or {})
        active = status.get("active") or []
        return active[0]["name"] if active else None

    name = wait_for(claimed, 30, what="the leader's claim")
    faults.partition(leader)  # the create is on the wire; the leader can no longer renew
    try:
        new_leader = wait_for(lambda: (h := lease_holder(kubectl)) not in (None, leader) and h, 15,
                              what="another replica to take over")
        recovered = wait_for(lambda: [r for r in creates(cluster, name)
                                      if r["client"] == new_leader and r["code"] == 201], 15,
                             what="the new leader to recover the occurrence")
        late = wait_for(lambda: [r for r in creates(cluster, name) if r["client"] == leader], 20,
                        what="the held create to land")
    finally:
        faults.clear()
        faults.heal()
    assert recovered[0]["ts"] < late[0]["ts"], "the held create must land after the recovery"
    assert late[0]["code"] == 409, late  # AlreadyExists: the name was still taken
    assert len([r for r in creates(cluster, name) if r["code"] == 201]) == 1
    deleted_at = [r for r in audit(cluster) if r.get("event") == "removed" and r["name"] == name]
    assert not deleted_at or deleted_at[0]["ts"] > late[0]["ts"]  # held until no create could land


def kubectl_json(kubectl: Any, *args: str) -> dict[str, Any]:
    import json

    return json.loads(kubectl("get", *args, "-o", "json").stdout)
