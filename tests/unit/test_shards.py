"""core/shards.py: a stable shard per uid, even shards, fair shares for any replica count, Lease names."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid

import pytest
from recurringjob.core.shards import fair_shares, member_lease_name, preference, shard_lease_name, shard_of

UIDS = [str(uuid.UUID(int=index * 7919 + 1)) for index in range(200)]
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def test_the_shard_of_a_uid_is_the_same_in_another_process_with_another_hash_seed() -> None:
    """Replicas are separate processes: Python's salted hash() would split a RecurringJob's owner."""
    script = ("import json, sys; from recurringjob.core.shards import shard_of; "
              "print(json.dumps([shard_of(u, 16) for u in json.load(sys.stdin)]))")
    for seed in ("1", "2"):
        result = subprocess.run([sys.executable, "-c", script], input=json.dumps(UIDS), capture_output=True,
                                text=True, check=True, env={**os.environ, "PYTHONHASHSEED": seed})
        assert json.loads(result.stdout) == [shard_of(uid, 16) for uid in UIDS]


@pytest.mark.parametrize("shards", [2, 4, 7, 16])
def test_uids_spread_evenly_over_the_shards(shards: int) -> None:
    uids = [str(uuid.uuid4()) for _ in range(20_000)]
    counts = [0] * shards
    for uid in uids:
        counts[shard_of(uid, shards)] += 1
    mean = len(uids) / shards
    assert all(abs(count - mean) <= 0.1 * mean for count in counts), counts


def test_one_shard_is_shard_zero_and_keeps_the_lease_name() -> None:
    assert {shard_of(uid, 1) for uid in UIDS} == {0}
    assert shard_lease_name("recurringjob-operator", 0, 1) == "recurringjob-operator"
    assert [shard_lease_name("op", index, 3) for index in range(3)] == ["op-0", "op-1", "op-2"]


@pytest.mark.parametrize("shards", [1, 2, 3, 4, 7, 16, 64])
@pytest.mark.parametrize("replicas", [1, 2, 3, 4, 5])
def test_fair_shares_cover_every_shard_and_differ_by_at_most_one(shards: int, replicas: int) -> None:
    members = [f"operator-{index}-x{index * 37 % 11}" for index in range(replicas)]
    shares = fair_shares(members, shards)
    assert set(shares) == set(members)
    assert sum(shares.values()) == shards
    assert max(shares.values()) - min(shares.values()) <= 1
    assert all(share in (shards // replicas, -(-shards // replicas)) for share in shares.values())
    # every replica computes the same shares whatever order it listed the members in
    assert fair_shares(list(reversed(members)), shards) == shares


def test_no_members_no_shares() -> None:
    assert fair_shares([], 4) == {}


def test_preference_is_a_permutation_that_differs_between_replicas() -> None:
    orders = [preference(f"replica-{index}", 8) for index in range(20)]
    assert all(sorted(order) == list(range(8)) for order in orders)
    assert preference("replica-0", 8) == orders[0]  # stable
    assert len({order[0] for order in orders}) > 3  # replicas start from different shards


@pytest.mark.parametrize("identity", ["operator-7d9f-abcde", "Host.Name_1234", "x" * 400, "___", "ä"])
def test_member_lease_names_are_valid_and_distinct(identity: str) -> None:
    name = member_lease_name("recurringjob-operator", identity)
    assert DNS_SUBDOMAIN.match(name) and len(name) <= 253, name
    assert name != member_lease_name("recurringjob-operator", identity + "_")
