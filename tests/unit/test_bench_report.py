"""bench/bench_report.py: report.json has exactly issue 10's keys, figures from the audit-log points."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from bench_report import REPORT_KEYS, build_report, burst_drain_seconds, write_outputs

VERDICT = SimpleNamespace(judged_occurrences=6, missed=0, duplicates=0,
                          lateness_seconds={"p50": 0.1, "p99": 0.9, "max": 1.2})
# (scheduled unix time, lag, client): two burst minutes
POINTS = [(60.0, 0.1, "op-1"), (60.0, 0.9, "op-2"), (60.0, 1.2, "op-1"),
          (120.0, 0.2, "op-2"), (120.0, 0.4, "op-1"), (120.0, 0.6, "op-2")]


def report(burst: bool) -> dict[str, object]:
    return build_report(recurringjobs=3, replicas=2, shards=4, burst=burst, verdict=VERDICT,
                        writes_per_occurrence=5.0,
                        samples={"op-1": {"rss_max_mib": 90.0, "cpu_seconds": 1.5},
                                 "op-2": {"rss_max_mib": 110.0, "cpu_seconds": 1.5}},
                        ceiling={"creates_per_s": 2000.0}, window=(60.0, 180.0), points=POINTS)


def test_the_report_has_exactly_the_issues_keys_with_figures_from_the_points() -> None:
    built = report(burst=True)
    assert tuple(built) == REPORT_KEYS
    assert built["launches_by_replica"] == {"op-1": 3, "op-2": 3}
    assert built["operator_peak_rss_mib"] == 110.0  # the max over replicas
    assert built["operator_cpu_s_per_1000_launches"] == 500.0  # 3 CPU s over 6 launches
    assert built["launches_per_s"] == 0.1  # 6 launches over 120 s
    assert built["burst_drain_s"] == 0.9  # median of the minutes' last launches (1.2, 0.6)
    assert report(burst=False)["burst_drain_s"] is None


def test_burst_drain_of_nothing_is_none() -> None:
    assert burst_drain_seconds([]) is None


def test_outputs_are_the_report_details_and_two_plots(tmp_path: Path) -> None:
    built = report(burst=False)
    write_outputs(tmp_path, built, {"command": "x"}, POINTS)
    assert json.loads((tmp_path / "report.json").read_text()) == built
    for plot in ("lag_over_time.png", "lag_distribution.png"):
        assert (tmp_path / plot).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
