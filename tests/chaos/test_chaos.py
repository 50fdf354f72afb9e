"""Short chaos runs, one per incident scenario, judged from the audit log; plus the naive control.

Each test runs the real harness (`tests/chaos/run.py`) as a subprocess: a dev cluster, operator
replicas as separate processes, a fault really done to a process or to the server. A clean
verdict is asserted; the fault must also really have happened (a run where the fault could not
be injected proves nothing). The naive scheduler run proves the verdict can fail.

They run one after another (2 cores): keep each around 30 s (rollouts and held writes: 35-40 s).
`make chaos` is the long version.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from faults_plan import ALL_FAULTS
from leftovers import processes_mentioning

RUN = Path(__file__).resolve().parent / "run.py"
REPO = RUN.parents[2]

# Faults short enough to share a run: the key's scenario injects the others too (make test time).
ALSO_IN = {"trigger-failover": ("backfill-failover",)}
# one short run per fault the harness knows (a new fault gets its test), unless it shares one
SCENARIOS = tuple(f for f in ALL_FAULTS if not any(f in also for also in ALSO_IN.values()))
# Faults that take longer than the default run to happen and to settle (rollouts, held writes).
DURATIONS = {"clock-skew": 40, "job-ttl": 45, "late-write": 35, "rolling-update": 35, "trigger-failover": 35}
# Faults about moving shards run sharded (3 replicas, 4 shards: uneven shares, so every replica
# change moves shards); the others run with one Lease, and kill-leader once more sharded below.
SHARDS = {"scale-up": 4, "scale-down": 4, "rolling-update": 4}
# Every count of a violation; a clean run has all of them 0.
VIOLATIONS = ("duplicates", "missed", "spurious", "early", "late_beyond_deadline", "overlaps",
              "recreated_after_deletion")


def run_harness(out: Path, faults: str, seed: int, *extra: str, duration: int = 25) -> tuple[int, str]:
    command = [
        sys.executable, str(RUN),
        "--replicas", "3", "--recurringjobs", "4", "--schedule", "* * * * * *",
        "--duration", str(duration), "--faults", faults, "--seed", str(seed), "--out", str(out), *extra,
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=240, cwd=REPO, check=False)
    (out / "harness-output.txt").write_text(result.stdout + "\n--- stderr ---\n" + result.stderr)
    return result.returncode, result.stdout + result.stderr


def load_verdict(out: Path) -> dict[str, Any]:
    return dict(json.loads((out / "verdict.json").read_text()))


@pytest.mark.parametrize("fault", SCENARIOS)
def test_scenario_is_clean(fault: str, tmp_path: Path) -> None:
    assert_clean_scenario(fault, tmp_path, SHARDS.get(fault, 1))


def test_sharded_kill_leader_is_clean(tmp_path: Path) -> None:
    """SIGKILL shard 0's holder with 4 shards over 3 replicas: its shards expire and move."""
    assert_clean_scenario("kill-leader", tmp_path, 4)


# Sharded, the replicas that must have led a shard afterwards (written a shard Lease).
SHARD_TAKERS = {"scale-up": {"replica-4"}, "scale-down": {"replica-3-r2", "replica-2-r2", "replica-1-r2"},
                "rolling-update": {"replica-1-r2", "replica-2-r2", "replica-3-r2"}}


def assert_clean_scenario(fault: str, tmp_path: Path, shards: int) -> None:
    # sharded: 12 RecurringJobs, so every shard very likely has some to launch
    extra = ("--shards", str(shards), "--recurringjobs", "12") if shards > 1 else ()
    faults = ",".join((fault, *ALSO_IN.get(fault, ())))
    code, output = run_harness(tmp_path, faults, 7, *extra, duration=DURATIONS.get(fault, 25))
    assert (tmp_path / "verdict.json").exists(), output[-3000:]
    verdict = load_verdict(tmp_path)
    details = ("reasons", "duplicate_details", "missed_details", "spurious_details", "early_details",
               "late_details", "overlap_details", "recreated_details", "status_mismatches", "faults")
    evidence = json.dumps({k: verdict[k] for k in details})[:4000]
    assert verdict["clean"], f"{fault}: not clean: {evidence}\n{output[-2000:]}"
    assert code == 0, output[-2000:]
    assert {k: verdict[k] for k in VIOLATIONS} == dict.fromkeys(VIOLATIONS, 0)
    assert verdict["judged_occurrences"] >= 40, "too few occurrences judged to prove anything"
    for kind in faults.split(","):
        injected = [f for f in verdict["faults"] if f["kind"] == kind]
        assert injected, f"{kind} was never injected"
        assert not any(f["detail"].startswith("not injected") for f in injected), injected
    assert not [f for f in verdict["faults"] if f["kind"] == "replica-exited"], verdict["faults"]
    if fault in {"kill-leader", "pause-leader", "partition-leader"}:
        # The Lease really changed hands after the fault (the audit log's Lease writes say so).
        failover = next(f for f in verdict["failovers"] if f["fault"] == fault)
        assert failover["new_leader"] and failover["new_leader"] != failover["target"], failover
    if fault in {"split-brain", "trigger-failover"}:
        assert any(client.startswith("rogue-") for client in _lease_writers(tmp_path)), "no second leader"
    if fault in REQUESTS_JUDGED:
        # the requests were made and judged: each id / backfilled time launched once (clean above)
        judged = verdict["requests_judged"]
        assert all(judged[key] >= least for key, least in REQUESTS_JUDGED[fault].items()), judged
    if shards > 1 and fault in SHARD_TAKERS:
        takers = _lease_writers(tmp_path, shard_leases=True)
        expected = SHARD_TAKERS[fault]
        # scale-down restarts one replica (whichever led shard 0): one of the successors must lead
        assert (takers & expected) if fault == "scale-down" else expected <= takers, (fault, takers)
    assert (tmp_path / "audit.jsonl").stat().st_size > 0
    assert processes_mentioning(tmp_path) == []


# Request faults: at least this much judged (3 RecurringJobs, 20 backfilled times each).
REQUESTS_JUDGED = {"trigger-failover": {"triggers": 3, "backfills": 3, "backfill_occurrences": 60}}


def _lease_writers(out: Path, shard_leases: bool = False) -> set[str]:
    writers = set()
    for line in (out / "audit.jsonl").read_text().splitlines():
        entry = json.loads(line)
        if entry.get("resource") == "leases" and 200 <= entry.get("code", 0) < 300:
            if not shard_leases or re.fullmatch(r"recurringjob-operator-\d+", str(entry.get("name"))):
                writers.add(str(entry.get("client")))
    return writers


def test_naive_scheduler_duplicates_and_misses_are_caught(tmp_path: Path) -> None:
    """The control: the incidents' pattern must be judged NOT clean, with evidence."""
    # An API server restart: every naive replica is blind for a second or two and then fires only
    # the latest due occurrence (misses); every tick on the second races the others (duplicates).
    code, output = run_harness(tmp_path, "api-errors,devcluster-restart", 3, "--naive", duration=30)
    assert (tmp_path / "verdict.json").exists(), output[-3000:]
    verdict = load_verdict(tmp_path)
    assert code == 1, output[-2000:]
    assert not verdict["clean"]
    assert verdict["duplicates"] > 0, verdict["reasons"]
    assert verdict["missed"] > 0, verdict["reasons"]
    clients = {launch["client"] for dup in verdict["duplicate_details"] for launch in dup["launches"]}
    assert len(clients) >= 2, "duplicates should come from different replicas"
    assert processes_mentioning(tmp_path) == []


@pytest.mark.slow
def test_long_run_all_faults(tmp_path: Path) -> None:
    """`make chaos` in pytest form: 20 minutes, every fault, >= 100,000 judged occurrences."""
    command = [
        sys.executable, str(RUN), "--replicas", "3", "--recurringjobs", "100", "--schedule", "* * * * * *",
        "--duration", "1200", "--faults", "all", "--seed", "7", "--out", str(tmp_path),
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=2400, cwd=REPO, check=False)
    verdict = load_verdict(tmp_path)
    assert verdict["clean"], result.stdout[-4000:]
    assert verdict["judged_occurrences"] >= 100_000
    assert set(ALL_FAULTS) <= {f["kind"] for f in verdict["faults"]}
    assert result.returncode == 0
