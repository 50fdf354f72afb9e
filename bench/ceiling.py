"""The dev cluster's raw Job-create ceiling: a tight client loop, measured in the benchmark's own run.

Concurrent aiohttp clients POST minimal Jobs (distinct names, their own namespace, no operator
annotations) as fast as the server answers, for a few seconds. The operator's launch rate is then
reported as a ratio of this figure (and of it divided by the writes each occurrence costs), so a
slow machine or a busy neighbour moves both sides alike.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp

CEILING_NAMESPACE = "bench-ceiling"


def _job(name: str) -> dict[str, Any]:
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name},
            "spec": {"template": {"spec": {"restartPolicy": "Never",
                                           "containers": [{"name": "main", "image": "busybox:1.36"}]}}}}


async def job_create_ceiling(server: str, token: str, seconds: float = 5.0,
                             concurrency: int = 32) -> dict[str, Any]:
    """Successful Job creates per second over `seconds` with `concurrency` clients in a loop."""
    headers = {"Authorization": f"Bearer {token}"}
    connector = aiohttp.TCPConnector(limit=concurrency, ssl=False)
    async with aiohttp.ClientSession(server, headers=headers, connector=connector) as session:
        async with session.post("/api/v1/namespaces", json={"apiVersion": "v1", "kind": "Namespace",
                                                             "metadata": {"name": CEILING_NAMESPACE}}) as r:
            if r.status not in (201, 409):
                raise SystemExit(f"creating namespace {CEILING_NAMESPACE}: {r.status} {await r.text()}")
        path = f"/apis/batch/v1/namespaces/{CEILING_NAMESPACE}/jobs"
        created = failed = 0
        deadline = time.monotonic() + seconds

        async def client(index: int) -> None:
            nonlocal created, failed
            serial = 0
            while time.monotonic() < deadline:
                serial += 1
                async with session.post(path, json=_job(f"ceiling-{index}-{serial}")) as response:
                    await response.read()
                    if response.status == 201:
                        created += 1
                    else:
                        failed += 1

        started = time.monotonic()
        await asyncio.gather(*(client(index) for index in range(concurrency)))
        elapsed = time.monotonic() - started
    return {"creates_per_s": round(created / elapsed, 1), "creates": created, "failed": failed,
            "seconds": round(elapsed, 2), "concurrency": concurrency}
