"""Finding processes a test run left behind (tests/ is on sys.path through tests/conftest.py)."""

from __future__ import annotations

import os
from pathlib import Path


def processes_mentioning(marker: Path) -> list[str]:
    """Processes whose command line mentions `marker` (a run's own directory): there must be none."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if str(marker) in cmdline:
            found.append(f"{entry.name}: {cmdline}")
    return found
