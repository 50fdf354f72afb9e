"""operator_bench's `--out DIR`: DIR/report.json (the issue's keys) and PNG plots of the launch lag.

Every figure comes from the audit log (Job creates by the operator's clients, their scheduled-time
annotation) and from /proc samples of the replicas; nothing from the operator's own reports.
"""

from __future__ import annotations

import json
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from recurringjob.evidence.verdict import job_launches, parse_audit_lines

# the keys of report.json, in this order (issue 10's interface)
REPORT_KEYS = ("recurringjobs", "replicas", "shards", "occurrences", "missed", "duplicates", "lag_p50_s",
               "lag_p99_s", "lag_max_s", "writes_per_occurrence", "operator_peak_rss_mib",
               "operator_cpu_s_per_1000_launches", "ceiling_creates_per_s", "launches_per_s",
               "burst_drain_s", "launches_by_replica")


def read_audit(path: Path) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as handle:
        return list(parse_audit_lines(handle))


def lag_points(entries: Iterable[Mapping[str, Any]], window: tuple[float, float], client_prefix: str
               ) -> list[tuple[float, float, str]]:
    """(scheduled unix time, launch lag s, client) of the operator's Job creates for occurrences
    scheduled in the judged window."""
    launches, _ = job_launches(entries)
    points = []
    for launch in launches:
        if launch.scheduled_time is None or not launch.client.startswith(client_prefix):
            continue
        scheduled = launch.scheduled_time.timestamp()
        if window[0] <= scheduled <= window[1]:
            points.append((scheduled, launch.ts - scheduled, launch.client))
    return points


def burst_drain_seconds(points: Sequence[tuple[float, float, str]]) -> float | None:
    """Median over the burst minutes of the time from :00 to that minute's last launch."""
    last: dict[float, float] = defaultdict(float)
    for scheduled, lag, _ in points:
        last[scheduled] = max(last[scheduled], lag)
    return round(statistics.median(last.values()), 2) if last else None


def build_report(*, recurringjobs: int, replicas: int, shards: int, burst: bool, verdict: Any,
                 writes_per_occurrence: float | None, samples: Mapping[str, Mapping[str, Any]],
                 ceiling: Mapping[str, Any], window: tuple[float, float],
                 points: Sequence[tuple[float, float, str]]) -> dict[str, Any]:
    """The report: `samples` maps each replica to {"rss_max_mib", "cpu_seconds"} over the window."""
    by_replica = Counter(client for _, _, client in points)
    launches = sum(by_replica.values())
    cpu = sum(float(s.get("cpu_seconds") or 0.0) for s in samples.values())
    rss = [float(s["rss_max_mib"]) for s in samples.values() if s.get("rss_max_mib") is not None]
    span = max(1.0, window[1] - window[0])
    lag = verdict.lateness_seconds
    report = {
        "recurringjobs": recurringjobs, "replicas": replicas, "shards": shards,
        "occurrences": verdict.judged_occurrences, "missed": verdict.missed, "duplicates": verdict.duplicates,
        "lag_p50_s": lag.get("p50"), "lag_p99_s": lag.get("p99"), "lag_max_s": lag.get("max"),
        "writes_per_occurrence": writes_per_occurrence,
        "operator_peak_rss_mib": max(rss) if rss else None,
        "operator_cpu_s_per_1000_launches": round(1000 * cpu / launches, 2) if launches else None,
        "ceiling_creates_per_s": ceiling.get("creates_per_s"),
        "launches_per_s": round(launches / span, 1),
        "burst_drain_s": burst_drain_seconds(points) if burst else None,
        "launches_by_replica": dict(sorted(by_replica.items())),
    }
    assert tuple(report) == REPORT_KEYS
    return report


def write_outputs(out: Path, report: Mapping[str, Any], extra: Mapping[str, Any],
                  points: Sequence[tuple[float, float, str]]) -> None:
    """DIR/report.json, DIR/details.json (everything else the run measured) and the PNG plots."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / "details.json").write_text(json.dumps(extra, indent=2, default=str) + "\n")
    (out / "lags.json").write_text(json.dumps([round(lag, 4) for _, lag, _ in points]))  # the suite's CDF
    title = run_title(report)
    plot_lag_over_time(out / "lag_over_time.png", points, title)
    plot_lag_distribution(out / "lag_distribution.png", {title: [lag for _, lag, _ in points]})


def run_title(report: Mapping[str, Any]) -> str:
    return (f"{report['recurringjobs']:,} RecurringJobs, {report['replicas']} replica(s), "
            f"{report['shards']} shard(s)")


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    return plt


def plot_lag_over_time(path: Path, points: Sequence[tuple[float, float, str]], title: str) -> None:
    """Every launch: lag against the time into the run, one colour per replica."""
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(9, 4))
    start = min((p[0] for p in points), default=0.0)
    for client in sorted({p[2] for p in points}):
        mine = [p for p in points if p[2] == client]
        axes.scatter([p[0] - start for p in mine], [p[1] for p in mine], s=2, label=client, alpha=0.6)
    axes.set_xlabel("seconds into the judged window (scheduled time)")
    axes.set_ylabel("launch lag (s)")
    axes.set_title(f"Launch lag over time: {title}")
    axes.grid(alpha=0.3)
    if points:
        axes.legend(markerscale=4, fontsize="small")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def plot_lag_distribution(path: Path, series: Mapping[str, Sequence[float]]) -> None:
    """Launch-lag CDFs, one per run (e.g. per N): the p99 and the tail at a glance."""
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(8, 4.5))
    for label, lags in series.items():
        ordered = sorted(lags)
        if ordered:
            axes.plot(ordered, [(index + 1) / len(ordered) for index in range(len(ordered))],
                      label=f"{label} (n={len(ordered):,})")
    axes.set_xscale("symlog", linthresh=0.1)
    axes.set_xlabel("launch lag (s, Job create time - scheduled time)")
    axes.set_ylabel("fraction of launches")
    axes.axhline(0.99, color="grey", linestyle=":", linewidth=1)
    axes.set_title("Launch lag distribution")
    axes.grid(alpha=0.3)
    axes.legend(fontsize="small")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
