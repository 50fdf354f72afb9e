"""`recurringjob demo`: dev cluster + operator replicas + the examples, faults, a live view, a verdict.

Everything is a real process (the dev cluster, each replica) under one `Supervisor`, stopped in
`finally` whatever happens (Ctrl-C included). What the view shows about launches comes from the
dev cluster's audit log, as does the verdict at the end: not from what the operator says.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from recurringjob.cli.demo_view import DemoState, LiveView, PlainView
from recurringjob.errors import UserError
from recurringjob.evidence.supervise import (
    ApiClient,
    DevClusterProcess,
    Supervisor,
    lease_holder,
    recurringjob_command,
    wait_until,
    write_client_kubeconfig,
)
from recurringjob.evidence.verdict import Fault, JudgedRecurringJob, compute_verdict, parse_time

REPO = Path(__file__).resolve().parents[3]
LEASE_NAME = "recurringjob-operator"
LEASE_NAMESPACE = "default"
RJ_API = "/apis/recurringjob.dev/v1alpha1"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--duration", type=float, default=75.0, help="seconds to run (default: %(default)s)")
    parser.add_argument("--replicas", type=int, default=3, help="operator replicas (default: %(default)s)")
    parser.add_argument("--no-faults", action="store_true", help="do not kill or pause any replica")
    parser.add_argument(
        "--crds", type=Path, default=REPO / "crds", help="CRD directory (default: %(default)s)"
    )
    parser.add_argument(
        "--examples",
        type=Path,
        default=REPO / "examples",
        help="RecurringJob manifests to apply (default: %(default)s)",
    )
    parser.add_argument(
        "--workdir",
        type=Path,
        default=None,
        help="where kubeconfigs, logs and the audit log go (default: a new temp dir)",
    )
    parser.add_argument("--lease-duration", type=float, default=4.0, help="seconds (default: %(default)s)")
    parser.add_argument(
        "--plain", action="store_true", help="plain lines, no live view (default when not a TTY)"
    )


class Demo:
    def __init__(self, args: argparse.Namespace, workdir: Path, emit: Callable[[str], None]) -> None:
        self.args = args
        self.workdir = workdir
        self.emit = emit
        self.supervisor = Supervisor(workdir / "logs")
        self.devcluster = DevClusterProcess(
            self.supervisor, workdir / "cluster", None, ("--job-duration", "1s")
        )
        self.devcluster.workdir.mkdir(parents=True, exist_ok=True)
        self.replica_slots: dict[str, int] = {}
        self.paused: set[str] = set()

    @property
    def api(self) -> ApiClient:
        return ApiClient(self.devcluster.base_url, token="demo")

    def kubectl_apply(self, path: Path) -> None:
        if not path.exists():
            raise UserError(
                f"{path} does not exist (run the demo from a source checkout or pass --crds/--examples)"
            )
        command = ["kubectl", "--kubeconfig", str(self.devcluster.kubeconfig), "apply", "-f", str(path)]
        result = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
        if result.returncode != 0:
            raise UserError(f"kubectl apply -f {path} failed: {result.stderr.strip()}")
        for line in result.stdout.splitlines():
            self.emit(f"kubectl: {line}")

    def recurringjobs(self) -> list[JudgedRecurringJob]:
        """The RecurringJobs to judge: all but the suspended ones (which must launch nothing)."""
        items = self.api.get(f"{RJ_API}/recurringjobs")["items"]
        return [
            JudgedRecurringJob(
                rj["metadata"]["namespace"],
                rj["metadata"]["name"],
                rj["spec"]["schedule"],
                rj["spec"].get("timeZone"),
                # @every counts from the anchor the operator recorded (status.scheduleFrom).
                parse_time(
                    (rj.get("status") or {}).get("scheduleFrom") or rj["metadata"]["creationTimestamp"]
                ),
            )
            for rj in items
            if not rj["spec"].get("suspend")
        ]

    def start_replica(self, slot: int, incarnation: int = 1) -> str:
        identity = f"replica-{slot}" + (f"-r{incarnation}" if incarnation > 1 else "")
        kubeconfig = write_client_kubeconfig(
            self.devcluster.kubeconfig, self.devcluster.workdir / f"{identity}.kubeconfig", identity
        )
        lease = self.args.lease_duration
        argv = recurringjob_command(
            "run", "--identity", identity, "--lease-name", LEASE_NAME, "--lease-namespace", LEASE_NAMESPACE,
            "--health-port", "0", "--metrics-port", "0", "--log-level", "WARNING",
            "--lease-duration", str(lease), "--renew-deadline", str(lease * 0.75),
            "--retry-period", str(max(0.25, lease / 8)),
        )  # fmt: skip
        env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
        self.supervisor.start(identity, argv, env | {"KUBECONFIG": str(kubeconfig), "PYTHONUNBUFFERED": "1"})
        self.replica_slots[identity] = slot
        return identity

    def leader(self) -> str | None:
        try:
            return lease_holder(self.api, LEASE_NAMESPACE, LEASE_NAME)
        except OSError:
            return None

    def live_leader(self) -> str | None:
        holder = self.leader()
        process = self.supervisor.processes.get(holder or "")
        return holder if process and process.alive() and not process.paused else None


def _raise_interrupt(*_: Any) -> None:
    raise KeyboardInterrupt


def main(args: argparse.Namespace) -> int:
    if args.duration < 15:
        raise UserError("--duration must be at least 15 seconds")
    if args.replicas < 1:
        raise UserError("--replicas must be at least 1")
    workdir = (args.workdir or Path(tempfile.mkdtemp(prefix="recurringjob-demo-"))).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    interactive = sys.stdout.isatty() and not args.plain
    state = DemoState(duration=args.duration)
    view: LiveView | PlainView = LiveView(state) if interactive else PlainView(state)
    demo = Demo(args, workdir, state.event)
    signal.signal(signal.SIGTERM, _raise_interrupt)
    specs: list[JudgedRecurringJob] = []
    faults: list[Fault] = []
    window_start = 0.0
    interrupted = False
    try:
        view.message(f"working directory: {workdir}")
        demo.devcluster.start()
        state.kubeconfig = str(demo.devcluster.kubeconfig)
        view.message(
            f"dev cluster on {demo.devcluster.base_url}; meanwhile, in another terminal:\n"
            f"    export KUBECONFIG={demo.devcluster.kubeconfig}\n    kubectl get rj,jobs -A"
        )
        demo.kubectl_apply(args.crds)
        wait_until(lambda: demo.api.get_or_none(RJ_API), 30, what="the RecurringJob API")
        demo.kubectl_apply(args.examples)
        specs = demo.recurringjobs()
        state.set_recurringjobs(specs)
        for slot in range(1, args.replicas + 1):
            demo.start_replica(slot)
        state.start(time.time())
        with view:
            leader = wait_until(demo.live_leader, 60, what="a replica to hold the Lease")
            window_start = time.time() + 1.0
            state.event(f"{leader} holds the Lease")
            faults = run_timeline(demo, state, view, args)
            specs = demo.recurringjobs()  # now with the anchors the operator recorded
    except KeyboardInterrupt:
        interrupted = True
        state.event("interrupted: stopping everything")
    finally:
        # A second Ctrl-C must not cut the cleanup short and leave processes behind.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        demo.supervisor.stop_all()
    view.message("all processes stopped")
    if not specs or not window_start:
        view.message("nothing ran long enough to be judged")
        return 130 if interrupted else 1
    state.poll_audit(demo.devcluster.audit_logs())
    tail = 3.0
    window_end = min(state.end_time, time.time()) - tail
    verdict = compute_verdict(state.audit, specs, window_start, max(window_start, window_end), faults)
    view.verdict(verdict.to_json())
    view.message(f"audit log: {demo.devcluster.audit_log(1)}  logs: {workdir / 'logs'}")
    if interrupted:
        return 130
    return 0 if verdict.clean else 1


def run_timeline(
    demo: Demo, state: DemoState, view: LiveView | PlainView, args: argparse.Namespace
) -> list[Fault]:
    """Until the end: refresh the view; kill the leader at 35 %, pause the next one at 60 %."""
    start, duration = state.start_time, args.duration
    lease = args.lease_duration
    plan: list[tuple[float, str]] = (
        [] if args.no_faults else [(start + 0.35 * duration, "kill"), (start + 0.60 * duration, "pause")]
    )
    pending: list[tuple[float, Callable[[], None]]] = []
    faults: list[Fault] = []
    while time.time() < state.end_time:
        now = time.time()
        for moment, action in list(pending):
            if now >= moment:
                pending.remove((moment, action))
                action()
        if plan and now >= plan[0][0]:
            _, kind = plan.pop(0)
            target = demo.live_leader()
            if target is None:
                state.event(f"fault {kind}-leader skipped: no live leader right now")
            elif kind == "kill":
                demo.supervisor.get(target).kill()
                state.event(f"FAULT kill-leader: SIGKILL {target}")
                faults.append(Fault("kill-leader", now, None, target, "SIGKILL; restarted 3s later"))

                def restart(target: str = target) -> None:
                    slot = demo.replica_slots[target]
                    incarnation = sum(1 for s in demo.replica_slots.values() if s == slot) + 1
                    state.event(f"restarted slot {slot} as {demo.start_replica(slot, incarnation)}")

                pending.append((now + 3.0, restart))
            else:
                demo.supervisor.get(target).pause()
                state.event(f"FAULT pause-leader: SIGSTOP {target} for {lease + 2:.0f}s (past its lease)")
                faults.append(Fault("pause-leader", now, now + lease + 2, target, "SIGSTOP, then SIGCONT"))

                def resume(target: str = target) -> None:
                    demo.supervisor.get(target).resume()
                    state.event(f"SIGCONT {target}: it wakes up without the Lease")

                pending.append((now + lease + 2, resume))
        state.leader = demo.leader()
        state.poll_audit(demo.devcluster.audit_logs())
        view.refresh()
        time.sleep(0.25)
    return faults  # a replica still paused is continued (and stopped) by Supervisor.stop_all
