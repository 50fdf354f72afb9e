"""Garbage collection for the dev cluster: full collections must not stop the API server for a second.

The store holds every object plus its watch history (at 10,000 RecurringJobs and their Jobs, a
couple of million tracked containers). CPython's full collection scans all of them for reference
cycles the stored JSON trees never contain: measured during operator_bench at 10,000 RecurringJobs,
one every 15-20 s, pausing the server 0.5 s growing to 0.9 s, which every client in flight waits
out (the operator's launch lag p99 followed them). The operator has the same policy in
runtime/gctuning.py; the dev cluster imports nothing from the operator, hence this small copy:

- after each full collection its survivors are frozen (`gc.freeze`): the next one scans only what
  became long-lived since;
- every `full_scan_every` seconds the freeze is lifted, so cycles among frozen objects are still
  freed (one long pause per interval instead of one every few seconds);
- a larger young-generation threshold lets request-scoped objects die young.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from typing import Any

FULL = 2  # CPython's oldest generation


class FreezeSurvivors:
    def __init__(self, *, young_threshold: int = 10_000, full_scan_every: float = 600.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.young_threshold = young_threshold
        self.full_scan_every = full_scan_every
        self.clock = clock
        self.next_full_scan = clock() + full_scan_every
        self.saved: tuple[int, int, int] | None = None

    def install(self) -> None:
        if self.saved is not None:
            return
        self.saved = gc.get_threshold()
        gc.set_threshold(self.young_threshold, *self.saved[1:])
        gc.callbacks.append(self.after_collection)

    def uninstall(self) -> None:
        if self.saved is None:
            return
        if self.after_collection in gc.callbacks:
            gc.callbacks.remove(self.after_collection)
        gc.set_threshold(*self.saved)
        self.saved = None
        gc.unfreeze()

    def after_collection(self, phase: str, info: dict[str, Any]) -> None:
        if phase != "stop" or info.get("generation") != FULL:
            return
        now = self.clock()
        if now >= self.next_full_scan:
            self.next_full_scan = now + self.full_scan_every
            gc.unfreeze()
        else:
            gc.freeze()
