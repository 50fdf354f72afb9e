"""kubectl recurringjob owner: the RecurringJob's shard and the holder of that shard's Lease."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from recurringjob.cli.plugin_owner import describe_owner
from recurringjob.core.shards import shard_of

NOW = datetime(2026, 12, 1, 12, 0, 0, tzinfo=UTC)
UID = "2f6c1a9e-8d0b-4f7e-9a51-0c3d2b1e4f60"
RJ = {"metadata": {"name": "report", "namespace": "team", "uid": UID}}


def lease(index: int, shards: int, holder: str | None, namespace: str = "ops") -> dict[str, Any]:
    name = "op" if shards == 1 else f"op-{index}"
    labels = {"recurringjob.dev/lease-group": "op", "recurringjob.dev/lease-role": "shard",
              "recurringjob.dev/shard": str(index), "recurringjob.dev/shards": str(shards)}
    return {"metadata": {"name": name, "namespace": namespace, "labels": labels},
            "spec": {"holderIdentity": holder, "renewTime": "2026-12-01T11:59:58.000000Z"}}


def test_names_the_holder_of_the_recurringjobs_shard() -> None:
    mine = shard_of(UID, 4)
    leases = [lease(index, 4, f"replica-{index}") for index in range(4)]
    assert describe_owner(RJ, leases, NOW) == [
        f"shard {mine} of 4, Lease ops/op-{mine}: led by replica-{mine} (renewed 2s ago)"]


def test_a_shard_being_handed_over_or_never_led_says_so() -> None:
    mine = shard_of(UID, 4)
    handed = [lease(index, 4, None if index == mine else "x") for index in range(4)]
    assert "no holder (being handed over" in describe_owner(RJ, handed, NOW)[0]
    missing = [lease(index, 4, "x") for index in range(4) if index != mine]
    assert describe_owner(RJ, missing, NOW) == [
        f"shard {mine} of 4: no Lease yet in ops (no replica has led it)"]


def test_one_line_per_operator_deployment_and_foreign_leases_ignored() -> None:
    leases = [lease(0, 1, "solo", namespace="a"), lease(0, 1, "other", namespace="b"),
              {"metadata": {"name": "kube-scheduler", "namespace": "kube-system", "labels": {}}, "spec": {}}]
    assert describe_owner(RJ, leases, NOW) == ["shard 0 of 1, Lease a/op: led by solo (renewed 2s ago)",
                                               "shard 0 of 1, Lease b/op: led by other (renewed 2s ago)"]
