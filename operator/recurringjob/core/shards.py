"""Shard arithmetic: which shard a RecurringJob belongs to, the Lease names, each replica's fair share.

Pure functions, identical in every process: the hash is BLAKE2b of the uid (Python's `hash()` is
salted per process and would scatter one RecurringJob across replicas). `hash mod N` rather than a
consistent-hash ring: the shard count is fixed for a deployment (every replica must run the same
`--shards`), so the ring's advantage -- moving only 1/N of the keys when N changes -- buys nothing,
while `mod N` gives exactly even shards. Replicas move *shards*, never keys.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

MAX_SHARDS = 256
LEASE_GROUP_LABEL = "recurringjob.dev/lease-group"  # every Lease of one operator deployment
LEASE_ROLE_LABEL = "recurringjob.dev/lease-role"     # "shard" or "member"
SHARD_LABEL = "recurringjob.dev/shard"               # the shard index (shard Leases)
SHARDS_LABEL = "recurringjob.dev/shards"             # the shard count the replica runs with
MEMBER_INFIX = "-member-"
_NAME_UNSAFE = re.compile(r"[^a-z0-9-]")
_MAX_NAME = 253


def _digest(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")


def shard_of(uid: str, shards: int) -> int:
    """The shard of the RecurringJob with this uid (the uid, not the name: a re-created
    RecurringJob of the same name is a new object and may land elsewhere)."""
    return 0 if shards <= 1 else _digest(uid) % shards


def shard_lease_name(base: str, index: int, shards: int) -> str:
    """One shard keeps today's Lease name (upgrades keep working); N > 1 use `<base>-<i>`."""
    return base if shards <= 1 else f"{base}-{index}"


def member_lease_name(base: str, identity: str) -> str:
    """The presence Lease of a replica: a DNS-safe form of its identity plus a hash of it (two
    identities that sanitise alike still get different Leases)."""
    safe = _NAME_UNSAFE.sub("-", identity.lower()).strip("-")
    tail = f"{_digest(identity):016x}"[:8]
    room = _MAX_NAME - len(base) - len(MEMBER_INFIX) - len(tail) - 1
    safe = safe[:max(room, 0)].rstrip("-")
    return f"{base}{MEMBER_INFIX}{safe}-{tail}" if safe else f"{base}{MEMBER_INFIX}{tail}"


def fair_shares(members: Sequence[str], shards: int) -> dict[str, int]:
    """How many shards each live replica should lead: N // R each, the N % R extra ones to the
    first replicas in identity order (every replica computes the same answer from the same set)."""
    ordered = sorted(set(members))
    if not ordered:
        return {}
    base, extra = divmod(shards, len(ordered))
    return {identity: base + (1 if rank < extra else 0) for rank, identity in enumerate(ordered)}


def preference(identity: str, shards: int) -> list[int]:
    """The shards in the order this replica prefers them (rendezvous hashing): replicas wanting
    shards try different ones first, so they rarely race for the same Lease, and a replica keeps
    preferring the same shards across restarts of the others."""
    return sorted(range(shards), key=lambda index: (_digest(f"{identity}/{index}"), index))
