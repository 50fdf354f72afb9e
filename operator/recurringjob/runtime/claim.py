"""The claim: a resourceVersion-checked write of the RecurringJob's status.

Advancing `status.nextScheduleTime` (and adding the Job about to be created to `status.active`)
with the resourceVersion the decision was planned from *is* the lock on an occurrence: of two
writers that planned from the same version, exactly one gets 200 and the other 409. A 409 never
leads to a launch; the caller re-reads and re-plans.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Mapping
from typing import Any

from recurringjob.runtime.kube import ApiError, KubeApi, NotLeader, rj_path
from recurringjob.runtime.metrics import Metrics

__all__ = ["ClaimConflict", "NotLeader", "RecurringJobGone", "backoff_delay", "claim", "read_recurringjob"]


class ClaimConflict(Exception):
    """409: the RecurringJob changed since it was read (another writer, or a stale cache)."""


class RecurringJobGone(Exception):
    """404: the RecurringJob was deleted."""


def _meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    return obj.get("metadata") or {}


async def claim(api: KubeApi, rj: Mapping[str, Any], status: Mapping[str, Any], *,
                is_leader: Callable[[], bool], metrics: Metrics | None = None,
                attempts: int = 3) -> dict[str, Any]:
    """Replace `rj`'s status with `status`, conditional on rj's resourceVersion; return the new object.

    Transient failures are retried with the *same* resourceVersion: if an earlier attempt did land,
    the retry gets 409 and the caller re-plans from the fresh object (which then shows the claim).
    """
    meta = _meta(rj)
    if not meta.get("resourceVersion"):
        raise ValueError("a claim needs the resourceVersion it was planned from")
    path = rj_path(meta["namespace"], meta["name"], "status")
    body = {**rj, "status": status}  # shallow: metadata (with resourceVersion) is sent as read
    started = time.monotonic()
    try:
        for attempt in range(attempts):
            if not is_leader():
                raise NotLeader()
            try:
                result: dict[str, Any] = await api.request("PUT", path, body=body, guard=is_leader)
                return result
            except ApiError as exc:
                if exc.status == 409:
                    if metrics is not None:
                        metrics.claim_conflicts.inc()
                    raise ClaimConflict(exc.message or exc.reason) from exc
                if exc.status == 404:
                    raise RecurringJobGone(exc.message) from exc
                if not exc.transient or attempt == attempts - 1:
                    raise
                await asyncio.sleep(backoff_delay(attempt, exc.retry_after))
        raise AssertionError("unreachable")
    finally:
        if metrics is not None:
            metrics.claim_duration.observe(time.monotonic() - started)


async def read_recurringjob(api: KubeApi, namespace: str, name: str) -> dict[str, Any]:
    """A fresh GET (after a conflict the cache may lag behind the write that beat us)."""
    try:
        result: dict[str, Any] = await api.request("GET", rj_path(namespace, name))
        return result
    except ApiError as exc:
        if exc.status == 404:
            raise RecurringJobGone(exc.message) from exc
        raise


def backoff_delay(attempt: int, retry_after: float | None = None, base: float = 0.2,
                  cap: float = 5.0) -> float:
    """Exponential backoff with jitter; a server's Retry-After wins (capped, so leadership stays fresh)."""
    if retry_after is not None:
        return min(retry_after, cap)
    return min(cap, base * 2**attempt) * random.uniform(0.5, 1.0)
