"""Human-readable forms of a verdict (`Verdict.to_json()`): rich tables and plain lines.

Shared by `recurringjob demo` and the chaos harness, so both print the same figures the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from rich.console import Group
from rich.table import Table


def _clock(ts: float | None) -> str:
    if ts is None:
        return "-"
    return datetime.fromtimestamp(ts, UTC).strftime("%H:%M:%S.%f")[:-3]


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}s"


def summary_rows(verdict: Mapping[str, Any]) -> list[tuple[str, str]]:
    lateness = verdict["lateness_seconds"]
    window = verdict["window"]
    rows = [
        ("verdict", "CLEAN" if verdict["clean"] else "NOT CLEAN: " + "; ".join(verdict["reasons"])),
        ("judged window", f"{window['start_utc']} .. {window['end_utc']}"),
        ("RecurringJobs", str(verdict["recurringjobs"])),
        ("judged occurrences", str(verdict["judged_occurrences"])),
        ("requests judged", _counts(verdict.get("requests_judged") or {})),
        ("Job creates (2xx)", str(verdict["launches"])),
        ("duplicates", str(verdict["duplicates"])),
        ("missed", str(verdict["missed"])),
        ("spurious", str(verdict["spurious"])),
        ("early (before T)", str(verdict.get("early", 0))),
        ("late beyond deadline", str(verdict.get("late_beyond_deadline", 0))),
        ("overlaps (Forbid/Replace)", str(verdict.get("overlaps", 0))),
        ("re-created after deletion", str(verdict.get("recreated_after_deletion", 0))),
        ("excused misses", _counts(verdict.get("excused_misses") or {})),
        ("Job deletions by others", _counts(verdict.get("deletions_by_others") or {})),
        ("lateness p50 / p99 / max",
         f"{_seconds(lateness['p50'])} / {_seconds(lateness['p99'])} / {_seconds(lateness['max'])}"),
        ("rejected Job creates", _counts(verdict["rejected_job_creates"])),
        ("launches by client", _counts(verdict["launches_by_client"])),
        ("leader changes", str(len(verdict["leader_changes"]))),
        ("wrong final status", str(len(verdict.get("status_mismatches") or []))),
    ]  # fmt: skip
    return rows


# Rows that count failures: any figure but 0 is shown in red.
FAILURE_ROWS = frozenset({
    "duplicates", "missed", "spurious", "early (before T)", "late beyond deadline",
    "overlaps (Forbid/Replace)", "re-created after deletion", "wrong final status",
})  # fmt: skip


def _counts(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{key}: {value}" for key, value in counts.items()) or "none"


def fault_rows(verdict: Mapping[str, Any]) -> list[tuple[str, str, str, str]]:
    """(time, fault, target, duration) per injected fault."""
    rows = []
    for fault in verdict["faults"]:
        end = fault.get("end")
        duration = f"{end - fault['start']:.1f}s" if end else "-"
        rows.append((_clock(fault["start"]), fault["kind"], fault.get("target") or "-", duration))
    return rows


def failover_rows(verdict: Mapping[str, Any]) -> list[tuple[str, str, str, str, str]]:
    """(time, fault, old -> new leader, takeover after, first launch after) per leader fault."""
    return [
        (
            _clock(f["at"]),
            f["fault"],
            f"{f.get('target') or '-'} -> {f.get('new_leader') or '-'}",
            _seconds(f.get("takeover_after_s")),
            _seconds(f.get("first_launch_after_s")),
        )
        for f in verdict["failovers"]
    ]


def render(verdict: Mapping[str, Any], title: str = "Exactly-once verdict (from the audit log)") -> Group:
    summary = Table(title=title, show_header=False, title_justify="left")
    summary.add_column("what", style="bold")
    summary.add_column("value")
    for key, value in summary_rows(verdict):
        style = ""
        if key == "verdict":
            style = "bold green" if verdict["clean"] else "bold red"
        elif key in FAILURE_ROWS and value != "0":
            style = "red"
        summary.add_row(key, value, style=style)
    parts: list[Any] = [summary]
    if verdict["faults"]:
        faults = Table(title="Faults injected", title_justify="left")
        for column in ("time (UTC)", "fault", "target", "duration"):
            faults.add_column(column)
        for row in fault_rows(verdict):
            faults.add_row(*row)
        parts.append(faults)
    if verdict["failovers"]:
        failovers = Table(title="Failovers", title_justify="left")
        for column in ("time (UTC)", "fault", "leader", "takeover after", "first launch after"):
            failovers.add_column(column)
        for failover_row in failover_rows(verdict):
            failovers.add_row(*failover_row)
        parts.append(failovers)
    problems = _problem_lines(verdict)
    if problems:
        examples = Table(title="Evidence (first few)", title_justify="left", show_header=False)
        examples.add_column("line", style="red")
        for line in problems:
            examples.add_row(line)
        parts.append(examples)
    return Group(*parts)


def _problem_lines(verdict: Mapping[str, Any], limit: int = 5) -> list[str]:
    lines = []
    for dup in verdict.get("duplicate_details", [])[:limit]:
        who = ", ".join(f"{launch['client']}@{_clock(launch['ts'])}" for launch in dup["launches"])
        lines.append(f"duplicate {dup['namespace']}/{dup['recurringjob']} {dup['scheduled_time']}: {who}")
    for miss in verdict.get("missed_details", [])[:limit]:
        lines.append(f"missed {miss['namespace']}/{miss['recurringjob']} {miss['scheduled_time']}")
    for bad in verdict.get("spurious_details", [])[:limit]:
        what = f"{bad['recurringjob']} {bad['scheduled_time']}"
        lines.append(f"spurious {what} by {bad['client']}: {bad['why']}")
    for early in verdict.get("early_details", [])[:limit]:
        lines.append(f"early {early['recurringjob']} {early['scheduled_time']} by {early['client']}: "
                     f"{early['early_by_s']:.3f}s before T")
    for late in verdict.get("late_details", [])[:limit]:
        lines.append(f"late {late['recurringjob']} {late['scheduled_time']} by {late['client']}: "
                     f"{late['late_by_s']:.3f}s after T, deadline {late['deadline_s']}s")
    for overlap in verdict.get("overlap_details", [])[:limit]:
        running = ", ".join(other["job"] for other in overlap["while_running"])
        lines.append(f"overlap ({overlap['policy']}) {overlap['namespace']}/{overlap['job']} created "
                     f"{_clock(overlap['created'])} while {running} ran")
    for again in verdict.get("recreated_details", [])[:limit]:
        deleted = again["deleted"]
        what = f"{again['namespace']}/{again['recurringjob']} {again['scheduled_time']}"
        lines.append(f"re-created {what} after {deleted['client']} deleted {deleted['job']} "
                     f"at {_clock(deleted['ts'])}")
    for status in (verdict.get("status_mismatches") or [])[:limit]:
        where = f"status {status['namespace']}/{status['recurringjob']}"
        if "request" in status:  # final_status.request_mismatches
            lines.append(f"{where}: {status['kind']} request {status['request']}: {status['problem']}")
            continue
        lines.append(
            f"{where}: lastSuccessfulTime "
            f"{status['lastSuccessfulTime']} != newest completion {status['newest_successful_completion']}"
        )
    return lines


def plain(verdict: Mapping[str, Any]) -> str:
    """The same content as `render`, as plain lines (CI logs, no terminal)."""
    lines = [f"{key:<26} {value}" for key, value in summary_rows(verdict)]
    lines += [f"fault    {' | '.join(row)}" for row in fault_rows(verdict)]
    lines += [f"failover {' | '.join(row)}" for row in failover_rows(verdict)]
    lines += _problem_lines(verdict)
    return "\n".join(lines)
