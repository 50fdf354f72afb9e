"""bench/bench_suite.py: which of issue 10's targets a run's report holds."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from bench_suite import Run, single_replica_cpu, targets


def report(replicas: int, cpu: float, by: dict[str, int] | None = None, burst: float | None = None,
           recurringjobs: int = 2000) -> dict[str, Any]:
    return {"recurringjobs": recurringjobs, "replicas": replicas, "missed": 0, "duplicates": 0,
            "lag_p99_s": 0.5, "lag_max_s": 1.0, "operator_peak_rss_mib": 100.0,
            "operator_cpu_s_per_1000_launches": cpu, "burst_drain_s": burst,
            "launches_by_replica": by or {"op": 100}}


def test_cpu_per_launch_is_judged_against_the_one_replica_run_of_the_same_size() -> None:
    even = {"op-1": 50, "op-2": 50}
    assert "(1.10x): holds" in "; ".join(targets(report(2, 3.3, even), {}, single_cpu=3.0))
    assert "(1.50x): MISSES" in "; ".join(targets(report(2, 4.5, even), {}, single_cpu=3.0))
    assert not any("CPU" in t for t in targets(report(2, 4.5, even), {}, single_cpu=None))


def test_the_one_replica_cpu_comes_from_steady_runs_only() -> None:
    run = Run("x", 2000)
    results = [(run, report(1, 3.0), {}), (run, report(1, 2.0, burst=19.0), {}),
               (run, report(2, 4.0, {"a": 1, "b": 1}), {}), (run, report(1, 5.0, recurringjobs=10_000), {})]
    assert single_replica_cpu(results) == {2000: 3.0, 10_000: 5.0}


def test_an_uneven_split_misses_the_share_target() -> None:
    verdicts = "; ".join(targets(report(2, 3.0, {"op-1": 70, "op-2": 30}), {}))
    assert "each replica 1/R +- 15 %: MISSES" in verdicts


def test_the_lag_and_memory_targets_are_judged_at_10000_only() -> None:
    big = report(1, 5.0, recurringjobs=100_000)
    big["operator_peak_rss_mib"] = 756.0
    assert not any("RSS" in t for t in targets(big, {}))
    ten = report(1, 3.9, recurringjobs=10_000)
    ten["operator_peak_rss_mib"] = 285.0
    assert "peak RSS <= 300 MiB: holds" in targets(ten, {})
