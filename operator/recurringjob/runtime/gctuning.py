"""Garbage collection for an operator whose heap is mostly big, long-lived caches.

Why: every replica caches all RecurringJobs and their Jobs (10k + 40k objects, about a million
tracked containers), and CPython's full collection scans all of them looking for reference cycles
the cached JSON trees never contain. On 2 shared cores one full scan of that heap takes ~1 s, and at
~170 launches/s one comes every few tens of seconds: the event loop stands still meanwhile, which
is what the p99 launch lag measured.

The policy:
- after each full collection its survivors are frozen (`gc.freeze`), so the next full collection
  scans only what became long-lived since, not the whole cache again;
- a frozen object that later becomes part of a garbage cycle is not collected while frozen, so
  every `full_scan_every` seconds the freeze is lifted (`gc.unfreeze`) and the next full collection
  scans everything once: one long pause per interval instead of one every few tens of seconds;
- a larger young-generation threshold lets request-scoped objects die before a young collection
  promotes them towards the full collection (fewer full collections);
- full collections slower than `slow_pause` are reported (the report runs outside the collector),
  with the tuning off too (`tune=False`: `RECURRINGJOB_GC_TUNING=off`), so the two can be compared.
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

OLDEST = 2  # CPython's generations: 0, 1, 2 (the full collection)


class GcTuning:
    def __init__(self, *, tune: bool = True, young_threshold: int = 10_000, full_scan_every: float = 600.0,
                 slow_pause: float = 0.5, clock: Callable[[], float] = time.perf_counter,
                 report: Callable[[float, int], object] | None = None) -> None:
        self.tune = tune
        self.young_threshold = young_threshold
        self.full_scan_every = full_scan_every
        self.slow_pause = slow_pause
        self.clock = clock
        # called with (pause seconds, objects collected) from inside the collector: it must not
        # log or take locks there (a lock held by the interrupted code would deadlock)
        self.report = report
        self.full_collections = 0
        self.longest_pause = 0.0
        self._started = 0.0
        self._next_full_scan = clock() + full_scan_every
        self._saved_threshold: tuple[int, int, int] | None = None

    def install(self) -> None:
        """Tune the collector; freeze what exists now (the primed caches, the imported modules)."""
        if self._saved_threshold is not None:
            return
        self._saved_threshold = gc.get_threshold()
        if self.tune:
            gc.set_threshold(self.young_threshold, *self._saved_threshold[1:])
            gc.collect()  # what is garbage now must not be frozen
            gc.freeze()
        gc.callbacks.append(self.on_collection)

    def uninstall(self) -> None:
        if self._saved_threshold is None:
            return
        if self.on_collection in gc.callbacks:
            gc.callbacks.remove(self.on_collection)
        gc.set_threshold(*self._saved_threshold)
        self._saved_threshold = None
        gc.unfreeze()

    def on_collection(self, phase: str, info: dict[str, Any]) -> None:
        """gc.callbacks hook: time full collections; freeze or (periodically) unfreeze after them."""
        if info.get("generation") != OLDEST:
            return
        if phase == "start":
            self._started = self.clock()
            return
        now = self.clock()
        pause = now - self._started
        self.full_collections += 1
        self.longest_pause = max(self.longest_pause, pause)
        if pause >= self.slow_pause and self.report is not None:
            self.report(pause, int(info.get("collected") or 0))
        if not self.tune:
            return
        if now >= self._next_full_scan:
            self._next_full_scan = now + self.full_scan_every
            gc.unfreeze()  # the next full collection scans everything: cycles frozen since are freed
        else:
            gc.freeze()


def log_slow_collection(pause: float, collected: int) -> None:
    log.warning("a full garbage collection stopped the operator for %.2fs (%d objects freed)",
                pause, collected)
