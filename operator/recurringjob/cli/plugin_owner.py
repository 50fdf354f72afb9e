"""`kubectl recurringjob owner NAME`: which operator replica leads (acts for) a RecurringJob.

The operator labels its Leases (core/shards.py): every shard Lease carries its group (the
`--lease-name` of the deployment), its shard index and the shard count. The RecurringJob's shard is
`shard_of(uid, N)`, the same function the replicas use, and the holder of that shard's Lease is the
replica that plans and launches it. Leases are looked up in every namespace the user may list,
or in `--lease-namespace`; an operator that never labelled its Lease (older version) is found by
`--lease-name` in `--lease-namespace`.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from recurringjob.cli.plugin_client import Client, NotFound, PluginError
from recurringjob.cli.plugin_format import age, parse_time
from recurringjob.core.shards import LEASE_GROUP_LABEL, LEASE_ROLE_LABEL, SHARD_LABEL, SHARDS_LABEL, shard_of

LEASES = "/apis/coordination.k8s.io/v1"


def add_owner_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--lease-namespace",
                        help="the operator's namespace (default: search every namespace you may list)")
    parser.add_argument("--lease-name", default="recurringjob-operator",
                        help="an unlabelled (older) operator Lease to fall back to (default: %(default)s)")


def _leases_path(namespace: str | None, name: str | None = None) -> str:
    base = f"{LEASES}/namespaces/{namespace}/leases" if namespace else f"{LEASES}/leases"
    return f"{base}/{name}" if name else base


def _holder_line(lease: Mapping[str, Any], now: datetime) -> str:
    spec = lease.get("spec") or {}
    holder = spec.get("holderIdentity")
    renewed = age(parse_time(spec.get("renewTime")), now)
    meta = lease.get("metadata") or {}
    where = f"Lease {meta.get('namespace')}/{meta.get('name')}"
    if not holder:
        return f"{where}: no holder (being handed over; a replica takes it on its next round)"
    return f"{where}: led by {holder} (renewed {renewed} ago)"


def describe_owner(rj: Mapping[str, Any], leases: list[Mapping[str, Any]], now: datetime) -> list[str]:
    """One line per operator deployment (Lease group) found: the shard and who leads it."""
    uid = str((rj.get("metadata") or {}).get("uid") or "")
    groups: dict[tuple[str, str], dict[int, Mapping[str, Any]]] = {}
    counts: dict[tuple[str, str], int] = {}
    for lease in leases:
        meta = lease.get("metadata") or {}
        labels = meta.get("labels") or {}
        try:
            index, shards = int(labels.get(SHARD_LABEL, "")), int(labels.get(SHARDS_LABEL, ""))
        except ValueError:
            continue  # not one of ours
        group = (str(meta.get("namespace")), str(labels.get(LEASE_GROUP_LABEL)))
        groups.setdefault(group, {})[index] = lease
        counts[group] = shards
    lines = []
    for group, by_index in sorted(groups.items()):
        shards = counts[group]
        shard = shard_of(uid, shards)
        found = by_index.get(shard)
        prefix = f"shard {shard} of {shards}"
        if found is None:
            lines.append(f"{prefix}: no Lease yet in {group[0]} (no replica has led it)")
        else:
            lines.append(f"{prefix}, {_holder_line(found, now)}")
    return lines


def cmd_owner(client: Client, args: argparse.Namespace, now: datetime) -> str:
    rj = client.get_rj(args.name)
    meta = rj["metadata"]
    selector = {"labelSelector": f"{LEASE_ROLE_LABEL}=shard"}
    try:
        leases = client.request("GET", _leases_path(args.lease_namespace), selector).get("items") or []
    except PluginError as exc:
        raise PluginError(f"cannot list Leases ({exc}); pass --lease-namespace with the operator's "
                          "namespace") from None
    lines = describe_owner(rj, leases, now)
    if not lines:
        try:
            path = _leases_path(args.lease_namespace or client.namespace, args.lease_name)
            single = client.request("GET", path)
        except NotFound:
            raise PluginError("no operator Lease found: pass --lease-namespace (and --lease-name if it is "
                              "not recurringjob-operator)") from None
        lines = [f"unsharded, {_holder_line(single, now)}"]
    return "\n".join([f"recurringjob {meta.get('namespace')}/{meta['name']} (uid {meta.get('uid')})", *lines])
