"""The operator's figures on this machine: one replica, N RecurringJobs firing every minute.

    .venv/bin/python bench/operator_bench.py [--recurringjobs 10000] [--minutes 3] [--burst | --hourly]
        [--replicas R] [--shards N] [--out DIR]

Starts a dev cluster (`recurringjob devcluster --job-duration 1s`, audit log on), applies crds/,
creates N RecurringJobs with concurrent requests and runs one operator replica (`recurringjob
run`): once it has written the first status of every RecurringJob (a one-off burst of N
writes, timed apart), it runs `--minutes` more. RecurringJob i fires at second `i % 60` of every
minute (`S * * * * *`), i.e. N/60 launches per second; `--burst` makes all of them fire at second 0.
Everything is judged from the audit log (recurringjob.evidence.verdict): misses and duplicates in the
judged window, launch lag (Job create time - scheduled time), the operator's API writes per
launch. CPU% and RSS of the operator and of the server are sampled from /proc once a second.
`--profile FILE` runs the operator under py-spy (collapsed stacks; see bench/profile_report.py).
`--replicas 2 --kill-leader-at S` runs two replicas and SIGKILLs the leader S seconds into the run
(a crash: the Lease is not released); it reports the takeover, the first launch after the kill and
the launch lag of the occurrences in the minute after it (misses/duplicates judged as always).
`--shards N` runs the replicas with `--shards N` (each then leads about N/R shards); the
kill targets shard 0's holder. Before the operator starts, the dev cluster's raw Job-create
ceiling is measured with a tight client loop (bench/ceiling.py). `--out DIR` writes
DIR/report.json (issue 10's keys), DIR/details.json and PNG plots (bench/bench_report.py).
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
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import yaml
from bench_report import build_report, lag_points, write_outputs
from ceiling import CEILING_NAMESPACE, job_create_ceiling
from proc_samples import ProcessSamples, Sampler  # bench/ is on sys.path when run as a script
from recurringjob.evidence.supervise import (
    ApiClient,
    DevClusterProcess,
    ManagedProcess,
    Supervisor,
    lease_holder,
    recurringjob_command,
    wait_until,
    write_client_kubeconfig,
)
from recurringjob.evidence.verdict import Fault, JudgedRecurringJob, compute_verdict, parse_audit_lines

REPO = Path(__file__).resolve().parents[1]
NAMESPACE = "bench"
LEASE = "recurringjob-operator"
OPERATOR = "bench-operator"  # the operator's bearer token = its audit `client` (replicas: -1, -2..)
RJ_PATH = f"/apis/recurringjob.dev/v1alpha1/namespaces/{NAMESPACE}/recurringjobs"
# The judged window starts this long after every RecurringJob got its first status write (the
# one-off startup burst of N writes, reported apart) and the backlog it left was worked off
# (measured: ~60 s at 10,000), so it measures the steady state.
WARMUP_SECONDS = 60
STARTUP_LIMIT = 300  # seconds for every Lease to be held (replicas stand once their caches are
# primed: 75 s at 100,000 for one replica, over 120 s for two listing at once) and then for the
# startup burst (judged anyway after that)
TAIL_SECONDS = 5  # and ends this long before the stop (a launch in flight is not a miss)
# The replicas keep running this long after the judged window: an occurrence launched late (an
# overloaded machine: 9 s at 10,000 RecurringJobs on 4 replicas here) is lag, not a miss. A miss is
# an occurrence still not launched TAIL + DRAIN seconds after its time.
DRAIN_SECONDS = 30
AFTER_FAILOVER_SECONDS = 60  # lag "after failover" = occurrences scheduled this long after the kill


def python_child(process: ManagedProcess, timeout: float = 10.0) -> int:
    """The operator's pid when it runs under py-spy (py-spy's only child); else its own pid."""
    if not process.argv[0].endswith("py-spy"):
        return process.pid
    children = Path(f"/proc/{process.pid}/task/{process.pid}/children")
    found = wait_until(lambda: children.read_text().split(), timeout, what="the profiled operator")
    return int(found[0])


# --- setup: CRD, namespace, RecurringJobs ---------------------------------------------------------


def recurringjob(index: int, shape: str) -> dict[str, Any]:
    """RecurringJob `index` of a run: every minute at second i % 60 ("minute"), every minute at :00
    ("burst"), or every hour at one of its 3,600 seconds ("hourly", for 100,000 objects)."""
    second = 0 if shape == "burst" else index % 60
    schedule = f"{second} {(index // 60) % 60} * * * *" if shape == "hourly" else f"{second} * * * * *"
    return {"apiVersion": "recurringjob.dev/v1alpha1", "kind": "RecurringJob",
            "metadata": {"name": f"rj-{index:06d}" if shape == "hourly" else f"rj-{index:05d}",
                         "namespace": NAMESPACE},
            "spec": {"schedule": schedule, "jobTemplate": {"spec": {"template": {"spec": {
                "restartPolicy": "Never", "containers": [{"name": "main", "image": "busybox:1.36"}]}}}}}}


def shape_of(args: argparse.Namespace) -> str:
    return "burst" if args.burst else "hourly" if args.hourly else "minute"


async def create_all(server: str, token: str, count: int, shape: str, concurrency: int = 32) -> float:
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
                await post(RJ_PATH, recurringjob(index, shape))

        await asyncio.gather(*(creator() for _ in range(concurrency)))
        return time.perf_counter() - started


# --- judging ------------------------------------------------------------------------------------


def slow_collections(log_path: Path) -> list[float]:
    """Pauses of the full garbage collections the operator logged as slow (recurringjob.runtime.gctuning)."""
    marker = "a full garbage collection stopped the operator for "
    with contextlib.suppress(OSError), open(log_path, encoding="utf-8", errors="replace") as handle:
        return [float(line.split(marker, 1)[1].split("s", 1)[0]) for line in handle if marker in line]
    return []


def operator_identities(replicas: int) -> list[str]:
    return [OPERATOR] if replicas == 1 else [f"{OPERATOR}-{number}" for number in range(1, replicas + 1)]


def operator_writes(entries: list[dict[str, Any]], window: tuple[float, float]) -> Counter[str]:
    """The operators' mutating requests in the window by kind (steady state: not the first status
    write of each RecurringJob at startup; not Lease renewals, which do not scale with N)."""
    writes: Counter[str] = Counter()
    for entry in entries:
        if (not str(entry.get("client")).startswith(OPERATOR) or entry.get("resource") == "leases"
                or not window[0] <= float(entry.get("ts") or 0) <= window[1]):
            continue
        sub = f"/{entry['subresource']}" if entry.get("subresource") else ""
        writes[f"{entry.get('verb')} {entry.get('resource')}{sub} {entry.get('code')}"] += 1
    return writes


def lease_names(shards: int) -> list[str]:
    return [LEASE] if shards <= 1 else [f"{LEASE}-{index}" for index in range(shards)]


def judge(audit_path: Path, count: int, shape: str, window: tuple[float, float],
          kill: Fault | None = None, lease: str = LEASE) -> dict[str, Any]:
    with open(audit_path, encoding="utf-8") as handle:  # not the ceiling's Jobs: no RecurringJob's
        entries = [e for e in parse_audit_lines(handle) if e.get("namespace") != CEILING_NAMESPACE]
    judged = [JudgedRecurringJob(NAMESPACE, str(recurringjob(i, shape)["metadata"]["name"]),
                                 str(recurringjob(i, shape)["spec"]["schedule"])) for i in range(count)]
    faults = [kill] if kill is not None else []
    verdict = compute_verdict(entries, judged, window[0], window[1], faults, lease_name=lease)
    writes = operator_writes(entries, window)
    launches = sum(count for kind, count in writes.items() if kind.startswith("create jobs 2"))
    total = sum(writes.values())
    result = {"verdict": verdict, "writes": writes, "operator_launches": launches,
              "writes_per_launch": round(total / launches, 2) if launches else None,
              "points": lag_points(entries, window, OPERATOR)}
    pruning = pruning_window(entries, window)
    if pruning is not None:
        steady = compute_verdict(entries, judged, pruning[0], pruning[1], faults, lease_name=lease)
        pruned = operator_writes(entries, pruning)
        deletes = sum(n for kind, n in pruned.items() if kind.startswith("delete jobs 2"))
        result["pruning"] = {"window": pruning, "judged_occurrences": steady.judged_occurrences,
                             "missed": steady.missed, "duplicates": steady.duplicates,
                             "launch_lag_seconds": steady.lateness_seconds,
                             "job_deletes_per_second": round(deletes / max(1, pruning[1] - pruning[0]), 1)}
    if kill is not None:
        # occurrences scheduled from the kill on: the takeover gap plus the new leader's catch-up
        after = compute_verdict(entries, judged, math.ceil(kill.start),
                                min(window[1], math.ceil(kill.start) + AFTER_FAILOVER_SECONDS), faults,
                                lease_name=lease)
        result["after_failover"] = {"failovers": verdict.failovers,
                                    "judged_occurrences": after.judged_occurrences,
                                    "missed": after.missed, "duplicates": after.duplicates,
                                    "launch_lag_seconds": after.lateness_seconds}
    return result


def pruning_window(entries: list[dict[str, Any]], window: tuple[float, float]) -> tuple[int, int] | None:
    """The part of the judged window after history pruning began (the steady state: from each
    RecurringJob's 4th launch on, the operator deletes a finished Job per launch), or None."""
    deletes = [float(entry["ts"]) for entry in entries
               if str(entry.get("client")).startswith(OPERATOR) and entry.get("verb") == "delete"
               and entry.get("resource") == "jobs" and window[0] <= float(entry.get("ts") or 0) <= window[1]]
    return (math.ceil(min(deletes)), int(window[1])) if deletes else None


# --- the run ------------------------------------------------------------------------------------


def run(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    with Supervisor(workdir / "logs") as supervisor:
        cluster = DevClusterProcess(supervisor, workdir, None, ("--job-duration", "1s"))
        cluster.start()
        server_samples = ProcessSamples(supervisor.get(cluster.name).pid)
        print(f"dev cluster at {cluster.base_url}; creating {args.recurringjobs} RecurringJobs",
              file=sys.stderr)
        creation = asyncio.run(create_all(cluster.base_url, "admin", args.recurringjobs, shape_of(args)))
        print(f"created in {creation:.1f}s ({args.recurringjobs / creation:.0f}/s)", file=sys.stderr)
        ceiling = asyncio.run(job_create_ceiling(cluster.base_url, "admin", args.ceiling_seconds))
        print(f"dev cluster Job-create ceiling: {ceiling['creates_per_s']}/s "
              f"({ceiling['concurrency']} clients, {ceiling['seconds']}s)", file=sys.stderr)
        identities = operator_identities(args.replicas)
        started = time.time()
        replicas: dict[str, ManagedProcess] = {}
        replica_samples: dict[str, ProcessSamples] = {}
        for identity in identities:
            kubeconfig = write_client_kubeconfig(cluster.kubeconfig, workdir / f"{identity}.kubeconfig",
                                                 identity)
            argv = recurringjob_command("run", "--identity", identity, "--kubeconfig", str(kubeconfig),
                                        "--lease-namespace", "default", "--health-port", "0",
                                        "--metrics-port", "0", "--log-level", "WARNING",
                                        *(("--shards", str(args.shards)) if args.shards > 1 else ()),
                                        *args.operator_arg)
            if args.profile and identity == identities[args.profile_replica - 1]:
                argv = [str(Path(sys.executable).with_name("py-spy")), "record", "--format", "raw", "--rate",
                        "50", "--nonblocking", "-o", str(args.profile), "--", *argv]
            replicas[identity] = supervisor.start(identity, argv)
            replica_samples[identity] = ProcessSamples(python_child(replicas[identity]))
        sampler = Sampler([*replica_samples.values(), server_samples])
        sampler.start()
        admin = ApiClient(cluster.base_url)
        leases = lease_names(args.shards)

        def every_lease_held() -> str | None:
            holders = [lease_holder(admin, "default", name) for name in leases]
            return holders[0] if all(holder in replicas for holder in holders) else None

        first_leader = wait_until(every_lease_held, STARTUP_LIMIT, 0.2, "every Lease held")
        operator, operator_samples = replicas[first_leader], replica_samples[first_leader]
        leader_at = time.time()
        tail = AuditTail(cluster.audit_log(1))
        while len(tail.status_written) < args.recurringjobs and time.time() < leader_at + STARTUP_LIMIT:
            time.sleep(1.0)
            tail.read()
        settled_at = time.time()  # every RecurringJob has its first status: the startup burst is over
        print(f"leader after {leader_at - started:.1f}s; first status of every RecurringJob after "
              f"{settled_at - leader_at:.1f}s more; running {args.minutes} min", file=sys.stderr)
        stop_at = settled_at + args.minutes * 60
        kill_at = settled_at + args.kill_leader_at if args.kill_leader_at is not None else math.inf
        kill: Fault | None = None
        while time.time() < stop_at:
            time.sleep(max(0.0, min(10.0, stop_at - time.time(), kill_at - time.time())))
            if kill is None and time.time() >= kill_at:
                kill, kill_at = Fault("kill-leader", time.time(), target=first_leader), math.inf
                operator.kill()  # SIGKILL: no Lease release, the other replica waits out the Lease
                print(f"  {time.time() - settled_at:5.0f}s  SIGKILLed the leader {first_leader}",
                      file=sys.stderr)
            tail.read()
            print(f"  {time.time() - settled_at:5.0f}s  {tail.launches} Jobs created", file=sys.stderr)
        time.sleep(DRAIN_SECONDS)  # late launches of the window's last occurrences (DRAIN_SECONDS)
        if args.profile:  # py-spy writes its file on SIGINT only (SIGTERM to the group would lose it)
            profiled = replicas[identities[args.profile_replica - 1]]
            os.kill(profiled.pid, signal.SIGINT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                profiled.popen.wait(60)
        # SIGTERM: an operator releases the Lease and exits
        supervisor.stop_many([identity for identity in identities if replicas[identity].alive()], grace=20)
        sampler.stopping.set()
        window = (math.ceil(settled_at) + args.warmup, math.floor(stop_at) - TAIL_SECONDS)
        result = judge(cluster.audit_log(1), args.recurringjobs, shape_of(args), window, kill, leases[0])
        # the first leader's figures until its kill: the steady state, not the takeover
        leader_window = (window[0], min(window[1], kill.start if kill is not None else math.inf))
        result |= {"creation_seconds": round(creation, 1), "window": window,
                   "operator": operator_samples.summary(*leader_window),
                   "followers": {identity: samples.summary(*leader_window)
                                 for identity, samples in replica_samples.items()
                                 if identity != first_leader},
                   "server": server_samples.summary(*window),
                   **({"pruning_operator": operator_samples.summary(*result["pruning"]["window"]),
                       "pruning_server": server_samples.summary(*result["pruning"]["window"])}
                      if "pruning" in result else {}),
                   "slow_full_collections": slow_collections(supervisor.log_dir / f"{first_leader}.log"),
                   "replicas": {identity: samples.summary(*window)
                                for identity, samples in replica_samples.items()},
                   # seconds from the first replica's start: cold start, startup burst, steady state
                   "rss_over_time_mib": {identity: samples.rss_over_time(started)
                                         for identity, samples in replica_samples.items()},
                   "ceiling": ceiling,
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
                elif b'"status"' in line and OPERATOR.encode() in line:  # any replica
                    self.status_written.add(str(json.loads(line).get("name")))


def cpu(samples: dict[str, Any]) -> str:
    return f"{samples['cpu_mean_percent']} / {samples['cpu_max_percent']}"


def report(args: argparse.Namespace, result: dict[str, Any]) -> dict[str, Any]:
    verdict = result["verdict"]
    shape = {"burst": "burst at :00", "hourly": "hourly, spread over the hour",
             "minute": "spread over the minute"}[shape_of(args)]
    rate = f"{args.recurringjobs} at once" if args.burst else round(
        args.recurringjobs / (3600 if args.hourly else 60), 1)
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
        *((f"follower {identity} CPU mean / max, RSS max", f"{cpu(samples)}, {samples['rss_max_mib']}")
          for identity, samples in result.get("followers", {}).items()),
        ("leader's full GCs >= 0.5 s: count, max (s)",
         f"{len(result['slow_full_collections'])}, {max(result['slow_full_collections'], default=None)}"),
        ("server CPU mean / max (% of a core)", cpu(server)),
        ("server RSS max (MiB)", server["rss_max_mib"]),
        ("RecurringJob creation (s)", result["creation_seconds"]),
        ("Lease taken after (s)", result["leader_after_seconds"]),
        ("first status of every RJ after (s)", result["startup_seconds"]),
        ("machine load (1/5 min)", " / ".join(f"{x:.2f}" for x in os.getloadavg()[:2])),
    ]
    pruning = result.get("pruning")
    if pruning is not None:  # the steady state: a Job deleted (history pruning) per launch
        rows += [("steady state (pruning) window", f"{pruning['window'][1] - pruning['window'][0]}s"),
                 ("  occurrences, missed / duplicates",
                  f"{pruning['judged_occurrences']}, {pruning['missed']} / {pruning['duplicates']}"),
                 ("  launch lag p50 / p99 / max (s)",
                  " / ".join(str(pruning["launch_lag_seconds"][k]) for k in ("p50", "p99", "max"))),
                 ("  Job deletes/s", pruning["job_deletes_per_second"]),
                 ("  operator CPU mean / max, RSS max",
                  f"{cpu(result['pruning_operator'])}, {result['pruning_operator']['rss_max_mib']}"),
                 ("  server CPU mean / max, RSS max",
                  f"{cpu(result['pruning_server'])}, {result['pruning_server']['rss_max_mib']}")]
    else:
        rows.append(("steady state (pruning) window", "none: no Job deleted in the judged window"))
    after = result.get("after_failover")
    if after is not None:
        failover = (after["failovers"] or [{}])[0]
        rows += [("leader killed -> Lease taken over (s)", failover.get("takeover_after_s")),
                 ("leader killed -> first launch (s)", failover.get("first_launch_after_s")),
                 (f"after the kill ({AFTER_FAILOVER_SECONDS}s): occurrences", after["judged_occurrences"]),
                 ("after the kill: missed / duplicates", f"{after['missed']} / {after['duplicates']}"),
                 ("after the kill: lag p50 / p99 / max (s)",
                  " / ".join(str(after["launch_lag_seconds"][k]) for k in ("p50", "p99", "max")))]
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
            "slow_full_collections": result["slow_full_collections"],
            "replicas": args.replicas, "followers": result.get("followers", {}),
            "after_failover": result.get("after_failover"), "loadavg": os.getloadavg()[:2],
            "pruning": result.get("pruning"), "pruning_operator": result.get("pruning_operator"),
            "pruning_server": result.get("pruning_server")}


def write_report(args: argparse.Namespace, result: dict[str, Any], summary: dict[str, Any]) -> None:
    window = result["window"]
    points = result["points"]
    samples = result["replicas"]
    built = build_report(recurringjobs=args.recurringjobs, replicas=args.replicas, shards=args.shards,
                         burst=args.burst, verdict=result["verdict"],
                         writes_per_occurrence=result["writes_per_launch"], samples=samples,
                         ceiling=result["ceiling"], window=window, points=points)
    ceiling = built["ceiling_creates_per_s"] or 0.0
    per_occurrence = built["writes_per_occurrence"] or 0.0
    rate = (args.recurringjobs / built["burst_drain_s"]) if args.burst and built["burst_drain_s"] else \
        built["launches_per_s"]
    extra = {**summary, "ceiling": result["ceiling"], "replica_samples": samples,
             "rss_over_time_mib": result.get("rss_over_time_mib"),
             "launch_rate_per_s": round(rate, 1),
             "launch_rate_vs_raw_creates": round(rate / ceiling, 3) if ceiling else None,
             "launch_rate_vs_ceiling_per_occurrence":
                 round(rate * per_occurrence / ceiling, 3) if ceiling and per_occurrence else None,
             "command": " ".join(sys.argv), "machine": machine(), "date": time.strftime("%Y-%m-%d %H:%M UTC",
                                                                                        time.gmtime())}
    write_outputs(args.out, built, extra, points)
    print(f"wrote {args.out}/report.json, details.json, lag_over_time.png, lag_distribution.png",
          file=sys.stderr)


def machine() -> str:
    model = ""
    with contextlib.suppress(OSError):
        model = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo", encoding="utf-8")
                      if line.startswith("model name")), "")
    return f"{os.cpu_count()} cores, {model or 'unknown CPU'}, Python {sys.version.split()[0]}"


def main(argv: list[str] | None = None, runner: Callable[..., dict[str, Any]] = run) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--recurringjobs", type=int, default=10_000, metavar="N")
    parser.add_argument("--minutes", type=float, default=3.0, help="operator run time after it leads")
    parser.add_argument("--burst", action="store_true", help="every RecurringJob fires at second 0")
    parser.add_argument("--hourly", action="store_true",
                        help="hourly schedules spread over the hour (memory and cold start at 100,000)")
    parser.add_argument("--workdir", type=Path, help="keep logs and the audit log here (default: temp)")
    parser.add_argument("--profile", type=Path, metavar="FILE",
                        help="run the operator under py-spy; its collapsed stacks go to FILE")
    parser.add_argument("--profile-replica", type=int, default=1, metavar="K",
                        help="which replica --profile runs under py-spy (1-based, default 1; which one "
                             "leads is decided by the Lease race: the report names the leader)")
    parser.add_argument("--operator-arg", action="append", default=[], metavar="ARG",
                        help="extra `recurringjob run` argument e.g. --operator-arg=--workers=32")
    parser.add_argument("--replicas", type=int, default=1, help="operator replicas (default: %(default)s)")
    parser.add_argument("--shards", type=int, default=1, help="the replicas' --shards (default: %(default)s)")
    parser.add_argument("--out", type=Path, metavar="DIR",
                        help="write DIR/report.json, DIR/details.json and PNG plots of the launch lag")
    parser.add_argument("--warmup", type=float, default=WARMUP_SECONDS, metavar="SECONDS",
                        help="seconds after startup before the judged window opens (default: %(default)s)")
    parser.add_argument("--ceiling-seconds", type=float, default=5.0,
                        help="how long to measure the raw Job-create ceiling (default: %(default)s)")
    parser.add_argument("--kill-leader-at", type=float, metavar="SECONDS",
                        help="SIGKILL the leader this long into the run (after the 60s warm-up; 2+ replicas)")
    args = parser.parse_args(argv)
    if args.replicas < 1:
        parser.error("--replicas must be at least 1")
    if args.burst and args.hourly:
        parser.error("--burst and --hourly exclude each other")
    if not 1 <= args.shards <= 256:
        parser.error("--shards must be between 1 and 256")
    if not 1 <= args.profile_replica <= args.replicas:
        parser.error(f"--profile-replica must be between 1 and --replicas ({args.replicas})")
    if args.minutes * 60 <= args.warmup + TAIL_SECONDS:
        parser.error(f"--minutes must leave a judged window after --warmup {args.warmup:.0f}s")
    if args.kill_leader_at is not None and (args.replicas < 2
                                            or not 0 <= args.kill_leader_at < args.minutes * 60):
        parser.error("--kill-leader-at needs --replicas 2 or more and a time within --minutes")
    if args.workdir:
        args.workdir.mkdir(parents=True, exist_ok=True)
        result = runner(args, args.workdir)
    else:
        with tempfile.TemporaryDirectory(prefix="operator-bench-") as tmp:
            result = runner(args, Path(tmp))
    summary = report(args, result)
    print(json.dumps(summary))
    if args.out:
        write_report(args, result, summary)
    return 0 if result["verdict"].missed == 0 and result["verdict"].duplicates == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
