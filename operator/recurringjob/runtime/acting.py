"""Which shard the current task acts for.

The scheduler's worker sets it around each reconcile; the sharded leadership's `is_leader()` reads
it, so the claim, the Job create and every guarded write check the Lease of *that* RecurringJob's
shard (losing shard 2 stops writes for shard 2 at once, not at the next reconcile), and the
metrics count launches per shard. Unset (None) outside a reconcile.
"""

from __future__ import annotations

from contextvars import ContextVar

acting_shard: ContextVar[int | None] = ContextVar("acting_shard", default=None)
