"""Raw write throughput and latency of the dev cluster on this machine (the operator's ceiling).

    .venv/bin/python bench/devcluster_bench.py --seconds 5 --concurrency 16

Starts its own dev cluster (`recurringjob devcluster --port 0 --kubeconfig PATH`), then, with N
concurrent aiohttp clients over loopback, measures for `--seconds` each:
  create       POST of new ConfigMaps
  update-cas   PUT carrying metadata.resourceVersion (each client owns one object, so no conflicts)
  patch-cas    merge PATCH carrying metadata.resourceVersion
once without and once with the audit log (`--audit-log`), which writes a line before each answer.
Prints a table and, last, one JSON line. Besides throughput it reports the server's CPU time per
write (from /proc): on a shared machine throughput swings with other load, CPU per write much less.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import yaml

NAMESPACE = "bench"
CM_PATH = f"/api/v1/namespaces/{NAMESPACE}/configmaps"


@dataclass
class Result:
    op: str
    audit: bool
    ok: int = 0
    errors: dict[int, int] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    seconds: float = 0.0
    server_cpu: float | None = None  # CPU seconds the server process used during the phase

    def row(self) -> dict[str, Any]:
        ordered = sorted(self.latencies)

        def pct(p: float) -> float:
            return round(ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000, 2) if ordered else 0.0

        return {"op": self.op, "audit": self.audit, "ok": self.ok, "errors": self.errors,
                "per_second": round(self.ok / self.seconds, 1) if self.seconds else 0.0,
                "p50_ms": pct(0.50), "p99_ms": pct(0.99),
                "mean_ms": round(statistics.fmean(ordered) * 1000, 2) if ordered else 0.0,
                "server_cpu_us": (round(self.server_cpu / self.ok * 1e6, 1)
                                  if self.server_cpu is not None and self.ok else None)}


class DevCluster:
    """The dev cluster as a subprocess; ready when it has written its kubeconfig."""

    def __init__(self, workdir: Path, audit_log: Path | None, extra: list[str],
                 profile: Path | None = None) -> None:
        self.kubeconfig = workdir / ("kubeconfig-audit" if audit_log else "kubeconfig")
        # cProfile writes its file when the server exits normally, i.e. on our SIGTERM.
        python = [sys.executable, *(["-m", "cProfile", "-o", str(profile)] if profile else [])]
        cmd = [*python, "-m", "recurringjob.cli", "devcluster", "--port", "0",
               "--kubeconfig", str(self.kubeconfig), *extra]
        if audit_log:
            cmd += ["--audit-log", str(audit_log)]
        self.process = subprocess.Popen(cmd)
        self.server, self.token = self._wait_ready(timeout=30)

    def _wait_ready(self, timeout: float) -> tuple[str, str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"dev cluster exited with {self.process.returncode} before it was ready")
            if self.kubeconfig.exists():
                try:
                    config = yaml.safe_load(self.kubeconfig.read_text())
                    server = config["clusters"][0]["cluster"]["server"]
                    token = (config.get("users") or [{}])[0].get("user", {}).get("token", "bench")
                    return str(server), str(token)
                except (yaml.YAMLError, KeyError, IndexError, TypeError):
                    pass  # written but not complete yet
            time.sleep(0.05)
        self.stop()
        raise SystemExit(f"dev cluster not ready after {timeout}s (no kubeconfig at {self.kubeconfig})")

    def pid(self) -> int:
        return self.process.pid

    def cpu_seconds(self) -> float | None:
        """User + system CPU time of the server process so far (Linux /proc), else None."""
        try:
            fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


async def run_phase(result: Result, concurrency: int, seconds: float,
                    step: Callable[[int, int], Awaitable[int]],
                    cpu_seconds: Callable[[], float | None]) -> None:
    """Run `step(worker, iteration)` in `concurrency` loops for `seconds`; step returns the HTTP code."""
    deadline = time.perf_counter() + seconds

    async def worker(index: int) -> None:
        iteration = 0
        while time.perf_counter() < deadline:
            start = time.perf_counter()
            code = await step(index, iteration)
            if 200 <= code < 300:
                result.latencies.append(time.perf_counter() - start)
                result.ok += 1
            else:
                result.errors[code] = result.errors.get(code, 0) + 1
            iteration += 1

    started, cpu_before = time.perf_counter(), cpu_seconds()
    await asyncio.gather(*(worker(i) for i in range(concurrency)))
    result.seconds = time.perf_counter() - started
    cpu_after = cpu_seconds()
    if cpu_before is not None and cpu_after is not None:
        result.server_cpu = cpu_after - cpu_before


async def bench_server(server: str, token: str, audit: bool, concurrency: int,
                       seconds: float, cpu_seconds: Callable[[], float | None]) -> list[Result]:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    connector = aiohttp.TCPConnector(limit=concurrency, ssl=False)  # the dev cluster's own certificate
    async with aiohttp.ClientSession(server, headers=headers, connector=connector) as session:
        async with session.post("/api/v1/namespaces", json={
                "apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}) as response:
            if response.status not in (201, 409):
                detail = await response.text()
                raise SystemExit(f"cannot create namespace {NAMESPACE}: {response.status} {detail}")

        run_id = os.urandom(3).hex()

        async def create(worker: int, iteration: int) -> int:
            body = {"apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": f"c-{run_id}-{worker}-{iteration}", "labels": {"bench": run_id}},
                    "data": {"n": str(iteration)}}
            async with session.post(CM_PATH, json=body) as response:
                await response.read()
                return response.status

        # One object per worker, its resourceVersion carried from each answer to the next write.
        versions: dict[int, str] = {}
        for worker in range(concurrency):
            body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"cas-{run_id}-{worker}"},
                    "data": {"n": "0"}}
            async with session.post(CM_PATH, json=body) as response:
                versions[worker] = (await response.json())["metadata"]["resourceVersion"]

        async def update(worker: int, iteration: int) -> int:
            body = {"apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": f"cas-{run_id}-{worker}", "resourceVersion": versions[worker]},
                    "data": {"n": str(iteration)}}
            async with session.put(f"{CM_PATH}/cas-{run_id}-{worker}", json=body) as response:
                return await _carry_version(response, versions, worker)

        async def patch(worker: int, iteration: int) -> int:
            body = {"metadata": {"resourceVersion": versions[worker]}, "data": {"p": str(iteration)}}
            async with session.patch(f"{CM_PATH}/cas-{run_id}-{worker}", data=json.dumps(body),
                                     headers={"Content-Type": "application/merge-patch+json"}) as response:
                return await _carry_version(response, versions, worker)

        results = []
        for op, step in (("create", create), ("update-cas", update), ("patch-cas", patch)):
            result = Result(op, audit)
            await run_phase(result, concurrency, seconds, step, cpu_seconds)
            results.append(result)
        return results


async def _carry_version(response: aiohttp.ClientResponse, versions: dict[int, str], worker: int) -> int:
    body = await response.json(content_type=None)
    if response.status == 200:
        versions[worker] = body["metadata"]["resourceVersion"]
    return response.status


def print_table(rows: list[dict[str, Any]], concurrency: int) -> None:
    print(f"\ndev cluster write benchmark, {concurrency} concurrent clients, {os.cpu_count()} CPUs")
    print(f"{'operation':<12} {'audit':<6} {'ok':>8} {'errors':>8} {'writes/s':>10} {'p50 ms':>8} "
          f"{'p99 ms':>8} {'mean ms':>8} {'cpu us/w':>9}")
    for r in rows:
        errors = sum(r["errors"].values())
        print(f"{r['op']:<12} {'on' if r['audit'] else 'off':<6} {r['ok']:>8} {errors:>8} "
              f"{r['per_second']:>10.1f} {r['p50_ms']:>8.2f} {r['p99_ms']:>8.2f} {r['mean_ms']:>8.2f}"
              f" {r['server_cpu_us'] if r['server_cpu_us'] is not None else '-':>9}")


def print_hot_spots(profile: Path, limit: int = 25) -> None:
    import pstats

    print(f"\n--- server hot spots ({profile}) ---")
    pstats.Stats(str(profile)).sort_stats("tottime").print_stats(limit)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="duration of each measured phase")
    parser.add_argument("--concurrency", type=int, default=16, help="concurrent client loops")
    parser.add_argument("--no-audit", action="store_true", help="skip the audit-log round")
    parser.add_argument("--server-arg", action="append", default=[],
                        help="extra flag for `recurringjob devcluster` (repeatable), e.g."
                        " --server-arg=--data-dir=D")
    parser.add_argument("--profile", metavar="FILE", type=Path,
                        help="run the server under cProfile, save the stats to FILE and print the hot spots")
    args = parser.parse_args()
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="devcluster-bench-") as tmp:
        workdir = Path(tmp)
        for audit in (False,) if args.no_audit else (False, True):
            suffix = f".audit-{'on' if audit else 'off'}.prof"
            profile = args.profile.with_suffix(suffix) if args.profile else None
            audit_log = workdir / "audit.jsonl" if audit else None
            cluster = DevCluster(workdir, audit_log, args.server_arg, profile)
            try:
                results = asyncio.run(bench_server(cluster.server, cluster.token, audit,
                                                   args.concurrency, args.seconds, cluster.cpu_seconds))
            finally:
                cluster.stop()
            rows += [r.row() for r in results]
            if profile:
                print_hot_spots(profile)
    print_table(rows, args.concurrency)
    summary = {"benchmark": "devcluster", "concurrency": args.concurrency, "seconds": args.seconds,
               "cpus": os.cpu_count(), "results": rows}
    print(json.dumps(summary, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
