"""devcluster/gcpolicy.py: survivors of a full collection are frozen; the freeze is lifted periodically."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest
from recurringjob.devcluster.gcpolicy import FreezeSurvivors


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture()
def policy() -> Iterator[tuple[FreezeSurvivors, Clock]]:
    clock = Clock()
    freeze = FreezeSurvivors(young_threshold=5_000, full_scan_every=600, clock=clock)
    before = gc.get_threshold()
    freeze.install()
    try:
        yield freeze, clock
    finally:
        freeze.uninstall()
        assert gc.get_threshold() == before and gc.get_freeze_count() == 0


def test_survivors_of_a_full_collection_are_frozen_and_later_thawed(
        policy: tuple[FreezeSurvivors, Clock]) -> None:
    _, clock = policy
    kept = [{"object": index} for index in range(1000)]
    gc.collect()
    assert gc.get_freeze_count() >= len(kept)  # the next full collection will not scan them
    assert gc.get_threshold()[0] == 5_000
    clock.now = 601.0
    gc.collect()  # due for a full scan: everything thawed, so frozen cycles can be freed
    assert gc.get_freeze_count() == 0
    gc.collect()  # and the interval starts again
    assert gc.get_freeze_count() >= len(kept)


def test_young_collections_freeze_nothing(policy: tuple[FreezeSurvivors, Clock]) -> None:
    gc.unfreeze()
    gc.collect(0)
    assert gc.get_freeze_count() == 0
