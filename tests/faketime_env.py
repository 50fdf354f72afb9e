"""A child process whose wall clock is off by a fixed amount: libfaketime (from `make tools`).

Usage: `subprocess.Popen(cmd, env={**os.environ, **faketime_env(180)})` runs `cmd` with
`time.time()`, `datetime.now()` and everything else reading CLOCK_REALTIME 180 s in the future.

Only the wall clock moves. FAKETIME_DONT_FAKE_MONOTONIC=1 keeps CLOCK_MONOTONIC real, because
(1) a skewed node has a wrong wall clock, not a wrong monotonic clock (which has no meaningful
origin anyway), and (2) libfaketime 0.9.10's monotonic faking breaks CPython: with it,
`threading.Lock.acquire(timeout=...)` (and so asyncio's default executor, DNS lookups, ...) never
returns. asyncio's event loop itself runs on time.monotonic(), so it is untouched by the offset.
"""

from __future__ import annotations

import math
from pathlib import Path

FAKETIME_ROOT = Path(__file__).resolve().parents[1] / ".tools" / "faketime"


class FaketimeMissing(RuntimeError):
    pass


def libfaketime_path() -> Path:
    """The preloadable library (the single-threaded variant is fine for CPython: it only fakes reads)."""
    found = sorted(FAKETIME_ROOT.glob("usr/lib/*/faketime/libfaketime.so.1"))
    if not found:
        raise FaketimeMissing(f"libfaketime.so.1 not found under {FAKETIME_ROOT}: run `make tools` "
                              "(it downloads Debian's libfaketime package there, no root needed)")
    return found[0]


def faketime_env(offset_seconds: float) -> dict[str, str]:
    """Environment variables that shift a child's wall clock by `offset_seconds` (either sign).

    Merge them into the child's environment; they replace any LD_PRELOAD already set.
    """
    if not math.isfinite(offset_seconds):
        raise ValueError(f"offset_seconds must be a finite number of seconds, got {offset_seconds!r}")
    # libfaketime reads "+180s" / "-120.5s" as an offset relative to the real clock, applied to every read
    return {
        "LD_PRELOAD": str(libfaketime_path()),
        "FAKETIME": f"{offset_seconds:+.6f}s".replace(".000000s", "s"),
        "FAKETIME_DONT_FAKE_MONOTONIC": "1",
    }
