"""The operator's figures on this machine: one replica, N RecurringJobs firing every minute.

    .venv/bin/python bench/operator_bench.py [--recurringjobs 10000] [--minutes 3] [--burst]

Starts a dev cluster (`recurringjob devcluster --job-duration 1s`, audit log on), applies crds/,
creates N RecurringJobs with concurrent requests and runs one operator replica (`recurringjob
run`): once it has written the first status of every RecurringJob (a one-off burst of N
writes, timed apart), it runs `--minutes` more. RecurringJob i fires at second `i % 60` of every
minute (`S * * * * *`), i.e. N/60 launches per second; `--burst` makes all of them fire at second 0.
Everything is judged from the audit log (recurringjob.verdict): misses and duplicates in the
judged window, launch lag (Job create time - scheduled time), the operator's API writes per
launch. CPU% and RSS of the operator and of the server are sampled from /proc once a second.
`--profile FILE` runs the operator under py-spy (collapsed stacks; see bench/profile_report.py).
Prints a table, then one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import yaml
from recurringjob.supervise import (
    ApiClient,
    DevClusterProcess,
    ManagedProcess,
    Supervisor,
    lease_holder,
    recurringjob_command,
    wait_until,
    write_client_kubeconfig,
)
from recurringjob.verdict import JudgedRecurringJob, compute_verdict, parse_audit_lines

REPO = Path(__file__).resolve().parents[1]
NAMESPACE = "bench"
LEASE = "recurringjob-operator"
OPERATOR = "bench-operator"  # the operator's bearer token = its audit `client`
RJ_PATH = f"/apis/recurringjob.dev/v1alpha1/namespaces/{NAMESPACE}/recurringjobs"
# The judged window starts this long after every RecurringJob got its first status write (the
# one-off startup burst of N writes, reported apart) and the backlog it left was worked off
# (measured: ~60 s at 10,000), so it measures the steady state.
WARMUP_SECONDS = 60
STARTUP_LIMIT = 300  # give up waiting for the startup burst after this long (judged anyway)
TAIL_SECONDS = 5  # and ends this long before the stop (a launch in flight is not a miss)
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


# --- /proc sampling ------------------------------------------------------------------------------


@dataclass
class ProcessSamples:
    """CPU% (of one core) and RSS of one process, sampled once a second."""

    pid: int
    cpu_percent: list[tuple[float, float]] = field(default_factory=list)  # (wall time, %)
    rss_mib: list[float] = field(default_factory=list)
    _last: tuple[float, int] | None = None

    def sample(self) -> None:
        try:
            stat = Path(f"/proc/{self.pid}/stat").read_text()
            status = Path(f"/proc/{self.pid}/status").read_text()
        except OSError:
            return  # exited
        fields = stat.rsplit(")", 1)[1].split()
        ticks = int(fields[11]) + int(fields[12])  # utime + stime
        now = time.monotonic()
        if self._last is not None and now > self._last[0]:
            self.cpu_percent.append((time.time(), 100.0 * (ticks - self._last[1]) / CLOCK_TICKS
                                     / (now - self._last[0])))
        self._last = (now, ticks)
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                self.rss_mib.append(int(line.split()[1]) / 1024)

    def summary(self, start: float, end: float) -> dict[str, float | None]:
        judged = [cpu for ts, cpu in self.cpu_percent if start <= ts <= end]
        return {"cpu_mean_percent": round(sum(judged) / len(judged), 1) if judged else None,
                "cpu_max_percent": round(max(judged), 1) if judged else None,
                "rss_max_mib": round(max(self.rss_mib), 1) if self.rss_mib else None}


class Sampler(threading.Thread):
    def __init__(self, processes: list[ProcessSamples]) -> None:
        super().__init__(daemon=True)
        self.processes = processes
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.wait(1.0):
            for process in self.processes:
                process.sample()


def python_child(process: ManagedProcess, timeout: float = 10.0) -> int:
    """The operator's pid when it runs under py-spy (py-spy's only child); else its own pid."""
    if not process.argv[0].endswith("py-spy"):
        return process.pid
    children = Path(f"/proc/{process.pid}/task/{process.pid}/children")
    found = wait_until(lambda: children.read_text().split(), timeout, what="the profiled operator")
    return int(found[0])


# --- setup: CRD, namespace, RecurringJobs ---------------------------------------------------------


def recurringjob(index: int, burst: bool) -> dict[str, Any]:
    second = 0 if burst else index % 60
    return {"apiVersion": "recurringjob.dev/v1alpha1", "kind": "RecurringJob",
            "metadata": {"name": f"rj-{index:05d}", "namespace": NAMESPACE},
            "spec": {"schedule": f"{second} * * * * *", "jobTemplate": {"spec": {"template": {"spec": {
                "restartPolicy": "Never", "containers": [{"name": "main", "image": "busybox:1.36"}]}}}}}}


async def create_all(server: str, token: str, count: int, burst: bool, concurrency: int = 32) -> float:
    """Create the CRD, the namespace and `count` RecurringJobs; returns the seconds the RJs took."""
    headers = {"Authorization": f"Bearer {token}"}
    connector = aiohttp.TCPConnector(limit=concurrency, ssl=False)  # the dev cluster's own certificate
    async with aiohttp.ClientSession(server, headers=headers, connector=connector) as session:

        async def post(path: str, body: dict[str, Any], accept: tuple[int, ...] = (201,)) -> None:
            for _ in range(5):
                async with session.post(path, json=body) as response:
                    text = await response.text()
                    if response.status in accept:
                        return
                    if response.status not in (429, 500, 503):
                        raise SystemExit(f"POST {path}: {response.status} {text[:300]}")
                await asyncio.sleep(0.2)
            raise SystemExit(f"POST {path}: kept failing")

        for crd_file in sorted((REPO / "crds").glob("*.yaml")):
            for crd in yaml.safe_load_all(crd_file.read_text()):
                await post("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd, (201, 409))
        await post("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                          "metadata": {"name": NAMESPACE}}, (201, 409))
        for _ in range(100):  # served at once by the dev cluster; a real server takes a moment
            async with session.get(RJ_PATH) as response:
                if response.status == 200:
                    break
            await asyncio.sleep(0.1)
        pending = iter(range(count))
        started = time.perf_counter()

        async def creator() -> None:
            for index in pending:
                await post(RJ_PATH, recurringjob(index, burst))

        await asyncio.gather(*(creator() for _ in range(concurrency)))
        return time.perf_counter() - started


# --- judging ------------------------------------------------------------------------------------


def operator_writes(entries: list[dict[str, Any]], window: tuple[float, float]) -> Counter[str]:
    """The operator's mutating requests in the window by kind (steady state: not the first status
    write of each RecurringJob at startup; not Lease renewals, which do not scale with N)."""
    writes: Counter[str] = Counter()
    for entry in entries:
        if (entry.get("client") != OPERATOR or entry.get("resource") == "leases"
                or not window[0] <= float(entry.get("ts") or 0) <= window[1]):
            continue
        sub = f"/{entry['subresource']}" if entry.get("subresource") else ""
        writes[f"{entry.get('verb')} {entry.get('resource')}{sub} {entry.get('code')}"] += 1
    return writes


def judge(audit_path: Path, count: int, burst: bool, window: tuple[float, float]) -> dict[str, Any]:
    with open(audit_path, encoding="utf-8") as handle:
        entries = list(parse_audit_lines(handle))
    judged = [JudgedRecurringJob(NAMESPACE, str(recurringjob(i, burst)["metadata"]["name"]),
                                 str(recurringjob(i, burst)["spec"]["schedule"])) for i in range(count)]
    verdict = compute_verdict(entries, judged, window[0], window[1], lease_name=LEASE)
    writes = operator_writes(entries, window)
    launches = sum(count for kind, count in writes.items() if kind.startswith("create jobs 2"))
    total = sum(writes.values())
    return {"verdict": verdict, "writes": writes, "operator_launches": launches,
            "writes_per_launch": round(total / launches, 2) if launches else None}


# --- the run ------------------------------------------------------------------------------------


def run(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    with Supervisor(workdir / "logs") as supervisor:
        cluster = DevClusterProcess(supervisor, workdir, None, ("--job-duration", "1s"))
        cluster.start()
        server_samples = ProcessSamples(supervisor.get(cluster.name).pid)
        print(f"dev cluster at {cluster.base_url}; creating {args.recurringjobs} RecurringJobs",
              file=sys.stderr)
        creation = asyncio.run(create_all(cluster.base_url, "admin", args.recurringjobs, args.burst))
        print(f"created in {creation:.1f}s ({args.recurringjobs / creation:.0f}/s)", file=sys.stderr)
        kubeconfig = write_client_kubeconfig(cluster.kubeconfig, workdir / "operator.kubeconfig", OPERATOR)
        argv = recurringjob_command("run", "--identity", OPERATOR, "--kubeconfig", str(kubeconfig),
                                    "--lease-namespace", "default", "--health-port", "0",
                                    "--metrics-port", "0", "--log-level", "WARNING", *args.operator_arg)
        if args.profile:
            argv = [str(Path(sys.executable).with_name("py-spy")), "record", "--format", "raw", "--rate",
                    "50", "--nonblocking", "-o", str(args.profile), "--", *argv]
        started = time.time()
        operator = supervisor.start("operator", argv)
        operator_samples = ProcessSamples(python_child(operator))
        sampler = Sampler([operator_samples, server_samples])
        sampler.start()
        admin = ApiClient(cluster.base_url)
        wait_until(lambda: lease_holder(admin, "default", LEASE) == OPERATOR, 120, 0.2, "the Lease")
        leader_at = time.time()
        tail = AuditTail(cluster.audit_log(1))
        while len(tail.status_written) < args.recurringjobs and time.time() < leader_at + STARTUP_LIMIT:
            time.sleep(1.0)
            tail.read()
        settled_at = time.time()  # every RecurringJob has its first status: the startup burst is over
        print(f"leader after {leader_at - started:.1f}s; first status of every RecurringJob after "
              f"{settled_at - leader_at:.1f}s more; running {args.minutes} min", file=sys.stderr)
        stop_at = settled_at + args.minutes * 60
        while time.time() < stop_at:
            time.sleep(min(10.0, max(0.0, stop_at - time.time())))
            tail.read()
            print(f"  {time.time() - settled_at:5.0f}s  {tail.launches} Jobs created", file=sys.stderr)
        if args.profile:  # py-spy writes its file on SIGINT only (SIGTERM to the group would lose it)
            os.kill(operator.pid, signal.SIGINT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                operator.popen.wait(60)
        supervisor.stop("operator", grace=20)  # SIGTERM: the operator releases the Lease and exits
        sampler.stopping.set()
        window = (math.ceil(settled_at) + WARMUP_SECONDS, math.floor(stop_at) - TAIL_SECONDS)
        result = judge(cluster.audit_log(1), args.recurringjobs, args.burst, window)
        result |= {"creation_seconds": round(creation, 1), "window": window,
                   "operator": operator_samples.summary(*window), "server": server_samples.summary(*window),
                   "leader_after_seconds": round(leader_at - started, 1),
                   "startup_seconds": round(settled_at - leader_at, 1)}
        return result


class AuditTail:
    """Job creates, and RecurringJobs whose status the operator wrote, so far in the audit log;
    each call reads only what was appended since the last one."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0
        self.launches = 0
        self.status_written: set[str] = set()

    def read(self) -> None:
        with open(self.path, "rb") as handle:
            handle.seek(self.offset)
            for line in handle:
                if not line.endswith(b"\n"):
                    break  # being written: read it next time
                self.offset += len(line)
                if b'"jobs"' in line and b'"create"' in line and b"scheduled-time" in line:
                    self.launches += 1
                elif b'"status"' in line and OPERATOR.encode() in line:
                    self.status_written.add(str(json.loads(line).get("name")))


def cpu(samples: dict[str, Any]) -> str:
    return f"{samples['cpu_mean_percent']} / {samples['cpu_max_percent']}"


def report(args: argparse.Namespace, result: dict[str, Any]) -> dict[str, Any]:
    verdict = result["verdict"]
    shape = "burst at :00" if args.burst else "spread over the minute"
    rate = f"{args.recurringjobs} at once" if args.burst else round(args.recurringjobs / 60, 1)
    lag = " / ".join(str(verdict.lateness_seconds[k]) for k in ("p50", "p99", "max"))
    operator, server = result["operator"], result["server"]
    rows: list[tuple[str, Any]] = [
        ("RecurringJobs", f"{args.recurringjobs} ({shape})"),
        ("launches/s target", rate),
        ("judged window", f"{result['window'][1] - result['window'][0]:.0f}s "
                          f"({verdict.window['start_utc']} .. {verdict.window['end_utc']})"),
        ("judged occurrences", verdict.judged_occurrences),
        ("missed / duplicates / spurious", f"{verdict.missed} / {verdict.duplicates} / {verdict.spurious}"),
        ("launch lag p50 / p99 / max (s)", lag),
        ("operator writes per launch", result["writes_per_launch"]),
        ("operator CPU mean / max (% of a core)", cpu(operator)),
        ("operator RSS max (MiB)", operator["rss_max_mib"]),
        ("server CPU mean / max (% of a core)", cpu(server)),
        ("server RSS max (MiB)", server["rss_max_mib"]),
        ("RecurringJob creation (s)", result["creation_seconds"]),
        ("Lease taken after (s)", result["leader_after_seconds"]),
        ("first status of every RJ after (s)", result["startup_seconds"]),
        ("machine load (1/5 min)", " / ".join(f"{x:.2f}" for x in os.getloadavg()[:2])),
    ]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    for kind, number in sorted(result["writes"].items()):
        print(f"{'  ' + kind:<{width}}  {number}")
    return {"recurringjobs": args.recurringjobs, "minutes": args.minutes, "burst": args.burst,
            "judged_occurrences": verdict.judged_occurrences, "missed": verdict.missed,
            "duplicates": verdict.duplicates, "spurious": verdict.spurious,
            "launch_lag_seconds": verdict.lateness_seconds, "writes_per_launch": result["writes_per_launch"],
            "writes": dict(result["writes"]), "operator": result["operator"], "server": result["server"],
            "creation_seconds": result["creation_seconds"], "startup_seconds": result["startup_seconds"],
            "loadavg": os.getloadavg()[:2]}


def main(argv: list[str] | None = None, runner: Callable[..., dict[str, Any]] = run) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--recurringjobs", type=int, default=10_000, metavar="N")
    parser.add_argument("--minutes", type=float, default=3.0, help="operator run time after it leads")
    parser.add_argument("--burst", action="store_true", help="every RecurringJob fires at second 0")
    parser.add_argument("--workdir", type=Path, help="keep logs and the audit log here (default: temp)")
    parser.add_argument("--profile", type=Path, metavar="FILE",
                        help="run the operator under py-spy; its collapsed stacks go to FILE")
    parser.add_argument("--operator-arg", action="append", default=[], metavar="ARG",
                        help="extra `recurringjob run` argument e.g. --operator-arg=--workers=32")
    args = parser.parse_args(argv)
    if args.workdir:
        args.workdir.mkdir(parents=True, exist_ok=True)
        result = runner(args, args.workdir)
    else:
        with tempfile.TemporaryDirectory(prefix="operator-bench-") as tmp:
            result = runner(args, Path(tmp))
    print(json.dumps(report(args, result)))
    return 0 if result["verdict"].missed == 0 and result["verdict"].duplicates == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
