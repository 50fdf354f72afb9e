"""bench/proc_samples.py: the RSS series over time is thinned but keeps its peak."""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from proc_samples import ProcessSamples  # bench/ is not a package


def test_rss_over_time_keeps_every_nth_sample_and_the_peak() -> None:
    samples = ProcessSamples(pid=0)
    samples.rss_at = [(1000.0 + second, 100.0 + second) for second in range(12)]
    samples.rss_at[7] = (1007.0, 900.0)
    assert samples.rss_over_time(1000.0, every=5) == [(0.0, 100.0), (5.0, 105.0), (7.0, 900.0), (10.0, 110.0)]
    assert ProcessSamples(pid=0).rss_over_time(1000.0) == []


def test_a_sample_of_this_process_records_its_rss_with_the_time() -> None:
    samples = ProcessSamples(pid=os.getpid())
    samples.sample()
    (when, mib), = samples.rss_at
    assert mib == samples.rss_mib[-1] > 1 and when > 0
