"""CPU% and RSS of processes, sampled from /proc once a second (operator_bench)."""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class ProcessSamples:
    """CPU% (of one core) and RSS of one process, sampled once a second."""

    pid: int
    cpu_percent: list[tuple[float, float]] = field(default_factory=list)  # (wall time, %)
    rss_mib: list[float] = field(default_factory=list)
    rss_at: list[tuple[float, float]] = field(default_factory=list)  # (wall time, MiB): the shape over time
    ticks: list[tuple[float, int]] = field(default_factory=list)  # (wall time, utime + stime so far)
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
        self.ticks.append((time.time(), ticks))
        if self._last is not None and now > self._last[0]:
            self.cpu_percent.append((time.time(), 100.0 * (ticks - self._last[1]) / CLOCK_TICKS
                                     / (now - self._last[0])))
        self._last = (now, ticks)
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                self.rss_mib.append(int(line.split()[1]) / 1024)
                self.rss_at.append((time.time(), self.rss_mib[-1]))

    def summary(self, start: float, end: float) -> dict[str, float | None]:
        judged = [cpu for ts, cpu in self.cpu_percent if start <= ts <= end]
        return {"cpu_mean_percent": round(sum(judged) / len(judged), 1) if judged else None,
                "cpu_max_percent": round(max(judged), 1) if judged else None,
                "rss_max_mib": round(max(self.rss_mib), 1) if self.rss_mib else None,
                "cpu_seconds": self.cpu_seconds(start, end)}

    def rss_over_time(self, start: float, every: int = 5) -> list[tuple[float, float]]:
        """(seconds since `start`, RSS MiB) of every `every`-th sample, the peak kept."""
        if not self.rss_at:
            return []
        peak = max(range(len(self.rss_at)), key=lambda index: self.rss_at[index][1])
        return [(round(ts - start, 1), round(mib, 1)) for index, (ts, mib) in enumerate(self.rss_at)
                if index % every == 0 or index == peak]

    def cpu_seconds(self, start: float, end: float) -> float | None:
        """CPU time (user + system) the process used between the samples nearest inside [start, end]."""
        inside = [ticks for ts, ticks in self.ticks if start <= ts <= end]
        return round((inside[-1] - inside[0]) / CLOCK_TICKS, 2) if len(inside) >= 2 else None


class Sampler(threading.Thread):
    def __init__(self, processes: list[ProcessSamples]) -> None:
        super().__init__(daemon=True)
        self.processes = processes
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.wait(1.0):
            for process in self.processes:
                process.sample()
