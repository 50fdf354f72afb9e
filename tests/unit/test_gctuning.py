"""GC tuning: slow full collections reported; survivors frozen after each, unfrozen periodically."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest
from recurringjob.runtime.gctuning import GcTuning


@pytest.fixture(autouse=True)
def restore_gc() -> Iterator[None]:
    threshold = gc.get_threshold()
    yield
    gc.set_threshold(*threshold)
    gc.unfreeze()


def full_collection(tuning: GcTuning, clock: list[float], pause: float, collected: int = 0) -> None:
    tuning.on_collection("start", {"generation": 2})
    clock[0] += pause
    tuning.on_collection("stop", {"generation": 2, "collected": collected})


def test_slow_full_collections_are_reported_and_young_ones_ignored() -> None:
    clock = [100.0]
    reports: list[tuple[float, int]] = []
    tuning = GcTuning(clock=lambda: clock[0], slow_pause=0.5,
                      report=lambda pause, collected: reports.append((pause, collected)))
    tuning.on_collection("start", {"generation": 0})
    clock[0] += 5.0
    tuning.on_collection("stop", {"generation": 0, "collected": 3})
    full_collection(tuning, clock, 0.1)
    full_collection(tuning, clock, 1.5, collected=7)
    assert reports == [(1.5, 7)]
    assert tuning.full_collections == 2 and tuning.longest_pause == 1.5


def test_survivors_are_frozen_after_a_full_collection_and_unfrozen_once_per_interval() -> None:
    clock = [100.0]
    tuning = GcTuning(clock=lambda: clock[0], full_scan_every=600.0)
    kept = [[index] for index in range(1000)]  # tracked containers that survive
    gc.unfreeze()
    full_collection(tuning, clock, 0.01)
    assert gc.get_freeze_count() >= len(kept)
    clock[0] += 600.0
    full_collection(tuning, clock, 0.01)
    assert gc.get_freeze_count() == 0  # the next full collection scans everything
    full_collection(tuning, clock, 0.01)
    assert gc.get_freeze_count() >= len(kept)  # and the interval starts again


def test_install_tunes_and_freezes_uninstall_restores() -> None:
    gc.set_threshold(700, 10, 10)
    gc.unfreeze()
    tuning = GcTuning(young_threshold=5000)
    tuning.install()
    try:
        assert gc.get_threshold() == (5000, 10, 10)
        assert gc.get_freeze_count() > 0
        assert tuning.on_collection in gc.callbacks
    finally:
        tuning.uninstall()
    assert gc.get_threshold() == (700, 10, 10)
    assert gc.get_freeze_count() == 0
    assert tuning.on_collection not in gc.callbacks


def test_untuned_only_observes() -> None:
    gc.set_threshold(700, 10, 10)
    gc.unfreeze()
    clock = [0.0]
    reports: list[tuple[float, int]] = []
    tuning = GcTuning(tune=False, clock=lambda: clock[0], report=lambda p, n: reports.append((p, n)))
    tuning.install()
    try:
        full_collection(tuning, clock, 2.0)
        assert gc.get_threshold() == (700, 10, 10) and gc.get_freeze_count() == 0
        assert reports == [(2.0, 0)]
    finally:
        tuning.uninstall()
