"""`recurringjob demo`, non-interactively (as CI runs it): exits 0, a clean verdict, nothing left running."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from leftovers import processes_mentioning

REPO = Path(__file__).resolve().parents[2]


def demo_command(workdir: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "recurringjob.cli", "demo", "--workdir", str(workdir), *extra]


def test_demo_without_faults_is_clean_and_leaves_nothing_running(tmp_path: Path) -> None:
    result = subprocess.run(
        demo_command(tmp_path, "--duration", "20", "--no-faults"),
        capture_output=True, text=True, timeout=180, cwd=REPO, stdin=subprocess.DEVNULL, check=False,
    )  # fmt: skip
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    assert "CLEAN" in result.stdout and "NOT CLEAN" not in result.stdout, output[-4000:]
    assert "kubectl get rj,jobs" in result.stdout  # the user is told how to look meanwhile
    assert "launch " in result.stdout  # plain lines, not a live screen, when not a TTY
    assert "\x1b[" not in result.stdout
    assert processes_mentioning(tmp_path) == []


def test_demo_interrupted_ends_with_a_verdict_and_leaves_nothing_running(tmp_path: Path) -> None:
    process = subprocess.Popen(
        demo_command(tmp_path, "--duration", "120", "--no-faults"),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=REPO, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        # Wait for the first launch, then Ctrl-C (SIGINT, as the terminal sends it).
        deadline = time.monotonic() + 90
        assert process.stdout is not None
        seen = []
        for line in process.stdout:
            seen.append(line)
            if line.split(" ", 1)[-1].startswith("launch ") or time.monotonic() > deadline:
                break
        time.sleep(4)
        process.send_signal(signal.SIGINT)
        rest, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    output = "".join(seen) + rest
    assert process.returncode == 130, output[-4000:]
    assert "judged occurrences" in output, output[-4000:]
    assert processes_mentioning(tmp_path) == []
