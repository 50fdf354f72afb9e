"""Hot spots from py-spy's collapsed stacks (`py-spy record --format raw`, operator_bench --profile).

    .venv/bin/python bench/profile_report.py FILE [--limit 40] [--filter SUBSTRING]

Prints, per function (file:line numbers dropped), the share of samples in which it is on the
stack (inclusive) and on top of it (self). Idle samples (the event loop waiting in select/epoll)
are counted apart, so the shares are of busy time.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter
from pathlib import Path

IDLE = ("select (selectors.py", "poll (selectors.py", "_run_once (asyncio/base_events.py")
_LINE = re.compile(r":\d+\)$")


def function_of(frame: str) -> str:
    return _LINE.sub(")", frame.strip())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("file", type=Path)
    parser.add_argument("--limit", type=int, default=40)
    parser.add_argument("--filter", default="", help="only functions whose name contains this")
    args = parser.parse_args(argv)
    inclusive: Counter[str] = Counter()
    self_time: Counter[str] = Counter()
    busy = idle = 0
    for line in args.file.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [function_of(f) for f in stack.split(";") if f.strip()]
        if frames and frames[-1].startswith(IDLE[:2]):
            idle += count
            continue
        busy += count
        for frame in set(frames):
            inclusive[frame] += count
        if frames:
            self_time[frames[-1]] += count
    print(f"samples: {busy} busy, {idle} idle ({100 * busy / max(1, busy + idle):.0f}% busy)")
    for title, table in (("inclusive", inclusive), ("self", self_time)):
        print(f"\n{title} % of busy samples")
        shown = 0
        for frame, count in table.most_common():
            if args.filter and args.filter not in frame:
                continue
            print(f"{100 * count / max(1, busy):6.1f}  {frame}")
            shown += 1
            if shown >= args.limit:
                break
    return 0


if __name__ == "__main__":
    sys.exit(main())
