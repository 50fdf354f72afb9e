"""What `recurringjob demo` shows: state fed from the audit log, a rich live view, or plain lines."""

from __future__ import annotations

import time
from collections import defaultdict, deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from recurringjob.evidence.verdict import JudgedRecurringJob, job_launches, parse_audit_lines
from recurringjob.evidence.verdict_report import plain, render


def _clock(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%H:%M:%S")


@dataclass
class LaunchStats:
    launches: int = 0
    duplicates: int = 0
    last_scheduled: str = "-"
    last_client: str = "-"
    last_lateness: float | None = None
    seen: set[str] = field(default_factory=set)


class DemoState:
    """Everything the views show. Launch figures come only from the audit log."""

    def __init__(self, duration: float) -> None:
        self.duration = duration
        self.start_time = time.time()
        self.kubeconfig = ""
        self.recurringjobs: list[JudgedRecurringJob] = []
        self.stats: dict[tuple[str, str], LaunchStats] = defaultdict(LaunchStats)
        self.events: list[tuple[float, str]] = []
        self.audit: list[dict[str, Any]] = []
        self._offsets: dict[Path, int] = {}
        self._leader: str | None = None

    @property
    def end_time(self) -> float:
        return self.start_time + self.duration

    def start(self, now: float) -> None:
        self.start_time = now

    def set_recurringjobs(self, recurringjobs: Sequence[JudgedRecurringJob]) -> None:
        self.recurringjobs = list(recurringjobs)
        for rj in recurringjobs:
            self.stats[(rj.namespace, rj.name)] = LaunchStats()

    def event(self, text: str) -> None:
        self.events.append((time.time(), text))

    @property
    def leader(self) -> str | None:
        return self._leader

    @leader.setter
    def leader(self, holder: str | None) -> None:
        if holder != self._leader and holder is not None:
            self.event(f"Lease now held by {holder}")
        self._leader = holder

    def poll_audit(self, paths: Sequence[Path]) -> None:
        """Read the complete lines appended since the last poll; count the Job creates."""
        for path in paths:
            if not path.exists():
                continue
            with open(path, "rb") as audit_file:
                audit_file.seek(self._offsets.get(path, 0))
                chunk = audit_file.read()
            complete = chunk[: chunk.rfind(b"\n") + 1]
            self._offsets[path] = self._offsets.get(path, 0) + len(complete)
            entries = list(parse_audit_lines(complete.decode(errors="replace").splitlines()))
            self.audit.extend(entries)
            self._count(entries)

    def _count(self, entries: Sequence[Mapping[str, Any]]) -> None:
        launches, _ = job_launches(entries)
        for launch in launches:
            stats = self.stats[(launch.namespace, launch.recurringjob or "?")]
            stats.launches += 1
            scheduled = launch.raw_scheduled_time or "?"
            if scheduled in stats.seen:
                stats.duplicates += 1
                self.event(f"DUPLICATE {launch.recurringjob} {scheduled} by {launch.client}")
            stats.seen.add(scheduled)
            stats.last_scheduled = scheduled
            stats.last_client = launch.client
            if launch.scheduled_time is not None:
                stats.last_lateness = launch.ts - launch.scheduled_time.timestamp()
            self.event(
                f"launch {launch.namespace}/{launch.recurringjob} {scheduled} by {launch.client}"
                + (f" (+{stats.last_lateness:.2f}s)" if stats.last_lateness is not None else "")
            )


class PlainView:
    """Not a terminal (CI, pipes): one line per event, as it happens."""

    def __init__(self, state: DemoState) -> None:
        self.state = state
        self._printed = 0

    def __enter__(self) -> PlainView:
        return self

    def __exit__(self, *exc: object) -> None:
        self.refresh()

    def message(self, text: str) -> None:
        self.refresh()
        print(text, flush=True)

    def refresh(self) -> None:
        for ts, text in self.state.events[self._printed :]:
            print(f"{_clock(ts)} {text}", flush=True)
        self._printed = len(self.state.events)

    def verdict(self, verdict: Mapping[str, Any]) -> None:
        self.refresh()
        print(plain(verdict), flush=True)


class LiveView:
    """A terminal: one live screen (RecurringJobs, leader, events, time left), then the verdict."""

    def __init__(self, state: DemoState) -> None:
        self.state = state
        self.console = Console()
        self.progress = Progress(
            TextColumn("time left"), BarColumn(), TimeRemainingColumn(), console=self.console
        )
        self.task = self.progress.add_task("demo", total=state.duration)
        self.live = Live(console=self.console, refresh_per_second=4, transient=False)

    def __enter__(self) -> LiveView:
        self.live.__enter__()
        self.refresh()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.refresh()
        self.live.__exit__(exc_type, exc, tb)

    def message(self, text: str) -> None:
        self.console.print(text)

    def refresh(self) -> None:
        state = self.state
        self.progress.update(self.task, completed=min(state.duration, time.time() - state.start_time))
        self.live.update(Group(self._header(), self._table(), self._events(), self.progress))

    def _header(self) -> Panel:
        leader = self.state.leader or "(nobody yet)"
        return Panel(
            f"leader: [bold cyan]{leader}[/]    kubectl: KUBECONFIG={self.state.kubeconfig} "
            "kubectl get rj,jobs -A",
            title="RecurringJob demo",
        )

    def _table(self) -> Table:
        table = Table(title="Launches (from the API server's audit log)", title_justify="left")
        for column in ("RecurringJob", "schedule", "launches", "duplicates", "last occurrence", "by", "late"):
            table.add_column(column)
        schedules = {(rj.namespace, rj.name): rj.schedule for rj in self.state.recurringjobs}
        for key, stats in sorted(self.state.stats.items()):
            late = "-" if stats.last_lateness is None else f"{stats.last_lateness:.2f}s"
            dup_style = "bold red" if stats.duplicates else "green"
            table.add_row(
                f"{key[0]}/{key[1]}",
                schedules.get(key, "?"),
                str(stats.launches),
                f"[{dup_style}]{stats.duplicates}[/]",
                stats.last_scheduled,
                stats.last_client,
                late,
            )
        return table

    def _events(self) -> Panel:
        recent: deque[tuple[float, str]] = deque(
            (e for e in self.state.events if not e[1].startswith("launch ")), maxlen=8
        )
        lines = [f"{_clock(ts)} {text}" for ts, text in recent]
        styled = [
            f"[bold red]{line}[/]" if ("FAULT" in line or "DUPLICATE" in line) else line for line in lines
        ]
        return Panel("\n".join(styled) or "-", title="leader changes and faults")

    def verdict(self, verdict: Mapping[str, Any]) -> None:
        self.console.print(render(verdict))
