"""Chaos harness: several real operator replicas, faults done on purpose, a verdict from the audit log.

    python tests/chaos/run.py --replicas 3 --recurringjobs 20 --schedule '*/2 * * * * *' \\
        --duration 60 --faults kill-leader,pause-leader,partition-leader,api-errors,watch-drops \\
        --seed 7 --out DIR [--naive] [--shards N]

Timeline (seconds after the replicas start): the judged window opens a margin after a leader
exists; timed faults are planned (seeded) inside the window, each ending at least a lease duration
before the window closes; the window closes `--tail` seconds before the end, so the last judged
occurrences have time to launch. At the end the RecurringJobs are suspended, the final statuses
are checked, every process is stopped (also on Ctrl-C or error), and DIR/audit.jsonl,
DIR/verdict.json are written. Exit 0 only if the verdict is clean (1: not clean, 2: harness error).
"""

from __future__ import annotations

import argparse
import heapq
import json
import random
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cluster import CRD_FILE, ChaosCluster, LeaseTimings, sleep_until
from faults_lifecycle import LATE_WRITE_HOLD
from faults_plan import (
    ALL_FAULTS,
    ConcurrentWriter,
    EndAction,
    FaultExecutor,
    PlannedFault,
    parse_faults,
    plan_faults,
)
from recurringjob.evidence.final_status import last_successful_mismatches, request_mismatches
from recurringjob.evidence.verdict import (
    Fault,
    JudgedRecurringJob,
    JudgedRequest,
    compute_verdict,
    parse_audit_lines,
    schedule_times_between,
)
from recurringjob.evidence.verdict_report import render
from rich.console import Console
from variants import variants_for

START_MONOTONIC = time.monotonic()
CATCH_UP_SECONDS = 15.0  # after the last fault and its failover: a backlog of every RecurringJob


def log(message: str) -> None:
    print(f"[{time.monotonic() - START_MONOTONIC:7.2f}s] {message}", flush=True)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicas", type=int, default=3)
    parser.add_argument("--recurringjobs", type=int, default=20)
    parser.add_argument("--schedule", default="*/2 * * * * *", help="6 fields: seconds first")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds the replicas run")
    parser.add_argument("--faults", default="",
                        help=f"comma-separated, among: {', '.join(ALL_FAULTS)}; or all")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", required=True, type=Path, help="output directory (created)")
    parser.add_argument("--naive", action="store_true", help="naive scheduler, not the operator")
    parser.add_argument("--namespace", default="chaos")
    parser.add_argument("--lease-duration", type=float, default=4.0)
    parser.add_argument("--renew-deadline", type=float, default=3.0)
    parser.add_argument("--retry-period", type=float, default=0.5)
    parser.add_argument("--starting-deadline", type=int, default=300,
                        help="RecurringJobs' startingDeadlineSeconds: longer than any outage")
    parser.add_argument("--job-duration", default="1s", help="simulated Job run time (status-race overrides)")
    parser.add_argument("--crd", type=Path, default=CRD_FILE, help="the CRD manifest to apply")
    parser.add_argument("--lead", type=float, default=2.0, help="margin after a leader exists, seconds")
    parser.add_argument("--tail", type=float, default=3.0, help="margin before the end, seconds")
    parser.add_argument("--max-request-seconds", type=float, default=20.0,
                        help="the replicas' --max-request-seconds (how long a create may be in flight)")
    parser.add_argument("--shards", type=int, default=1,
                        help="the replicas' --shards; leader faults then target shard 0's holder")
    parser.add_argument("--short-deadline", type=int, default=30,
                        help="startingDeadlineSeconds of the short-deadline RecurringJobs (clock-skew)")
    return parser


def schedule_period(schedule: str) -> float:
    now = datetime.now(UTC)
    times = schedule_times_between(schedule, None, now, now + timedelta(hours=1))[:2]
    if len(times) < 2:
        raise ValueError(f"schedule {schedule!r} fires less than twice an hour: too slow for a chaos run")
    return (times[1] - times[0]).total_seconds()


def next_due_time(schedule: str) -> Callable[[], float]:
    """When the next occurrence is due (unix seconds); the chaos schedules are zone-independent."""

    def next_due() -> float:
        now = datetime.now(UTC)
        return schedule_times_between(schedule, None, now, now + timedelta(hours=1))[0].timestamp()

    return next_due


def status_race_durations(period: float) -> list[str]:
    # Completions land when the next occurrence is claimed: a hair before, on, and a hair after.
    return [f"{max(0.05, period + delta):.3f}s" for delta in (0.0, -0.03, 0.03, -0.01, 0.01)]


def _record(faults: list[Fault], records: Fault | list[Fault] | None) -> None:
    faults.extend(records if isinstance(records, list) else [] if records is None else [records])


def run_faults(plan: list[PlannedFault], executor: FaultExecutor, run_start: float, run_end: float,
               faults: list[Fault], latest_end: float, settle_after: float) -> None:
    """Fire planned faults and their ends at their moments, until `run_end` (unix time).

    A fault that would end after `latest_end` (earlier ones ran long: a rollout, a slow restart)
    is not injected: the judged window would close on it. The run goes
    on for at least `settle_after` seconds after the last fault ended, whatever `run_end` says, so
    the operator can catch up on what came due during it (the judged window stays as it was).
    """
    events: list[tuple[float, int, PlannedFault | None, EndAction | None]] = [
        (run_start + p.at, i, p, None) for i, p in enumerate(plan)
    ]
    heapq.heapify(events)
    sequence = len(events)
    last_end = 0.0
    while True:
        next_moment = events[0][0] if events else run_end
        if next_moment >= run_end and not (events and events[0][3] is not None):
            break
        sleep_until(next_moment)
        _, _, planned, end_action = heapq.heappop(events)
        if end_action is not None:
            _record(faults, end_action())
            last_end = time.time()
            continue
        assert planned is not None
        if time.time() + planned.length > latest_end:
            _record(faults, executor.not_injected(planned, "it would outlast the judged window"))
            continue
        records, end = executor.begin(planned)
        _record(faults, records)
        last_end = time.time()
        if end is not None:
            sequence += 1
            heapq.heappush(events, (time.time() + planned.length, sequence, None, end))
        restart_crashed(executor.cluster, faults)
    sleep_until(max(run_end, last_end + settle_after))


def restart_crashed(cluster: ChaosCluster, faults: list[Fault]) -> None:
    """A replica that died on its own is a finding: log it, keep it in the record, restart it."""
    for slot, replica in list(cluster.replicas.items()):
        if replica.process.alive() or replica.process.popen.returncode in (-9,):
            continue
        code = replica.process.popen.returncode
        log(f"!! {replica.identity} exited on its own (code {code}); see {replica.process.log_path}")
        faults.append(Fault("replica-exited", time.time(), None, replica.identity, f"exit code {code}"))
        cluster.start_replica(slot)


def final_status_check(cluster: ChaosCluster, timeout: float,
                       requests: list[JudgedRequest]) -> list[dict[str, Any]]:
    """Suspend everything, let the Jobs finish, then compare lastSuccessfulTime with the Jobs, and
    each request's outcome in status.requests with what it did.

    Polls until they agree or `timeout` passes (the operator records completions asynchronously);
    the last comparison is always made, finished Jobs or not, and its disagreements are returned.
    """
    cluster.suspend_all()
    deadline = time.monotonic() + timeout
    while True:
        try:
            jobs = cluster.list_jobs()
            settled = not any((job.get("status") or {}).get("active") for job in jobs)
            recurringjobs = cluster.list_recurringjobs()
            mismatches = last_successful_mismatches(recurringjobs, jobs, cluster.jobs_deleted_by_others)
            mismatches += request_mismatches(recurringjobs, requests)
            if (settled and not mismatches) or time.monotonic() >= deadline:
                return mismatches
        except OSError as exc:
            log(f"final status read failed: {exc}")
            if time.monotonic() >= deadline:
                return [{"namespace": cluster.namespace, "recurringjob": "*", "lastSuccessfulTime": None,
                         "newest_successful_completion": None, "error": str(exc)}]
        time.sleep(0.5)


def merge_audit(cluster: ChaosCluster, out: Path) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = []
    with open(out / "audit.jsonl", "w") as merged:
        for path in cluster.devcluster.audit_logs():
            if path.exists():
                text = path.read_text()
                merged.write(text if text.endswith("\n") or not text else text + "\n")
                entries.extend(parse_audit_lines(text.splitlines()))
    return entries


def raise_interrupt(*_: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        kinds = parse_faults(args.faults)
        period = schedule_period(args.schedule)
        if "late-write" in kinds and not args.naive and LATE_WRITE_HOLD[1] + 1.0 >= args.max_request_seconds:
            raise ValueError(f"late-write holds creates up to {LATE_WRITE_HOLD[1]:.0f}s: "
                             f"--max-request-seconds must be above {LATE_WRITE_HOLD[1] + 1.0:.0f}")
    except ValueError as exc:
        print(f"run.py: error: {exc}", file=sys.stderr)
        return 2
    out: Path = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(args.seed)
    lease = LeaseTimings(args.lease_duration, args.renew_deadline, args.retry_period)
    status_race = "status-race" in kinds
    job_duration = f"{period:.3f}s" if status_race else args.job_duration
    cluster = ChaosCluster(out, args.namespace, lease, naive=args.naive,
                           data_dir="devcluster-restart" in kinds,
                           devcluster_args=("--job-duration", job_duration), crd_file=args.crd.resolve(),
                           max_request_seconds=args.max_request_seconds, shards=args.shards)
    variants = variants_for(kinds, period, args.short_deadline)
    next_due = next_due_time(args.schedule)
    work_rng = random.Random(args.seed + 1)  # its own stream: the plan stays the same per seed
    executor = FaultExecutor(cluster, rng, lease, log,
                             wait_for_work=lambda: sleep_until(next_due() + work_rng.uniform(0.002, 0.04)),
                             period=period)
    writer: ConcurrentWriter | None = None
    # SIGTERM (e.g. from a CI timeout) ends the run like Ctrl-C: through the finally below.
    signal.signal(signal.SIGTERM, raise_interrupt)

    specs: list[JudgedRecurringJob] = []
    faults: list[Fault] = []
    mismatches: list[dict[str, Any]] = []
    window = [0.0, 0.0]
    interrupted = False
    error: str | None = None
    try:
        log(f"starting dev cluster in {out}")
        cluster.start_cluster()
        log(f"kubeconfig: {cluster.devcluster.kubeconfig}")
        specs = cluster.create_recurringjobs(args.recurringjobs, args.schedule, args.starting_deadline,
                                             status_race_durations(period) if status_race else None, variants)
        log("RecurringJobs cycle over: " + "; ".join(v.describe() for v in variants))
        created = time.time()
        run_start = time.time()
        for slot in range(1, args.replicas + 1):
            cluster.start_replica(slot)
        run_end = run_start + args.duration
        if args.naive:
            ready = time.time() + 3.0  # no Lease to wait for; let the processes start
        else:
            leader = cluster.wait_for_leader(60)
            ready = time.time()
            log(f"{leader.identity} holds the Lease")
        window = [max(ready, created) + args.lead, run_end - args.tail]
        if window[1] <= window[0]:
            raise RuntimeError(f"--duration {args.duration}s leaves no judged window after startup")
        if status_race:
            names = [rj.name for rj in specs]
            writer = ConcurrentWriter(cluster, names, next_due, random.Random(args.seed + 2))
            writer.start()
            durations = ", ".join(status_race_durations(period))
            faults.append(Fault("status-race", window[0], window[1], None,
                                f"Job durations {durations} ~ the schedule period; RecurringJobs touched by"
                                " a second writer at claim moments"))
        settle = lease.duration + 4.0  # after the last fault: time to fail over and catch up
        plan = plan_faults(kinds, rng, window[0] + 1.0 - run_start, window[1] - settle - run_start, lease)
        log(f"judged window {window[1] - window[0]:.1f}s; faults planned: "
            + (", ".join(f"{p.kind}@+{p.at:.1f}s" for p in plan) or "none"))
        if kinds and not plan and not (status_race and len(set(kinds)) == 1):
            raise RuntimeError("--duration too short to fit the requested faults")
        # after the last fault: the lease to run out, then time to catch up on what came due
        run_faults(plan, executor, run_start, run_end, faults, latest_end=window[1],
                   settle_after=settle + CATCH_UP_SECONDS)
        if writer is not None:
            writer.stop()
            log(f"concurrent writer: {writer.touches} touches")
        executor.clear()
        restart_crashed(cluster, faults)
        log("run over: suspending the RecurringJobs, checking final statuses")
        # The naive scheduler never records completions: one look is enough to show it.
        mismatches = final_status_check(cluster, timeout=0.0 if args.naive else float(period) + 8.0,
                                        requests=executor.requests.made)
    except KeyboardInterrupt:
        interrupted = True
        log("interrupted: stopping everything, judging what ran so far")
        window[1] = min(window[1], time.time() - args.tail) if window[1] else 0.0
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
        log(f"harness error: {error}")
    finally:
        # A second Ctrl-C must not cut the cleanup short and leave processes behind.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if writer is not None:
            writer.stop()
        executor.clear()
        cluster.stop_all()
        log("all processes stopped")

    audit = merge_audit(cluster, out)
    if error or not specs or window[1] <= window[0]:
        print(json.dumps({"clean": False, "error": error or "interrupted before anything was judged",
                          "out": str(out)}))
        return 2 if error else 130
    # After a fault that leaves no replica able to act: the lease to run out, then catch-up time.
    verdict = compute_verdict(audit, specs, window[0], window[1], faults, status_mismatches=mismatches,
                              dark_grace=lease.duration + 4.0, lease_name=cluster.leader_lease,
                              requests=executor.requests.made)
    result = verdict.to_json() | {
        "run": {"seed": args.seed, "replicas": args.replicas, "shards": args.shards,
                "schedule": args.schedule, "duration": args.duration, "faults_requested": kinds,
                "naive": args.naive,
                "interrupted": interrupted, "lease": asdict(lease),
                "max_request_seconds": args.max_request_seconds,
                "recurringjob_variants": [v.describe() for v in variants]},
    }
    (out / "verdict.json").write_text(json.dumps(result, indent=2) + "\n")
    Console(width=110).print(render(result, title=f"Exactly-once verdict, seed {args.seed}"
                                                  + (" (NAIVE scheduler)" if args.naive else "")))
    summary = {key: result[key] for key in ("clean", "judged_occurrences", "launches", "duplicates", "missed",
                                            "spurious", "early", "late_beyond_deadline", "overlaps",
                                            "recreated_after_deletion", "excused_misses")}
    summary |= {"lateness": result["lateness_seconds"], "faults": [f["kind"] for f in result["faults"]],
                "status_mismatches": len(mismatches), "seed": args.seed, "out": str(out)}
    print(json.dumps(summary))
    if interrupted:
        return 130
    return 0 if verdict.clean else 1


if __name__ == "__main__":
    sys.exit(main())
