"""Open watch streams end when their client is partitioned, and when the server shuts down."""

from __future__ import annotations

import asyncio
import json
import signal
import time
from pathlib import Path
from typing import Any

import aiohttp
from recurringjob.devcluster.faultclient import FaultClient
from recurringjob.devcluster.server import DevCluster

WATCH = "/api/v1/namespaces/default/configmaps?watch=1&timeoutSeconds=60"
CONFIGMAPS = "/api/v1/namespaces/default/configmaps"


def _headers(client: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {client}"}


class WatchReader:
    """Reads one watch stream in the background: its events, and when (if) it ended."""

    def __init__(self, session: aiohttp.ClientSession, url: str, client: str) -> None:
        self.events: list[dict[str, Any]] = []
        self.ended_at: float | None = None
        self.opened = asyncio.Event()
        self._task = asyncio.create_task(self._read(session, url, client))

    async def _read(self, session: aiohttp.ClientSession, url: str, client: str) -> None:
        async with session.get(url + WATCH, headers=_headers(client)) as response:
            assert response.status == 200
            self.opened.set()
            async for line in response.content:
                if line.strip():
                    self.events.append(json.loads(line))
        self.ended_at = time.monotonic()

    def names(self) -> list[str]:
        return [e["object"]["metadata"]["name"] for e in self.events]

    async def close(self) -> None:
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)


async def _create(session: aiohttp.ClientSession, url: str, name: str) -> None:
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}}
    async with session.post(url + CONFIGMAPS, json=body, headers=_headers("writer")) as response:
        assert response.status == 201, await response.text()


async def _wait_for(predicate: Any, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        await asyncio.sleep(0.02)
    return bool(predicate())


def test_partition_cuts_the_partitioned_clients_open_watch_only(tmp_path: Path) -> None:
    with DevCluster(tmp_path / "devcluster") as cluster:
        faults = FaultClient(cluster.url)

        async def scenario() -> None:
            async with aiohttp.ClientSession() as session:
                replica_a = WatchReader(session, cluster.url, "replica-a")
                replica_b = WatchReader(session, cluster.url, "replica-b")
                await asyncio.wait_for(asyncio.gather(replica_a.opened.wait(), replica_b.opened.wait()), 10)
                await _create(session, cluster.url, "before")
                both_saw_it = lambda: "before" in replica_a.names() and "before" in replica_b.names()  # noqa: E731
                assert await _wait_for(both_saw_it, 5)

                await asyncio.to_thread(faults.partition, "replica-a", "hang")
                partitioned_at = time.monotonic()
                assert await _wait_for(lambda: replica_a.ended_at is not None, 3), "A's watch kept running"
                assert replica_a.ended_at is not None and replica_a.ended_at - partitioned_at < 1.0

                await _create(session, cluster.url, "after")
                assert await _wait_for(lambda: "after" in replica_b.names(), 5), "B's watch stopped"
                assert replica_b.ended_at is None
                assert "after" not in replica_a.names()
                await asyncio.to_thread(faults.heal, "replica-a")
                await replica_a.close()
                await replica_b.close()

        asyncio.run(scenario())


def test_sigterm_with_an_open_watch_exits_promptly(tmp_path: Path) -> None:
    cluster = DevCluster(tmp_path / "devcluster").start()
    try:

        async def open_watch_then_terminate() -> float:
            async with aiohttp.ClientSession() as session:
                watcher = WatchReader(session, cluster.url, "watcher")
                await asyncio.wait_for(watcher.opened.wait(), 10)
                await _create(session, cluster.url, "seen")
                assert await _wait_for(lambda: "seen" in watcher.names(), 5)
                assert cluster.process is not None
                started = time.monotonic()
                cluster.process.send_signal(signal.SIGTERM)
                await asyncio.to_thread(cluster.process.wait, 10)
                elapsed = time.monotonic() - started
                assert await _wait_for(lambda: watcher.ended_at is not None, 2), "watch not ended by shutdown"
                await watcher.close()
                return elapsed

        elapsed = asyncio.run(open_watch_then_terminate())
        assert cluster.process is not None and cluster.process.returncode == 0
        # Before the fix the watch handler sat out aiohttp's shutdown timeout and took ~2.1 s.
        assert elapsed < 1.0, f"shutdown with an open watch took {elapsed:.2f}s"
    finally:
        cluster.stop()
